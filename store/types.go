package store

// Lifecycle stages.
const (
	StageActive  = "active"
	StageDeleted = "deleted"
)

// Run statuses (MLflow's enum names).
var runStatuses = map[string]bool{"RUNNING": true, "SCHEDULED": true, "FINISHED": true, "FAILED": true, "KILLED": true}

// ValidRunStatus reports whether s is one of MLflow's RunStatus names.
func ValidRunStatus(s string) bool { return runStatuses[s] }

// View types for searches.
const (
	ViewActive  = 1
	ViewDeleted = 2
	ViewAll     = 3
)

// Tag is a key/value pair (experiment, run, registry tags).
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Param is a run or logged-model parameter.
type Param = Tag

// Experiment is MLflow's Experiment entity.
type Experiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location,omitempty"`
	LifecycleStage   string `json:"lifecycle_stage"`
	LastUpdateTime   int64  `json:"last_update_time,omitempty"`
	CreationTime     int64  `json:"creation_time,omitempty"`
	Tags             []Tag  `json:"tags,omitempty"`
	DeletedTime      int64  `json:"deleted_time,omitempty"` // mlbox: when it was deleted, for purging
}

// Run is MLflow's Run entity.
type Run struct {
	Info    RunInfo     `json:"info"`
	Data    RunData     `json:"data"`
	Inputs  RunInputs   `json:"inputs"`
	Outputs *RunOutputs `json:"outputs,omitempty"`
}

// RunInfo is the metadata of a run.
type RunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name,omitempty"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id,omitempty"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri,omitempty"`
	LifecycleStage string `json:"lifecycle_stage"`
	DeletedTime    int64  `json:"deleted_time,omitempty"` // mlbox: when it was deleted, for purging
}

// RunData holds the latest metrics, params and tags of a run.
type RunData struct {
	Metrics []Metric `json:"metrics,omitempty"`
	Params  []Param  `json:"params,omitempty"`
	Tags    []Tag    `json:"tags,omitempty"`
}

// Metric is one metric point.
type Metric struct {
	Key           string
	Value         float64
	Timestamp     int64
	Step          int64
	DatasetName   string
	DatasetDigest string
	ModelID       string
	RunID         string
}

// RunInputs are a run's dataset and model inputs.
type RunInputs struct {
	DatasetInputs []DatasetInput `json:"dataset_inputs,omitempty"`
	ModelInputs   []ModelInput   `json:"model_inputs,omitempty"`
}

// RunOutputs are the models a run produced.
type RunOutputs struct {
	ModelOutputs []ModelOutput `json:"model_outputs,omitempty"`
}

// ModelInput references a logged model used by a run.
type ModelInput struct {
	ModelID string `json:"model_id"`
}

// ModelOutput references a logged model a run produced at a step.
type ModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

// DatasetInput is a dataset used by a run, with input tags (mlflow.data.context).
type DatasetInput struct {
	Tags    []Tag   `json:"tags,omitempty"`
	Dataset Dataset `json:"dataset"`
}

// Dataset is MLflow's Dataset entity.
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

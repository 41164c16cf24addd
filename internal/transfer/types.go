package transfer

import (
	"encoding/json"
	"math"
	"strconv"
)

// Float is a metric value: JSON numbers, and "NaN", "Infinity" and
// "-Infinity" as strings both ways (protobuf's JSON form, which MLflow
// and mlbox read).
type Float float64

func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *Float) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN", "nan":
			*f = Float(math.NaN())
		case "Infinity", "inf":
			*f = Float(math.Inf(1))
		case "-Infinity", "-inf":
			*f = Float(math.Inf(-1))
		default:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return err
			}
			*f = Float(v)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// Int64 reads an int64 written as a number or a string (protobuf's JSON
// form of int64) and writes a number.
type Int64 int64

func (n *Int64) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := strconv.ParseInt(s, 10, 64)
		*n = Int64(v)
		return err
	}
	var v int64
	err := json.Unmarshal(b, &v)
	*n = Int64(v)
	return err
}

// KV is a tag or a param.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Experiment is MLflow's Experiment.
type Experiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location,omitempty"`
	LifecycleStage   string `json:"lifecycle_stage,omitempty"`
	LastUpdateTime   Int64  `json:"last_update_time,omitempty"`
	CreationTime     Int64  `json:"creation_time,omitempty"`
	Tags             []KV   `json:"tags,omitempty"`
}

// RunInfo is MLflow's RunInfo.
type RunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid,omitempty"`
	RunName        string `json:"run_name,omitempty"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id,omitempty"`
	Status         string `json:"status,omitempty"`
	StartTime      Int64  `json:"start_time,omitempty"`
	EndTime        *Int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri,omitempty"`
	LifecycleStage string `json:"lifecycle_stage,omitempty"`
}

// Metric is a metric point.
type Metric struct {
	Key           string `json:"key"`
	Value         Float  `json:"value"`
	Timestamp     Int64  `json:"timestamp"`
	Step          Int64  `json:"step"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
	ModelID       string `json:"model_id,omitempty"`
}

// Dataset is MLflow's Dataset.
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

// DatasetInput is a dataset a run used.
type DatasetInput struct {
	Tags    []KV    `json:"tags,omitempty"`
	Dataset Dataset `json:"dataset"`
}

// ModelRef is a logged model a run used or made.
type ModelRef struct {
	ModelID string `json:"model_id"`
	Step    *Int64 `json:"step,omitempty"`
}

// Run is MLflow's Run.
type Run struct {
	Info RunInfo `json:"info"`
	Data struct {
		Metrics []Metric `json:"metrics,omitempty"`
		Params  []KV     `json:"params,omitempty"`
		Tags    []KV     `json:"tags,omitempty"`
	} `json:"data"`
	Inputs struct {
		DatasetInputs []DatasetInput `json:"dataset_inputs,omitempty"`
		ModelInputs   []ModelRef     `json:"model_inputs,omitempty"`
	} `json:"inputs"`
	Outputs struct {
		ModelOutputs []ModelRef `json:"model_outputs,omitempty"`
	} `json:"outputs"`
}

// LoggedModel is an MLflow 3 LoggedModel.
type LoggedModel struct {
	Info struct {
		ModelID                string `json:"model_id"`
		ExperimentID           string `json:"experiment_id"`
		Name                   string `json:"name"`
		CreationTimestampMs    Int64  `json:"creation_timestamp_ms,omitempty"`
		LastUpdatedTimestampMs Int64  `json:"last_updated_timestamp_ms,omitempty"`
		ArtifactURI            string `json:"artifact_uri,omitempty"`
		Status                 string `json:"status,omitempty"`
		StatusMessage          string `json:"status_message,omitempty"`
		ModelType              string `json:"model_type,omitempty"`
		SourceRunID            string `json:"source_run_id,omitempty"`
		Tags                   []KV   `json:"tags,omitempty"`
	} `json:"info"`
	Data struct {
		Params []KV `json:"params,omitempty"`
	} `json:"data"`
}

// RegisteredModel is MLflow's RegisteredModel.
type RegisteredModel struct {
	Name                 string `json:"name"`
	CreationTimestamp    Int64  `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp Int64  `json:"last_updated_timestamp,omitempty"`
	UserID               string `json:"user_id,omitempty"`
	Description          string `json:"description,omitempty"`
	Tags                 []KV   `json:"tags,omitempty"`
	Aliases              []struct {
		Alias   string `json:"alias"`
		Version string `json:"version"`
	} `json:"aliases,omitempty"`
}

// ModelVersion is MLflow's ModelVersion.
type ModelVersion struct {
	Name                 string `json:"name"`
	Version              string `json:"version"`
	CreationTimestamp    Int64  `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp Int64  `json:"last_updated_timestamp,omitempty"`
	UserID               string `json:"user_id,omitempty"`
	CurrentStage         string `json:"current_stage,omitempty"`
	Description          string `json:"description,omitempty"`
	Source               string `json:"source,omitempty"`
	RunID                string `json:"run_id,omitempty"`
	Status               string `json:"status,omitempty"`
	StatusMessage        string `json:"status_message,omitempty"`
	Tags                 []KV   `json:"tags,omitempty"`
	RunLink              string `json:"run_link,omitempty"`
	ModelID              string `json:"model_id,omitempty"`
}

// FileInfo is an artifact listing entry.
type FileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize Int64  `json:"file_size,omitempty"`
}

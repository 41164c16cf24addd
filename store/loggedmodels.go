package store

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"mlbox/store/search"
)

var bktLoggedModels = []byte("logged_models")

// Logged model statuses (MLflow's LoggedModelStatus names).
const (
	LoggedModelPending      = "LOGGED_MODEL_PENDING"
	LoggedModelReady        = "LOGGED_MODEL_READY"
	LoggedModelUploadFailed = "LOGGED_MODEL_UPLOAD_FAILED"
)

var loggedModelStatuses = map[string]string{
	"0": "LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_STATUS_UNSPECIFIED": "LOGGED_MODEL_STATUS_UNSPECIFIED",
	"1": LoggedModelPending, LoggedModelPending: LoggedModelPending,
	"2": LoggedModelReady, LoggedModelReady: LoggedModelReady,
	"3": LoggedModelUploadFailed, LoggedModelUploadFailed: LoggedModelUploadFailed,
}

// LoggedModelStatus normalizes a status given by name or number.
func LoggedModelStatus(s string) (string, bool) {
	v, ok := loggedModelStatuses[strings.ToUpper(s)]
	return v, ok
}

// LoggedModel is MLflow 3's LoggedModel entity.
type LoggedModel struct {
	Info LoggedModelInfo `json:"info"`
	Data LoggedModelData `json:"data"`
}

// LoggedModelInfo is a logged model's metadata.
type LoggedModelInfo struct {
	ModelID                string                    `json:"model_id"`
	ExperimentID           string                    `json:"experiment_id"`
	Name                   string                    `json:"name"`
	CreationTimestampMs    int64                     `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMs int64                     `json:"last_updated_timestamp_ms"`
	ArtifactURI            string                    `json:"artifact_uri"`
	Status                 string                    `json:"status"`
	ModelType              string                    `json:"model_type,omitempty"`
	SourceRunID            string                    `json:"source_run_id,omitempty"`
	StatusMessage          string                    `json:"status_message,omitempty"`
	Tags                   []Tag                     `json:"tags,omitempty"`
	Registrations          []LoggedModelRegistration `json:"registrations,omitempty"`
	LifecycleStage         string                    `json:"lifecycle_stage,omitempty"` // mlbox: active|deleted
	DeletedTime            int64                     `json:"deleted_time,omitempty"`    // mlbox: for purging
}

// LoggedModelRegistration is a model version created from the model.
type LoggedModelRegistration struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// LoggedModelData holds a logged model's params and metrics.
type LoggedModelData struct {
	Params  []Param  `json:"params,omitempty"`
	Metrics []Metric `json:"metrics,omitempty"`
}

// storedMetric is Metric with JSON tags, for the logged-model record.
type storedMetric struct {
	Key           string  `json:"k"`
	Value         float64 `json:"-"`
	ValueBits     []byte  `json:"v"`
	Timestamp     int64   `json:"t"`
	Step          int64   `json:"s"`
	RunID         string  `json:"r,omitempty"`
	DatasetName   string  `json:"dn,omitempty"`
	DatasetDigest string  `json:"dd,omitempty"`
}

// loggedModelRecord is what is stored: metrics keep NaN/Inf exactly.
type loggedModelRecord struct {
	Info    LoggedModelInfo `json:"info"`
	Params  []Param         `json:"params,omitempty"`
	Metrics []storedMetric  `json:"metrics,omitempty"`
}

func (r *loggedModelRecord) model() *LoggedModel {
	m := &LoggedModel{Info: r.Info, Data: LoggedModelData{Params: r.Params}}
	for _, sm := range r.Metrics {
		v := 0.0
		if len(sm.ValueBits) == 8 {
			v = readF64(sm.ValueBits)
		}
		m.Data.Metrics = append(m.Data.Metrics, Metric{Key: sm.Key, Value: v, Timestamp: sm.Timestamp, Step: sm.Step,
			RunID: sm.RunID, DatasetName: sm.DatasetName, DatasetDigest: sm.DatasetDigest, ModelID: r.Info.ModelID})
	}
	return m
}

func getLoggedModelTx(tx *bolt.Tx, id string, allowDeleted bool) (*loggedModelRecord, error) {
	b := tx.Bucket(bktLoggedModels)
	v := b.Get([]byte(id))
	if v == nil {
		return nil, NotFoundf("Logged model with ID '%s' not found.", id)
	}
	var r loggedModelRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	if !allowDeleted && r.Info.LifecycleStage == StageDeleted {
		return nil, NotFoundf("Logged model with ID '%s' not found.", id)
	}
	return &r, nil
}

func putLoggedModelTx(tx *bolt.Tx, r *loggedModelRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bktLoggedModels).Put([]byte(r.Info.ModelID), v)
}

func validateLoggedModelName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Invalidf("Invalid model name: '%s'. The name must not be empty.", name)
	}
	if strings.ContainsAny(name, "/:.%\"'") {
		return Invalidf("Invalid model name: '%s'. Names cannot contain the following characters: '/', ':', '.', '%%', '\"' and \"'\"", name)
	}
	return nil
}

// CreateLoggedModelRequest is the input of CreateLoggedModel.
type CreateLoggedModelRequest struct {
	ExperimentID string
	Name         string
	ModelType    string
	SourceRunID  string
	Params       []Param
	Tags         []Tag
}

// CreateLoggedModel creates a PENDING logged model in an active experiment.
func (s *Store) CreateLoggedModel(ctx context.Context, req CreateLoggedModelRequest) (*LoggedModel, error) {
	if req.Name == "" {
		req.Name = generateRunName()
	}
	if err := validateLoggedModelName(req.Name); err != nil {
		return nil, err
	}
	for _, p := range req.Params {
		if err := validateKey("param", p.Key); err != nil {
			return nil, err
		}
	}
	for _, t := range req.Tags {
		if err := validateKey("tag", t.Key); err != nil {
			return nil, err
		}
	}
	id := "m-" + newRunID()
	var out *LoggedModel
	err := s.update(ctx, func(tx *wtx) error {
		exp, err := getExperimentTx(tx.Tx, req.ExperimentID)
		if err != nil {
			return err
		}
		if exp.LifecycleStage != StageActive {
			return Invalidf("The experiment %s must be in the 'active' state. Current state is %s.", exp.ExperimentID, exp.LifecycleStage)
		}
		if req.SourceRunID != "" {
			if _, _, err := runBucket(tx.Tx, req.SourceRunID); err != nil {
				return err
			}
		}
		now := time.Now().UnixMilli()
		r := &loggedModelRecord{
			Info: LoggedModelInfo{ModelID: id, ExperimentID: exp.ExperimentID, Name: req.Name, CreationTimestampMs: now,
				LastUpdatedTimestampMs: now, ArtifactURI: exp.ArtifactLocation + "/models/" + id + "/artifacts",
				Status: LoggedModelPending, ModelType: req.ModelType, SourceRunID: req.SourceRunID,
				Tags: mergeTags(nil, req.Tags), LifecycleStage: StageActive},
			Params: mergeTags(nil, req.Params),
		}
		if err := putLoggedModelTx(tx.Tx, r); err != nil {
			return err
		}
		out = r.model()
		return nil
	})
	return out, err
}

// GetLoggedModel returns a logged model; deleted ones only if allowDeleted.
func (s *Store) GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (*LoggedModel, error) {
	var out *LoggedModel
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := getLoggedModelTx(tx, id, allowDeleted)
		if err != nil {
			return err
		}
		out = r.model()
		return nil
	})
	return out, err
}

func (s *Store) modifyLoggedModel(ctx context.Context, id string, fn func(r *loggedModelRecord) error) (*LoggedModel, error) {
	var out *LoggedModel
	err := s.update(ctx, func(tx *wtx) error {
		r, err := getLoggedModelTx(tx.Tx, id, false)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		r.Info.LastUpdatedTimestampMs = time.Now().UnixMilli()
		if err := putLoggedModelTx(tx.Tx, r); err != nil {
			return err
		}
		out = r.model()
		return nil
	})
	return out, err
}

// FinalizeLoggedModel sets the status (READY or UPLOAD_FAILED).
func (s *Store) FinalizeLoggedModel(ctx context.Context, id, status string) (*LoggedModel, error) {
	st, ok := LoggedModelStatus(status)
	if !ok {
		return nil, Invalidf("Invalid logged model status: %q", status)
	}
	return s.modifyLoggedModel(ctx, id, func(r *loggedModelRecord) error {
		r.Info.Status = st
		return nil
	})
}

// SetLoggedModelTags upserts tags.
func (s *Store) SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error {
	for _, t := range tags {
		if err := validateKey("tag", t.Key); err != nil {
			return err
		}
	}
	_, err := s.modifyLoggedModel(ctx, id, func(r *loggedModelRecord) error {
		r.Info.Tags = mergeTags(r.Info.Tags, tags)
		return nil
	})
	return err
}

// DeleteLoggedModelTag removes a tag.
func (s *Store) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	_, err := s.modifyLoggedModel(ctx, id, func(r *loggedModelRecord) error {
		i := slices.IndexFunc(r.Info.Tags, func(t Tag) bool { return t.Key == key })
		if i < 0 {
			return NotFoundf("No tag with key '%s' found for logged model '%s'", key, id)
		}
		r.Info.Tags = slices.Delete(r.Info.Tags, i, i+1)
		return nil
	})
	return err
}

// LogLoggedModelParams adds params (write-once like run params).
func (s *Store) LogLoggedModelParams(ctx context.Context, id string, params []Param) error {
	for _, p := range params {
		if err := validateKey("param", p.Key); err != nil {
			return err
		}
	}
	_, err := s.modifyLoggedModel(ctx, id, func(r *loggedModelRecord) error {
		r.Params = mergeTags(r.Params, params)
		return nil
	})
	return err
}

// DeleteLoggedModel soft-deletes a logged model; its artifacts stay until purged.
func (s *Store) DeleteLoggedModel(ctx context.Context, id string) error {
	now := time.Now().UnixMilli()
	_, err := s.modifyLoggedModel(ctx, id, func(r *loggedModelRecord) error {
		r.Info.LifecycleStage = StageDeleted
		r.Info.DeletedTime = now
		return nil
	})
	return err
}

// addLoggedModelRegistrationTx records a model version made from the model,
// and the mlflow.modelVersions tag the client also maintains.
func addLoggedModelRegistrationTx(tx *bolt.Tx, id, name, version string) error {
	r, err := getLoggedModelTx(tx, id, false)
	if err != nil {
		return err
	}
	reg := LoggedModelRegistration{Name: name, Version: version}
	if !slices.Contains(r.Info.Registrations, reg) {
		r.Info.Registrations = append(r.Info.Registrations, reg)
	}
	v, _ := json.Marshal(r.Info.Registrations)
	r.Info.Tags = mergeTags(r.Info.Tags, []Tag{{Key: "mlflow.modelVersions", Value: string(v)}})
	r.Info.LastUpdatedTimestampMs = time.Now().UnixMilli()
	return putLoggedModelTx(tx, r)
}

// attachMetricsToLoggedModels is the LogBatch hook: metrics carrying a
// model_id also become the model's metrics. Unknown models are skipped.
func (s *Store) attachMetricsToLoggedModels(tx *wtx, runID string, metrics []Metric) {
	byModel := map[string][]Metric{}
	for _, m := range metrics {
		if m.ModelID != "" {
			byModel[m.ModelID] = append(byModel[m.ModelID], m)
		}
	}
	for id, ms := range byModel {
		r, err := getLoggedModelTx(tx.Tx, id, false)
		if err != nil {
			continue
		}
		for _, m := range ms {
			sm := storedMetric{Key: m.Key, ValueBits: appendF64(nil, m.Value), Timestamp: m.Timestamp, Step: m.Step,
				RunID: runID, DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest}
			dup := slices.ContainsFunc(r.Metrics, func(o storedMetric) bool {
				return o.Key == sm.Key && o.Step == sm.Step && o.Timestamp == sm.Timestamp && string(o.ValueBits) == string(sm.ValueBits) && o.RunID == sm.RunID
			})
			if !dup {
				r.Metrics = append(r.Metrics, sm)
			}
		}
		_ = putLoggedModelTx(tx.Tx, r)
	}
}

// LoggedModelOrder is one element of logged-models/search order_by.
type LoggedModelOrder struct {
	FieldName     string
	Ascending     bool
	DatasetName   string
	DatasetDigest string
}

// LoggedModelDataset restricts metric filters to a dataset.
type LoggedModelDataset struct{ Name, Digest string }

// SearchLoggedModels implements logged-models/search.
func (s *Store) SearchLoggedModels(ctx context.Context, expIDs []string, filter string, datasets []LoggedModelDataset, max int, orders []LoggedModelOrder, token string) ([]*LoggedModel, string, error) {
	if len(expIDs) == 0 {
		return nil, "", Invalidf("Missing value for required parameter 'experiment_ids'")
	}
	if max == 0 {
		max = 50
	}
	if max < 1 || max > 50000 {
		return nil, "", Invalidf("Invalid value %d for parameter 'max_results'", max)
	}
	conds, err := search.ParseFilter(search.LoggedModels, filter)
	if err != nil {
		return nil, "", Invalidf("%s", err.Error())
	}
	type ord struct {
		ob search.OrderBy
		LoggedModelOrder
	}
	var ords []ord
	for _, o := range orders {
		ob, err := search.ParseOrderBy(search.LoggedModels, o.FieldName)
		if err != nil {
			return nil, "", Invalidf("%s", err.Error())
		}
		ords = append(ords, ord{ob, o})
	}
	offset, err := decodePageToken(token)
	if err != nil {
		return nil, "", err
	}
	want := map[string]bool{}
	for _, id := range expIDs {
		want[id] = true
	}
	var hits []*LoggedModel
	err = s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktLoggedModels).ForEach(func(_, v []byte) error {
			var r loggedModelRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !want[r.Info.ExperimentID] || r.Info.LifecycleStage == StageDeleted {
				return nil
			}
			m := r.model()
			if matchLoggedModel(m, conds, datasets) {
				hits = append(hits, m)
			}
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortStableFunc(hits, func(a, b *LoggedModel) int {
		for _, o := range ords {
			var c int
			if o.ob.Type == search.Metric {
				va, oka := loggedModelMetric(a, o.ob.Key, o.DatasetName, o.DatasetDigest)
				vb, okb := loggedModelMetric(b, o.ob.Key, o.DatasetName, o.DatasetDigest)
				switch {
				case !oka && !okb:
				case !oka:
					return 1
				case !okb:
					return -1
				case va < vb:
					c = -1
				case va > vb:
					c = 1
				}
			} else {
				c = compareLoggedModelAttr(a, b, o.ob.Key)
			}
			if !o.Ascending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if c := cmpInt(b.Info.CreationTimestampMs, a.Info.CreationTimestampMs); c != 0 {
			return c
		}
		return strings.Compare(a.Info.ModelID, b.Info.ModelID)
	})
	res, next := page(hits, offset, max)
	return res, next, nil
}

func loggedModelAttr(m *LoggedModel, key string) (string, float64, bool) {
	switch key {
	case "name":
		return m.Info.Name, 0, false
	case "model_id":
		return m.Info.ModelID, 0, false
	case "model_type":
		return m.Info.ModelType, 0, false
	case "status":
		return m.Info.Status, 0, false
	case "source_run_id":
		return m.Info.SourceRunID, 0, false
	case "creation_timestamp":
		return "", float64(m.Info.CreationTimestampMs), true
	case "last_updated_timestamp":
		return "", float64(m.Info.LastUpdatedTimestampMs), true
	}
	return "", 0, false
}

func compareLoggedModelAttr(a, b *LoggedModel, key string) int {
	sa, na, num := loggedModelAttr(a, key)
	sb, nb, _ := loggedModelAttr(b, key)
	if num {
		return cmpInt(int64(na), int64(nb))
	}
	return strings.Compare(sa, sb)
}

// loggedModelMetric is the latest value of a metric (optionally of one dataset).
func loggedModelMetric(m *LoggedModel, key, dsName, dsDigest string) (float64, bool) {
	var best *Metric
	for i := range m.Data.Metrics {
		x := &m.Data.Metrics[i]
		if x.Key != key || (dsName != "" && x.DatasetName != dsName) || (dsDigest != "" && x.DatasetDigest != dsDigest) {
			continue
		}
		if best == nil || x.Step > best.Step || (x.Step == best.Step && x.Timestamp > best.Timestamp) {
			best = x
		}
	}
	if best == nil {
		return 0, false
	}
	return best.Value, true
}

func matchLoggedModel(m *LoggedModel, conds []search.Comparison, datasets []LoggedModelDataset) bool {
	for _, c := range conds {
		switch c.Type {
		case search.Metric:
			ok := false
			if len(datasets) == 0 {
				v, has := loggedModelMetric(m, c.Key, "", "")
				ok = c.MatchNumber(v, has)
			}
			for _, d := range datasets {
				v, has := loggedModelMetric(m, c.Key, d.Name, d.Digest)
				ok = ok || c.MatchNumber(v, has)
			}
			if !ok {
				return false
			}
		case search.Param:
			v, has := tagValue(m.Data.Params, c.Key)
			if !c.MatchString(v, has) {
				return false
			}
		case search.Tag:
			v, has := tagValue(m.Info.Tags, c.Key)
			if !c.MatchString(v, has) {
				return false
			}
		default:
			s, n, num := loggedModelAttr(m, c.Key)
			if num {
				if !c.MatchNumber(n, true) {
					return false
				}
			} else if !c.MatchString(s, true) {
				return false
			}
		}
	}
	return true
}

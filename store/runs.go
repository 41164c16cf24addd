package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Keys inside a run's bucket.
var (
	rkInfo     = []byte("info")
	rkHistory  = []byte("h")
	pfxParam   = []byte("p\x00")
	pfxTag     = []byte("t\x00")
	pfxLatest  = []byte("m\x00")
	pfxDataset = []byte("d\x00")
	pfxModelIn = []byte("i\x00")
	pfxModelOu = []byte("o\x00")
)

// Tag keys with meaning.
const (
	TagRunName   = "mlflow.runName"
	TagUser      = "mlflow.user"
	TagDataCtx   = "mlflow.data.context"
	TagModelHist = "mlflow.log-model.history"
)

func pk(prefix []byte, key string) []byte {
	b := make([]byte, 0, len(prefix)+len(key))
	return append(append(b, prefix...), key...)
}

func runBucket(tx *bolt.Tx, id string) (*bolt.Bucket, *RunInfo, error) {
	b := tx.Bucket(bktRuns).Bucket([]byte(id))
	if b == nil {
		return nil, nil, NotFoundf("Run with id=%s not found", id)
	}
	var info RunInfo
	if err := decodeRunInfo(b.Get(rkInfo), &info); err != nil {
		return nil, nil, err
	}
	return b, &info, nil
}

func putRunInfo(b *bolt.Bucket, info *RunInfo) error {
	v, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return b.Put(rkInfo, v)
}

// activeRun returns the bucket of a run that may be written to.
func activeRun(tx *bolt.Tx, id string) (*bolt.Bucket, *RunInfo, error) {
	if id == "" {
		return nil, nil, Invalidf("Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.")
	}
	b, info, err := runBucket(tx, id)
	if err != nil {
		return nil, nil, err
	}
	if info.LifecycleStage != StageActive {
		return nil, nil, Invalidf("The run %s must be in the 'active' state. Current state is %s.", id, info.LifecycleStage)
	}
	return b, info, nil
}

// CreateRunRequest is the input of CreateRun.
type CreateRunRequest struct {
	ExperimentID string
	UserID       string
	RunName      string
	StartTime    int64
	Tags         []Tag
}

// CreateRun creates a run in an active experiment.
func (s *Store) CreateRun(ctx context.Context, req CreateRunRequest) (*Run, error) {
	if req.ExperimentID == "" {
		req.ExperimentID = "0"
	}
	for i, t := range req.Tags {
		if err := validateKey("tag", t.Key); err != nil {
			return nil, err
		}
		req.Tags[i].Value = truncate(t.Value, MaxTagValueLength)
	}
	name := req.RunName
	if tagName, ok := tagValue(req.Tags, TagRunName); ok {
		if name != "" && tagName != name {
			return nil, Invalidf("Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", name, tagName)
		}
		name = tagName
	}
	if name == "" {
		name = generateRunName()
	}
	if runeLen(name) > MaxRunNameLength {
		return nil, Invalidf("Run name exceeds the maximum length of %d characters", MaxRunNameLength)
	}
	tags := mergeTags(append([]Tag(nil), req.Tags...), []Tag{{Key: TagRunName, Value: name}})
	if req.StartTime == 0 {
		req.StartTime = time.Now().UnixMilli()
	}
	id := newRunID()
	var run *Run
	err := s.update(ctx, func(tx *wtx) error {
		exp, err := getExperimentTx(tx.Tx, req.ExperimentID)
		if err != nil {
			return err
		}
		if exp.LifecycleStage != StageActive {
			return Invalidf("The experiment %s must be in the 'active' state. Current state is %s.", exp.ExperimentID, exp.LifecycleStage)
		}
		b, err := tx.Bucket(bktRuns).CreateBucket([]byte(id))
		if err != nil {
			return err
		}
		info := RunInfo{RunID: id, RunUUID: id, RunName: name, ExperimentID: exp.ExperimentID, UserID: req.UserID,
			Status: "RUNNING", StartTime: req.StartTime, ArtifactURI: exp.ArtifactLocation + "/" + id + "/artifacts",
			LifecycleStage: StageActive}
		if err := putRunInfo(b, &info); err != nil {
			return err
		}
		for _, t := range tags {
			if err := b.Put(pk(pfxTag, t.Key), []byte(t.Value)); err != nil {
				return err
			}
		}
		run = &Run{Info: info, Data: RunData{Tags: tags}}
		tx.onCommit(func() {
			ix := s.runs
			ix.lock()
			ord := ix.putInfo(&info)
			for _, t := range tags {
				setStr(ix.tags, ord, t.Key, t.Value)
			}
			ix.mu.Unlock()
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// GetRun returns a run with its latest metrics, params, tags and inputs.
func (s *Store) GetRun(ctx context.Context, id string) (*Run, error) {
	var run *Run
	pend := s.pending.latest(id)[id]
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		run, err = readRun(tx, id, pend)
		return err
	})
	return run, err
}

// readRun reads a run. pend holds latest values pending in the metric log
// for it (pendingMetrics.latest, taken before tx began), merged in.
func readRun(tx *bolt.Tx, id string, pend map[string]Metric) (*Run, error) {
	return readRunSized(tx, id, pend, nil)
}

// runSizes are a run's counts of metrics, params and tags: reading many
// runs of one experiment, the last run's counts size the next one's
// slices (they are usually alike).
type runSizes struct{ metrics, params, tags int }

func readRunSized(tx *bolt.Tx, id string, pend map[string]Metric, hint *runSizes) (*Run, error) {
	b, info, err := runBucket(tx, id)
	if err != nil {
		return nil, err
	}
	run := &Run{Info: *info}
	if hint != nil {
		run.Data.Metrics = make([]Metric, 0, hint.metrics)
		run.Data.Params = make([]Param, 0, hint.params)
		run.Data.Tags = make([]Tag, 0, hint.tags)
		defer func() {
			*hint = runSizes{len(run.Data.Metrics), len(run.Data.Params), len(run.Data.Tags)}
			// JSON leaves empty lists out; nil keeps that true.
			if len(run.Data.Metrics) == 0 {
				run.Data.Metrics = nil
			}
			if len(run.Data.Params) == 0 {
				run.Data.Params = nil
			}
			if len(run.Data.Tags) == 0 {
				run.Data.Tags = nil
			}
		}()
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil || len(k) < 2 || k[1] != 0 { // nested bucket, or "info"
			continue
		}
		key := string(k[2:])
		switch k[0] {
		case 'p':
			run.Data.Params = append(run.Data.Params, Param{Key: key, Value: string(v)})
		case 't':
			run.Data.Tags = append(run.Data.Tags, Tag{Key: key, Value: string(v)})
		case 'm':
			m := decodeLatest(key, v)
			if p, ok := pend[key]; ok && compareOrder(&m, &p) < 0 {
				m = p
				m.Key = key
			}
			run.Data.Metrics = append(run.Data.Metrics, m)
		case 'd':
			var di DatasetInput
			if json.Unmarshal(v, &di) == nil {
				run.Inputs.DatasetInputs = append(run.Inputs.DatasetInputs, di)
			}
		case 'i':
			run.Inputs.ModelInputs = append(run.Inputs.ModelInputs, ModelInput{ModelID: key})
		case 'o':
			if run.Outputs == nil {
				run.Outputs = &RunOutputs{}
			}
			run.Outputs.ModelOutputs = append(run.Outputs.ModelOutputs, ModelOutput{ModelID: key, Step: readI64(v)})
		}
	}
	if len(pend) == 0 {
		return run, nil
	}
	for _, k := range slices.Sorted(maps.Keys(pend)) { // keys only pending so far
		if b.Get(pk(pfxLatest, k)) == nil {
			m := pend[k]
			m.Key = k
			run.Data.Metrics = append(run.Data.Metrics, m)
		}
	}
	return run, nil
}

// metricExtra is the optional part of a stored metric point.
type metricExtra struct {
	DatasetName   string `json:"dn,omitempty"`
	DatasetDigest string `json:"dd,omitempty"`
	ModelID       string `json:"mi,omitempty"`
}

func encodeExtra(m *Metric) []byte {
	if m.DatasetName == "" && m.DatasetDigest == "" && m.ModelID == "" {
		return nil
	}
	b, _ := json.Marshal(metricExtra{m.DatasetName, m.DatasetDigest, m.ModelID})
	return b
}

func applyExtra(m *Metric, extra []byte) {
	if len(extra) == 0 {
		return
	}
	var e metricExtra
	if json.Unmarshal(extra, &e) == nil {
		m.DatasetName, m.DatasetDigest, m.ModelID = e.DatasetName, e.DatasetDigest, e.ModelID
	}
}

// decodeLatest decodes a latest-value record: the 24-byte order key + extras.
func decodeLatest(key string, v []byte) Metric {
	m := Metric{Key: key}
	if len(v) >= 24 {
		m.Step, m.Timestamp, m.Value = readI64(v[0:8]), readI64(v[8:16]), readF64(v[16:24])
		applyExtra(&m, v[24:])
	}
	return m
}

// UpdateRun changes status, end time and/or name; nil fields stay.
func (s *Store) UpdateRun(ctx context.Context, id string, status *string, endTime *int64, runName *string) (*RunInfo, error) {
	if status != nil && !ValidRunStatus(*status) {
		return nil, Invalidf("Invalid value %q for parameter 'status'", *status)
	}
	if runName != nil && runeLen(*runName) > MaxRunNameLength {
		return nil, Invalidf("Run name exceeds the maximum length of %d characters", MaxRunNameLength)
	}
	var out RunInfo
	err := s.update(ctx, func(tx *wtx) error {
		b, info, err := activeRun(tx.Tx, id)
		if err != nil {
			return err
		}
		if status != nil {
			info.Status = *status
		}
		if endTime != nil {
			et := *endTime
			info.EndTime = &et
		}
		renamed := runName != nil && *runName != ""
		if renamed {
			info.RunName = *runName
			if err := b.Put(pk(pfxTag, TagRunName), []byte(*runName)); err != nil {
				return err
			}
		}
		if err := putRunInfo(b, info); err != nil {
			return err
		}
		out = *info
		tx.onCommit(func() {
			ix := s.runs
			ix.lock()
			ord := ix.putInfo(&out)
			if renamed {
				setStr(ix.tags, ord, TagRunName, out.RunName)
			}
			ix.mu.Unlock()
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRun soft-deletes a run.
func (s *Store) DeleteRun(ctx context.Context, id string) error {
	return s.setRunLifecycle(ctx, id, StageDeleted)
}

// RestoreRun restores a deleted run.
func (s *Store) RestoreRun(ctx context.Context, id string) error {
	return s.setRunLifecycle(ctx, id, StageActive)
}

func (s *Store) setRunLifecycle(ctx context.Context, id, stage string) error {
	return s.update(ctx, func(tx *wtx) error {
		b, info, err := runBucket(tx.Tx, id)
		if err != nil {
			return err
		}
		info.LifecycleStage = stage
		info.DeletedTime = 0
		if stage == StageDeleted {
			info.DeletedTime = time.Now().UnixMilli()
		}
		if err := putRunInfo(b, info); err != nil {
			return err
		}
		s.indexInfo(tx, *info)
		return nil
	})
}

func (s *Store) indexInfo(tx *wtx, info RunInfo) {
	tx.onCommit(func() {
		s.runs.lock()
		s.runs.putInfo(&info)
		s.runs.mu.Unlock()
	})
}

// setRunsLifecycleTx changes the lifecycle of every run of an experiment
// (experiment delete/restore).
func (s *Store) setRunsLifecycleTx(tx *wtx, expID, stage string, deletedTime int64) error {
	s.runs.mu.RLock()
	var ids []string
	for _, ord := range s.runs.byExp[expID] {
		ids = append(ids, s.runs.rows[ord].id)
	}
	s.runs.mu.RUnlock()
	for _, id := range ids {
		b, info, err := runBucket(tx.Tx, id)
		if err != nil {
			continue // created and purged concurrently; nothing to do
		}
		if info.LifecycleStage == stage {
			continue
		}
		info.LifecycleStage = stage
		info.DeletedTime = deletedTime
		if err := putRunInfo(b, info); err != nil {
			return err
		}
		s.indexInfo(tx, *info)
	}
	return nil
}

// LogBatch writes metrics, params and tags to a run atomically.
func (s *Store) LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error {
	if err := validateBatch(metrics, params, tags); err != nil {
		return err
	}
	for i := range params {
		params[i].Value = truncate(params[i].Value, MaxParamValueLength)
	}
	for i := range tags {
		tags[i].Value = truncate(tags[i].Value, MaxTagValueLength)
	}
	if w := s.walLog(); w != nil && len(params) == 0 && len(tags) == 0 && len(metrics) > 0 && len(metrics) <= maxLoggedBatch &&
		!slices.ContainsFunc(metrics, func(m Metric) bool { return m.ModelID != "" }) && w.usable() {
		if err := s.logMetrics(ctx, runID, metrics); !errors.Is(err, errLogFailed) {
			return err
		}
		// the log failed under this write: commit it through bbolt
	}
	return s.update(ctx, func(tx *wtx) error {
		b, info, err := activeRun(tx.Tx, runID)
		if err != nil {
			return err
		}
		// Params are write-once: check all before writing any.
		for _, p := range params {
			if old := b.Get(pk(pfxParam, p.Key)); old != nil && string(old) != p.Value {
				return Invalidf("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.", p.Key, old, runID, p.Value)
			}
		}
		for _, p := range params {
			if err := b.Put(pk(pfxParam, p.Key), []byte(p.Value)); err != nil {
				return err
			}
		}
		var renamed string
		for _, t := range tags {
			if err := b.Put(pk(pfxTag, t.Key), []byte(t.Value)); err != nil {
				return err
			}
			if t.Key == TagRunName && t.Value != "" {
				renamed = t.Value
			}
		}
		if renamed != "" && renamed != info.RunName {
			info.RunName = renamed
			if err := putRunInfo(b, info); err != nil {
				return err
			}
		}
		latest, err := putMetrics(b, metrics)
		if err != nil {
			return err
		}
		infoCopy := *info
		tx.onCommit(func() {
			ix := s.runs
			ix.lock()
			ord, ok := ix.ord(runID)
			if ok {
				if renamed != "" {
					ix.putInfo(&infoCopy)
				}
				for _, p := range params {
					setStr(ix.params, ord, p.Key, p.Value)
				}
				for _, t := range tags {
					setStr(ix.tags, ord, t.Key, t.Value)
				}
			}
			ix.mu.Unlock()
			s.noteLatest(runID, latest)
		})
		if len(metrics) > 0 {
			s.logModelMetrics(tx, runID, metrics)
		}
		return nil
	})
}

func validateBatch(metrics []Metric, params []Param, tags []Tag) error {
	if len(metrics) > MaxBatchMetrics {
		return Invalidf("A batch logging request can contain at most %d metrics. Got %d metrics. Please split up metrics across multiple requests and try again.", MaxBatchMetrics, len(metrics))
	}
	if len(params) > MaxBatchParams {
		return Invalidf("A batch logging request can contain at most %d params. Got %d params. Please split up params across multiple requests and try again.", MaxBatchParams, len(params))
	}
	if len(tags) > MaxBatchTags {
		return Invalidf("A batch logging request can contain at most %d tags. Got %d tags. Please split up tags across multiple requests and try again.", MaxBatchTags, len(tags))
	}
	if n := len(metrics) + len(params) + len(tags); n > MaxBatchEntities {
		return Invalidf("A batch logging request can contain at most %d metrics, params, and tags in total. Got %d total entities.", MaxBatchEntities, n)
	}
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if err := validateKey("param", p.Key); err != nil {
			return err
		}
		if seen[p.Key] { // MLflow rejects duplicates even with equal values
			return Invalidf("Duplicate parameter keys have been submitted: ['%s']. Please ensure the request contains only one param value per param key.", p.Key)
		}
		seen[p.Key] = true
	}
	for _, t := range tags {
		if err := validateKey("tag", t.Key); err != nil {
			return err
		}
	}
	for i := range metrics {
		m := &metrics[i]
		if err := validateKey("metric", m.Key); err != nil {
			return err
		}
		if err := validateMetricRefs(m); err != nil {
			return err
		}
		if m.Timestamp < 0 {
			return Invalidf("Got invalid timestamp %d for metric '%s' (value=%v). Timestamp must be a nonnegative long (64-bit integer) ", m.Timestamp, m.Key, m.Value)
		}
		if math.IsNaN(m.Value) {
			m.Value = math.NaN() // one bit pattern, so duplicates collapse
		}
	}
	return nil
}

// validateMetricRefs bounds what a metric point refers to: a logged model
// by id, a dataset by name and digest (MLflow's dataset limits).
func validateMetricRefs(m *Metric) error {
	if err := ValidateID("model_id", m.ModelID); err != nil {
		return err
	}
	if runeLen(m.DatasetName) > MaxDatasetNameLength {
		return TooLong("dataset_name", MaxDatasetNameLength)
	}
	if runeLen(m.DatasetDigest) > MaxDatasetDigestLength {
		return TooLong("dataset_digest", MaxDatasetDigestLength)
	}
	return nil
}

// putMetrics writes metric points into a run's bucket: each into its
// metric's history (a set keyed by step, timestamp and value) and, when it
// orders after the current latest value, as the latest value. It returns
// the points that became the latest, by key.
func putMetrics(b *bolt.Bucket, metrics []Metric) (map[string]Metric, error) {
	if len(metrics) == 0 {
		return nil, nil
	}
	hist, err := b.CreateBucketIfNotExists(rkHistory)
	if err != nil {
		return nil, err
	}
	latest := map[string]Metric{}
	var (
		curKey string
		kb     *bolt.Bucket
	)
	for i := range metrics {
		m := &metrics[i]
		if kb == nil || m.Key != curKey {
			kb, err = hist.CreateBucketIfNotExists([]byte(m.Key))
			if err != nil {
				return nil, err
			}
			kb.FillPercent = 0.95 // histories grow at the end
			curKey = m.Key
		}
		ok := metricOrderKey(m.Step, m.Timestamp, m.Value)
		extra := encodeExtra(m)
		if err := kb.Put(ok, extra); err != nil {
			return nil, err
		}
		lk := pk(pfxLatest, m.Key)
		old := b.Get(lk)
		if old == nil || len(old) < 24 || bytes.Compare(ok, old[:24]) >= 0 {
			if err := b.Put(lk, append(ok, extra...)); err != nil {
				return nil, err
			}
			l := *m
			l.RunID = ""
			latest[m.Key] = l
		}
	}
	return latest, nil
}

// noteLatest updates the run index with metric points that became the
// latest in bbolt, unless a point pending in the metric log orders after.
func (s *Store) noteLatest(runID string, latest map[string]Metric) {
	if len(latest) == 0 {
		return
	}
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	vals := s.pending.noteLatest(runID, latest)
	ix := s.runs
	ix.lock()
	if ord, ok := ix.ord(runID); ok {
		for k, v := range vals {
			ix.setMetric(ord, k, v)
		}
	}
	ix.mu.Unlock()
}

// DeleteTag removes a run tag; a missing tag is RESOURCE_DOES_NOT_EXIST.
func (s *Store) DeleteTag(ctx context.Context, runID, key string) error {
	return s.update(ctx, func(tx *wtx) error {
		b, _, err := activeRun(tx.Tx, runID)
		if err != nil {
			return err
		}
		k := pk(pfxTag, key)
		if b.Get(k) == nil {
			return NotFoundf("No tag with name: %s in run with id %s", key, runID)
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		tx.onCommit(func() {
			ix := s.runs
			ix.lock()
			if ord, ok := ix.ord(runID); ok {
				if c := ix.tags[key]; c != nil {
					c.del(ord)
				}
			}
			ix.mu.Unlock()
		})
		return nil
	})
}

// LogInputs records datasets (deduplicated by name and digest) and model
// inputs, all or nothing. Every model must be a logged model that exists.
func (s *Store) LogInputs(ctx context.Context, runID string, datasets []DatasetInput, models []ModelInput) error {
	for _, d := range datasets {
		if err := validateDatasetInput(&d); err != nil {
			return err
		}
	}
	ids := make([]string, len(models))
	for i, m := range models {
		ids[i] = m.ModelID
	}
	if err := validateModelRefs(ids); err != nil {
		return err
	}
	return s.update(ctx, func(tx *wtx) error {
		b, _, err := activeRun(tx.Tx, runID)
		if err != nil {
			return err
		}
		if err := modelRefsExist(tx.Tx, ids); err != nil {
			return err
		}
		var refs []dsRef
		for _, d := range datasets {
			k := pk(pfxDataset, d.Dataset.Name+"\x00"+d.Dataset.Digest)
			if b.Get(k) != nil {
				continue
			}
			v, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
			ctxTag, _ := tagValue(d.Tags, TagDataCtx)
			refs = append(refs, dsRef{d.Dataset.Name, d.Dataset.Digest, ctxTag})
		}
		for _, m := range models {
			if err := b.Put(pk(pfxModelIn, m.ModelID), nil); err != nil {
				return err
			}
		}
		if len(refs) > 0 {
			tx.onCommit(func() {
				ix := s.runs
				ix.lock()
				if ord, ok := ix.ord(runID); ok {
					ix.rows[ord].datasets = append(ix.rows[ord].datasets, refs...)
				}
				ix.mu.Unlock()
			})
		}
		return nil
	})
}

func validateDatasetInput(d *DatasetInput) error {
	ds := &d.Dataset
	switch {
	case ds.Name == "":
		return Invalidf("Missing value for required parameter 'dataset.name'")
	case ds.Digest == "":
		return Invalidf("Missing value for required parameter 'dataset.digest'")
	case ds.SourceType == "":
		return Invalidf("Missing value for required parameter 'dataset.source_type'")
	case ds.Source == "":
		return Invalidf("Missing value for required parameter 'dataset.source'")
	case runeLen(ds.Name) > MaxDatasetNameLength:
		return Invalidf("Dataset name exceeds the maximum length of %d", MaxDatasetNameLength)
	case runeLen(ds.Digest) > MaxDatasetDigestLength:
		return Invalidf("Dataset digest exceeds the maximum length of %d", MaxDatasetDigestLength)
	case len(ds.Source) > MaxDatasetSourceLength:
		return Invalidf("Dataset source exceeds the maximum length of %d", MaxDatasetSourceLength)
	case len(ds.Schema) > MaxDatasetSchemaLength:
		return Invalidf("Dataset schema exceeds the maximum length of %d", MaxDatasetSchemaLength)
	case len(ds.Profile) > MaxDatasetProfileLength:
		return Invalidf("Dataset profile exceeds the maximum length of %d", MaxDatasetProfileLength)
	}
	for _, t := range d.Tags {
		if t.Key == "" {
			return Invalidf("Missing value for required parameter 'key' of an input tag")
		}
		if runeLen(t.Key) > MaxInputTagKeyLength || runeLen(t.Value) > MaxInputTagValueLength {
			return Invalidf("Input tag key or value exceeds the maximum length (%d / %d)", MaxInputTagKeyLength, MaxInputTagValueLength)
		}
	}
	return nil
}

// LogOutputs records logged models a run produced, all or nothing. Every
// model must be a logged model that exists.
func (s *Store) LogOutputs(ctx context.Context, runID string, models []ModelOutput) error {
	ids := make([]string, len(models))
	for i, m := range models {
		ids[i] = m.ModelID
	}
	if err := validateModelRefs(ids); err != nil {
		return err
	}
	return s.update(ctx, func(tx *wtx) error {
		b, _, err := activeRun(tx.Tx, runID)
		if err != nil {
			return err
		}
		if err := modelRefsExist(tx.Tx, ids); err != nil {
			return err
		}
		for _, m := range models {
			if err := b.Put(pk(pfxModelOu, m.ModelID), appendI64(nil, m.Step)); err != nil {
				return err
			}
		}
		return nil
	})
}

// validateModelRefs checks the model ids of log-inputs and runs/outputs
// before anything is read or written: present and of an id's length.
func validateModelRefs(ids []string) error {
	for i, id := range ids {
		if id == "" {
			return Invalidf("Missing value for required parameter 'models[%d].model_id'.", i)
		}
		if err := ValidateID(fmt.Sprintf("models[%d].model_id", i), id); err != nil {
			return err
		}
	}
	return nil
}

// modelRefsExist checks that every id is a logged model that exists (and
// is not deleted), with MLflow's message for one that does not.
func modelRefsExist(tx *bolt.Tx, ids []string) error {
	for _, id := range ids {
		if _, err := getLoggedModelTx(tx, id, false); err != nil {
			return err
		}
	}
	return nil
}

// logModelMetrics is a hook for metrics that carry a model_id; the logged
// models store attaches them (set in loggedmodels.go).
func (s *Store) logModelMetrics(tx *wtx, runID string, metrics []Metric) {
	if s.attachModelMetrics != nil {
		s.attachModelMetrics(tx, runID, metrics)
	}
}

// AppendModelHistory appends a logged model's metadata (2.x runs/log-model)
// to the run tag mlflow.log-model.history, without flavor configs.
func (s *Store) AppendModelHistory(ctx context.Context, runID string, model map[string]any) error {
	if flavors, ok := model["flavors"].(map[string]any); ok {
		for _, f := range flavors {
			if fm, ok := f.(map[string]any); ok {
				delete(fm, "config")
			}
		}
	}
	keep := map[string]any{}
	for _, k := range []string{"run_id", "utc_time_created", "artifact_path", "model_uuid", "flavors", "signature", "saved_input_example_info", "mlflow_version", "model_size_bytes", "metadata"} {
		if v, ok := model[k]; ok {
			keep[k] = v
		}
	}
	return s.update(ctx, func(tx *wtx) error {
		b, _, err := activeRun(tx.Tx, runID)
		if err != nil {
			return err
		}
		var hist []any
		if old := b.Get(pk(pfxTag, TagModelHist)); old != nil {
			_ = json.Unmarshal(old, &hist)
		}
		hist = append(hist, keep)
		v, err := json.Marshal(hist)
		if err != nil {
			return err
		}
		if err := b.Put(pk(pfxTag, TagModelHist), v); err != nil {
			return err
		}
		val := string(v)
		tx.onCommit(func() {
			s.runs.lock()
			if ord, ok := s.runs.ord(runID); ok {
				setStr(s.runs.tags, ord, TagModelHist, val)
			}
			s.runs.mu.Unlock()
		})
		return nil
	})
}

// RunExperiment returns the experiment id of a run (KindNotFound if there
// is no such run): the access check of every run call, so it reads the
// run index rather than the run.
func (s *Store) RunExperiment(ctx context.Context, id string) (string, error) {
	if ok, _ := s.Ready(); ok {
		ix := s.runs
		ix.mu.RLock()
		exp := ""
		if i, found := ix.byID[id]; found && !ix.rows[i].dead {
			exp = ix.rows[i].exp
		}
		ix.mu.RUnlock()
		if exp != "" {
			return exp, nil
		}
	}
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return "", err
	}
	return r.Info.ExperimentID, nil
}

package store

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Importing another tracking server's history (mlbox import): records are
// written with the ids, times and states they had there, where the normal
// API would assign new ones. Each import step is idempotent: a record that
// is already here is left alone, and a run whose import was cut off is
// known (its ledger entry says "started") so the importer can start it over.
//
// The ledger lives in the meta bucket under "import\x00<kind>\x00<id>".

// Import ledger states.
const (
	ImportStarted = "started"
	ImportDone    = "done"
)

var pfxImport = []byte("import\x00")

func importKey(kind, id string) []byte {
	k := append(append([]byte(nil), pfxImport...), kind...)
	return append(append(k, 0), id...)
}

func importStateTx(tx *bolt.Tx, kind, id string) string {
	return string(tx.Bucket(bktMeta).Get(importKey(kind, id)))
}

func setImportStateTx(tx *bolt.Tx, kind, id, state string) error {
	return tx.Bucket(bktMeta).Put(importKey(kind, id), []byte(state))
}

// reImportID is what an imported run or logged model id may be: MLflow's
// are 32 hex digits (logged models "m-" and 32), other servers' similar.
var reImportID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// ImportExperiment creates an experiment as it was on another server and
// returns its id here. An experiment of the same name is reused (its tags
// are merged); otherwise the source's id is kept if it is free, else a new
// one is assigned. It is created active: a deleted source experiment is
// deleted after its runs are imported.
func (s *Store) ImportExperiment(ctx context.Context, e Experiment) (string, error) {
	if err := validateExperimentName(e.Name); err != nil {
		return "", err
	}
	for _, t := range e.Tags {
		if err := validateExperimentTag(t); err != nil {
			return "", err
		}
	}
	var id string
	err := s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktExps)
		if v := tx.Bucket(bktExpNames).Get([]byte(e.Name)); v != nil {
			id = strconv.FormatUint(bytesU64(v), 10)
			cur, err := getExperimentTx(tx.Tx, id)
			if err != nil {
				return err
			}
			merged := mergeTags(append([]Tag(nil), cur.Tags...), e.Tags)
			if !slices.Equal(merged, cur.Tags) {
				cur.Tags = merged
				return putExperimentTx(tx.Tx, cur)
			}
			return nil
		}
		n, err := strconv.ParseUint(e.ExperimentID, 10, 63)
		if err != nil || b.Get(u64(n)) != nil {
			if n, err = b.NextSequence(); err != nil {
				return err
			}
		} else if n > b.Sequence() {
			if err := b.SetSequence(n); err != nil {
				return err
			}
		}
		id = strconv.FormatUint(n, 10)
		now := time.Now().UnixMilli()
		x := &Experiment{ExperimentID: id, Name: e.Name, ArtifactLocation: s.opts.ArtifactRoot + "/" + id,
			LifecycleStage: StageActive, CreationTime: e.CreationTime, LastUpdateTime: e.LastUpdateTime,
			Tags: mergeTags(nil, e.Tags)}
		if x.CreationTime == 0 {
			x.CreationTime = now
		}
		if x.LastUpdateTime == 0 {
			x.LastUpdateTime = x.CreationTime
		}
		if err := putExperimentTx(tx.Tx, x); err != nil {
			return err
		}
		return tx.Bucket(bktExpNames).Put([]byte(e.Name), u64(n))
	})
	return id, err
}

// ImportRun creates a run with its id, info and tags as they were on
// another server, in experiment expID here (active or not), and marks its
// import started. Its metrics, params, inputs and artifacts are then
// logged as usual, and FinishImportRun sets its final state.
//
// It returns ImportDone (and changes nothing) for a run imported before.
// A run whose import was started but not finished is an Exists error with
// the state ImportStarted: the caller purges it and calls again. A run of
// that id that was not imported is an Exists error.
func (s *Store) ImportRun(ctx context.Context, expID string, info RunInfo, tags []Tag) (string, error) {
	id := info.RunID
	if !reImportID.MatchString(id) {
		return "", Invalidf("Invalid run id '%s' to import", id)
	}
	for i, t := range tags {
		if err := validateKey("tag", t.Key); err != nil {
			return "", err
		}
		tags[i].Value = truncate(t.Value, MaxTagValueLength)
	}
	if info.RunName == "" {
		info.RunName, _ = tagValue(tags, TagRunName)
	}
	if runeLen(info.RunName) > MaxRunNameLength {
		return "", Invalidf("Run name exceeds the maximum length of %d characters", MaxRunNameLength)
	}
	if info.StartTime == 0 {
		info.StartTime = time.Now().UnixMilli()
	}
	state := ""
	err := s.update(ctx, func(tx *wtx) error {
		state = importStateTx(tx.Tx, "run", id)
		if tx.Bucket(bktRuns).Bucket([]byte(id)) != nil {
			switch state {
			case ImportDone:
				return nil
			case ImportStarted:
				return Existsf("The import of run %s was started before and did not finish", id)
			}
			return Existsf("Run %s already exists here and was not imported", id)
		}
		exp, err := getExperimentTx(tx.Tx, expID)
		if err != nil {
			return err
		}
		b, err := tx.Bucket(bktRuns).CreateBucket([]byte(id))
		if err != nil {
			return err
		}
		ri := RunInfo{RunID: id, RunUUID: id, RunName: info.RunName, ExperimentID: exp.ExperimentID, UserID: info.UserID,
			Status: "RUNNING", StartTime: info.StartTime, ArtifactURI: exp.ArtifactLocation + "/" + id + "/artifacts",
			LifecycleStage: StageActive}
		if err := putRunInfo(b, &ri); err != nil {
			return err
		}
		for _, t := range tags {
			if err := b.Put(pk(pfxTag, t.Key), []byte(t.Value)); err != nil {
				return err
			}
		}
		state = ImportStarted
		if err := setImportStateTx(tx.Tx, "run", id, ImportStarted); err != nil {
			return err
		}
		tx.onCommit(func() {
			ix := s.runs
			ix.lock()
			ord := ix.putInfo(&ri)
			for _, t := range tags {
				setStr(ix.tags, ord, t.Key, t.Value)
			}
			ix.mu.Unlock()
		})
		return nil
	})
	if err != nil && KindOf(err) == KindExists && state == ImportStarted {
		return ImportStarted, err
	}
	return state, err
}

// FinishImportRun sets an imported run's final status, end time and
// lifecycle stage and marks its import done, in one transaction.
func (s *Store) FinishImportRun(ctx context.Context, id, status string, endTime *int64, lifecycle string) error {
	if status != "" && !runStatuses[status] {
		return Invalidf("Invalid run status '%s'", status)
	}
	if lifecycle != "" && lifecycle != StageActive && lifecycle != StageDeleted {
		return Invalidf("Invalid lifecycle stage '%s'", lifecycle)
	}
	return s.update(ctx, func(tx *wtx) error {
		if importStateTx(tx.Tx, "run", id) != ImportStarted {
			return Invalidf("Run %s is not being imported", id)
		}
		b, info, err := runBucket(tx.Tx, id)
		if err != nil {
			return err
		}
		if status != "" {
			info.Status = status
		}
		info.EndTime = endTime
		if lifecycle == StageDeleted {
			info.LifecycleStage, info.DeletedTime = StageDeleted, time.Now().UnixMilli()
		}
		if err := putRunInfo(b, info); err != nil {
			return err
		}
		s.indexInfo(tx, *info)
		return setImportStateTx(tx.Tx, "run", id, ImportDone)
	})
}

// ImportLoggedModel creates an MLflow 3 logged model with its id, times,
// status, params, metrics and tags as they were on another server, in
// experiment expID here. It returns the
// model's import state: ImportStarted for a new model (its artifacts are
// copied next, then FinishImport marks it done), or the state it had.
func (s *Store) ImportLoggedModel(ctx context.Context, expID string, m LoggedModel) (string, error) {
	in := m.Info
	if !reImportID.MatchString(in.ModelID) {
		return "", Invalidf("Invalid logged model id '%s' to import", in.ModelID)
	}
	if in.Name == "" {
		in.Name = in.ModelID
	}
	if err := validateLoggedModelName(in.Name); err != nil {
		return "", err
	}
	for _, p := range m.Data.Params {
		if err := validateKey("param", p.Key); err != nil {
			return "", err
		}
	}
	for _, t := range in.Tags {
		if err := validateKey("tag", t.Key); err != nil {
			return "", err
		}
	}
	switch in.Status {
	case LoggedModelPending, LoggedModelReady, LoggedModelUploadFailed:
	default:
		in.Status = LoggedModelReady
	}
	var state string
	err := s.update(ctx, func(tx *wtx) error {
		state = importStateTx(tx.Tx, "logged_model", in.ModelID)
		if tx.Bucket(bktLoggedModels).Get([]byte(in.ModelID)) != nil {
			if state == "" {
				return Existsf("Logged model %s already exists here and was not imported", in.ModelID)
			}
			return nil
		}
		exp, err := getExperimentTx(tx.Tx, expID)
		if err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		if in.CreationTimestampMs == 0 {
			in.CreationTimestampMs = now
		}
		if in.LastUpdatedTimestampMs == 0 {
			in.LastUpdatedTimestampMs = in.CreationTimestampMs
		}
		r := &loggedModelRecord{
			Info: LoggedModelInfo{ModelID: in.ModelID, ExperimentID: exp.ExperimentID, Name: in.Name,
				CreationTimestampMs: in.CreationTimestampMs, LastUpdatedTimestampMs: in.LastUpdatedTimestampMs,
				ArtifactURI: exp.ArtifactLocation + "/models/" + in.ModelID + "/artifacts", Status: in.Status,
				StatusMessage: in.StatusMessage, ModelType: in.ModelType, SourceRunID: in.SourceRunID,
				Tags: mergeTags(nil, in.Tags), LifecycleStage: StageActive},
			Params: mergeTags(nil, m.Data.Params),
		}
		for _, x := range m.Data.Metrics {
			r.Metrics = append(r.Metrics, storedMetric{Key: x.Key, ValueBits: appendF64(nil, x.Value), Timestamp: x.Timestamp,
				Step: x.Step, RunID: x.RunID, DatasetName: x.DatasetName, DatasetDigest: x.DatasetDigest})
		}
		if err := putLoggedModelTx(tx.Tx, r); err != nil {
			return err
		}
		state = ImportStarted
		return setImportStateTx(tx.Tx, "logged_model", in.ModelID, ImportStarted)
	})
	return state, err
}

// FinishImport marks a record's import done.
func (s *Store) FinishImport(ctx context.Context, kind, id string) error {
	return s.update(ctx, func(tx *wtx) error {
		if importStateTx(tx.Tx, kind, id) == "" {
			return Invalidf("%s %s is not being imported", kind, id)
		}
		return setImportStateTx(tx.Tx, kind, id, ImportDone)
	})
}

// ImportRegisteredModel creates a registered model as it was on another
// server (times, description, tags); an existing one of that name gets
// the tags it lacks. Aliases are set after the versions.
func (s *Store) ImportRegisteredModel(ctx context.Context, m RegisteredModel) error {
	if err := validateModelName(m.Name); err != nil {
		return err
	}
	for _, t := range m.Tags {
		if err := validateRegistryTag(t); err != nil {
			return err
		}
	}
	return s.update(ctx, func(tx *wtx) error {
		if tx.Bucket(bktRegModels).Get([]byte(m.Name)) != nil {
			rm, err := getRegModelTx(tx.Tx, m.Name)
			if err != nil {
				return err
			}
			merged := mergeTags(append([]Tag(nil), rm.Tags...), m.Tags)
			if slices.Equal(merged, rm.Tags) {
				return nil
			}
			rm.Tags = merged
			return putRegModelTx(tx.Tx, rm)
		}
		now := time.Now().UnixMilli()
		r := &regModelRecord{RegisteredModel: RegisteredModel{Name: m.Name, CreationTimestamp: m.CreationTimestamp,
			LastUpdatedTimestamp: m.LastUpdatedTimestamp, UserID: m.UserID, Description: m.Description,
			Tags: mergeTags(nil, m.Tags)}, NextVersion: 1}
		if r.CreationTimestamp == 0 {
			r.CreationTimestamp = now
		}
		if r.LastUpdatedTimestamp == 0 {
			r.LastUpdatedTimestamp = r.CreationTimestamp
		}
		if err := putRegModelTx(tx.Tx, r); err != nil {
			return err
		}
		tx.emit("registered_model.created", map[string]any{"name": m.Name, "tags": tagMapOf(m.Tags), "description": m.Description})
		return nil
	})
}

func tagMapOf(tags []Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// ImportModelVersion creates a model version with its number, stage,
// times, source and tags as they were on another server. It reports
// whether it was created (false: that version exists here already). Its
// source must pass the checks a new version's does (no local paths). It
// resolves against the runs and logged models imported before it;
// one that does not resolve here (another store's URI, a run that is
// gone) is kept as given.
func (s *Store) ImportModelVersion(ctx context.Context, v ModelVersion, actor Actor) (bool, error) {
	n, err := parseVersion(v.Version)
	if err != nil || n < 1 {
		return false, Invalidf("Invalid model version '%s' to import", v.Version)
	}
	for _, t := range v.Tags {
		if err := validateRegistryTag(t); err != nil {
			return false, err
		}
	}
	stage := StageNone
	if v.CurrentStage != "" {
		st, ok := CanonicalStage(v.CurrentStage)
		if !ok {
			return false, Invalidf("Invalid model version stage '%s'", v.CurrentStage)
		}
		stage = st
	}
	if err := checkSourceSyntax(&CreateModelVersionRequest{Name: v.Name, Source: v.Source, RunID: v.RunID, ModelID: v.ModelID}); err != nil {
		return false, err
	}
	created := false
	err = s.update(ctx, func(tx *wtx) error {
		created = false
		rm, err := getRegModelTx(tx.Tx, v.Name)
		if err != nil {
			return err
		}
		key := versionKey(v.Name, n)
		if tx.Bucket(bktModelVers).Get(key) != nil {
			return nil
		}
		req := CreateModelVersionRequest{Name: v.Name, Source: v.Source, RunID: v.RunID, ModelID: v.ModelID}
		loc, err := resolveSourceTx(tx.Tx, &req)
		if err != nil {
			if KindOf(err) != KindNotFound && KindOf(err) != KindInvalid {
				return err
			}
			loc = ""
		}
		now := time.Now().UnixMilli()
		status := v.Status
		if status == "" {
			status = "READY"
		}
		vr := &versionRecord{ModelVersion: ModelVersion{Name: v.Name, Version: strconv.FormatInt(n, 10),
			CreationTimestamp: v.CreationTimestamp, LastUpdatedTimestamp: v.LastUpdatedTimestamp, UserID: v.UserID,
			CurrentStage: stage, Description: v.Description, Source: v.Source, RunID: req.RunID, Status: status,
			StatusMessage: v.StatusMessage, Tags: mergeTags(nil, v.Tags), RunLink: v.RunLink, ModelID: v.ModelID},
			StorageLocation: loc, StagesVisited: appendStage([]string{StageNone}, stage)}
		if vr.CreationTimestamp == 0 {
			vr.CreationTimestamp = now
		}
		if vr.LastUpdatedTimestamp == 0 {
			vr.LastUpdatedTimestamp = vr.CreationTimestamp
		}
		if err := putVersionTx(tx.Tx, vr); err != nil {
			return err
		}
		if n >= rm.NextVersion {
			rm.NextVersion = n + 1
		}
		if err := putRegModelTx(tx.Tx, rm); err != nil {
			return err
		}
		if v.ModelID != "" {
			if err := addLoggedModelRegistrationTx(tx.Tx, v.ModelID, v.Name, vr.Version); err != nil && KindOf(err) != KindNotFound {
				return err
			}
		}
		tx.emit("model_version.created", map[string]any{"name": v.Name, "version": vr.Version, "source": v.Source,
			"run_id": vr.RunID, "tags": tagMapOf(v.Tags), "description": v.Description})
		if stage != StageNone {
			tx.emit("model_version.stage_transitioned", map[string]any{"name": v.Name, "version": vr.Version,
				"from_stage": StageNone, "to_stage": stage})
		}
		created = true
		return s.auditTx(tx, AuditEntry{Model: v.Name, Version: vr.Version, Action: "model_version.imported",
			Actor: actor, After: stage})
	})
	return created, err
}

// ImportLedger lists the import ledger's entries of one kind (id → state).
func (s *Store) ImportLedger(ctx context.Context, kind string) (map[string]string, error) {
	out := map[string]string{}
	pfx := importKey(kind, "")
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktMeta).Cursor()
		for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
			out[string(k[len(pfx):])] = string(v)
		}
		return nil
	})
	return out, err
}

// SetLedger records an entry of a transfer ledger (mlbox export keeps its
// progress here: which source records reached the target, under what id).
func (s *Store) SetLedger(ctx context.Context, kind string, entries map[string]string) error {
	return s.update(ctx, func(tx *wtx) error {
		for id, v := range entries {
			if err := setImportStateTx(tx.Tx, kind, id, v); err != nil {
				return err
			}
		}
		return nil
	})
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"mlbox/store/artifact"
)

// Purging is the hard delete of soft-deleted runs, logged models and
// experiments, artifacts included. Artifacts go first: if that fails the
// metadata stays and a later purge retries; the reverse order would leave
// files nobody can find (MLflow's `gc` has that problem).
//
// Whatever a live model version still points at is never purged: its source
// run, its logged model, or the run or model that owns its storage location.
// Deleting the version first is the way to free them.

// artifactsScheme is the URI scheme of mlbox-managed artifacts.
const artifactsScheme = "mlflow-artifacts:"

// storagePath returns the artifact-store path of an mlflow-artifacts: URI
// ("mlflow-artifacts:/1/abc/artifacts" → "1/abc/artifacts"). URIs of other
// schemes, or with an authority (mlflow-artifacts://host/...), are not ours.
func storagePath(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, artifactsScheme)
	if !ok || strings.HasPrefix(rest, "//") {
		return "", false
	}
	p, err := artifact.CleanPath(strings.TrimPrefix(rest, "/"))
	if err != nil || p == "" {
		return "", false
	}
	return p, true
}

// ownedDir returns the storage directory that belongs to one entity: for
// an artifact URI ".../<id>/artifacts" it is ".../<id>". Anything else
// (custom layouts, foreign schemes) returns false and is left alone.
func ownedDir(uri, id string) (string, bool) {
	p, ok := storagePath(uri)
	if !ok {
		return "", false
	}
	dir, last := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if last != "artifacts" || path.Base(dir) != id || dir == id {
		return "", false
	}
	return dir, true
}

// isRunID reports whether s looks like a run id (32 lowercase hex digits).
func isRunID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isLoggedModelID(s string) bool { return strings.HasPrefix(s, "m-") && isRunID(s[2:]) }

// artifactOwner names the run or logged model whose directory holds uri,
// for URIs in the default layout (<exp>/<run>/artifacts/...,
// <exp>/models/<model_id>/artifacts/...).
func artifactOwner(uri string) (runID, modelID string) {
	p, ok := storagePath(uri)
	if !ok {
		return "", ""
	}
	seg := strings.Split(p, "/")
	for i := 0; i+1 < len(seg); i++ {
		if seg[i+1] != "artifacts" {
			continue
		}
		switch {
		case isRunID(seg[i]):
			return seg[i], ""
		case isLoggedModelID(seg[i]):
			return "", seg[i]
		}
	}
	return "", ""
}

// registryRefs is what live model versions point at.
type registryRefs struct {
	// runs and models: referenced by any live version (never purged).
	runs   map[string]string // run id → "model version N"
	models map[string]string // logged model id → "model version N"
	// protectedRuns: the runs behind versions holding an alias or the
	// Production stage (never deleted by a policy either).
	protectedRuns map[string]string
	// versions: name \x00 version → why it is protected ("" if not).
	versions map[string]string
}

func registryRefsTx(tx *bolt.Tx) (*registryRefs, error) {
	r := &registryRefs{runs: map[string]string{}, models: map[string]string{}, protectedRuns: map[string]string{}, versions: map[string]string{}}
	aliases := map[string]map[int64][]string{}
	err := tx.Bucket(bktRegModels).ForEach(func(k, v []byte) error {
		var rm regModelRecord
		if err := json.Unmarshal(v, &rm); err != nil {
			return err
		}
		for a, n := range rm.AliasMap {
			if aliases[rm.Name] == nil {
				aliases[rm.Name] = map[int64][]string{}
			}
			aliases[rm.Name][n] = append(aliases[rm.Name][n], a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	lms := tx.Bucket(bktLoggedModels)
	err = tx.Bucket(bktModelVers).ForEach(func(k, v []byte) error {
		var vr versionRecord
		if err := json.Unmarshal(v, &vr); err != nil {
			return err
		}
		if vr.Deleted {
			return nil
		}
		label := fmt.Sprintf("model %s version %s", vr.Name, vr.Version)
		n, _ := strconv.ParseInt(vr.Version, 10, 64)
		var why string
		if as := aliases[vr.Name][n]; len(as) > 0 {
			slices.Sort(as)
			why = fmt.Sprintf("%s holds alias %s", label, strings.Join(as, ","))
		} else if vr.CurrentStage == StageProduction {
			why = label + " is in Production"
		}
		r.versions[string(versionKey(vr.Name, n))] = why
		var runs, models []string
		runs = append(runs, vr.RunID)
		models = append(models, vr.ModelID)
		for _, uri := range []string{vr.Source, vr.StorageLocation} {
			run, model := artifactOwner(uri)
			runs, models = append(runs, run), append(models, model)
		}
		if strings.HasPrefix(vr.Source, "models:/m-") {
			models = append(models, strings.TrimPrefix(vr.Source, "models:/"))
		}
		for _, m := range models {
			if m == "" {
				continue
			}
			r.models[m] = label
			if b := lms.Get([]byte(m)); b != nil {
				var lm loggedModelRecord
				if json.Unmarshal(b, &lm) == nil && lm.Info.SourceRunID != "" {
					runs = append(runs, lm.Info.SourceRunID)
				}
			}
		}
		for _, id := range runs {
			if id == "" {
				continue
			}
			r.runs[id] = label
			if why != "" {
				r.protectedRuns[id] = why
			}
		}
		return nil
	})
	return r, err
}

func (r *registryRefs) versionProtection(name, version string) string {
	n, _ := strconv.ParseInt(version, 10, 64)
	return r.versions[string(versionKey(name, n))]
}

// PurgeRun hard-deletes a deleted run: its artifact directory (when it is
// in mlbox's storage), then its metadata and index entry. A run that is not
// deleted, or that a live model version points at, is refused.
func (s *Store) PurgeRun(ctx context.Context, arts artifact.Store, runID string) error {
	return s.purgeRun(ctx, arts, runID, "")
}

// purgeRun purges a run; with expID set (experiment purge) the run may be
// in any lifecycle stage but must belong to that experiment.
func (s *Store) purgeRun(ctx context.Context, arts artifact.Store, runID, expID string) error {
	check := func(tx *bolt.Tx) (*RunInfo, error) {
		_, info, err := runBucket(tx, runID)
		if err != nil {
			return nil, err
		}
		if expID == "" && info.LifecycleStage != StageDeleted {
			return nil, Invalidf("Run %s must be deleted before it can be purged (lifecycle_stage=%s)", runID, info.LifecycleStage)
		}
		if expID != "" && info.ExperimentID != expID {
			return nil, Invalidf("Run %s is not in experiment %s", runID, expID)
		}
		refs, err := registryRefsTx(tx)
		if err != nil {
			return nil, err
		}
		if by := refs.runs[runID]; by != "" {
			return nil, Invalidf("Run %s cannot be purged: %s points at it (delete that version first)", runID, by)
		}
		return info, nil
	}
	var info *RunInfo
	if err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		info, err = check(tx)
		return err
	}); err != nil {
		return err
	}
	if dir, ok := ownedDir(info.ArtifactURI, runID); ok {
		if arts == nil {
			return &Error{Kind: KindUnavailable, Msg: "no artifact store to purge run " + runID + " from"}
		}
		if err := arts.Delete(ctx, dir); err != nil {
			return fmt.Errorf("purge artifacts of run %s: %w", runID, err)
		}
	}
	return s.update(ctx, func(tx *wtx) error {
		if _, err := check(tx.Tx); err != nil {
			return err
		}
		if err := tx.Bucket(bktRuns).DeleteBucket([]byte(runID)); err != nil {
			return err
		}
		tx.onCommit(func() {
			s.latestMu.Lock()
			s.pending.dropRun(runID)
			s.latestMu.Unlock()
			s.runs.lock()
			s.runs.remove(runID)
			s.runs.mu.Unlock()
		})
		return nil
	})
}

// PurgeLoggedModel hard-deletes a deleted logged model and its artifacts.
func (s *Store) PurgeLoggedModel(ctx context.Context, arts artifact.Store, modelID string) error {
	return s.purgeLoggedModel(ctx, arts, modelID, "")
}

func (s *Store) purgeLoggedModel(ctx context.Context, arts artifact.Store, modelID, expID string) error {
	check := func(tx *bolt.Tx) (*loggedModelRecord, error) {
		r, err := getLoggedModelTx(tx, modelID, true)
		if err != nil {
			return nil, err
		}
		if expID == "" && r.Info.LifecycleStage != StageDeleted {
			return nil, Invalidf("Logged model %s must be deleted before it can be purged", modelID)
		}
		if expID != "" && r.Info.ExperimentID != expID {
			return nil, Invalidf("Logged model %s is not in experiment %s", modelID, expID)
		}
		refs, err := registryRefsTx(tx)
		if err != nil {
			return nil, err
		}
		if by := refs.models[modelID]; by != "" {
			return nil, Invalidf("Logged model %s cannot be purged: %s points at it (delete that version first)", modelID, by)
		}
		return r, nil
	}
	var rec *loggedModelRecord
	if err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		rec, err = check(tx)
		return err
	}); err != nil {
		return err
	}
	if dir, ok := ownedDir(rec.Info.ArtifactURI, modelID); ok {
		if arts == nil {
			return &Error{Kind: KindUnavailable, Msg: "no artifact store to purge logged model " + modelID + " from"}
		}
		if err := arts.Delete(ctx, dir); err != nil {
			return fmt.Errorf("purge artifacts of logged model %s: %w", modelID, err)
		}
	}
	return s.update(ctx, func(tx *wtx) error {
		if _, err := check(tx.Tx); err != nil {
			return err
		}
		return tx.Bucket(bktLoggedModels).Delete([]byte(modelID))
	})
}

// experimentContentsTx lists every run and logged model of an experiment.
func (s *Store) experimentContents(ctx context.Context, expID string) (runs, models []string, err error) {
	s.runs.mu.RLock()
	for _, ord := range s.runs.byExp[expID] {
		runs = append(runs, s.runs.rows[ord].id)
	}
	s.runs.mu.RUnlock()
	err = s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktLoggedModels).ForEach(func(k, v []byte) error {
			var r loggedModelRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.Info.ExperimentID == expID {
				models = append(models, r.Info.ModelID)
			}
			return nil
		})
	})
	slices.Sort(runs)
	return runs, models, err
}

// PurgeExperiment hard-deletes a deleted experiment: all its runs and
// logged models with their artifacts, its artifact directory (when it has
// the default location), then the experiment and its name. It is refused
// if a live model version points at any of its runs or models.
func (s *Store) PurgeExperiment(ctx context.Context, arts artifact.Store, expID string) error {
	if expID == "0" {
		return Invalidf("Cannot purge the default experiment '0'.")
	}
	var exp *Experiment
	check := func(tx *bolt.Tx) error {
		e, err := getExperimentTx(tx, expID)
		if err != nil {
			return err
		}
		if e.LifecycleStage != StageDeleted {
			return Invalidf("Experiment %s must be deleted before it can be purged (lifecycle_stage=%s)", expID, e.LifecycleStage)
		}
		exp = e
		return nil
	}
	if err := s.view(ctx, check); err != nil {
		return err
	}
	runs, models, err := s.experimentContents(ctx, expID)
	if err != nil {
		return err
	}
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		refs, err := registryRefsTx(tx)
		if err != nil {
			return err
		}
		for _, id := range runs {
			if by := refs.runs[id]; by != "" {
				return Invalidf("Experiment %s cannot be purged: %s points at its run %s (delete that version first)", expID, by, id)
			}
		}
		for _, id := range models {
			if by := refs.models[id]; by != "" {
				return Invalidf("Experiment %s cannot be purged: %s points at its logged model %s (delete that version first)", expID, by, id)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for _, id := range runs {
		if err := s.purgeRun(ctx, arts, id, expID); err != nil && KindOf(err) != KindNotFound {
			return err
		}
	}
	for _, id := range models {
		if err := s.purgeLoggedModel(ctx, arts, id, expID); err != nil && KindOf(err) != KindNotFound {
			return err
		}
	}
	if p, ok := storagePath(exp.ArtifactLocation); ok && p == expID {
		if arts == nil {
			return &Error{Kind: KindUnavailable, Msg: "no artifact store to purge experiment " + expID + " from"}
		}
		if err := arts.Delete(ctx, p); err != nil {
			return fmt.Errorf("purge artifacts of experiment %s: %w", expID, err)
		}
	}
	return s.update(ctx, func(tx *wtx) error {
		if err := check(tx.Tx); err != nil {
			return err
		}
		n, _ := parseExperimentID(expID)
		s.runs.mu.RLock()
		left := len(s.runs.byExp[expID])
		s.runs.mu.RUnlock()
		if left > 0 {
			return Invalidf("Experiment %s still has %d runs", expID, left)
		}
		if err := tx.Bucket(bktExps).Delete(u64(n)); err != nil {
			return err
		}
		names := tx.Bucket(bktExpNames)
		if v := names.Get([]byte(exp.Name)); v != nil && bytesU64(v) == n {
			return names.Delete([]byte(exp.Name))
		}
		return nil
	})
}

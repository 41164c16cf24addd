package store

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"mlbox/store/search"
)

func parseExperimentID(id string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 63)
	if err != nil {
		// MLflow's SQL store has integer ids and rejects others as invalid.
		return 0, Invalidf("Invalid value %q for parameter 'experiment_id': must be an integer", id)
	}
	return n, nil
}

func getExperimentTx(tx *bolt.Tx, id string) (*Experiment, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return nil, err
	}
	v := tx.Bucket(bktExps).Get(u64(n))
	if v == nil {
		return nil, NotFoundf("No Experiment with id=%s exists", id)
	}
	var e Experiment
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func putExperimentTx(tx *bolt.Tx, e *Experiment) error {
	n, err := parseExperimentID(e.ExperimentID)
	if err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Bucket(bktExps).Put(u64(n), v)
}

func validateExperimentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Invalidf("Invalid experiment name: '%s'", name)
	}
	if runeLen(name) > MaxExperimentNameLength {
		return Invalidf("Experiment name exceeds the maximum length of %d characters", MaxExperimentNameLength)
	}
	return nil
}

func validateExperimentTag(t Tag) error {
	if err := validateKey("tag", t.Key); err != nil {
		return err
	}
	if runeLen(t.Value) > MaxExperimentTagValue {
		return Invalidf("'value' exceeds the maximum length of %d characters", MaxExperimentTagValue)
	}
	return nil
}

// CreateExperiment creates an experiment and returns its id.
func (s *Store) CreateExperiment(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error) {
	if err := validateExperimentName(name); err != nil {
		return "", err
	}
	if artifactLocation != "" {
		if strings.HasPrefix(artifactLocation, "runs:") {
			return "", Invalidf("Artifact location cannot be a runs:/ URI. Given: '%s'", artifactLocation)
		}
		if strings.ContainsAny(artifactLocation, "#?") {
			return "", Invalidf("'artifact_location' URL can't include fragments or params.")
		}
	}
	for _, t := range tags {
		if err := validateExperimentTag(t); err != nil {
			return "", err
		}
	}
	var id string
	err := s.update(ctx, func(tx *wtx) error {
		if tx.Bucket(bktExpNames).Get([]byte(name)) != nil {
			return Existsf("Experiment(name=%s) already exists. Error: experiment name must be unique", name)
		}
		b := tx.Bucket(bktExps)
		n, err := b.NextSequence() // the Default experiment holds 0; sequences start at 1
		if err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		id = strconv.FormatUint(n, 10)
		loc := artifactLocation
		if loc == "" {
			loc = s.opts.ArtifactRoot + "/" + id
		}
		e := &Experiment{ExperimentID: id, Name: name, ArtifactLocation: loc, LifecycleStage: StageActive,
			CreationTime: now, LastUpdateTime: now, Tags: mergeTags(nil, tags)}
		if err := putExperimentTx(tx.Tx, e); err != nil {
			return err
		}
		return tx.Bucket(bktExpNames).Put([]byte(name), u64(n))
	})
	return id, err
}

// GetExperiment returns an experiment, deleted ones included.
func (s *Store) GetExperiment(ctx context.Context, id string) (*Experiment, error) {
	var e *Experiment
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		e, err = getExperimentTx(tx, id)
		return err
	})
	return e, err
}

// GetExperimentByName returns the experiment with that name.
func (s *Store) GetExperimentByName(ctx context.Context, name string) (*Experiment, error) {
	var e *Experiment
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bktExpNames).Get([]byte(name))
		if v == nil {
			return NotFoundf("Could not find experiment with name '%s'", name)
		}
		var err error
		e, err = getExperimentTx(tx, strconv.FormatUint(bytesU64(v), 10))
		return err
	})
	return e, err
}

func bytesU64(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// modifyExperiment loads, changes and stores an active experiment.
func (s *Store) modifyExperiment(ctx context.Context, id string, allowDeleted bool, fn func(tx *wtx, e *Experiment) error) error {
	return s.update(ctx, func(tx *wtx) error {
		e, err := getExperimentTx(tx.Tx, id)
		if err != nil {
			return err
		}
		if !allowDeleted && e.LifecycleStage != StageActive {
			return Invalidf("The experiment %s must be in the 'active' state. Current state is %s.", id, e.LifecycleStage)
		}
		if err := fn(tx, e); err != nil {
			return err
		}
		e.LastUpdateTime = time.Now().UnixMilli()
		return putExperimentTx(tx.Tx, e)
	})
}

// RenameExperiment changes an experiment's name; names are unique.
func (s *Store) RenameExperiment(ctx context.Context, id, newName string) error {
	if err := validateExperimentName(newName); err != nil {
		return err
	}
	return s.modifyExperiment(ctx, id, false, func(tx *wtx, e *Experiment) error {
		if e.Name == newName {
			return nil
		}
		names := tx.Bucket(bktExpNames)
		if names.Get([]byte(newName)) != nil {
			// MLflow reports this unique-constraint violation as BAD_REQUEST.
			return BadRequestf("Experiment(name=%s) already exists. Error: experiment name must be unique", newName)
		}
		if err := names.Delete([]byte(e.Name)); err != nil {
			return err
		}
		n, _ := parseExperimentID(e.ExperimentID)
		e.Name = newName
		return names.Put([]byte(newName), u64(n))
	})
}

// SetExperimentTag upserts a tag.
func (s *Store) SetExperimentTag(ctx context.Context, id string, t Tag) error {
	if err := validateExperimentTag(t); err != nil {
		return err
	}
	return s.modifyExperiment(ctx, id, false, func(_ *wtx, e *Experiment) error {
		e.Tags = mergeTags(e.Tags, []Tag{t})
		return nil
	})
}

// DeleteExperimentTag removes a tag; a missing tag is an error.
func (s *Store) DeleteExperimentTag(ctx context.Context, id, key string) error {
	return s.modifyExperiment(ctx, id, false, func(_ *wtx, e *Experiment) error {
		i := slices.IndexFunc(e.Tags, func(t Tag) bool { return t.Key == key })
		if i < 0 {
			return NotFoundf("No tag with name: %s in experiment with id %s", key, id)
		}
		e.Tags = slices.Delete(e.Tags, i, i+1)
		return nil
	})
}

// DeleteExperiment soft-deletes an experiment and its runs.
func (s *Store) DeleteExperiment(ctx context.Context, id string) error {
	if id == "0" {
		return Invalidf("Cannot delete the default experiment '0'. This is an internally reserved experiment.")
	}
	now := time.Now().UnixMilli()
	return s.modifyExperiment(ctx, id, true, func(tx *wtx, e *Experiment) error {
		if e.LifecycleStage != StageActive { // as MLflow: only active experiments can be found to delete
			return NotFoundf("No Experiment with id=%s exists", id)
		}
		e.LifecycleStage = StageDeleted
		e.DeletedTime = now
		return s.setRunsLifecycleTx(tx, id, StageDeleted, now)
	})
}

// RestoreExperiment undoes DeleteExperiment, restoring its runs.
func (s *Store) RestoreExperiment(ctx context.Context, id string) error {
	return s.modifyExperiment(ctx, id, true, func(tx *wtx, e *Experiment) error {
		if e.LifecycleStage != StageDeleted { // MLflow looks it up among deleted experiments only
			return NotFoundf("No deleted Experiment with id=%s exists", id)
		}
		e.LifecycleStage = StageActive
		e.DeletedTime = 0
		return s.setRunsLifecycleTx(tx, id, StageActive, 0)
	})
}

// mergeTags upserts add into tags, keeping first-seen order.
func mergeTags(tags, add []Tag) []Tag {
	for _, t := range add {
		if i := slices.IndexFunc(tags, func(x Tag) bool { return x.Key == t.Key }); i >= 0 {
			tags[i].Value = t.Value
		} else {
			tags = append(tags, t)
		}
	}
	return tags
}

// ListExperiments returns every experiment (for search, retention and the UI).
func (s *Store) ListExperiments(ctx context.Context) ([]Experiment, error) {
	var out []Experiment
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktExps).ForEach(func(_, v []byte) error {
			var e Experiment
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// SearchExperiments implements experiments/search.
func (s *Store) SearchExperiments(ctx context.Context, view int, filter string, orderBy []string, max int, token string) ([]Experiment, string, error) {
	if max < 1 || max > 50000 {
		return nil, "", Invalidf("Invalid value %d for parameter 'max_results' supplied. It must be at most 50000 and at least 1", max)
	}
	conds, orders, offset, err := parseSearch(search.Experiments, filter, orderBy, token)
	if err != nil {
		return nil, "", err
	}
	all, err := s.ListExperiments(ctx)
	if err != nil {
		return nil, "", err
	}
	var hits []Experiment
	for _, e := range all {
		if !viewMatches(view, e.LifecycleStage) || !matchExperiment(&e, conds) {
			continue
		}
		hits = append(hits, e)
	}
	slices.SortStableFunc(hits, func(a, b Experiment) int { return compareExperiments(&a, &b, orders) })
	res, next := page(hits, offset, max)
	return res, next, nil
}

func viewMatches(view int, stage string) bool {
	switch view {
	case ViewDeleted:
		return stage == StageDeleted
	case ViewAll:
		return true
	default:
		return stage == StageActive
	}
}

func tagValue(tags []Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

func matchExperiment(e *Experiment, conds []search.Comparison) bool {
	for _, c := range conds {
		switch c.Type {
		case search.Tag:
			v, ok := tagValue(e.Tags, c.Key)
			if !c.MatchString(v, ok) {
				return false
			}
		default:
			switch c.Key {
			case "name":
				if !search.CompareString(c.Op, e.Name, c.Value) {
					return false
				}
			case "creation_time":
				if !search.CompareNumber(c.Op, float64(e.CreationTime), c.Value.Num) {
					return false
				}
			case "last_update_time":
				if !search.CompareNumber(c.Op, float64(e.LastUpdateTime), c.Value.Num) {
					return false
				}
			case "experiment_id":
				if !search.CompareString(c.Op, e.ExperimentID, c.Value) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}

func compareExperiments(a, b *Experiment, orders []search.OrderBy) int {
	for _, o := range orders {
		var c int
		switch o.Key {
		case "name":
			c = strings.Compare(a.Name, b.Name)
		case "experiment_id":
			c = cmpInt(expNum(a.ExperimentID), expNum(b.ExperimentID))
		case "creation_time":
			c = cmpInt(a.CreationTime, b.CreationTime)
		case "last_update_time":
			c = cmpInt(a.LastUpdateTime, b.LastUpdateTime)
		}
		if !o.Ascending {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	if len(orders) == 0 {
		if c := cmpInt(b.CreationTime, a.CreationTime); c != 0 {
			return c
		}
	}
	return cmpInt(expNum(a.ExperimentID), expNum(b.ExperimentID))
}

func expNum(id string) int64 { n, _ := strconv.ParseInt(id, 10, 64); return n }

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var _ = bytes.Equal

package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"mlbox/store/artifact"
)

// Retention policies. A policy is planned first; the plan lists every
// action with its reason, and what a rule would have touched but must keep
// (Kept). A dry run returns the plan. Apply makes the plan and then carries
// out exactly its actions, checking each again at the moment it is done
// (a run restored or an alias set in between is skipped, not deleted), and
// records the outcome in the retention log (bktRetention).
//
// Two rules always hold, whatever the policy says:
//   - a model version holding an alias or the Production stage is never
//     touched, nor the run it came from (nor that run's logged model);
//   - nothing a live model version points at is ever purged.

// RetentionPolicy says what to delete. Experiments and Models narrow the
// scope (ids or names; empty means all). Each rule is optional; at least
// one must be set.
type RetentionPolicy struct {
	Name        string   `json:"name,omitempty"`
	Experiments []string `json:"experiments,omitempty"`
	Models      []string `json:"models,omitempty"`

	Runs     *RunRule     `json:"runs,omitempty"`
	Versions *VersionRule `json:"versions,omitempty"`
	Purge    *PurgeRule   `json:"purge,omitempty"`
	Orphans  *OrphanRule  `json:"orphans,omitempty"`
}

// RunRule soft-deletes active runs, per experiment. A run is deleted when
// it is selected and not kept:
//   - selected: started more than MaxAgeDays ago, or every run when
//     MaxAgeDays is 0;
//   - kept: among the KeepLast newest (by start time), or among the
//     KeepBest best by a metric.
//
// So {keep_last: 20} deletes all but the newest 20, {max_age_days: 90}
// deletes runs older than 90 days, and {max_age_days: 90, keep_best: ...}
// deletes old runs except the best ones. RUNNING runs are kept unless older
// than MaxAgeDays.
type RunRule struct {
	MaxAgeDays float64   `json:"max_age_days,omitempty"`
	KeepLast   int       `json:"keep_last,omitempty"`
	KeepBest   *KeepBest `json:"keep_best,omitempty"`
}

// KeepBest keeps the K best runs by the latest value of a metric. Runs
// without the metric (or with NaN) rank last.
type KeepBest struct {
	Metric string `json:"metric"`
	K      int    `json:"k"`
	// Order is "max" (higher is better, the default) or "min".
	Order string `json:"order,omitempty"`
}

// VersionRule archives model versions beyond the KeepLast newest (by
// version number), per registered model.
type VersionRule struct {
	KeepLast int `json:"keep_last"`
}

// PurgeRule hard-deletes runs, logged models and experiments deleted more
// than AfterDays ago, with their artifacts. 0 purges everything deleted.
type PurgeRule struct {
	AfterDays float64 `json:"after_days"`
}

// OrphanRule deletes artifact files whose run, logged model or job run no
// longer exists, in the default layout only (<exp>/<run_id>/...,
// <exp>/models/<model_id>/..., _mlbox/jobs/<job>/<n>.log). Files younger
// than MinAgeHours (default 24) are left alone.
type OrphanRule struct {
	MinAgeHours *float64 `json:"min_age_hours,omitempty"`
}

// DefaultOrphanMinAge is the orphan rule's default minimum file age.
const DefaultOrphanMinAge = 24 * time.Hour

// Validate checks a policy.
func (p *RetentionPolicy) Validate() error {
	if p.Runs == nil && p.Versions == nil && p.Purge == nil && p.Orphans == nil {
		return Invalidf("retention policy: set at least one of runs, versions, purge, orphans")
	}
	for _, e := range p.Experiments {
		if strings.TrimSpace(e) == "" {
			return Invalidf("retention policy: empty experiment in 'experiments'")
		}
	}
	for _, m := range p.Models {
		if strings.TrimSpace(m) == "" {
			return Invalidf("retention policy: empty model in 'models'")
		}
	}
	if r := p.Runs; r != nil {
		if r.MaxAgeDays < 0 || math.IsNaN(r.MaxAgeDays) || r.KeepLast < 0 {
			return Invalidf("retention policy: runs.max_age_days and runs.keep_last must not be negative")
		}
		if r.MaxAgeDays == 0 && r.KeepLast == 0 && r.KeepBest == nil {
			return Invalidf("retention policy: runs needs max_age_days, keep_last or keep_best")
		}
		if b := r.KeepBest; b != nil {
			if b.Metric == "" || b.K < 1 {
				return Invalidf("retention policy: runs.keep_best needs a metric and k >= 1")
			}
			switch b.Order {
			case "", "max", "min":
			default:
				return Invalidf("retention policy: runs.keep_best.order must be \"max\" or \"min\" (got %q)", b.Order)
			}
		}
	}
	if v := p.Versions; v != nil && v.KeepLast < 1 {
		return Invalidf("retention policy: versions.keep_last must be at least 1")
	}
	if g := p.Purge; g != nil && (g.AfterDays < 0 || math.IsNaN(g.AfterDays)) {
		return Invalidf("retention policy: purge.after_days must not be negative")
	}
	if o := p.Orphans; o != nil && o.MinAgeHours != nil && (*o.MinAgeHours < 0 || math.IsNaN(*o.MinAgeHours)) {
		return Invalidf("retention policy: orphans.min_age_hours must not be negative")
	}
	return nil
}

// Retention action kinds, in the order a plan carries them out.
const (
	ActDeleteRun        = "delete_run"
	ActArchiveVersion   = "archive_version"
	ActPurgeRun         = "purge_run"
	ActPurgeLoggedModel = "purge_logged_model"
	ActPurgeExperiment  = "purge_experiment"
	ActDeleteOrphans    = "delete_orphans"
)

// RetentionAction is one step of a plan. In Kept, Action is what a rule
// asked for and Reason why it is not done.
type RetentionAction struct {
	Action       string `json:"action"`
	ExperimentID string `json:"experiment_id,omitempty"`
	RunID        string `json:"run_id,omitempty"`
	Model        string `json:"model,omitempty"`
	Version      string `json:"version,omitempty"`
	ModelID      string `json:"model_id,omitempty"`
	// Path: the artifact directory removed (purges, orphans).
	Path string `json:"path,omitempty"`
	// Paths: for orphans, the files removed when not the whole directory is.
	Paths  []string `json:"paths,omitempty"`
	Files  int      `json:"files,omitempty"`
	Bytes  int64    `json:"bytes,omitempty"`
	Reason string   `json:"reason,omitempty"`
	// Result (apply only): "done", "skipped: why" or "error: what".
	Result string `json:"result,omitempty"`
}

// RetentionSummary counts a plan's (or an apply's completed) actions.
type RetentionSummary struct {
	RunsDeleted        int   `json:"runs_deleted"`
	VersionsArchived   int   `json:"versions_archived"`
	RunsPurged         int   `json:"runs_purged"`
	LoggedModelsPurged int   `json:"logged_models_purged"`
	ExperimentsPurged  int   `json:"experiments_purged"`
	OrphanFiles        int   `json:"orphan_files"`
	OrphanBytes        int64 `json:"orphan_bytes"`
	Kept               int   `json:"kept"`
	Skipped            int   `json:"skipped,omitempty"`
	Errors             int   `json:"errors,omitempty"`
}

// RetentionPlan is a dry run's answer, and (with results) an apply's.
type RetentionPlan struct {
	Policy  string            `json:"policy,omitempty"`
	DryRun  bool              `json:"dry_run"`
	At      int64             `json:"at"` // unix ms the plan was made
	Actions []RetentionAction `json:"actions"`
	Kept    []RetentionAction `json:"kept,omitempty"`
	Summary RetentionSummary  `json:"summary"`
	// Warnings: scope entries that name nothing (any more).
	Warnings []string `json:"warnings,omitempty"`
	// LogSeq: the retention log record of an apply.
	LogSeq uint64 `json:"log_seq,omitempty"`
}

// RetentionRecord is an entry of the retention log: one apply.
type RetentionRecord struct {
	Seq     uint64            `json:"seq"`
	Time    int64             `json:"time"`
	Policy  string            `json:"policy,omitempty"`
	Actor   string            `json:"actor,omitempty"`
	Summary RetentionSummary  `json:"summary"`
	Actions []RetentionAction `json:"actions,omitempty"`
}

func (p *RetentionPlan) summarize(applied bool) {
	var s RetentionSummary
	for _, a := range p.Actions {
		if applied && a.Result != "done" {
			if strings.HasPrefix(a.Result, "error") {
				s.Errors++
			} else {
				s.Skipped++
			}
			continue
		}
		switch a.Action {
		case ActDeleteRun:
			s.RunsDeleted++
		case ActArchiveVersion:
			s.VersionsArchived++
		case ActPurgeRun:
			s.RunsPurged++
		case ActPurgeLoggedModel:
			s.LoggedModelsPurged++
		case ActPurgeExperiment:
			s.ExperimentsPurged++
		case ActDeleteOrphans:
			s.OrphanFiles += a.Files
			s.OrphanBytes += a.Bytes
		}
	}
	s.Kept = len(p.Kept)
	p.Summary = s
}

// PlanRetention computes what the policy would do now, changing nothing.
// arts is needed for the orphan rule (it walks the artifact store).
func (s *Store) PlanRetention(ctx context.Context, arts artifact.Store, p RetentionPolicy) (*RetentionPlan, error) {
	plans, err := s.PlanRetentions(ctx, arts, []RetentionPolicy{p})
	if err != nil {
		return nil, err
	}
	return plans[0], nil
}

// PlanRetentions plans several policies against one view of the store:
// the registry's references and the experiments are read once, and the
// artifact store is walked once however many policies have an orphan rule,
// so planning every retention job costs about as much as planning one.
func (s *Store) PlanRetentions(ctx context.Context, arts artifact.Store, pols []RetentionPolicy) ([]*RetentionPlan, error) {
	for i := range pols {
		if err := pols[i].Validate(); err != nil {
			return nil, err
		}
		if pols[i].Orphans != nil && arts == nil {
			return nil, &Error{Kind: KindUnavailable, Msg: "the orphan rule needs the artifact store"}
		}
	}
	now := time.Now()
	plans := make([]*RetentionPlan, len(pols))
	scopes := make([]map[string]bool, len(pols)) // experiment ids; nil = all
	var (
		refs    *registryRefs
		allExps []Experiment
	)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if refs, err = registryRefsTx(tx); err != nil {
			return err
		}
		for i, p := range pols {
			plans[i] = &RetentionPlan{Policy: p.Name, DryRun: true, At: now.UnixMilli(), Actions: []RetentionAction{}}
			if len(p.Experiments) == 0 {
				continue
			}
			scopes[i] = map[string]bool{}
			for _, ref := range p.Experiments {
				e, err := experimentByRefTx(tx, ref)
				if KindOf(err) == KindNotFound {
					// A purged experiment must not break the policy that purged it.
					plans[i].Warnings = append(plans[i].Warnings, err.Error())
					continue
				}
				if err != nil {
					return err
				}
				scopes[i][e.ExperimentID] = true
			}
		}
		return tx.Bucket(bktExps).ForEach(func(_, v []byte) error {
			var e Experiment
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			allExps = append(allExps, e)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(allExps, func(a, b Experiment) int { return cmp.Compare(expNum(a.ExperimentID), expNum(b.ExperimentID)) })

	in := &planInputs{now: now, refs: refs}
	for i, p := range pols {
		plan, scope := plans[i], scopes[i]
		exps := allExps
		if scope != nil {
			exps = nil
			for _, e := range allExps {
				if scope[e.ExperimentID] {
					exps = append(exps, e)
				}
			}
		}
		if p.Runs != nil {
			for _, e := range exps {
				if e.LifecycleStage == StageActive {
					s.planRuns(plan, p.Runs, e.ExperimentID, in)
				}
			}
		}
		if p.Versions != nil {
			if err := s.planVersions(ctx, plan, &p, refs); err != nil {
				return nil, err
			}
		}
		if p.Purge != nil {
			if err := s.planPurge(ctx, plan, p.Purge, exps, scope, in); err != nil {
				return nil, err
			}
		}
		if p.Orphans != nil {
			if !in.walked {
				if in.orphans, err = s.findOrphans(ctx, arts); err != nil {
					return nil, err
				}
				in.walked = true
			}
			planOrphans(plan, in.orphans, p.Orphans, now)
		}
		plan.summarize(false)
	}
	return plans, nil
}

func experimentByRefTx(tx *bolt.Tx, ref string) (*Experiment, error) {
	if _, err := strconv.ParseUint(ref, 10, 63); err == nil {
		if e, err := getExperimentTx(tx, ref); err == nil {
			return e, nil
		}
	}
	v := tx.Bucket(bktExpNames).Get([]byte(ref))
	if v == nil {
		return nil, NotFoundf("retention policy: no experiment with id or name %q", ref)
	}
	return getExperimentTx(tx, strconv.FormatUint(bytesU64(v), 10))
}

// planInputs is what the policies of one PlanRetentions call read in
// common, each part read the first time a policy needs it.
type planInputs struct {
	now  time.Time
	refs *registryRefs

	runsByExp map[string][]runCand // live active runs of an experiment, newest first

	deletedRuns  map[string]*RunInfo // deleted runs, by id; nil until read
	loggedModels []LoggedModelInfo   // every logged model; nil until read
	modelsRead   bool

	orphans []*orphanGroup
	walked  bool
}

type runCand struct {
	id, status string
	start      int64
	ord        int32
}

// activeRuns returns the live active runs of an experiment, newest first.
func (s *Store) activeRuns(in *planInputs, expID string) []runCand {
	if c, ok := in.runsByExp[expID]; ok {
		return c
	}
	var cands []runCand
	ix := s.runs
	ix.mu.RLock()
	for _, ord := range ix.byExp[expID] {
		row := &ix.rows[ord]
		if row.dead || row.stage != StageActive {
			continue
		}
		cands = append(cands, runCand{id: row.id, status: row.status, start: row.start, ord: ord})
	}
	ix.mu.RUnlock()
	slices.SortFunc(cands, func(a, b runCand) int {
		if c := cmp.Compare(b.start, a.start); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	if in.runsByExp == nil {
		in.runsByExp = map[string][]runCand{}
	}
	in.runsByExp[expID] = cands
	return cands
}

func (s *Store) planRuns(plan *RetentionPlan, r *RunRule, expID string, in *planInputs) {
	cands := s.activeRuns(in, expID)
	kept := map[string]string{}
	if r.KeepLast > 0 {
		for i := 0; i < len(cands) && i < r.KeepLast; i++ {
			kept[cands[i].id] = "newest"
		}
	}
	if kb := r.KeepBest; kb != nil {
		type scored struct {
			id     string
			metric float64
		}
		var best []scored // runs with a value, newest first
		ix := s.runs
		ix.mu.RLock()
		if col := ix.metrics[kb.Metric]; col != nil {
			for _, c := range cands {
				if v, ok := col.get(c.ord); ok && !math.IsNaN(v) {
					best = append(best, scored{c.id, v})
				}
			}
		}
		ix.mu.RUnlock()
		slices.SortStableFunc(best, func(a, b scored) int {
			if kb.Order == "min" {
				return cmp.Compare(a.metric, b.metric)
			}
			return cmp.Compare(b.metric, a.metric)
		})
		for i := 0; i < len(best) && i < kb.K; i++ {
			kept[best[i].id] = "best"
		}
	}
	cutoff := int64(math.MinInt64)
	if r.MaxAgeDays > 0 {
		cutoff = in.now.Add(-time.Duration(r.MaxAgeDays * float64(24*time.Hour))).UnixMilli()
	}
	reason := runReason(r)
	for _, c := range cands {
		if r.MaxAgeDays > 0 && c.start >= cutoff {
			continue // not selected
		}
		if kept[c.id] != "" {
			continue
		}
		act := RetentionAction{Action: ActDeleteRun, ExperimentID: expID, RunID: c.id, Reason: reason}
		if why := in.refs.protectedRuns[c.id]; why != "" {
			act.Reason = "protected: " + why
			plan.Kept = append(plan.Kept, act)
			continue
		}
		if c.status == "RUNNING" && r.MaxAgeDays == 0 {
			act.Reason = "still RUNNING"
			plan.Kept = append(plan.Kept, act)
			continue
		}
		plan.Actions = append(plan.Actions, act)
	}
}

func runReason(r *RunRule) string {
	var parts []string
	if r.MaxAgeDays > 0 {
		parts = append(parts, fmt.Sprintf("started more than %g days ago", r.MaxAgeDays))
	}
	if r.KeepLast > 0 {
		parts = append(parts, fmt.Sprintf("not among the %d newest", r.KeepLast))
	}
	if kb := r.KeepBest; kb != nil {
		order := "highest"
		if kb.Order == "min" {
			order = "lowest"
		}
		parts = append(parts, fmt.Sprintf("not among the %d with the %s %s", kb.K, order, kb.Metric))
	}
	return strings.Join(parts, ", ")
}

func (s *Store) planVersions(ctx context.Context, plan *RetentionPlan, p *RetentionPolicy, refs *registryRefs) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		names := p.Models
		if len(names) == 0 {
			err := tx.Bucket(bktRegModels).ForEach(func(k, _ []byte) error {
				names = append(names, string(k))
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, name := range names {
			if _, err := getRegModelTx(tx, name); err != nil {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("retention policy: registered model %q not found", name))
				continue
			}
			vs, err := versionsTx(tx, name)
			if err != nil {
				return err
			}
			slices.Reverse(vs) // newest first
			for i, v := range vs {
				if i < p.Versions.KeepLast || v.CurrentStage == StageArchived {
					continue
				}
				act := RetentionAction{Action: ActArchiveVersion, Model: name, Version: v.Version,
					Reason: fmt.Sprintf("not among the %d newest versions (stage %s)", p.Versions.KeepLast, v.CurrentStage)}
				if why := refs.versionProtection(name, v.Version); why != "" {
					act.Reason = "protected: " + why
					plan.Kept = append(plan.Kept, act)
					continue
				}
				plan.Actions = append(plan.Actions, act)
			}
		}
		return nil
	})
}

// deletedRunInfos reads the deleted runs once per PlanRetentions call.
func (s *Store) deletedRunInfos(ctx context.Context, in *planInputs) (map[string]*RunInfo, error) {
	if in.deletedRuns != nil {
		return in.deletedRuns, nil
	}
	var ids []string
	s.runs.mu.RLock()
	for _, row := range s.runs.rows {
		if !row.dead && row.stage == StageDeleted {
			ids = append(ids, row.id)
		}
	}
	s.runs.mu.RUnlock()
	out := make(map[string]*RunInfo, len(ids))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			if _, info, err := runBucket(tx, id); err == nil && info.LifecycleStage == StageDeleted {
				out[id] = info
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	in.deletedRuns = out
	return out, nil
}

// allLoggedModels reads every logged model once per PlanRetentions call.
func (s *Store) allLoggedModels(ctx context.Context, in *planInputs) ([]LoggedModelInfo, error) {
	if in.modelsRead {
		return in.loggedModels, nil
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktLoggedModels).ForEach(func(k, v []byte) error {
			var rec loggedModelRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			in.loggedModels = append(in.loggedModels, rec.Info)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	in.modelsRead = true
	return in.loggedModels, nil
}

func (s *Store) planPurge(ctx context.Context, plan *RetentionPlan, r *PurgeRule, exps []Experiment, scope map[string]bool, in *planInputs) error {
	cutoff := in.now.Add(-time.Duration(r.AfterDays * float64(24*time.Hour))).UnixMilli()
	due := func(deletedAt int64) bool {
		if deletedAt == 0 { // deleted before deletion times were kept
			return r.AfterDays == 0
		}
		return deletedAt <= cutoff
	}
	inScope := func(expID string) bool { return scope == nil || scope[expID] }
	ageReason := fmt.Sprintf("deleted more than %g days ago", r.AfterDays)
	if r.AfterDays == 0 {
		ageReason = "deleted"
	}
	refs := in.refs
	models, err := s.allLoggedModels(ctx, in)
	if err != nil {
		return err
	}

	// Experiments first: purging one covers its runs and logged models.
	covered := map[string]bool{}
	for _, e := range exps {
		if e.LifecycleStage != StageDeleted || e.ExperimentID == "0" || !due(e.DeletedTime) {
			continue
		}
		var runIDs []string
		s.runs.mu.RLock()
		for _, ord := range s.runs.byExp[e.ExperimentID] {
			runIDs = append(runIDs, s.runs.rows[ord].id)
		}
		s.runs.mu.RUnlock()
		slices.Sort(runIDs)
		var expModels []LoggedModelInfo
		for _, m := range models {
			if m.ExperimentID == e.ExperimentID {
				expModels = append(expModels, m)
			}
		}
		var blocked string
		for _, id := range runIDs {
			if by := refs.runs[id]; by != "" && blocked == "" {
				blocked = fmt.Sprintf("%s points at its run %s", by, id)
			}
		}
		for _, m := range expModels {
			if by := refs.models[m.ModelID]; by != "" && blocked == "" {
				blocked = fmt.Sprintf("%s points at its logged model %s", by, m.ModelID)
			}
		}
		act := RetentionAction{Action: ActPurgeExperiment, ExperimentID: e.ExperimentID, Reason: "experiment " + ageReason}
		if p, ok := storagePath(e.ArtifactLocation); ok && p == e.ExperimentID {
			act.Path = p
		}
		if blocked != "" {
			act.Reason = "referenced: " + blocked
			plan.Kept = append(plan.Kept, act)
			continue // its deleted runs may still be purged one by one below
		}
		covered[e.ExperimentID] = true
		var runActs []RetentionAction
		err = s.view(ctx, func(tx *bolt.Tx) error {
			for _, id := range runIDs {
				if _, info, err := runBucket(tx, id); err == nil {
					a := RetentionAction{Action: ActPurgeRun, ExperimentID: e.ExperimentID, RunID: id, Reason: "its experiment is purged"}
					a.Path, _ = ownedDir(info.ArtifactURI, id)
					runActs = append(runActs, a)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		plan.Actions = append(plan.Actions, runActs...)
		for _, m := range expModels {
			a := RetentionAction{Action: ActPurgeLoggedModel, ExperimentID: e.ExperimentID, ModelID: m.ModelID, Reason: "its experiment is purged"}
			a.Path, _ = ownedDir(m.ArtifactURI, m.ModelID)
			plan.Actions = append(plan.Actions, a)
		}
		plan.Actions = append(plan.Actions, act)
	}

	// Deleted runs and logged models of the other experiments.
	deleted, err := s.deletedRunInfos(ctx, in)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(deleted))
	for id, info := range deleted {
		if !covered[info.ExperimentID] && inScope(info.ExperimentID) && due(info.DeletedTime) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var runActs, modelActs []RetentionAction
	for _, id := range ids {
		info := deleted[id]
		a := RetentionAction{Action: ActPurgeRun, ExperimentID: info.ExperimentID, RunID: id, Reason: "run " + ageReason}
		a.Path, _ = ownedDir(info.ArtifactURI, id)
		if by := refs.runs[id]; by != "" {
			a.Reason = "referenced: " + by + " points at it"
			plan.Kept = append(plan.Kept, a)
			continue
		}
		runActs = append(runActs, a)
	}
	for _, m := range models {
		if m.LifecycleStage != StageDeleted || covered[m.ExperimentID] || !inScope(m.ExperimentID) || !due(m.DeletedTime) {
			continue
		}
		a := RetentionAction{Action: ActPurgeLoggedModel, ExperimentID: m.ExperimentID, ModelID: m.ModelID, Reason: "logged model " + ageReason}
		a.Path, _ = ownedDir(m.ArtifactURI, m.ModelID)
		if by := refs.models[m.ModelID]; by != "" {
			a.Reason = "referenced: " + by + " points at it"
			plan.Kept = append(plan.Kept, a)
			continue
		}
		modelActs = append(modelActs, a)
	}
	// Runs before the experiment purges that follow them in the plan would
	// be just as correct; keep one kind together for readability.
	plan.Actions = slices.Insert(plan.Actions, firstOf(plan.Actions, ActPurgeRun, ActPurgeLoggedModel, ActPurgeExperiment), append(runActs, modelActs...)...)
	return nil
}

// firstOf returns the index of the first action of one of the kinds, or len.
func firstOf(acts []RetentionAction, kinds ...string) int {
	for i, a := range acts {
		if slices.Contains(kinds, a.Action) {
			return i
		}
	}
	return len(acts)
}

type orphanGroup struct {
	kind  string // "run", "model", "job"
	id    string // run id, model id, or job name
	n     uint64 // job run number
	dir   string // owned directory ("" for job logs: files only)
	files []orphanFile
}

type orphanFile struct {
	path string
	size int64
	mod  time.Time
}

// classifyArtifact finds the owner of a path in the default layout.
func classifyArtifact(p string) (kind, id string, n uint64, dir string, ok bool) {
	seg := strings.Split(p, "/")
	switch {
	case len(seg) >= 3 && isDigits(seg[0]) && isRunID(seg[1]):
		return "run", seg[1], 0, seg[0] + "/" + seg[1], true
	case len(seg) >= 4 && isDigits(seg[0]) && seg[1] == "models" && isLoggedModelID(seg[2]):
		return "model", seg[2], 0, seg[0] + "/models/" + seg[2], true
	case len(seg) == 4 && seg[0]+"/"+seg[1] == jobLogRoot && ValidateJobName(seg[2]) == nil && strings.HasSuffix(seg[3], ".log"):
		num, err := strconv.ParseUint(strings.TrimSuffix(seg[3], ".log"), 10, 64)
		if err != nil || num == 0 {
			return "", "", 0, "", false
		}
		return "job", seg[2], num, "", true
	}
	return "", "", 0, "", false
}

func isDigits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// findOrphans walks the artifact store and returns the groups of files
// whose owner (run, logged model, job run) does not exist.
func (s *Store) findOrphans(ctx context.Context, arts artifact.Store) ([]*orphanGroup, error) {
	groups := map[string]*orphanGroup{}
	var order []string
	// The walk may be long (S3 listing); no transaction is held during it.
	err := arts.Walk(ctx, "", func(p string, size int64, mod time.Time) error {
		kind, id, n, dir, ok := classifyArtifact(p)
		if !ok {
			return nil
		}
		key := kind + "\x00" + id + "\x00" + strconv.FormatUint(n, 10)
		g := groups[key]
		if g == nil {
			g = &orphanGroup{kind: kind, id: id, n: n, dir: dir}
			groups[key] = g
			order = append(order, key)
		}
		g.files = append(g.files, orphanFile{p, size, mod})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var orphans []*orphanGroup
	err = s.view(ctx, func(tx *bolt.Tx) error {
		for _, key := range order {
			if g := groups[key]; !ownerExistsTx(tx, g) {
				orphans = append(orphans, g)
			}
		}
		return nil
	})
	return orphans, err
}

// planOrphans turns the orphan groups into the rule's actions: files older
// than its minimum age are deleted, a group with only younger files is kept.
func planOrphans(plan *RetentionPlan, orphans []*orphanGroup, r *OrphanRule, now time.Time) {
	minAge := DefaultOrphanMinAge
	if r.MinAgeHours != nil {
		minAge = time.Duration(*r.MinAgeHours * float64(time.Hour))
	}
	cutoff := now.Add(-minAge)
	for _, g := range orphans {
		act := RetentionAction{Action: ActDeleteOrphans}
		switch g.kind {
		case "run":
			act.RunID, act.Reason = g.id, "run "+g.id+" does not exist"
		case "model":
			act.ModelID, act.Reason = g.id, "logged model "+g.id+" does not exist"
		case "job":
			act.Reason = fmt.Sprintf("run %d of job %s is not in the history", g.n, g.id)
		}
		var old []orphanFile
		for _, f := range g.files {
			if !f.mod.After(cutoff) {
				old = append(old, f)
			}
		}
		if len(old) == 0 {
			act.Path, act.Files = g.dir, len(g.files)
			if g.dir == "" {
				act.Path = g.files[0].path
			}
			act.Reason += fmt.Sprintf("; files younger than %s", minAge)
			plan.Kept = append(plan.Kept, act)
			continue
		}
		for _, f := range old {
			act.Files++
			act.Bytes += f.size
		}
		if len(old) == len(g.files) && g.dir != "" {
			act.Path = g.dir
		} else {
			for _, f := range old {
				act.Paths = append(act.Paths, f.path)
			}
		}
		plan.Actions = append(plan.Actions, act)
	}
}

func ownerExistsTx(tx *bolt.Tx, g *orphanGroup) bool {
	switch g.kind {
	case "run":
		return tx.Bucket(bktRuns).Bucket([]byte(g.id)) != nil
	case "model":
		return tx.Bucket(bktLoggedModels).Get([]byte(g.id)) != nil
	case "job":
		return jobRunExistsTx(tx, g.id, g.n)
	}
	return true
}

// ApplyRetention plans the policy and carries out the plan, then records
// it in the retention log and emits retention.applied. Each action is
// checked again when it is done; one that no longer applies is skipped with
// its reason. If ctx ends, the remaining actions are skipped and what was
// done is still recorded.
func (s *Store) ApplyRetention(ctx context.Context, arts artifact.Store, p RetentionPolicy, actor string) (*RetentionPlan, error) {
	plan, err := s.PlanRetention(ctx, arts, p)
	if err != nil {
		return nil, err
	}
	plan.DryRun = false
	if actor == "" {
		actor = "anonymous"
	}
	acts := plan.Actions
	for i := 0; i < len(acts); {
		if ctx.Err() != nil {
			for ; i < len(acts); i++ {
				acts[i].Result = "skipped: cancelled"
			}
			break
		}
		if acts[i].Action == ActDeleteRun {
			j := i
			for j < len(acts) && j-i < 256 && acts[j].Action == ActDeleteRun {
				j++
			}
			s.applyDeleteRuns(ctx, acts[i:j])
			i = j
			continue
		}
		a := &acts[i]
		var err error
		switch a.Action {
		case ActArchiveVersion:
			err = s.archiveForRetention(ctx, a.Model, a.Version, actor, p.Name)
		case ActPurgeRun:
			err = s.PurgeRun(ctx, arts, a.RunID)
			if KindOf(err) == KindInvalid && strings.Contains(err.Error(), "must be deleted") {
				// covered by an experiment purge: any stage may go
				err = s.purgeRun(ctx, arts, a.RunID, a.ExperimentID)
			}
		case ActPurgeLoggedModel:
			err = s.PurgeLoggedModel(ctx, arts, a.ModelID)
			if KindOf(err) == KindInvalid && strings.Contains(err.Error(), "must be deleted") {
				err = s.purgeLoggedModel(ctx, arts, a.ModelID, a.ExperimentID)
			}
		case ActPurgeExperiment:
			err = s.PurgeExperiment(ctx, arts, a.ExperimentID)
		case ActDeleteOrphans:
			err = s.deleteOrphans(ctx, arts, a)
		}
		a.Result = resultOf(err)
		i++
	}
	plan.summarize(true)
	rec := RetentionRecord{Time: time.Now().UnixMilli(), Policy: p.Name, Actor: actor, Summary: plan.Summary, Actions: plan.Actions}
	seq, err := s.appendRetentionLog(context.WithoutCancel(ctx), rec)
	if err != nil {
		return plan, err
	}
	plan.LogSeq = seq
	return plan, nil
}

// resultOf turns an action's error into its result: domain errors (the
// state changed since the plan) skip it, others are errors.
func resultOf(err error) string {
	switch {
	case err == nil:
		return "done"
	case KindOf(err) != 0:
		return "skipped: " + err.Error()
	default:
		return "error: " + err.Error()
	}
}

// applyDeleteRuns soft-deletes runs in one transaction, skipping any that
// became protected, was deleted or restored meanwhile.
func (s *Store) applyDeleteRuns(ctx context.Context, acts []RetentionAction) {
	results := make([]string, len(acts))
	now := time.Now().UnixMilli()
	err := s.update(ctx, func(tx *wtx) error {
		refs, err := registryRefsTx(tx.Tx)
		if err != nil {
			return err
		}
		for i, a := range acts {
			b, info, err := runBucket(tx.Tx, a.RunID)
			switch {
			case err != nil:
				results[i] = "skipped: " + err.Error()
				continue
			case info.LifecycleStage != StageActive:
				results[i] = "skipped: run is " + info.LifecycleStage
				continue
			case refs.protectedRuns[a.RunID] != "":
				results[i] = "skipped: protected: " + refs.protectedRuns[a.RunID]
				continue
			}
			info.LifecycleStage, info.DeletedTime = StageDeleted, now
			if err := putRunInfo(b, info); err != nil {
				return err
			}
			s.indexInfo(tx, *info)
			results[i] = "done"
		}
		return nil
	})
	for i := range acts {
		if err != nil {
			acts[i].Result = resultOf(err)
		} else {
			acts[i].Result = results[i]
		}
	}
}

// archiveForRetention moves a version to Archived through the gates,
// unless it holds an alias or the Production stage by now.
func (s *Store) archiveForRetention(ctx context.Context, model, version, actor, policy string) error {
	return s.gated(ctx, model, version, "stage:"+StageArchived, actor, func(tx *wtx, rm *regModelRecord, v *versionRecord) error {
		if as := rm.aliasesOf(v.Version); len(as) > 0 {
			return Invalidf("protected: model %s version %s holds alias %s", model, v.Version, strings.Join(as, ","))
		}
		if v.CurrentStage == StageProduction {
			return Invalidf("protected: model %s version %s is in Production", model, v.Version)
		}
		if v.CurrentStage == StageArchived {
			return Invalidf("model %s version %s is already archived", model, v.Version)
		}
		now := time.Now().UnixMilli()
		before := v.CurrentStage
		v.CurrentStage = StageArchived
		v.LastUpdatedTimestamp = now
		v.StagesVisited = appendStage(v.StagesVisited, StageArchived)
		if err := putVersionTx(tx.Tx, v); err != nil {
			return err
		}
		rm.LastUpdatedTimestamp = now
		if err := putRegModelTx(tx.Tx, rm); err != nil {
			return err
		}
		tx.emit("model_version.stage_transitioned", map[string]any{"name": model, "version": v.Version, "from_stage": before, "to_stage": StageArchived})
		return s.auditTx(tx, AuditEntry{Model: model, Version: v.Version, Action: "model_version.stage_transitioned", Actor: actor,
			Before: before, After: StageArchived, Detail: "retention policy " + policy})
	})
}

// deleteOrphans removes an orphan group if its owner still does not exist.
func (s *Store) deleteOrphans(ctx context.Context, arts artifact.Store, a *RetentionAction) error {
	p := a.Path
	if p == "" && len(a.Paths) > 0 {
		p = a.Paths[0]
	}
	kind, id, n, _, ok := classifyArtifact(p + "/x/x")
	if !ok {
		kind, id, n, _, ok = classifyArtifact(p)
	}
	if !ok {
		return Invalidf("not an artifact path of the default layout: %s", p)
	}
	var exists bool
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		exists = ownerExistsTx(tx, &orphanGroup{kind: kind, id: id, n: n})
		return nil
	}); err != nil {
		return err
	}
	if exists {
		return Invalidf("the owner of %s exists again", p)
	}
	if a.Path != "" {
		return arts.Delete(ctx, a.Path)
	}
	for _, f := range a.Paths {
		if err := arts.Delete(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) appendRetentionLog(ctx context.Context, rec RetentionRecord) (uint64, error) {
	var seq uint64
	err := s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktRetention)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		r := rec
		r.Seq = n
		v, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		if err := b.Put(u64(n), v); err != nil {
			return err
		}
		seq = n
		tx.emit("retention.applied", map[string]any{"policy": r.Policy, "log_seq": n, "actor": r.Actor,
			"runs_deleted": r.Summary.RunsDeleted, "versions_archived": r.Summary.VersionsArchived,
			"runs_purged": r.Summary.RunsPurged, "logged_models_purged": r.Summary.LoggedModelsPurged,
			"experiments_purged": r.Summary.ExperimentsPurged, "orphan_files": r.Summary.OrphanFiles,
			"orphan_bytes": r.Summary.OrphanBytes, "errors": r.Summary.Errors})
		return nil
	})
	return seq, err
}

// ListRetentionLog returns retention log records newest first, with
// sequence below before (0: from the newest), at most limit (default 50).
// Without full, the actions are left out (summaries only).
func (s *Store) ListRetentionLog(ctx context.Context, before uint64, limit int, full bool) ([]RetentionRecord, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var out []RetentionRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bktRetention).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(u64(before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var r RetentionRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !full {
				r.Actions = nil
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// GetRetentionRecord returns one retention log record with its actions.
func (s *Store) GetRetentionRecord(ctx context.Context, seq uint64) (*RetentionRecord, error) {
	var out *RetentionRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bktRetention).Get(u64(seq))
		if v == nil {
			return NotFoundf("Retention log record %d not found", seq)
		}
		out = &RetentionRecord{}
		return json.Unmarshal(v, out)
	})
	return out, err
}

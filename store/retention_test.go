package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"mlbox/store/artifact"
)

func days(n float64) time.Duration { return time.Duration(n * float64(24*time.Hour)) }

// backdate moves the deletion time of a run, experiment or logged model.
func backdate(t *testing.T, s *Store, kind, id string, ago time.Duration) {
	t.Helper()
	at := time.Now().Add(-ago).UnixMilli()
	err := s.update(ctx, func(tx *wtx) error {
		switch kind {
		case "run":
			b, info, err := runBucket(tx.Tx, id)
			if err != nil {
				return err
			}
			info.DeletedTime = at
			return putRunInfo(b, info)
		case "experiment":
			e, err := getExperimentTx(tx.Tx, id)
			if err != nil {
				return err
			}
			e.DeletedTime = at
			return putExperimentTx(tx.Tx, e)
		default:
			r, err := getLoggedModelTx(tx.Tx, id, true)
			if err != nil {
				return err
			}
			r.Info.DeletedTime = at
			return putLoggedModelTx(tx.Tx, r)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func finish(t *testing.T, s *Store, r *Run) {
	t.Helper()
	st := "FINISHED"
	if _, err := s.UpdateRun(ctx, r.Info.RunID, &st, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// seeded is a store with a history to clean up; see seedRetention.
type seeded struct {
	s                  *Store
	arts               artifact.Store
	alpha, beta        string
	runs               []*Run // alpha, oldest first
	d1, d2, d3         *Run   // deleted runs in alpha
	lmA                *LoggedModel
	betaFiles          []string
	orphans, strangers []string
}

// seedRetention builds:
//   - experiment alpha with 10 finished runs started 105, 95, ..., 15 days
//     ago, metric acc, each with artifacts;
//   - model iris: v1 (run 0) holds alias champion, v2 (run 1) is in
//     Production, v3-v5 (runs 2-4) None, v6 (run 5) Staging;
//   - deleted runs d1 (10 days ago), d2 (1 day ago), d3 (10 days ago, but
//     model other v1 comes from it); a logged model deleted 10 days ago;
//   - experiment beta, deleted 10 days ago, with 2 runs and a logged model;
//   - orphan files of runs, logged models and job runs that do not exist,
//     and files in other layouts.
func seedRetention(t *testing.T, arts artifact.Store) *seeded {
	s, _ := openTest(t)
	d := &seeded{s: s, arts: arts}
	var err error
	if d.alpha, err = s.CreateExperiment(ctx, "alpha", "", nil); err != nil {
		t.Fatal(err)
	}
	acc := []float64{0.5, 0.9, 0.3, 0.95, 0.2, 0.6, 0.1, 0.7, 0.4, 0.8}
	now := time.Now()
	for i, a := range acc {
		r := newRun(t, s, arts, d.alpha, now.Add(-days(105-10*float64(i))))
		if err := s.LogBatch(ctx, r.Info.RunID, []Metric{{Key: "acc", Value: a, Timestamp: now.UnixMilli()}}, nil, nil); err != nil {
			t.Fatal(err)
		}
		finish(t, s, r)
		d.runs = append(d.runs, r)
	}
	if _, err := s.CreateRegisteredModel(ctx, "iris", "", nil, "t"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 5; i++ {
		if _, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "iris", Source: "runs:/" + d.runs[i].Info.RunID + "/model", RunID: d.runs[i].Info.RunID}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetRegisteredModelAlias(ctx, "iris", "champion", "1", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransitionModelVersionStage(ctx, "iris", "2", StageProduction, false, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransitionModelVersionStage(ctx, "iris", "6", StageStaging, false, "t"); err != nil {
		t.Fatal(err)
	}

	d.d1 = newRun(t, s, arts, d.alpha, now.Add(-days(200)))
	d.d2 = newRun(t, s, arts, d.alpha, now.Add(-days(200)))
	d.d3 = newRun(t, s, arts, d.alpha, now.Add(-days(200)))
	if _, err := s.CreateRegisteredModel(ctx, "other", "", nil, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "other", Source: "runs:/" + d.d3.Info.RunID + "/model", RunID: d.d3.Info.RunID}, "t"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Run{d.d1, d.d2, d.d3} {
		finish(t, s, r)
		if err := s.DeleteRun(ctx, r.Info.RunID); err != nil {
			t.Fatal(err)
		}
	}
	backdate(t, s, "run", d.d1.Info.RunID, days(10))
	backdate(t, s, "run", d.d2.Info.RunID, days(1))
	backdate(t, s, "run", d.d3.Info.RunID, days(10))
	if d.lmA, err = s.CreateLoggedModel(ctx, CreateLoggedModelRequest{ExperimentID: d.alpha, Name: "lmA"}); err != nil {
		t.Fatal(err)
	}
	putArt(t, arts, artPath(t, d.lmA.Info.ArtifactURI, "MLmodel"), "x")
	if err := s.DeleteLoggedModel(ctx, d.lmA.Info.ModelID); err != nil {
		t.Fatal(err)
	}
	backdate(t, s, "model", d.lmA.Info.ModelID, days(10))

	if d.beta, err = s.CreateExperiment(ctx, "beta", "", nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := newRun(t, s, arts, d.beta, now.Add(-days(50)))
		d.betaFiles = append(d.betaFiles, artPath(t, r.Info.ArtifactURI, "model/model.wasm"))
	}
	lmB, err := s.CreateLoggedModel(ctx, CreateLoggedModelRequest{ExperimentID: d.beta, Name: "lmB"})
	if err != nil {
		t.Fatal(err)
	}
	d.betaFiles = append(d.betaFiles, artPath(t, lmB.Info.ArtifactURI, "MLmodel"))
	putArt(t, arts, d.betaFiles[2], "x")
	if err := s.DeleteExperiment(ctx, d.beta); err != nil {
		t.Fatal(err)
	}
	backdate(t, s, "experiment", d.beta, days(10))

	ghostRun, ghostModel := newRunID(), "m-"+newRunID()
	d.orphans = []string{
		d.alpha + "/" + ghostRun + "/artifacts/model/model.wasm",
		d.alpha + "/" + ghostRun + "/artifacts/log.txt",
		d.alpha + "/models/" + ghostModel + "/artifacts/MLmodel",
		"_mlbox/jobs/ghost/1.log",
	}
	d.strangers = []string{"custom/" + ghostRun + "/artifacts/x", "notes.txt", d.alpha + "/readme.md", "_mlbox/other/1.log"}
	for _, p := range append(slices.Clone(d.orphans), d.strangers...) {
		putArt(t, arts, p, "orphan")
	}
	return d
}

func zero() *float64 { z := 0.0; return &z }

func seededPolicy(d *seeded) RetentionPolicy {
	return RetentionPolicy{
		Name:        "nightly",
		Experiments: []string{"alpha", d.beta},
		Runs:        &RunRule{MaxAgeDays: 30, KeepBest: &KeepBest{Metric: "acc", K: 2}},
		Versions:    &VersionRule{KeepLast: 2},
		Purge:       &PurgeRule{AfterDays: 7},
		Orphans:     &OrphanRule{MinAgeHours: zero()},
	}
}

func actionsWithoutResults(acts []RetentionAction) []RetentionAction {
	out := slices.Clone(acts)
	for i := range out {
		out[i].Result = ""
	}
	return out
}

func retentionScenario(t *testing.T, arts artifact.Store) {
	d := seedRetention(t, arts)
	s := d.s
	var events []Event
	s.OnEvent(func(e Event) { events = append(events, e) })
	pol := seededPolicy(d)

	plan, err := s.PlanRetention(ctx, arts, pol)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.DryRun || plan.Policy != "nightly" {
		t.Fatalf("plan header %+v", plan)
	}
	// The dry run changed nothing.
	if r, _ := s.GetRun(ctx, d.runs[2].Info.RunID); r.Info.LifecycleStage != StageActive {
		t.Fatal("dry run deleted a run")
	}
	for _, p := range d.orphans {
		if !artExists(t, arts, p) {
			t.Fatal("dry run deleted an orphan")
		}
	}

	want := map[string][]string{
		ActDeleteRun:        ids(d.runs, 2, 4, 5, 6, 7),
		ActArchiveVersion:   {"iris/3", "iris/4"},
		ActPurgeRun:         {d.d1.Info.RunID, "beta", "beta"},
		ActPurgeLoggedModel: {d.lmA.Info.ModelID, "beta"},
		ActPurgeExperiment:  {d.beta},
		ActDeleteOrphans:    {"3"},
	}
	got := map[string][]string{}
	for _, a := range plan.Actions {
		var key string
		switch a.Action {
		case ActDeleteRun:
			key = a.RunID
		case ActArchiveVersion:
			key = a.Model + "/" + a.Version
		case ActPurgeRun, ActPurgeLoggedModel:
			key = a.RunID + a.ModelID
			if a.ExperimentID == d.beta {
				key = "beta"
			}
		case ActPurgeExperiment:
			key = a.ExperimentID
		case ActDeleteOrphans:
			key = ""
		}
		got[a.Action] = append(got[a.Action], key)
	}
	got[ActDeleteOrphans] = []string{strings.Repeat("x", len(got[ActDeleteOrphans]))}
	want[ActDeleteOrphans] = []string{"xxx"} // a run dir, a model dir, a job log
	for k := range want {
		a, b := slices.Clone(got[k]), slices.Clone(want[k])
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%s: planned %v, want %v", k, got[k], want[k])
		}
	}
	kept := map[string]string{}
	for _, k := range plan.Kept {
		kept[k.Action+":"+k.RunID+k.Model+k.Version] = k.Reason
	}
	for _, k := range []string{
		ActDeleteRun + ":" + d.runs[0].Info.RunID,
		ActArchiveVersion + ":iris1",
		ActArchiveVersion + ":iris2",
		ActPurgeRun + ":" + d.d3.Info.RunID,
	} {
		if kept[k] == "" {
			t.Errorf("%s not reported as kept (kept: %v)", k, kept)
		}
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(plan, "", "  ")
		t.Fatalf("plan:\n%s", b)
	}

	applied, err := s.ApplyRetention(ctx, arts, pol, "tester")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range applied.Actions {
		if a.Result != "done" {
			t.Errorf("%s %s%s%s: %s", a.Action, a.RunID, a.ModelID, a.Version, a.Result)
		}
	}
	// The dry run reported exactly what apply did.
	if !reflect.DeepEqual(actionsWithoutResults(applied.Actions), plan.Actions) {
		a, _ := json.MarshalIndent(applied.Actions, "", " ")
		b, _ := json.MarshalIndent(plan.Actions, "", " ")
		t.Fatalf("apply differs from the dry run\napplied: %s\nplanned: %s", a, b)
	}
	if !reflect.DeepEqual(applied.Kept, plan.Kept) || applied.Summary.Errors != 0 || applied.Summary.Skipped != 0 {
		t.Fatalf("summary %+v", applied.Summary)
	}

	// Aliased and Production versions, and their runs, survive untouched.
	for i, stage := range map[string]string{"1": StageNone, "2": StageProduction, "5": StageNone, "6": StageStaging, "3": StageArchived, "4": StageArchived} {
		mv, err := s.GetModelVersion(ctx, "iris", i)
		if err != nil || mv.CurrentStage != stage {
			t.Errorf("iris v%s: %+v %v (want %s)", i, mv, err, stage)
		}
	}
	if mv, _ := s.GetModelVersionByAlias(ctx, "iris", "champion"); mv == nil || mv.Version != "1" {
		t.Errorf("champion moved: %+v", mv)
	}
	for i, r := range d.runs {
		got, err := s.GetRun(ctx, r.Info.RunID)
		if err != nil {
			t.Fatal(err)
		}
		wantStage := StageActive
		if slices.Contains([]int{2, 4, 5, 6, 7}, i) {
			wantStage = StageDeleted
		}
		if got.Info.LifecycleStage != wantStage {
			t.Errorf("run %d: %s, want %s", i, got.Info.LifecycleStage, wantStage)
		}
		// soft deletion keeps artifacts
		if !artExists(t, arts, artPath(t, r.Info.ArtifactURI, "model/model.wasm")) {
			t.Errorf("run %d lost its artifacts", i)
		}
	}
	// Purged: d1 and its files, lmA, beta; d2 (too recent) and d3 (referenced) stay.
	if _, err := s.GetRun(ctx, d.d1.Info.RunID); KindOf(err) != KindNotFound {
		t.Errorf("d1: %v", err)
	}
	if artExists(t, arts, artPath(t, d.d1.Info.ArtifactURI, "model/model.wasm")) {
		t.Error("d1's artifacts remain")
	}
	for _, r := range []*Run{d.d2, d.d3} {
		if _, err := s.GetRun(ctx, r.Info.RunID); err != nil {
			t.Errorf("%s: %v", r.Info.RunID, err)
		}
		if !artExists(t, arts, artPath(t, r.Info.ArtifactURI, "model/model.wasm")) {
			t.Errorf("%s lost its artifacts", r.Info.RunID)
		}
	}
	if _, err := s.GetLoggedModel(ctx, d.lmA.Info.ModelID, true); KindOf(err) != KindNotFound {
		t.Errorf("lmA: %v", err)
	}
	if _, err := s.GetExperiment(ctx, d.beta); KindOf(err) != KindNotFound {
		t.Errorf("beta: %v", err)
	}
	for _, p := range append(slices.Clone(d.betaFiles), d.orphans...) {
		if artExists(t, arts, p) {
			t.Errorf("%s remains", p)
		}
	}
	for _, p := range d.strangers {
		if !artExists(t, arts, p) {
			t.Errorf("%s (unknown layout) was deleted", p)
		}
	}

	// Recorded, and announced.
	log, err := s.ListRetentionLog(ctx, 0, 0, false)
	if err != nil || len(log) != 1 || log[0].Seq != applied.LogSeq || log[0].Actor != "tester" || log[0].Actions != nil || log[0].Summary.RunsDeleted != 5 {
		t.Fatalf("log %+v %v", log, err)
	}
	rec, err := s.GetRetentionRecord(ctx, applied.LogSeq)
	if err != nil || len(rec.Actions) != len(applied.Actions) {
		t.Fatalf("record %+v %v", rec, err)
	}
	if !slices.ContainsFunc(events, func(e Event) bool { return e.Type == "retention.applied" && e.Data["runs_deleted"] == 5 }) {
		t.Errorf("no retention.applied event: %+v", events)
	}

	// Nothing is left to do.
	again, err := s.PlanRetention(ctx, arts, pol)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Actions) != 0 {
		t.Fatalf("second plan: %+v", again.Actions)
	}
}

func ids(runs []*Run, idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, runs[i].Info.RunID)
	}
	return out
}

func TestRetentionLocal(t *testing.T) { retentionScenario(t, newLocalArts(t)) }

func TestRetentionS3(t *testing.T) { retentionScenario(t, newS3Arts(t)) }

func TestRetentionRunRules(t *testing.T) {
	s, _ := openTest(t)
	exp, _ := s.CreateExperiment(ctx, "g", "", nil)
	now := time.Now()
	var runs []*Run
	for i := range 6 {
		r := newRun(t, s, nil, exp, now.Add(-time.Duration(6-i)*time.Hour))
		if i != 1 {
			finish(t, s, r)
		}
		if i != 4 { // run 4 has no metric
			if err := s.LogBatch(ctx, r.Info.RunID, []Metric{{Key: "loss", Value: float64(i), Timestamp: 1}}, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		runs = append(runs, r)
	}
	scenarios := []struct {
		name    string
		rule    RunRule
		deleted []int
		kept    []int
	}{
		{"keep_last", RunRule{KeepLast: 2}, []int{0, 2, 3}, []int{1}}, // 1 is RUNNING
		{"keep_best min", RunRule{KeepBest: &KeepBest{Metric: "loss", K: 2, Order: "min"}}, []int{2, 3, 4, 5}, nil},
		{"keep_best max", RunRule{KeepBest: &KeepBest{Metric: "loss", K: 1}}, []int{0, 2, 3, 4}, []int{1}},
		{"last+best", RunRule{KeepLast: 1, KeepBest: &KeepBest{Metric: "loss", K: 1, Order: "min"}}, []int{2, 3, 4}, []int{1}},
		{"age", RunRule{MaxAgeDays: 3.5 / 24}, []int{0, 1, 2}, nil}, // RUNNING and older than the age: deleted
		{"age+last", RunRule{MaxAgeDays: 3.5 / 24, KeepLast: 5}, []int{0}, nil},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			plan, err := s.PlanRetention(ctx, nil, RetentionPolicy{Runs: &sc.rule})
			if err != nil {
				t.Fatal(err)
			}
			var del, kept []int
			for _, a := range plan.Actions {
				del = append(del, slices.IndexFunc(runs, func(r *Run) bool { return r.Info.RunID == a.RunID }))
			}
			for _, a := range plan.Kept {
				kept = append(kept, slices.IndexFunc(runs, func(r *Run) bool { return r.Info.RunID == a.RunID }))
			}
			slices.Sort(del)
			slices.Sort(kept)
			if !slices.Equal(del, sc.deleted) || !slices.Equal(kept, sc.kept) {
				t.Fatalf("deleted %v kept %v, want %v %v", del, kept, sc.deleted, sc.kept)
			}
		})
	}
}

func TestRetentionApplySkipsWhatChanged(t *testing.T) {
	s, _ := openTest(t)
	exp, _ := s.CreateExperiment(ctx, "g", "", nil)
	a := newRun(t, s, nil, exp, time.Now())
	b := newRun(t, s, nil, exp, time.Now())
	if _, err := s.CreateRegisteredModel(ctx, "m", "", nil, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "m", Source: "runs:/" + a.Info.RunID + "/model", RunID: a.Info.RunID}, "t"); err != nil {
		t.Fatal(err)
	}
	// Planned before the alias was set: apply must still spare the run.
	if err := s.SetRegisteredModelAlias(ctx, "m", "prod", "1", "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRun(ctx, b.Info.RunID); err != nil {
		t.Fatal(err)
	}
	acts := []RetentionAction{{Action: ActDeleteRun, RunID: a.Info.RunID}, {Action: ActDeleteRun, RunID: b.Info.RunID}, {Action: ActDeleteRun, RunID: "nope"}}
	s.applyDeleteRuns(ctx, acts)
	for i, want := range []string{"skipped: protected", "skipped: run is deleted", "skipped: Run with id=nope"} {
		if !strings.HasPrefix(acts[i].Result, want) {
			t.Errorf("action %d: %q, want %q", i, acts[i].Result, want)
		}
	}
	if err := s.archiveForRetention(ctx, "m", "1", "t", "p"); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "alias prod") {
		t.Errorf("archive of an aliased version: %v", err)
	}
}

func TestRetentionPolicyValidate(t *testing.T) {
	neg := -1.0
	for _, p := range []RetentionPolicy{
		{},
		{Runs: &RunRule{}},
		{Runs: &RunRule{KeepLast: -1}},
		{Runs: &RunRule{KeepBest: &KeepBest{Metric: "", K: 1}}},
		{Runs: &RunRule{KeepBest: &KeepBest{Metric: "a", K: 1, Order: "best"}}},
		{Versions: &VersionRule{}},
		{Purge: &PurgeRule{AfterDays: -1}},
		{Orphans: &OrphanRule{MinAgeHours: &neg}},
		{Experiments: []string{""}, Purge: &PurgeRule{}},
	} {
		if err := p.Validate(); KindOf(err) != KindInvalid {
			t.Errorf("%+v: %v", p, err)
		}
	}
	s, _ := openTest(t)
	// Unknown (or purged) scope entries are warnings: the plan is empty.
	if p, err := s.PlanRetention(ctx, nil, RetentionPolicy{Experiments: []string{"nope"}, Purge: &PurgeRule{}}); err != nil || len(p.Warnings) != 1 || len(p.Actions) != 0 {
		t.Errorf("unknown experiment: %+v %v", p, err)
	}
	if p, err := s.PlanRetention(ctx, nil, RetentionPolicy{Models: []string{"nope"}, Versions: &VersionRule{KeepLast: 1}}); err != nil || len(p.Warnings) != 1 {
		t.Errorf("unknown model: %+v %v", p, err)
	}
	if _, err := s.PlanRetention(ctx, nil, RetentionPolicy{Orphans: &OrphanRule{}}); KindOf(err) != KindUnavailable {
		t.Errorf("orphans without a store: %v", err)
	}
}

func TestClassifyArtifact(t *testing.T) {
	run, model := newRunID(), "m-"+newRunID()
	for p, want := range map[string]string{
		"1/" + run + "/artifacts/x":          "run " + run,
		"12/" + run + "/x":                   "run " + run,
		"1/models/" + model + "/artifacts/y": "model " + model,
		"_mlbox/jobs/train/3.log":            "job train",
		"_mlbox/jobs/train/0.log":            "",
		"_mlbox/jobs/train/x.log":            "",
		"_mlbox/jobs/../3.log":               "",
		"a/" + run + "/artifacts/x":          "",
		"1/" + run:                           "",
		"1/" + strings.ToUpper(run) + "/a/b": "",
		"1/models/m-x/artifacts/y":           "",
	} {
		kind, id, _, _, ok := classifyArtifact(p)
		got := ""
		if ok {
			got = kind + " " + id
		}
		if got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
}

// walkCounter counts the walks of the artifact store.
type walkCounter struct {
	artifact.Store
	walks int
}

func (w *walkCounter) Walk(ctx context.Context, dir string, fn func(string, int64, time.Time) error) error {
	w.walks++
	return w.Store.Walk(ctx, dir, fn)
}

// Planning many policies at once (retention/plan with no policy plans every
// retention job) reads what they share once — one walk of the artifact
// store however many have an orphan rule — and plans each exactly as
// planning it alone does.
func TestPlanRetentionsSharesWork(t *testing.T) {
	arts := &walkCounter{Store: newLocalArts(t)}
	d := seedRetention(t, arts)
	s := d.s
	pols := []RetentionPolicy{seededPolicy(d)}
	for i := range 40 {
		var p RetentionPolicy
		switch i % 6 {
		case 0:
			p = RetentionPolicy{Orphans: &OrphanRule{MinAgeHours: zero()}}
		case 1:
			p = RetentionPolicy{Orphans: &OrphanRule{}} // default age: all kept
		case 2:
			p = RetentionPolicy{Purge: &PurgeRule{AfterDays: float64(i % 12)}}
		case 3:
			p = RetentionPolicy{Experiments: []string{"alpha"}, Runs: &RunRule{KeepLast: 1 + i%7}, Purge: &PurgeRule{}}
		case 4:
			p = RetentionPolicy{Runs: &RunRule{KeepBest: &KeepBest{Metric: "acc", K: 3, Order: "min"}}, Versions: &VersionRule{KeepLast: 1}}
		case 5:
			p = RetentionPolicy{Experiments: []string{"nope", d.beta}, Purge: &PurgeRule{}, Runs: &RunRule{MaxAgeDays: 40}}
		}
		p.Name = fmt.Sprintf("p%d", i)
		pols = append(pols, p)
	}
	var alone []*RetentionPlan
	for _, p := range pols {
		plan, err := s.PlanRetention(ctx, arts, p)
		if err != nil {
			t.Fatal(err)
		}
		alone = append(alone, plan)
	}
	if arts.walks != 1+2*7 {
		t.Fatalf("planning alone walked %d times", arts.walks)
	}
	arts.walks = 0
	together, err := s.PlanRetentions(ctx, arts, pols)
	if err != nil {
		t.Fatal(err)
	}
	if arts.walks != 1 {
		t.Fatalf("planning %d policies walked the artifact store %d times, want 1", len(pols), arts.walks)
	}
	if len(together) != len(pols) {
		t.Fatalf("%d plans for %d policies", len(together), len(pols))
	}
	kinds := map[string]bool{}
	for i := range pols {
		a, b := *alone[i], *together[i]
		a.At, b.At = 0, 0
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("policy %s planned together differs from alone:\n%s\n%s", pols[i].Name, jb, ja)
		}
		for _, act := range b.Actions {
			kinds[act.Action] = true
		}
	}
	for _, k := range []string{ActDeleteRun, ActArchiveVersion, ActPurgeRun, ActPurgeLoggedModel, ActPurgeExperiment, ActDeleteOrphans} {
		if !kinds[k] {
			t.Errorf("no policy planned %s; the comparison is too weak", k)
		}
	}
	// A policy the validation refuses fails the whole call, naming it.
	if _, err := s.PlanRetentions(ctx, arts, append(pols, RetentionPolicy{Name: "bad"})); KindOf(err) != KindInvalid {
		t.Fatalf("invalid policy: %v", err)
	}
}

// BenchmarkRetentionPlan compares planning one policy with an orphan rule
// against planning 133 retention jobs of every kind at once (what
// retention/plan with no policy does), on 2,000 runs with artifacts.
// `make bench` runs it.
func BenchmarkRetentionPlan(b *testing.B) {
	s, _ := openTest(b)
	arts := newLocalArts(b)
	for e := range 10 {
		exp, err := s.CreateExperiment(ctx, fmt.Sprintf("e%d", e), "", nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 200 {
			r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: exp, StartTime: int64(i)})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.LogBatch(ctx, r.Info.RunID, []Metric{{Key: "acc", Value: float64(i), Timestamp: 1}}, nil, nil); err != nil {
				b.Fatal(err)
			}
			putArt(b, arts, exp+"/"+r.Info.RunID+"/artifacts/model.bin", "x")
			if i%10 == 0 {
				if err := s.DeleteRun(ctx, r.Info.RunID); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	var pols []RetentionPolicy
	for j := range 133 {
		p := RetentionPolicy{Runs: &RunRule{KeepLast: 50}}
		switch j % 4 {
		case 1:
			p = RetentionPolicy{Purge: &PurgeRule{AfterDays: 30}}
		case 2:
			p = RetentionPolicy{Orphans: &OrphanRule{}}
		case 3:
			p = RetentionPolicy{Runs: &RunRule{KeepBest: &KeepBest{Metric: "acc", K: 10}}, Versions: &VersionRule{KeepLast: 3}}
		}
		pols = append(pols, p)
	}
	b.Run("one-orphan-policy", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.PlanRetention(ctx, arts, pols[2]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("133-jobs-together", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.PlanRetentions(ctx, arts, pols); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("133-jobs-one-by-one", func(b *testing.B) {
		for b.Loop() {
			for _, p := range pols {
				if _, err := s.PlanRetention(ctx, arts, p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// consistency check of the bbolt file before closing
		_ = s.db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				t.Errorf("bbolt consistency: %v", err)
			}
			return nil
		})
		s.Close()
	})
	return s, dir
}

var ctx = context.Background()

func TestDefaultExperimentAndSchema(t *testing.T) {
	s, _ := openTest(t)
	e, err := s.GetExperiment(ctx, "0")
	if err != nil || e.Name != "Default" || e.ArtifactLocation != "mlflow-artifacts:/0" {
		t.Fatalf("default experiment = %+v, %v", e, err)
	}
	v, err := s.SchemaVersionOf()
	if err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d %v", v, err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	_, dir := openTest(t)
	start := time.Now()
	_, err := Open(dir, Options{OpenTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second open took %v", d)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	s, dir := openTest(t)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keySchema, u64(SchemaVersion+1)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(dir, Options{OpenTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("open of newer schema: %v", err)
	}
}

func TestExperimentLifecycle(t *testing.T) {
	s, _ := openTest(t)
	id, err := s.CreateExperiment(ctx, "exp", "", []Tag{{"a", "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateExperiment(ctx, "exp", "", nil); KindOf(err) != KindExists {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := s.RenameExperiment(ctx, id, "exp2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetExperimentByName(ctx, "exp"); KindOf(err) != KindNotFound {
		t.Fatalf("old name still resolves: %v", err)
	}
	run, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: id})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExperiment(ctx, id); err != nil {
		t.Fatal(err)
	}
	r, _ := s.GetRun(ctx, run.Info.RunID)
	if r.Info.LifecycleStage != StageDeleted {
		t.Fatalf("run of deleted experiment is %s", r.Info.LifecycleStage)
	}
	if _, err := s.CreateExperiment(ctx, "exp2", "", nil); KindOf(err) != KindExists {
		t.Fatalf("deleted experiment's name must stay reserved: %v", err)
	}
	if _, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: id}); KindOf(err) != KindInvalid {
		t.Fatalf("run in deleted experiment: %v", err)
	}
	if err := s.RestoreExperiment(ctx, id); err != nil {
		t.Fatal(err)
	}
	r, _ = s.GetRun(ctx, run.Info.RunID)
	if r.Info.LifecycleStage != StageActive {
		t.Fatalf("restored run is %s", r.Info.LifecycleStage)
	}
	if err := s.DeleteExperiment(ctx, "0"); KindOf(err) != KindInvalid {
		t.Fatalf("deleting Default: %v", err)
	}
	if _, err := s.GetExperiment(ctx, "abc"); KindOf(err) != KindInvalid {
		t.Fatalf("bad id: %v", err)
	}
}

func TestLogBatchRules(t *testing.T) {
	s, _ := openTest(t)
	run, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0", RunName: "r"})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	ms := []Metric{{Key: "loss", Value: 3, Timestamp: 10, Step: 0}, {Key: "loss", Value: 2, Timestamp: 11, Step: 1},
		{Key: "loss", Value: math.NaN(), Timestamp: 12, Step: 2}, {Key: "acc", Value: math.Inf(1), Timestamp: 10, Step: 0}}
	if err := s.LogBatch(ctx, id, ms, []Param{{"lr", "0.1"}}, []Tag{{"t", "v"}}); err != nil {
		t.Fatal(err)
	}
	// same param value again is a no-op, a different one is an error
	if err := s.LogBatch(ctx, id, nil, []Param{{"lr", "0.1"}}, nil); err != nil {
		t.Fatal(err)
	}
	err = s.LogBatch(ctx, id, []Metric{{Key: "x", Value: 1, Timestamp: 1}}, []Param{{"lr", "0.2"}}, nil)
	if KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "Changing param values is not allowed") {
		t.Fatalf("changing a param: %v", err)
	}
	got, _ := s.GetRun(ctx, id)
	latest := map[string]Metric{}
	for _, m := range got.Data.Metrics {
		latest[m.Key] = m
	}
	if _, ok := latest["x"]; ok {
		t.Fatal("a failed batch left a partial write")
	}
	if m := latest["loss"]; m.Step != 2 || !math.IsNaN(m.Value) {
		t.Fatalf("latest loss = %+v", m)
	}
	if m := latest["acc"]; !math.IsInf(m.Value, 1) {
		t.Fatalf("latest acc = %+v", m)
	}
	hist, next, err := s.GetMetricHistory(ctx, id, "loss", 0, "")
	if err != nil || next != "" || len(hist) != 3 || hist[0].Value != 3 || !math.IsNaN(hist[2].Value) {
		t.Fatalf("history %+v %q %v", hist, next, err)
	}
	for _, bad := range []struct {
		name string
		m    []Metric
		p    []Param
		tg   []Tag
	}{
		{"bad key", []Metric{{Key: "a/../b", Timestamp: 1}}, nil, nil},
		{"leading slash", nil, []Param{{"/a", "1"}}, nil},
		{"bad char", nil, nil, []Tag{{"a!b", "1"}}},
		{"negative timestamp", []Metric{{Key: "a", Timestamp: -1}}, nil, nil},
		{"too many params", nil, make([]Param, 101), nil},
		{"dup params", nil, []Param{{"a", "1"}, {"a", "2"}}, nil},
	} {
		for i := range bad.p {
			if bad.p[i].Key == "" {
				bad.p[i].Key = fmt.Sprintf("p%d", i)
			}
		}
		if err := s.LogBatch(ctx, id, bad.m, bad.p, bad.tg); KindOf(err) != KindInvalid {
			t.Errorf("%s: got %v", bad.name, err)
		}
	}
	if err := s.DeleteRun(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.LogBatch(ctx, id, nil, nil, []Tag{{"a", "b"}}); KindOf(err) != KindInvalid {
		t.Fatalf("write to deleted run: %v", err)
	}
	if err := s.LogBatch(ctx, "nope", nil, nil, []Tag{{"a", "b"}}); KindOf(err) != KindNotFound {
		t.Fatalf("write to missing run: %v", err)
	}
}

func TestRunNameRules(t *testing.T) {
	s, _ := openTest(t)
	r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0", Tags: []Tag{{TagRunName, "tagged"}}})
	if err != nil || r.Info.RunName != "tagged" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0", RunName: "a", Tags: []Tag{{TagRunName, "b"}}}); KindOf(err) != KindInvalid {
		t.Fatalf("conflicting names: %v", err)
	}
	g, _ := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	if parts := strings.Split(g.Info.RunName, "-"); len(parts) != 3 {
		t.Fatalf("generated name %q", g.Info.RunName)
	}
	newName := "renamed"
	if _, err := s.UpdateRun(ctx, g.Info.RunID, nil, nil, &newName); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetRun(ctx, g.Info.RunID)
	if v, _ := tagValue(got.Data.Tags, TagRunName); v != "renamed" || got.Info.RunName != "renamed" {
		t.Fatalf("rename: %+v", got)
	}
}

// TestGroupCommit drives many concurrent writers, one of which fails, and
// checks that every acknowledged write is there and the failing one is not.
func TestGroupCommit(t *testing.T) {
	s, _ := openTest(t)
	run, _ := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	id := run.Info.RunID
	if err := s.LogBatch(ctx, id, nil, []Param{{"fixed", "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 77 {
				errs[i] = s.LogBatch(ctx, id, []Metric{{Key: "bad", Value: 1, Timestamp: 1}}, []Param{{"fixed", "2"}}, nil)
				return
			}
			errs[i] = s.LogBatch(ctx, id, []Metric{{Key: "m", Value: float64(i), Timestamp: int64(i), Step: int64(i)}}, nil, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 77) != (err != nil) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	hist, _, _ := s.GetMetricHistory(ctx, id, "m", 0, "")
	if len(hist) != 199 {
		t.Fatalf("history has %d points, want 199", len(hist))
	}
	if h, _, _ := s.GetMetricHistory(ctx, id, "bad", 0, ""); len(h) != 0 {
		t.Fatal("failed write is visible")
	}
	if c := s.Stats().Commits.Load(); c >= 200 {
		t.Logf("commits: %d (no grouping happened on this run)", c)
	}
}

func TestReopenRebuildsIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, _ := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	_ = s.LogBatch(ctx, run.Info.RunID, []Metric{{Key: "acc", Value: 0.9, Timestamp: 1}}, []Param{{"p", "a"}}, nil)
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: "metrics.acc > 0.5 and params.p = 'a'"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("search after reopen: %d runs, %v", len(runs), err)
	}
}

func TestSearchRuns(t *testing.T) {
	s, _ := openTest(t)
	exp, _ := s.CreateExperiment(ctx, "search", "", nil)
	var ids []string
	for i := 0; i < 30; i++ {
		r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: exp, RunName: fmt.Sprintf("run-%02d", i), StartTime: int64(1000 + i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Info.RunID)
		ms := []Metric{{Key: "acc", Value: float64(i) / 30, Timestamp: 1}}
		if i%3 == 0 {
			ms = nil // no acc: sorts last
		}
		if err := s.LogBatch(ctx, r.Info.RunID, ms, []Param{{"kind", []string{"a", "b"}[i%2]}}, []Tag{{"my tag", fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		filter string
		order  []string
		want   int
		first  string
	}{
		{"", nil, 30, "run-29"},
		{"params.kind = 'a'", nil, 15, "run-28"},
		{"metrics.acc >= 0.5 and params.kind = 'b'", []string{"metrics.acc ASC"}, 5, "run-17"},
		{"tags.`my tag` = '3'", nil, 1, "run-03"},
		{"attributes.run_name LIKE 'run-1%'", []string{"run_name DESC"}, 10, "run-19"},
		{"run_name ILIKE 'RUN-0_'", nil, 10, "run-09"},
		{"", []string{"metrics.acc DESC"}, 30, "run-29"},
		{"", []string{"metrics.acc ASC"}, 30, "run-01"},
		{"attributes.start_time > 1027", nil, 2, "run-29"},
		{"tags.missing IS NULL and params.kind != 'a'", nil, 15, "run-29"},
	}
	for _, c := range cases {
		runs, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{exp}, Filter: c.filter, OrderBy: c.order, MaxResults: 1000})
		if err != nil {
			t.Errorf("%q: %v", c.filter, err)
			continue
		}
		if len(runs) != c.want || (len(runs) > 0 && runs[0].Info.RunName != c.first) {
			first := ""
			if len(runs) > 0 {
				first = runs[0].Info.RunName
			}
			t.Errorf("%q %v: %d runs first %q, want %d first %q", c.filter, c.order, len(runs), first, c.want, c.first)
		}
	}
	// missing metrics sort last in both directions
	runs, _, _ := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{exp}, OrderBy: []string{"metrics.acc DESC"}, MaxResults: 1000})
	if last := runs[len(runs)-1]; len(last.Data.Metrics) != 0 {
		t.Errorf("run with no acc should be last, got %s", last.Info.RunName)
	}
	// paging covers every run exactly once
	seen := map[string]bool{}
	tok := ""
	for pages := 0; ; pages++ {
		runs, next, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{exp}, MaxResults: 7, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if seen[r.Info.RunID] {
				t.Fatalf("run %s on two pages", r.Info.RunName)
			}
			seen[r.Info.RunID] = true
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(seen) != 30 {
		t.Fatalf("paging saw %d runs", len(seen))
	}
	for _, bad := range []string{"metrics.acc > 'x'", "params.kind > 1", "foo.bar = 1", "metrics.acc = 1 OR metrics.acc = 2"} {
		if _, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{exp}, Filter: bad}); KindOf(err) != KindInvalid {
			t.Errorf("filter %q: %v", bad, err)
		}
	}
	if _, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{exp}, PageToken: "garbage"}); KindOf(err) != KindInvalid {
		t.Errorf("bad page token: %v", err)
	}
	_ = ids
}

func TestDatasetsAndBulkInterval(t *testing.T) {
	s, _ := openTest(t)
	r, _ := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	ds := DatasetInput{Tags: []Tag{{TagDataCtx, "training"}}, Dataset: Dataset{Name: "iris", Digest: "abc", SourceType: "local", Source: "{}"}}
	for i := 0; i < 2; i++ { // the second is deduplicated
		if err := s.LogInputs(ctx, r.Info.RunID, []DatasetInput{ds}, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.GetRun(ctx, r.Info.RunID)
	if len(got.Inputs.DatasetInputs) != 1 {
		t.Fatalf("dataset inputs: %+v", got.Inputs)
	}
	runs, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: "datasets.context = 'training' and datasets.name IN ('iris', 'x')"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("dataset search: %d %v", len(runs), err)
	}
	var ms []Metric
	for i := 0; i < 100; i++ {
		ms = append(ms, Metric{Key: "loss", Value: float64(i), Timestamp: int64(i), Step: int64(i)})
	}
	_ = s.LogBatch(ctx, r.Info.RunID, ms, nil, nil)
	start, end := int64(10), int64(59)
	pts, err := s.GetMetricHistoryBulkInterval(ctx, []string{r.Info.RunID}, "loss", &start, &end, 10)
	if err != nil || len(pts) != 10 || pts[0].Step != 10 || pts[9].Step != 59 || pts[0].RunID != r.Info.RunID {
		t.Fatalf("bulk interval: %+v %v", pts, err)
	}
	if _, err := s.GetMetricHistoryBulkInterval(ctx, []string{r.Info.RunID}, "loss", &end, &start, 10); KindOf(err) != KindInvalid {
		t.Fatalf("start > end: %v", err)
	}
}

func TestMetricHistoryPaging(t *testing.T) {
	s, _ := openTest(t)
	r, _ := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	for b := 0; b < 3; b++ {
		var ms []Metric
		for i := 0; i < 1000; i++ {
			n := b*1000 + i
			ms = append(ms, Metric{Key: "m", Value: float64(n), Timestamp: int64(n), Step: int64(n)})
		}
		if err := s.LogBatch(ctx, r.Info.RunID, ms, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var all []Metric
	tok := ""
	for {
		page, next, err := s.GetMetricHistory(ctx, r.Info.RunID, "m", 700, tok)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		tok = next
	}
	if len(all) != 3000 || all[2999].Step != 2999 {
		t.Fatalf("paged history has %d points", len(all))
	}
}

func TestErrorKinds(t *testing.T) {
	err := NotFoundf("x")
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		t.Fatal("errors.Is by kind")
	}
}

// TestHistoryJSONFastPath: the cursor-encoded body equals the general path,
// for ordered and out-of-order timestamps, whole and paged.
func TestHistoryJSONFastPath(t *testing.T) {
	s, _ := openTest(t)
	r, _ := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	var ordered, shuffled []Metric
	for i := 0; i < 50; i++ {
		ordered = append(ordered, Metric{Key: "a", Value: float64(i) / 3, Timestamp: int64(1000 + i), Step: int64(i)})
		shuffled = append(shuffled, Metric{Key: "b", Value: math.Inf(1 - 2*(i%2)), Timestamp: int64(1000 - i), Step: int64(i)})
	}
	ordered[7].ModelID = "m-1"
	if err := s.LogBatch(ctx, r.Info.RunID, append(ordered, shuffled...), nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b", "missing"} {
		for _, max := range []int{0, 7, 50, 100} {
			tok := ""
			for {
				got, err := s.AppendMetricHistoryJSON(ctx, nil, r.Info.RunID, key, max, tok)
				if err != nil {
					t.Fatal(err)
				}
				ms, next, _ := s.GetMetricHistory(ctx, r.Info.RunID, key, max, tok)
				if want := AppendMetricsJSON(nil, ms, next); string(got) != string(want) {
					t.Fatalf("key %s max %d tok %q:\n got %s\nwant %s", key, max, tok, got, want)
				}
				if next == "" {
					break
				}
				tok = next
			}
		}
	}
}

package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// seedRuns creates runs in two experiments with params, tags, metrics and
// a dataset input each.
func seedRuns(t *testing.T, s *Store, n int) []string {
	t.Helper()
	exp, err := s.CreateExperiment(ctx, "idx", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		e := "0"
		if i%3 == 0 {
			e = exp
		}
		r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: e, RunName: fmt.Sprintf("r%d", i), StartTime: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		id := r.Info.RunID
		ids = append(ids, id)
		if err := s.LogBatch(ctx, id, []Metric{{Key: "loss", Value: float64(i), Timestamp: 1, Step: 1}, {Key: fmt.Sprintf("m%d", i%7), Value: -float64(i), Timestamp: 1}},
			[]Param{{Key: "p", Value: fmt.Sprint(i % 5)}, {Key: fmt.Sprintf("q%d", i%4), Value: "x"}}, []Tag{{Key: "t", Value: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// The index built in parallel is the one a single pass builds.
func TestRunIndexParallelBuildIsSequential(t *testing.T) {
	s, dir := openTest(t)
	seedRuns(t, s, 300)
	s.Close()
	build := func(workers int) *runIndex {
		testIndexWorkers = workers
		defer func() { testIndexWorkers = 0 }()
		s2, err := Open(dir, Options{OpenTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s2.WaitReady()
		ix := s2.runs
		s2.Close()
		return ix
	}
	one, many := build(1), build(5)
	if len(one.rows) != 300 || !reflect.DeepEqual(one.rows, many.rows) || !reflect.DeepEqual(one.byID, many.byID) ||
		!reflect.DeepEqual(one.byExp, many.byExp) {
		t.Fatal("rows differ")
	}
	for name, cols := range map[string][2]any{"metrics": {one.metrics, many.metrics}, "params": {one.params, many.params}, "tags": {one.tags, many.tags}} {
		if !reflect.DeepEqual(cols[0], cols[1]) {
			t.Fatalf("%s differ", name)
		}
	}
}

// Open returns before the index is built: what does not need it is
// served, search waits for it (and then sees every run), Ready says so.
func TestOpenDoesNotWaitForTheIndex(t *testing.T) {
	s, dir := openTest(t)
	ids := seedRuns(t, s, 50)
	s.Close()
	release := make(chan struct{})
	testIndexHook = func() { <-release }
	defer func() { testIndexHook = nil }()
	s2, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ok, _ := s2.Ready(); ok {
		t.Fatal("ready before the index is built")
	}
	if r, err := s2.GetRun(ctx, ids[7]); err != nil || r.Info.RunName != "r7" {
		t.Fatalf("get run while indexing: %v %v", r, err)
	}
	found := make(chan int, 1)
	go func() {
		runs, _, err := s2.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: "params.p = '1'", MaxResults: 1000})
		if err != nil {
			t.Error(err)
		}
		found <- len(runs)
	}()
	select {
	case n := <-found:
		t.Fatalf("search answered (%d runs) before the index was built", n)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if n := <-found; n != 7 { // i%5 == 1 and i%3 != 0, i < 50
		t.Fatalf("search found %d runs, want 7", n)
	}
	if ok, runs := s2.Ready(); !ok || runs != 50 {
		t.Fatalf("ready %v after %d runs", ok, runs)
	}
}

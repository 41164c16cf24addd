package store

import (
	"fmt"
	"testing"
)

// The search cache must never answer with a result the index no longer
// holds: every kind of write is seen by the next search and count.
func TestSearchCacheSeesEveryWrite(t *testing.T) {
	s, _ := openTest(t)
	exp, _ := s.CreateExperiment(ctx, "cache", "", nil)
	var ids []string
	for i := range 5 {
		r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: exp, RunName: fmt.Sprintf("r%d", i), StartTime: int64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Info.RunID)
		if err := s.LogBatch(ctx, r.Info.RunID, []Metric{{Key: "m", Value: float64(i), Timestamp: 1}}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	search := func(filter string, order ...string) []string {
		t.Helper()
		req := SearchRunsRequest{ExperimentIDs: []string{exp}, Filter: filter, OrderBy: order, MaxResults: 2}
		var names []string
		for {
			runs, next, err := s.SearchRuns(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				names = append(names, r.Info.RunName)
			}
			if next == "" {
				break
			}
			req.PageToken = next
		}
		n, err := s.CountRuns(req)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(names) {
			t.Fatalf("CountRuns %d, pages hold %d", n, len(names))
		}
		return names
	}
	check := func(what string, got []string, want string) {
		t.Helper()
		if fmt.Sprint(got) != want {
			t.Fatalf("%s: %v, want %s", what, got, want)
		}
	}
	check("by metric", search("", "metrics.m DESC"), "[r4 r3 r2 r1 r0]")
	check("by metric again (cached)", search("", "metrics.m DESC"), "[r4 r3 r2 r1 r0]")
	if err := s.LogBatch(ctx, ids[0], []Metric{{Key: "m", Value: 10, Timestamp: 2}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	check("after a metric", search("", "metrics.m DESC"), "[r0 r4 r3 r2 r1]")
	if err := s.LogBatch(ctx, ids[1], nil, nil, []Tag{{"k", "v"}}); err != nil {
		t.Fatal(err)
	}
	check("after a tag", search("tags.k = 'v'"), "[r1]")
	if err := s.DeleteTag(ctx, ids[1], "k"); err != nil {
		t.Fatal(err)
	}
	check("after a tag delete", search("tags.k = 'v'"), "[]")
	name := "renamed"
	if _, err := s.UpdateRun(ctx, ids[2], nil, nil, &name); err != nil {
		t.Fatal(err)
	}
	check("after a rename", search("attributes.run_name = 'renamed'"), "[renamed]")
	if err := s.DeleteRun(ctx, ids[3]); err != nil {
		t.Fatal(err)
	}
	check("after a delete", search("", "metrics.m DESC"), "[r0 r4 renamed r1]")
	if err := s.RestoreRun(ctx, ids[3]); err != nil {
		t.Fatal(err)
	}
	check("after a restore", search("", "metrics.m DESC"), "[r0 r4 r3 renamed r1]")
	r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: exp, RunName: "new", StartTime: 9})
	if err != nil {
		t.Fatal(err)
	}
	_ = r
	check("after a create", search(""), "[new r4 r3 renamed r1 r0]")
}

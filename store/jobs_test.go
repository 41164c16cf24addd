package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func cmdJob(name string) Job {
	return Job{Name: name, Kind: JobCommand, Schedule: "@hourly", Command: &CommandSpec{Argv: []string{"true"}}}
}

func TestJobCRUD(t *testing.T) {
	s, _ := openTest(t)
	var events []Event
	s.OnEvent(func(e Event) { events = append(events, e) })

	j, err := s.CreateJob(ctx, cmdJob("train"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Source != JobSourceAPI || j.Overlap != OverlapSkip || j.CreatedAt == 0 || j.Anchor == 0 {
		t.Fatalf("created %+v", j)
	}
	if _, err := s.CreateJob(ctx, cmdJob("train")); KindOf(err) != KindExists {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []Job{
		{Name: "../x", Kind: JobCommand, Command: &CommandSpec{Argv: []string{"x"}}},
		{Name: "x", Kind: "shell"},
		{Name: "x", Kind: JobCommand},
		{Name: "x", Kind: JobRetention},
		{Name: "x", Kind: JobRetention, Retention: &RetentionPolicy{}},
		{Name: "x", Kind: JobCommand, Overlap: "parallel", Command: &CommandSpec{Argv: []string{"x"}}},
		{Name: "x", Kind: JobCommand, Command: &CommandSpec{Argv: []string{"x"}, Promote: &PromoteSpec{Model: "m", Alias: "latest"}}},
	} {
		if _, err := s.CreateJob(ctx, bad); KindOf(err) != KindInvalid {
			t.Errorf("%+v: %v", bad, err)
		}
	}

	old := j.Anchor
	time.Sleep(5 * time.Millisecond)
	u, err := s.UpdateJob(ctx, "train", func(j *Job) error {
		j.Schedule = "@daily"
		j.Name = "renamed" // ignored
		return nil
	})
	if err != nil || u.Name != "train" || u.Schedule != "@daily" || u.Anchor <= old {
		t.Fatalf("update: %+v %v", u, err)
	}

	r1, err := s.StartJobRun(ctx, JobRun{Job: "train", Trigger: "manual"}, 3)
	if err != nil || r1.Number != 1 || r1.Status != JobRunning {
		t.Fatalf("start: %+v %v", r1, err)
	}
	code := 2
	r1.Status, r1.ExitCode, r1.Error = JobFailed, &code, "exit status 2"
	if err := s.FinishJobRun(ctx, *r1); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != "job.failed" || events[0].Data["run_id"] != "1" || events[0].Data["exit_code"] != 2 {
		t.Fatalf("events %+v", events)
	}
	for i := 0; i < 4; i++ {
		r, err := s.StartJobRun(ctx, JobRun{Job: "train"}, 3)
		if err != nil {
			t.Fatal(err)
		}
		r.Status, r.DurationMs = JobSucceeded, 10
		if err := s.FinishJobRun(ctx, *r); err != nil {
			t.Fatal(err)
		}
	}
	runs, st, err := s.ListJobRuns(ctx, "train", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Number != 5 || runs[2].Number != 3 || st.Runs != 3 || st.Succeeded != 3 || st.MeanMs != 10 {
		t.Fatalf("runs %+v stats %+v", runs, st)
	}
	if page, _, _ := s.ListJobRuns(ctx, "train", 5, 1); len(page) != 1 || page[0].Number != 4 {
		t.Fatalf("page %+v", page)
	}
	if _, err := s.GetJobRun(ctx, "train", 1); KindOf(err) != KindNotFound {
		t.Fatalf("pruned run: %v", err)
	}

	// A neighbour whose name extends this one's does not leak into its history.
	if _, err := s.CreateJob(ctx, cmdJob("train2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartJobRun(ctx, JobRun{Job: "train2"}, 0); err != nil {
		t.Fatal(err)
	}
	if runs, _, _ := s.ListJobRuns(ctx, "train", 0, 0); len(runs) != 3 {
		t.Fatalf("runs leaked: %+v", runs)
	}
	if runs, _, _ := s.ListJobRuns(ctx, "train2", 0, 0); len(runs) != 1 {
		t.Fatalf("train2 runs: %+v", runs)
	}

	// A crash leaves train2's run "running": the next start marks it.
	stale, err := s.InterruptStaleJobRuns(ctx, "crash")
	if err != nil || len(stale) != 1 || stale[0].Job != "train2" || stale[0].Status != JobInterrupted {
		t.Fatalf("stale %+v %v", stale, err)
	}

	if err := s.DeleteJob(ctx, "train"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListJobRuns(ctx, "train", 0, 0); KindOf(err) != KindNotFound {
		t.Fatalf("runs of a deleted job: %v", err)
	}
	if n := countKeys(t, s, bktJobRuns, "train\x00"); n != 0 {
		t.Fatalf("%d run records left", n)
	}
}

func countKeys(t *testing.T, s *Store, bkt []byte, prefix string) int {
	t.Helper()
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bkt).ForEach(func(k, _ []byte) error {
			if strings.HasPrefix(string(k), prefix) {
				n++
			}
			return nil
		})
	})
	return n
}

func TestSyncConfigJobs(t *testing.T) {
	s, _ := openTest(t)
	api := cmdJob("api-job")
	if _, err := s.CreateJob(ctx, api); err != nil {
		t.Fatal(err)
	}
	a, b := cmdJob("a"), cmdJob("b")
	if _, err := s.SyncConfigJobs(ctx, []Job{a, b}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateJob(ctx, "a", func(j *Job) error { j.Paused = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartJobRun(ctx, JobRun{Job: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	a.Description = "changed"
	removed, err := s.SyncConfigJobs(ctx, []Job{a})
	if err != nil || len(removed) != 1 || removed[0] != "b" {
		t.Fatalf("removed %v %v", removed, err)
	}
	got, err := s.GetJob(ctx, "a")
	if err != nil || !got.Paused || got.LastRun != 1 || got.Description != "changed" || got.Source != JobSourceConfig {
		t.Fatalf("a after resync: %+v %v", got, err)
	}
	if _, err := s.GetJob(ctx, "api-job"); err != nil {
		t.Fatalf("api job touched: %v", err)
	}
	if _, err := s.SyncConfigJobs(ctx, []Job{a, a}); KindOf(err) != KindInvalid {
		t.Fatalf("duplicate names: %v", err)
	}
}

func TestDurationJSON(t *testing.T) {
	var c CommandSpec
	if err := json.Unmarshal([]byte(`{"argv":["x"],"timeout":"1m30s"}`), &c); err != nil || time.Duration(c.Timeout) != 90*time.Second {
		t.Fatalf("%v %v", c.Timeout, err)
	}
	if err := json.Unmarshal([]byte(`{"timeout":5}`), &c); err != nil || time.Duration(c.Timeout) != 5*time.Second {
		t.Fatalf("%v %v", c.Timeout, err)
	}
	if err := json.Unmarshal([]byte(`{"timeout":"soon"}`), &c); err == nil {
		t.Fatal("bad duration accepted")
	}
	b, _ := json.Marshal(CommandSpec{Argv: []string{"x"}, Timeout: Duration(time.Minute)})
	if !strings.Contains(string(b), `"timeout":"1m0s"`) {
		t.Fatal(string(b))
	}
}

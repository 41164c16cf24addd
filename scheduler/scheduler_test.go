package scheduler

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/store"
	"mlbox/store/artifact"
)

var bg = context.Background()

type harness struct {
	s      *Scheduler
	st     *store.Store
	arts   *artifact.Local
	dir    string
	set    *metrics.Set
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	events []store.Event
}

// newHarness opens a store and starts a scheduler on it (Start is
// synchronous; Stop happens at cleanup unless the test stops it).
func newHarness(t *testing.T, mutate func(*Config), jobs ...store.Job) *harness {
	t.Helper()
	h := &harness{dir: t.TempDir(), set: metrics.NewSet(), done: make(chan struct{})}
	st, err := store.Open(filepath.Join(h.dir, "data"), store.Options{OpenTimeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	st.OnEvent(func(e store.Event) {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	})
	if h.arts, err = artifact.NewLocal(filepath.Join(h.dir, "artifacts")); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if _, err := st.CreateJob(bg, j); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.KillGrace = 300 * time.Millisecond
	cfg.APICommands = true
	if mutate != nil {
		mutate(&cfg)
	}
	h.s, err = New(Options{Config: cfg, Store: st, Artifacts: h.arts, TrackingURI: "http://127.0.0.1:9", TrackingToken: "tok-0123456789abcdef", WorkDir: filepath.Join(h.dir, "work"), Metrics: h.set})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	h.cancel = cancel
	if err := h.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go func() {
		<-ctx.Done()
		h.s.Stop()
		close(h.done)
	}()
	t.Cleanup(func() {
		h.stop()
		h.arts.Close()
		st.Close()
	})
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

// wait polls a run until it is no longer running.
func (h *harness) wait(t *testing.T, job string, n uint64) *store.JobRun {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r, err := h.st.GetJobRun(bg, job, n)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.JobRunning {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %d of %s did not finish", n, job)
	return nil
}

func (h *harness) log(t *testing.T, r *store.JobRun) string {
	t.Helper()
	if r.LogPath == "" {
		t.Fatalf("run %d has no log", r.Number)
	}
	o, err := h.arts.Open(bg, r.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, _ := io.ReadAll(o)
	return string(b)
}

func (h *harness) metricsText() string {
	var b bytes.Buffer
	h.set.WritePrometheus(&b)
	return b.String()
}

func shJob(name, script string) store.Job {
	return store.Job{Name: name, Kind: store.JobCommand, Command: &store.CommandSpec{Argv: []string{"sh", "-c", script}}}
}

func TestCommandJob(t *testing.T) {
	t.Setenv("MLBOX_ARTIFACTS_S3_SECRET_KEY", "hunter2")
	t.Setenv("MLFLOW_RUN_ID", "leaked")
	j := shJob("train", `echo "to stdout"; echo "to stderr" >&2; echo "uri=$MLFLOW_TRACKING_URI exp=$MLFLOW_EXPERIMENT_NAME run=$MLBOX_JOB_RUN extra=$EXTRA token=$MLFLOW_TRACKING_TOKEN"; env | grep -E '^(MLBOX_ARTIFACTS|MLFLOW_RUN_ID)' || echo clean; pwd`)
	j.Command.Env = map[string]string{"EXTRA": "yes"}
	j.Command.Experiment = "retraining"
	h := newHarness(t, nil, j)

	run, queued, err := h.s.RunNow(bg, "train", "alice")
	if err != nil || queued || run.Number != 1 || run.Actor != "alice" || run.Trigger != TriggerManual {
		t.Fatalf("RunNow: %+v %v %v", run, queued, err)
	}
	r := h.wait(t, "train", 1)
	if r.Status != store.JobSucceeded || r.ExitCode == nil || *r.ExitCode != 0 || r.DurationMs <= 0 {
		t.Fatalf("run %+v", r)
	}
	out := h.log(t, r)
	for _, want := range []string{"to stdout", "to stderr", "uri=http://127.0.0.1:9 exp=retraining run=1 extra=yes token=tok-0123456789abcdef", "clean", filepath.Join(h.dir, "work", "train")} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, "leaked") {
		t.Errorf("the server's MLBOX_/MLFLOW_ environment leaked:\n%s", out)
	}
	if e, err := h.st.GetExperimentByName(bg, "retraining"); err != nil || e.LifecycleStage != store.StageActive {
		t.Errorf("experiment not created: %v", err)
	}
	if m := h.metricsText(); !strings.Contains(m, `mlbox_job_runs_total{job="train",result="succeeded"} 1`) || !strings.Contains(m, `mlbox_job_duration_seconds_bucket{job="train"`) {
		t.Errorf("metrics:\n%s", m)
	}
}

func TestCommandJobFailure(t *testing.T) {
	h := newHarness(t, nil, shJob("fail", "echo boom; exit 3"), store.Job{Name: "nocmd", Kind: store.JobCommand, Command: &store.CommandSpec{Argv: []string{"/nonexistent/program"}}})
	if _, _, err := h.s.RunNow(bg, "fail", ""); err != nil {
		t.Fatal(err)
	}
	r := h.wait(t, "fail", 1)
	if r.Status != store.JobFailed || r.ExitCode == nil || *r.ExitCode != 3 || r.Error != "exit status 3" {
		t.Fatalf("run %+v", r)
	}
	if _, _, err := h.s.RunNow(bg, "nocmd", ""); err != nil {
		t.Fatal(err)
	}
	r2 := h.wait(t, "nocmd", 1)
	if r2.Status != store.JobFailed || r2.ExitCode != nil || !strings.Contains(r2.Error, "cannot start") {
		t.Fatalf("run %+v", r2)
	}
	h.mu.Lock()
	var failed []store.Event
	for _, e := range h.events {
		if e.Type == "job.failed" {
			failed = append(failed, e)
		}
	}
	h.mu.Unlock()
	if len(failed) != 2 || failed[0].Data["job"] != "fail" || failed[0].Data["exit_code"] != 3 || failed[0].Data["run_id"] != "1" || failed[0].Data["error"] != "exit status 3" {
		t.Fatalf("job.failed events: %+v", failed)
	}
	runs, stats, err := h.st.ListJobRuns(bg, "fail", 0, 0)
	if err != nil || len(runs) != 1 || stats.Failures != 1 {
		t.Fatalf("history %+v %+v %v", runs, stats, err)
	}
	if m := h.metricsText(); !strings.Contains(m, `mlbox_job_failures_total{job="fail"} 1`) || !strings.Contains(m, `mlbox_job_runs_total{job="fail",result="failed"} 1`) {
		t.Errorf("metrics:\n%s", m)
	}
}

// procAlive reports whether pid exists and is not a zombie (an orphan
// killed in a container whose init does not reap stays a zombie).
func procAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if n, err2 := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && err2 == nil && n > 0 {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// groupScript starts a background child and waits: the leader and the
// child write their pids.
const groupScript = `sleep 60 & echo $! > child.pid; echo $$ > leader.pid; wait`

func requireProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
}

func assertGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for procAlive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d is still alive", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	requireProc(t)
	j := shJob("slow", groupScript)
	j.Command.Timeout = store.Duration(time.Second)
	h := newHarness(t, nil, j)
	start := time.Now()
	if _, _, err := h.s.RunNow(bg, "slow", ""); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(h.dir, "work", "slow")
	leader, child := readPid(t, filepath.Join(work, "leader.pid")), readPid(t, filepath.Join(work, "child.pid"))
	r := h.wait(t, "slow", 1)
	if r.Status != store.JobTimedOut || !strings.Contains(r.Error, "timed out after 1s") {
		t.Fatalf("run %+v", r)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %s", d)
	}
	assertGone(t, leader, child)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 || h.events[len(h.events)-1].Data["status"] != store.JobTimedOut {
		t.Fatalf("no job.failed for the timeout: %+v", h.events)
	}
}

func TestTimeoutEscalatesToSIGKILL(t *testing.T) {
	requireProc(t)
	// The leader ignores SIGTERM: SIGKILL follows after kill_grace.
	j := shJob("stubborn", `trap '' TERM; sleep 60 & echo $! > child.pid; echo $$ > leader.pid; while :; do sleep 1; done`)
	j.Command.Timeout = store.Duration(500 * time.Millisecond)
	h := newHarness(t, nil, j)
	if _, _, err := h.s.RunNow(bg, "stubborn", ""); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(h.dir, "work", "stubborn")
	leader, child := readPid(t, filepath.Join(work, "leader.pid")), readPid(t, filepath.Join(work, "child.pid"))
	if r := h.wait(t, "stubborn", 1); r.Status != store.JobTimedOut {
		t.Fatalf("run %+v", r)
	}
	assertGone(t, leader, child)
}

func TestExitKillsLeftoverChildren(t *testing.T) {
	requireProc(t)
	h := newHarness(t, nil, shJob("daemonizer", `sleep 60 & echo $! > child.pid; exit 0`))
	if _, _, err := h.s.RunNow(bg, "daemonizer", ""); err != nil {
		t.Fatal(err)
	}
	child := readPid(t, filepath.Join(h.dir, "work", "daemonizer", "child.pid"))
	if r := h.wait(t, "daemonizer", 1); r.Status != store.JobSucceeded {
		t.Fatalf("run %+v", r)
	}
	assertGone(t, child)
}

func TestShutdownInterruptsJob(t *testing.T) {
	requireProc(t)
	h := newHarness(t, nil, shJob("long", groupScript))
	if _, _, err := h.s.RunNow(bg, "long", ""); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(h.dir, "work", "long")
	leader, child := readPid(t, filepath.Join(work, "leader.pid")), readPid(t, filepath.Join(work, "child.pid"))
	start := time.Now()
	h.stop() // returns once the run is recorded
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("stop took %s", d)
	}
	r, err := h.st.GetJobRun(bg, "long", 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != store.JobInterrupted || !strings.Contains(r.Error, "interrupted by shutdown") || r.LogPath == "" {
		t.Fatalf("run %+v", r)
	}
	assertGone(t, leader, child)
	if _, _, err := h.s.RunNow(bg, "long", ""); err == nil {
		t.Fatal("a run started after shutdown")
	}
	// No job.failed for an interruption.
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Type == "job.failed" {
			t.Fatalf("job.failed emitted for a shutdown: %+v", e)
		}
	}
}

func TestCrashLeftoversAreInterrupted(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateJob(bg, shJob("j", "true")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartJobRun(bg, store.JobRun{Job: "j"}, 0); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Options{Config: DefaultConfig(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	r, _ := st.GetJobRun(bg, "j", 1)
	if r.Status != store.JobInterrupted || !strings.Contains(r.Error, "server stopped") {
		t.Fatalf("leftover run %+v", r)
	}
}

// gate is a job that waits until the test removes it from its way.
func gateScript() string { return `while [ ! -f go ]; do sleep 0.02; done; echo released` }

func release(t *testing.T, h *harness, job string) {
	t.Helper()
	dir := filepath.Join(h.dir, "work", job)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOverlapPolicies(t *testing.T) {
	skip, queue := shJob("skip", gateScript()), shJob("queue", gateScript())
	queue.Overlap = store.OverlapQueue
	h := newHarness(t, nil, skip, queue)

	if _, _, err := h.s.RunNow(bg, "skip", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.RunNow(bg, "skip", ""); store.KindOf(err) != store.KindInvalid || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second run of a skip job: %v", err)
	}
	if st := h.s.State("skip"); !st.Running || st.CurrentRun != 1 {
		t.Fatalf("state %+v", st)
	}

	if _, _, err := h.s.RunNow(bg, "queue", ""); err != nil {
		t.Fatal(err)
	}
	for range 3 { // triggers coalesce: one waits
		run, queued, err := h.s.RunNow(bg, "queue", "")
		if err != nil || !queued || run != nil {
			t.Fatalf("queued run: %+v %v %v", run, queued, err)
		}
	}
	if st := h.s.State("queue"); !st.Queued {
		t.Fatalf("state %+v", st)
	}
	release(t, h, "skip")
	release(t, h, "queue") // both queue runs see the file
	h.wait(t, "skip", 1)
	h.wait(t, "queue", 1)
	deadline := time.Now().Add(30 * time.Second)
	for h.s.State("queue").Running && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r := h.wait(t, "queue", 2); r.Trigger != "queued" || r.Status != store.JobSucceeded {
		t.Fatalf("queued run %+v", r)
	}
	runs, _, _ := h.st.ListJobRuns(bg, "queue", 0, 0)
	if len(runs) != 2 {
		t.Fatalf("%d queue runs, want 2", len(runs))
	}
	if runs, _, _ := h.st.ListJobRuns(bg, "skip", 0, 0); len(runs) != 1 {
		t.Fatalf("%d skip runs, want 1", len(runs))
	}
	if m := h.metricsText(); !strings.Contains(m, `mlbox_job_runs_total{job="skip",result="skipped"} 1`) || !strings.Contains(m, `mlbox_job_runs_total{job="queue",result="queued"} 3`) {
		t.Errorf("metrics:\n%s", m)
	}
}

func TestScheduleAndMissedRuns(t *testing.T) {
	every := func(name, missed string) store.Job {
		j := shJob(name, "true")
		j.Schedule, j.MissedRuns = "* * * * * *", missed
		return j
	}
	// Jobs created while no scheduler runs: the ticks of the next seconds
	// are missed.
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []store.Job{every("catchup", store.MissedRunOnce), every("forget", store.MissedSkip)} {
		if _, err := st.CreateJob(bg, j); err != nil {
			t.Fatal(err)
		}
	}
	paused := every("paused", "")
	paused.Paused = true
	if _, err := st.CreateJob(bg, paused); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2200 * time.Millisecond)
	s, err := New(Options{Config: DefaultConfig(), Store: st, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	// Scheduled ticks follow, every second.
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, _, _ := st.ListJobRuns(bg, "catchup", 0, 0)
		if len(runs) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	defer st.Close()
	trig := func(job string) []string {
		runs, _, _ := st.ListJobRuns(bg, job, 0, 0)
		var out []string
		for i := len(runs) - 1; i >= 0; i-- {
			out = append(out, runs[i].Trigger)
		}
		return out
	}
	c, f := trig("catchup"), trig("forget")
	if len(c) < 3 || c[0] != TriggerMissed || c[1] != TriggerSchedule {
		t.Fatalf("catchup runs: %v", c)
	}
	for i, tr := range c[1:] {
		if tr != TriggerSchedule {
			t.Fatalf("catchup run %d: %s", i+2, tr)
		}
	}
	if len(f) == 0 || f[0] != TriggerSchedule {
		t.Fatalf("forget runs: %v (missed runs must be skipped)", f)
	}
	if p := trig("paused"); len(p) != 0 {
		t.Fatalf("paused job ran: %v", p)
	}
	if fmt.Sprint(s.State("catchup")) == "" {
		t.Fatal()
	}
}

func TestRetentionJob(t *testing.T) {
	zero := 0.0
	pol := &store.RetentionPolicy{Orphans: &store.OrphanRule{MinAgeHours: &zero}}
	dry := store.Job{Name: "gc-plan", Kind: store.JobRetention, Retention: pol, DryRun: true}
	apply := store.Job{Name: "gc", Kind: store.JobRetention, Retention: pol}
	h := newHarness(t, nil, dry, apply)
	orphan := "0/" + strings.Repeat("ab", 16) + "/artifacts/model.bin"
	if err := h.arts.Put(bg, orphan, strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.RunNow(bg, "gc-plan", ""); err != nil {
		t.Fatal(err)
	}
	r := h.wait(t, "gc-plan", 1)
	if r.Status != store.JobSucceeded || r.Retention == nil || r.Retention.OrphanFiles != 1 {
		t.Fatalf("dry run %+v", r)
	}
	if out := h.log(t, r); !strings.Contains(out, "dry run") || !strings.Contains(out, "delete_orphans") {
		t.Fatalf("report:\n%s", out)
	}
	if _, err := h.arts.Open(bg, orphan); err != nil {
		t.Fatal("the dry run deleted the orphan")
	}
	if _, _, err := h.s.RunNow(bg, "gc", ""); err != nil {
		t.Fatal(err)
	}
	r = h.wait(t, "gc", 1)
	if r.Status != store.JobSucceeded || r.Retention == nil || r.Retention.OrphanFiles != 1 {
		t.Fatalf("apply %+v", r)
	}
	if _, err := h.arts.Open(bg, orphan); err == nil {
		t.Fatal("the orphan survived")
	}
	log, err := h.st.ListRetentionLog(bg, 0, 0, false)
	if err != nil || len(log) != 1 || log[0].Policy != "gc" || log[0].Actor != "job:gc" {
		t.Fatalf("retention log %+v %v", log, err)
	}
	// The job logs are artifacts the orphan rule knows and keeps.
	if _, err := h.arts.Open(bg, store.JobLogPath("gc-plan", 1)); err != nil {
		t.Fatal(err)
	}
}

func TestPromotionFollowUp(t *testing.T) {
	h := newHarness(t, nil)
	st := h.st
	exp, err := st.CreateExperiment(bg, "train", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRegisteredModel(bg, "iris", "", nil, "t"); err != nil {
		t.Fatal(err)
	}
	newVersion := func(acc float64) string {
		r, err := st.CreateRun(bg, store.CreateRunRequest{ExperimentID: exp})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.LogBatch(bg, r.Info.RunID, []store.Metric{{Key: "accuracy", Value: acc, Timestamp: 1}}, nil, nil); err != nil {
			t.Fatal(err)
		}
		mv, err := st.CreateModelVersion(bg, store.CreateModelVersionRequest{Name: "iris", Source: "runs:/" + r.Info.RunID + "/model", RunID: r.Info.RunID}, "t")
		if err != nil {
			t.Fatal(err)
		}
		return mv.Version
	}
	newVersion(0.8)
	if err := st.SetRegisteredModelAlias(bg, "iris", "champion", "1", "t"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetGates(bg, "iris", []store.GateRule{{Name: "min-acc", Targets: []string{"alias:champion"}, Metric: "metrics.accuracy >= 0.9"}}, "t"); err != nil {
		t.Fatal(err)
	}
	j := shJob("retrain", gateScript())
	j.Command.Promote = &store.PromoteSpec{Model: "iris", Alias: "champion"}
	if _, err := h.s.Create(bg, j); err != nil {
		t.Fatal(err)
	}

	// Run 1 registers a version that passes the gate: the alias moves.
	runAndRegister := func(n uint64, acc float64) *store.JobRun {
		t.Helper()
		if _, _, err := h.s.RunNow(bg, "retrain", ""); err != nil {
			t.Fatal(err)
		}
		newVersion(acc) // "the command" registers while it runs
		release(t, h, "retrain")
		r := h.wait(t, "retrain", n)
		os.Remove(filepath.Join(h.dir, "work", "retrain", "go"))
		return r
	}
	r := runAndRegister(1, 0.95)
	if r.Status != store.JobSucceeded || r.Promotion == nil || r.Promotion.Status != "promoted" || r.Promotion.Version != "2" {
		t.Fatalf("run 1 %+v %+v", r, r.Promotion)
	}
	if mv, _ := st.GetModelVersionByAlias(bg, "iris", "champion"); mv.Version != "2" {
		t.Fatalf("champion is v%s", mv.Version)
	}
	// Run 2's version fails the gate: the alias stays, the run succeeds.
	r = runAndRegister(2, 0.5)
	if r.Status != store.JobSucceeded || r.Promotion == nil || r.Promotion.Status != "blocked" || !strings.Contains(r.Promotion.Message, "min-acc") {
		t.Fatalf("run 2 %+v %+v", r, r.Promotion)
	}
	if mv, _ := st.GetModelVersionByAlias(bg, "iris", "champion"); mv.Version != "2" {
		t.Fatalf("champion is v%s", mv.Version)
	}
	// Run 3 registers nothing.
	if _, _, err := h.s.RunNow(bg, "retrain", ""); err != nil {
		t.Fatal(err)
	}
	release(t, h, "retrain")
	if r := h.wait(t, "retrain", 3); r.Promotion == nil || r.Promotion.Status != "no_new_version" {
		t.Fatalf("run 3 %+v", r)
	}
}

func TestAPIOperations(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Jobs = []JobConfig{{Name: "from-file", Kind: store.JobCommand, Schedule: "@daily", Command: &store.CommandSpec{Argv: []string{"true"}}}}
	})
	if _, err := h.s.Create(bg, store.Job{Name: "bad", Kind: store.JobCommand, Schedule: "61 * * * *", Command: &store.CommandSpec{Argv: []string{"true"}}}); store.KindOf(err) != store.KindInvalid {
		t.Fatalf("bad schedule: %v", err)
	}
	if _, err := h.s.Create(bg, store.Job{Name: "badtz", Kind: store.JobCommand, Schedule: "@daily", Timezone: "Mars/Olympus", Command: &store.CommandSpec{Argv: []string{"true"}}}); store.KindOf(err) != store.KindInvalid {
		t.Fatalf("bad zone: %v", err)
	}
	j := shJob("j", "true")
	j.Schedule = "0 3 * * *"
	j.Timezone = "Europe/Paris"
	if _, err := h.s.Create(bg, j); err != nil {
		t.Fatal(err)
	}
	st := h.s.State("j")
	next := time.UnixMilli(st.NextRunAt).In(mustZone(t, "Europe/Paris"))
	if next.Hour() != 3 || next.Minute() != 0 || !next.After(time.Now()) {
		t.Fatalf("next run %s", next)
	}
	if _, err := h.s.SetPaused(bg, "j", true); err != nil || h.s.State("j").NextRunAt != 0 {
		t.Fatalf("paused: %v %+v", err, h.s.State("j"))
	}
	if _, err := h.s.SetPaused(bg, "j", false); err != nil || h.s.State("j").NextRunAt == 0 {
		t.Fatalf("resumed: %v", err)
	}
	u, err := h.s.Update(bg, "j", func(j *store.Job) error { j.Schedule = "@hourly"; return nil })
	if err != nil || u.Schedule != "@hourly" {
		t.Fatal(err)
	}
	if _, err := h.s.Update(bg, "j", func(j *store.Job) error { j.Schedule = "nope"; return nil }); store.KindOf(err) != store.KindInvalid {
		t.Fatalf("bad update: %v", err)
	}
	// Config jobs: pause and run yes, edit and delete no.
	if _, err := h.s.Update(bg, "from-file", func(j *store.Job) error { j.Description = "x"; return nil }); store.KindOf(err) != store.KindInvalid {
		t.Fatalf("edit of a config job: %v", err)
	}
	if err := h.s.Delete(bg, "from-file"); store.KindOf(err) != store.KindInvalid {
		t.Fatalf("delete of a config job: %v", err)
	}
	if _, err := h.s.SetPaused(bg, "from-file", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.RunNow(bg, "from-file", ""); err != nil {
		t.Fatal(err)
	}
	h.wait(t, "from-file", 1)

	if _, _, err := h.s.RunNow(bg, "j", ""); err != nil {
		t.Fatal(err)
	}
	h.wait(t, "j", 1)
	if err := h.s.Delete(bg, "j"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.arts.Open(bg, store.JobLogPath("j", 1)); err == nil {
		t.Fatal("logs of a deleted job remain")
	}
	if _, _, err := h.s.RunNow(bg, "j", ""); store.KindOf(err) != store.KindNotFound {
		t.Fatalf("run of a deleted job: %v", err)
	}
}

func TestAPICommandsOff(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.APICommands = false }, shJob("old", "true"))
	if _, err := h.s.Create(bg, shJob("new", "true")); store.KindOf(err) != store.KindPermission || !strings.Contains(err.Error(), "api_commands") {
		t.Fatalf("create: %v", err)
	}
	if _, err := h.s.Update(bg, "old", func(j *store.Job) error { j.Command.Argv = []string{"rm", "-rf", "/"}; return nil }); store.KindOf(err) != store.KindPermission {
		t.Fatalf("update: %v", err)
	}
	ret := store.Job{Name: "gc", Kind: store.JobRetention, Retention: &store.RetentionPolicy{Purge: &store.PurgeRule{AfterDays: 30}}}
	if _, err := h.s.Create(bg, ret); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Update(bg, "gc", func(j *store.Job) error {
		j.Kind, j.Retention, j.Command = store.JobCommand, nil, &store.CommandSpec{Argv: []string{"true"}}
		return nil
	}); store.KindOf(err) != store.KindPermission {
		t.Fatalf("retention job turned into a command: %v", err)
	}
	// Existing command jobs still pause, resume, run and delete.
	if _, err := h.s.SetPaused(bg, "old", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.RunNow(bg, "old", ""); err != nil {
		t.Fatal(err)
	}
	h.wait(t, "old", 1)
	if err := h.s.Delete(bg, "old"); err != nil {
		t.Fatal(err)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	z, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestCapture(t *testing.T) {
	c := newCapture(10)
	fmt.Fprint(c, "abc")
	if b, tr := c.Bytes(); string(b) != "abc" || tr {
		t.Fatalf("%q %v", b, tr)
	}
	fmt.Fprint(c, "defgh")
	fmt.Fprint(c, "ijklmnopqrstuvwxyz")
	b, tr := c.Bytes()
	if !tr || !strings.HasPrefix(string(b), "abcde\n[mlbox: 16 bytes of output omitted]\n") || !strings.HasSuffix(string(b), "vwxyz") {
		t.Fatalf("%q", b)
	}
	for i := 0; i < 1000; i++ {
		fmt.Fprint(c, "0123456789"[i%10:i%10+1])
	}
	if b, _ := c.Bytes(); !strings.HasSuffix(string(b), "56789") || c.Total() != 1026 {
		t.Fatalf("%q %d", b, c.Total())
	}
}

// A process that leaves the job's process group (setsid) is found by the
// run's environment tag and killed when the run ends.
func TestExitKillsEscapedProcesses(t *testing.T) {
	requireProc(t)
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("needs setsid(1)")
	}
	// the escaped process forks once more, so the tag must reach grandchildren too
	h := newHarness(t, nil, shJob("escaper", `setsid sh -c 'sleep 60 & echo $! > grandchild.pid; echo $$ > escaped.pid; wait' & while [ ! -s grandchild.pid ]; do sleep 0.05; done; exit 0`))
	if _, _, err := h.s.RunNow(bg, "escaper", ""); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(h.dir, "work", "escaper")
	escaped, grandchild := readPid(t, filepath.Join(work, "escaped.pid")), readPid(t, filepath.Join(work, "grandchild.pid"))
	if r := h.wait(t, "escaper", 1); r.Status != store.JobSucceeded {
		t.Fatalf("run %+v", r)
	}
	assertGone(t, escaped, grandchild)
}

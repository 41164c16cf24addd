package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/robfig/cron/v3"

	"mlbox/store"
	"mlbox/store/artifact"
)

// Store is what the scheduler needs from the metadata store
// (*store.Store implements it).
type Store interface {
	ListJobs(ctx context.Context) ([]store.Job, error)
	GetJob(ctx context.Context, name string) (*store.Job, error)
	CreateJob(ctx context.Context, j store.Job) (*store.Job, error)
	UpdateJob(ctx context.Context, name string, fn func(j *store.Job) error) (*store.Job, error)
	DeleteJob(ctx context.Context, name string) error
	SyncConfigJobs(ctx context.Context, jobs []store.Job) ([]string, error)
	SetJobAnchor(ctx context.Context, name string, at int64) error
	StartJobRun(ctx context.Context, r store.JobRun, keep int) (*store.JobRun, error)
	FinishJobRun(ctx context.Context, r store.JobRun) error
	InterruptStaleJobRuns(ctx context.Context, msg string) ([]store.JobRun, error)

	PlanRetention(ctx context.Context, arts artifact.Store, p store.RetentionPolicy) (*store.RetentionPlan, error)
	ApplyRetention(ctx context.Context, arts artifact.Store, p store.RetentionPolicy, actor string) (*store.RetentionPlan, error)

	GetExperimentByName(ctx context.Context, name string) (*store.Experiment, error)
	CreateExperiment(ctx context.Context, name, artifactLocation string, tags []store.Tag) (string, error)
	ListModelVersions(ctx context.Context, name string) ([]store.ModelVersion, error)
	SetRegisteredModelAlias(ctx context.Context, model, alias, version string, actor store.Actor) error
}

// Options configure New.
type Options struct {
	// Config: start from DefaultConfig; zero fields other than Enabled
	// take their defaults.
	Config    Config
	Store     Store
	Artifacts artifact.Store // job logs, retention; nil: no logs are kept
	// TrackingURI is MLFLOW_TRACKING_URI for command jobs ("http://127.0.0.1:5000").
	TrackingURI string
	// TrackingToken is MLFLOW_TRACKING_TOKEN for command jobs, when the
	// server requires one (http.auth_token).
	TrackingToken string
	// WorkDir holds the default working directories of command jobs
	// (<WorkDir>/<job>); default <tmp>/mlbox-jobs.
	WorkDir string
	Logger  *slog.Logger
	Metrics *metrics.Set // nil: a private set
	// Backup writes a backup archive of the server to w for backup jobs
	// and returns a one-line summary; nil: backup jobs fail.
	Backup func(ctx context.Context, w io.Writer, includeS3 bool) (string, error)
}

// Run triggers.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerMissed   = "missed"
)

var (
	errShutdown   = errors.New("interrupted by shutdown")
	errJobDeleted = errors.New("interrupted: the job was deleted")
	// ErrStopping is returned for triggers during shutdown.
	ErrStopping = &store.Error{Kind: store.KindUnavailable, Msg: "the scheduler is shutting down"}
)

// Scheduler fires jobs on their schedules and runs them, one run per job at
// a time. Lifecycle: New, then Run(ctx) until ctx ends; Run returns after
// every running job was stopped (process groups killed) and recorded.
type Scheduler struct {
	opts     Options
	cfg      Config
	log      *slog.Logger
	loc      *time.Location
	cron     *cron.Cron
	metrics  *metrics.Set
	runCtx   context.Context
	stopRuns context.CancelCauseFunc

	mu       sync.Mutex
	jobs     map[string]*jobState
	stopping bool
	wg       sync.WaitGroup // running job loops
}

type jobState struct {
	job     store.Job
	entry   cron.EntryID
	sched   cron.Schedule
	running bool
	current uint64
	pending *trigger
	cancel  context.CancelCauseFunc
	deleted bool
}

type trigger struct {
	kind  string
	at    time.Time // the schedule tick (zero for manual runs)
	actor string
}

// New builds a scheduler; nothing runs before Run.
func New(opts Options) (*Scheduler, error) {
	cfg := opts.Config.withDefaults()
	if probs := cfg.Validate(); len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "\n"))
	}
	loc, _ := LoadZone(cfg.Timezone)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(os.TempDir(), "mlbox-jobs")
	}
	s := &Scheduler{opts: opts, cfg: cfg, log: opts.Logger, loc: loc, metrics: opts.Metrics, jobs: map[string]*jobState{}}
	s.runCtx, s.stopRuns = context.WithCancelCause(context.Background())
	cl := cronLogger{s.log}
	s.cron = cron.New(cron.WithLocation(loc), cron.WithLogger(cl), cron.WithChain(cron.Recover(cl)))
	s.metrics.GetOrCreateGauge("mlbox_jobs_running", func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, js := range s.jobs {
			if js.running {
				n++
			}
		}
		return float64(n)
	})
	return s, nil
}

// SetTrackingURI sets MLFLOW_TRACKING_URI for command runs started from
// now on (the server knows its address only once it listens).
func (s *Scheduler) SetTrackingURI(uri string) {
	s.mu.Lock()
	s.opts.TrackingURI = uri
	s.mu.Unlock()
}

// Location is the default time zone of schedules.
func (s *Scheduler) Location() *time.Location { return s.loc }

// ValidateJob checks a job as the store does, plus its time zone and
// schedule (loc is the default zone).
func ValidateJob(j *store.Job, loc *time.Location) error {
	if err := store.ValidateJob(j); err != nil {
		return err
	}
	if j.Timezone != "" {
		z, err := LoadZone(j.Timezone)
		if err != nil {
			return store.Invalidf("job %s: %v", j.Name, err)
		}
		loc = z
	}
	if j.Schedule != "" {
		if _, err := ParseSchedule(j.Schedule, loc); err != nil {
			return store.Invalidf("job %s: %v", j.Name, err)
		}
	}
	return nil
}

func (s *Scheduler) parse(j *store.Job) (cron.Schedule, error) {
	loc := s.loc
	if j.Timezone != "" {
		z, err := LoadZone(j.Timezone)
		if err != nil {
			return nil, err
		}
		loc = z
	}
	return ParseSchedule(j.Schedule, loc)
}

// Run is Start, then Stop when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	err := s.Start(ctx)
	if err != nil {
		s.log.Error("scheduler could not start; jobs can still be run by hand", "err", err)
	}
	<-ctx.Done()
	s.Stop()
	return err
}

// Start syncs the config's jobs into the store, marks runs left "running"
// by a crash as interrupted, applies the missed-run policy and starts
// firing jobs on their schedules. Call it before serving the jobs API.
// Stop ends it: no new runs start, running ones are interrupted (their
// process groups get SIGTERM, then SIGKILL after kill_grace) and recorded.
func (s *Scheduler) Start(ctx context.Context) error {
	st := s.opts.Store
	stale, err := st.InterruptStaleJobRuns(ctx, "interrupted: the server stopped while the job was running")
	if err != nil {
		return err
	}
	for _, r := range stale {
		s.log.Warn("job run was interrupted by a server stop", "job", r.Job, "run", r.Number)
		s.count(r.Job, store.JobInterrupted)
	}
	cfgJobs := make([]store.Job, 0, len(s.cfg.Jobs))
	for _, jc := range s.cfg.Jobs {
		cfgJobs = append(cfgJobs, jc.Job())
	}
	removed, err := st.SyncConfigJobs(ctx, cfgJobs)
	if err != nil {
		return fmt.Errorf("config jobs: %w", err)
	}
	for _, name := range removed {
		s.log.Info("job removed from the config; deleted with its history", "job", name)
		s.deleteLogs(name)
	}
	jobs, err := st.ListJobs(ctx)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		s.upsert(j)
	}
	if !s.cfg.Enabled {
		s.log.Info("scheduler disabled (scheduler.enabled = false): jobs run only on demand", "jobs", len(jobs))
		return nil
	}
	now := time.Now()
	for _, j := range jobs {
		s.catchUp(ctx, j, now)
	}
	s.cron.Start()
	s.log.Info("scheduler started", "jobs", len(jobs), "timezone", s.loc.String(), "missed_runs", s.cfg.MissedRuns)
	return nil
}

// catchUp applies the missed-run policy to one job: were ticks due between
// the job's anchor and now?
func (s *Scheduler) catchUp(ctx context.Context, j store.Job, now time.Time) {
	if j.Schedule == "" || j.Paused {
		return
	}
	sched, err := s.parse(&j)
	if err != nil {
		return
	}
	anchor := time.UnixMilli(max(j.Anchor, j.CreatedAt))
	missed, last := missedTicks(sched, anchor, now)
	if missed == 0 {
		return
	}
	policy := j.MissedRuns
	if policy == "" {
		policy = s.cfg.MissedRuns
	}
	s.log.Info("job missed runs while the server was down", "job", j.Name, "missed", missed, "since", anchor.UTC().Format(time.RFC3339), "policy", policy)
	if policy == store.MissedSkip {
		if err := s.opts.Store.SetJobAnchor(ctx, j.Name, last.UnixMilli()); err != nil {
			s.log.Warn("cannot record skipped runs", "job", j.Name, "err", err)
		}
		return
	}
	if _, _, err := s.fire(ctx, j.Name, trigger{kind: TriggerMissed, at: last}); err != nil {
		s.log.Warn("cannot start missed run", "job", j.Name, "err", err)
	}
}

// maxMissedScan bounds the tick count of a long outage (a per-second
// schedule down for a week).
const maxMissedScan = 100000

// missedTicks counts the ticks in (after, now] and returns the last one
// (now when the count hit the scan limit).
func missedTicks(sched cron.Schedule, after, now time.Time) (int, time.Time) {
	n, last := 0, time.Time{}
	for t := sched.Next(after); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		n++
		last = t
		if n >= maxMissedScan {
			return n, now
		}
	}
	return n, last
}

// Stop stops firing, interrupts running jobs and waits for them to be
// recorded. It is idempotent; Run calls it when its ctx ends.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	already := s.stopping
	s.stopping = true
	s.mu.Unlock()
	if already {
		s.wg.Wait()
		return
	}
	cronDone := s.cron.Stop()
	s.stopRuns(errShutdown)
	s.wg.Wait()
	<-cronDone.Done()
	s.log.Info("scheduler stopped")
}

// upsert makes the in-memory state follow a stored job and (re)schedules it.
func (s *Scheduler) upsert(j store.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	js := s.jobs[j.Name]
	if js == nil {
		js = &jobState{}
		s.jobs[j.Name] = js
	}
	js.job = j
	if js.entry != 0 {
		s.cron.Remove(js.entry)
		js.entry, js.sched = 0, nil
	}
	if j.Schedule == "" || j.Paused || s.stopping {
		return
	}
	sched, err := s.parse(&j)
	if err != nil {
		s.log.Error("job has an invalid schedule; not scheduled", "job", j.Name, "err", err)
		return
	}
	js.sched = sched
	if !s.cfg.Enabled {
		return
	}
	name := j.Name
	js.entry = s.cron.Schedule(sched, cron.FuncJob(func() { s.tick(name) }))
}

func (s *Scheduler) tick(name string) {
	at := time.Now().Truncate(time.Second)
	if _, _, err := s.fire(context.Background(), name, trigger{kind: TriggerSchedule, at: at}); err != nil && !errors.Is(err, ErrStopping) {
		s.log.Warn("scheduled job did not start", "job", name, "err", err)
	}
}

// state returns a job's state, loading the job from the store if this
// scheduler has not seen it.
func (s *Scheduler) state(ctx context.Context, name string) (*jobState, error) {
	s.mu.Lock()
	js := s.jobs[name]
	s.mu.Unlock()
	if js != nil {
		return js, nil
	}
	j, err := s.opts.Store.GetJob(ctx, name)
	if err != nil {
		return nil, err
	}
	s.upsert(*j)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[name], nil
}

// fire starts a run of the job now, or applies its overlap policy when a
// run is in progress: queue (one pending run; more triggers coalesce) or
// skip. It returns the started run, or queued.
func (s *Scheduler) fire(ctx context.Context, name string, t trigger) (*store.JobRun, bool, error) {
	js, err := s.state(ctx, name)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil, false, ErrStopping
	}
	if js.deleted {
		s.mu.Unlock()
		return nil, false, store.NotFoundf("Job %q not found", name)
	}
	if js.running {
		job := js.job
		queue := job.Overlap == store.OverlapQueue
		if queue && js.pending == nil {
			tc := t
			js.pending = &tc
		}
		current := js.current
		s.mu.Unlock()
		if t.kind == TriggerSchedule {
			_ = s.opts.Store.SetJobAnchor(context.WithoutCancel(ctx), name, t.at.UnixMilli())
		}
		if queue {
			s.count(name, "queued")
			s.log.Info("job is running; run queued", "job", name, "running", current, "trigger", t.kind)
			return nil, true, nil
		}
		s.count(name, "skipped")
		s.log.Info("job is running; trigger skipped (overlap = skip)", "job", name, "running", current, "trigger", t.kind)
		return nil, false, store.Invalidf("Job %q is already running (run %d); its overlap policy is %q", name, current, store.OverlapSkip)
	}
	js.running = true
	job := js.job
	s.wg.Add(1)
	s.mu.Unlock()

	run, err := s.startRun(ctx, js, job, t)
	if err != nil {
		s.mu.Lock()
		js.running = false
		s.mu.Unlock()
		s.wg.Done()
		return nil, false, err
	}
	r := *run.JobRun
	go s.loop(js, job, run)
	return &r, false, nil
}

// startedRun is a run record plus what the run needs from its start.
type startedRun struct {
	*store.JobRun
	// base is the newest version of the promote model when the run
	// started; versions above it were registered by the run.
	base int64
}

func (s *Scheduler) startRun(ctx context.Context, js *jobState, job store.Job, t trigger) (startedRun, error) {
	r := store.JobRun{Job: job.Name, Trigger: t.kind, Actor: t.actor}
	if !t.at.IsZero() {
		r.ScheduledAt = t.at.UnixMilli()
	}
	ctx = context.WithoutCancel(ctx)
	var base int64
	if job.Kind == store.JobCommand && job.Command.Promote != nil {
		base = s.newestVersion(ctx, job.Command.Promote.Model)
	}
	run, err := s.opts.Store.StartJobRun(ctx, r, s.cfg.HistoryLimit)
	if err != nil {
		return startedRun{}, err
	}
	s.mu.Lock()
	js.current = run.Number
	s.mu.Unlock()
	return startedRun{run, base}, nil
}

// loop executes a run, then the queued one if any, until none is pending.
func (s *Scheduler) loop(js *jobState, job store.Job, run startedRun) {
	defer s.wg.Done()
	for {
		s.execute(js, job, run)
		s.mu.Lock()
		if js.pending == nil || s.stopping || js.deleted {
			js.running, js.pending, js.cancel, js.current = false, nil, nil, 0
			s.mu.Unlock()
			return
		}
		t := *js.pending
		js.pending = nil
		job = js.job
		s.mu.Unlock()
		var err error
		if run, err = s.startRun(context.Background(), js, job, trigger{kind: "queued", at: t.at, actor: t.actor}); err != nil {
			s.log.Warn("queued job did not start", "job", job.Name, "err", err)
			s.mu.Lock()
			js.running, js.cancel, js.current = false, nil, 0
			s.mu.Unlock()
			return
		}
	}
}

// execute runs one job run to its end and records it.
func (s *Scheduler) execute(js *jobState, job store.Job, sr startedRun) {
	run := sr.JobRun
	ctx, cancel := context.WithCancelCause(s.runCtx)
	defer cancel(nil)
	s.mu.Lock()
	js.cancel = cancel
	s.mu.Unlock()
	s.log.Info("job started", "job", job.Name, "run", run.Number, "trigger", run.Trigger)
	out := newCapture(s.cfg.MaxOutputBytes)
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != nil {
				run.Status, run.Error = store.JobFailed, fmt.Sprintf("internal error: %v", r)
				s.log.Error("job panicked", "job", job.Name, "run", run.Number, "panic", r, "stack", string(debug.Stack()))
			}
		}()
		switch job.Kind {
		case store.JobRetention:
			s.execRetention(ctx, job, run, out)
		case store.JobCommand:
			s.execCommand(ctx, job, run, sr.base, out)
		case store.JobBackup:
			s.execBackup(ctx, job, run, out)
		default:
			run.Status, run.Error = store.JobFailed, "unknown job kind "+job.Kind
		}
	}()
	d := time.Since(start)
	run.EndedAt = time.Now().UnixMilli()
	run.DurationMs = max(d.Milliseconds(), 1)
	s.saveLog(job.Name, run, out)
	// The metrics move before the run is recorded finished, so whoever sees
	// the finished run (the API, a test waiting on it) also sees it counted.
	s.count(job.Name, run.Status)
	s.metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`mlbox_job_duration_seconds{job=%q}`, job.Name)).Update(d.Seconds())
	switch run.Status {
	case store.JobSucceeded:
		s.metrics.GetOrCreateGauge(fmt.Sprintf(`mlbox_job_last_success_timestamp_seconds{job=%q}`, job.Name), nil).Set(float64(time.Now().Unix()))
	case store.JobFailed, store.JobTimedOut:
		s.metrics.GetOrCreateCounter(fmt.Sprintf(`mlbox_job_failures_total{job=%q}`, job.Name)).Inc()
	}
	bg := context.WithoutCancel(ctx)
	if err := s.opts.Store.FinishJobRun(bg, *run); err != nil {
		s.log.Warn("cannot record job run", "job", job.Name, "run", run.Number, "err", err)
	}
	switch run.Status {
	case store.JobSucceeded:
		s.log.Info("job succeeded", "job", job.Name, "run", run.Number, "duration", d.Round(time.Millisecond).String())
	case store.JobFailed, store.JobTimedOut:
		s.log.Warn("job failed", "job", job.Name, "run", run.Number, "status", run.Status, "err", run.Error, "duration", d.Round(time.Millisecond).String())
	default:
		s.log.Warn("job interrupted", "job", job.Name, "run", run.Number, "err", run.Error)
	}
}

func (s *Scheduler) count(job, result string) {
	s.metrics.GetOrCreateCounter(fmt.Sprintf(`mlbox_job_runs_total{job=%q,result=%q}`, job, result)).Inc()
}

// interruptedStatus classifies a run whose context ended.
func interruptedStatus(ctx context.Context) (string, string) {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = ctx.Err()
	}
	return store.JobInterrupted, cause.Error()
}

// saveLog uploads the captured output as the run's log artifact.
func (s *Scheduler) saveLog(job string, run *store.JobRun, out *capture) {
	if s.opts.Artifacts == nil || out.Total() == 0 {
		return
	}
	data, truncated := out.Bytes()
	p := store.JobLogPath(job, run.Number)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.opts.Artifacts.Put(ctx, p, bytes.NewReader(data), int64(len(data))); err != nil {
		s.log.Warn("cannot store job log", "job", job, "run", run.Number, "err", err)
		return
	}
	run.LogPath, run.LogBytes, run.LogTruncated = p, int64(len(data)), truncated
}

func (s *Scheduler) deleteLogs(job string) {
	if s.opts.Artifacts == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.opts.Artifacts.Delete(ctx, store.JobLogDir(job)); err != nil {
		s.log.Warn("cannot delete job logs (the orphan rule will)", "job", job, "err", err)
	}
}

func (s *Scheduler) execRetention(ctx context.Context, job store.Job, run *store.JobRun, out *capture) {
	pol := *job.Retention
	if pol.Name == "" {
		pol.Name = job.Name
	}
	var (
		plan *store.RetentionPlan
		err  error
	)
	if job.DryRun {
		plan, err = s.opts.Store.PlanRetention(ctx, s.opts.Artifacts, pol)
	} else {
		plan, err = s.opts.Store.ApplyRetention(ctx, s.opts.Artifacts, pol, "job:"+job.Name)
	}
	if plan != nil {
		WriteReport(out, plan)
		sum := plan.Summary
		run.Retention = &sum
	}
	switch {
	case ctx.Err() != nil:
		run.Status, run.Error = interruptedStatus(ctx)
	case err != nil:
		run.Status, run.Error = store.JobFailed, err.Error()
		fmt.Fprintf(out, "error: %v\n", err)
	case plan.Summary.Errors > 0:
		run.Status, run.Error = store.JobFailed, fmt.Sprintf("%d retention actions failed (see the log)", plan.Summary.Errors)
	default:
		run.Status = store.JobSucceeded
	}
}

// WriteReport writes a retention plan (or apply outcome) as text.
func WriteReport(w interface{ Write([]byte) (int, error) }, p *store.RetentionPlan) {
	mode := "applied"
	if p.DryRun {
		mode = "dry run"
	}
	name := p.Policy
	if name == "" {
		name = "(inline)"
	}
	fmt.Fprintf(w, "retention policy %s, %s at %s\n", name, mode, time.UnixMilli(p.At).UTC().Format(time.RFC3339))
	sm := p.Summary
	fmt.Fprintf(w, "  runs deleted %d, versions archived %d, runs purged %d, logged models purged %d, experiments purged %d, orphan files %d (%d bytes), kept %d",
		sm.RunsDeleted, sm.VersionsArchived, sm.RunsPurged, sm.LoggedModelsPurged, sm.ExperimentsPurged, sm.OrphanFiles, sm.OrphanBytes, sm.Kept)
	if !p.DryRun {
		fmt.Fprintf(w, ", skipped %d, errors %d", sm.Skipped, sm.Errors)
	}
	fmt.Fprintln(w)
	if p.LogSeq != 0 {
		fmt.Fprintf(w, "  retention log record %d\n", p.LogSeq)
	}
	line := func(prefix string, a store.RetentionAction) {
		var parts []string
		add := func(k, v string) {
			if v != "" {
				parts = append(parts, k+"="+v)
			}
		}
		add("experiment", a.ExperimentID)
		add("run", a.RunID)
		add("model", a.Model)
		add("version", a.Version)
		add("logged_model", a.ModelID)
		add("path", a.Path)
		if len(a.Paths) > 0 {
			add("files", strings.Join(a.Paths, ","))
		} else if a.Files > 0 {
			add("files", strconv.Itoa(a.Files))
		}
		if a.Bytes > 0 {
			add("bytes", strconv.FormatInt(a.Bytes, 10))
		}
		res := ""
		if a.Result != "" {
			res = " -> " + a.Result
		}
		fmt.Fprintf(w, "%s%-18s %s (%s)%s\n", prefix, a.Action, strings.Join(parts, " "), a.Reason, res)
	}
	for _, a := range p.Actions {
		line("  ", a)
	}
	for _, a := range p.Kept {
		line("  keep ", a)
	}
}

func (s *Scheduler) execCommand(ctx context.Context, job store.Job, run *store.JobRun, before int64, out *capture) {
	spec := job.Command
	timeout := time.Duration(spec.Timeout)
	if timeout <= 0 {
		timeout = s.cfg.DefaultTimeout
	}
	dir := spec.Dir
	if dir == "" {
		dir = filepath.Join(s.opts.WorkDir, job.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			run.Status, run.Error = store.JobFailed, "working directory: "+err.Error()
			return
		}
	}
	expName := spec.Experiment
	if expName == "" {
		expName = job.Name
	}
	if err := s.ensureExperiment(ctx, expName); err != nil {
		run.Status, run.Error = store.JobFailed, err.Error()
		fmt.Fprintf(out, "[mlbox] %v\n", err)
		return
	}
	env := s.commandEnv(job, run, expName)
	fmt.Fprintf(out, "[mlbox] job %s run %d: %s\n[mlbox] dir %s, timeout %s, experiment %q\n", job.Name, run.Number, quoteArgv(spec.Argv), dir, timeout, expName)
	tctx, tcancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	code, err := runProcess(tctx, spec.Argv, dir, env, out, s.cfg.KillGrace)
	tcancel()
	var se *startError
	if !errors.As(err, &se) {
		c := code
		run.ExitCode = &c
	}
	fmt.Fprintf(out, "[mlbox] exit code %d after %s\n", code, time.Since(start).Round(time.Millisecond))
	switch {
	case ctx.Err() != nil:
		run.Status, run.Error = interruptedStatus(ctx)
		run.Error += "; process group killed"
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		run.Status, run.Error = store.JobTimedOut, fmt.Sprintf("timed out after %s; process group killed", timeout)
	case se != nil:
		run.Status, run.Error = store.JobFailed, se.Error()
	case err != nil || code != 0:
		run.Status, run.Error = store.JobFailed, fmt.Sprintf("exit status %d", code)
		if err != nil && code < 0 {
			run.Error = err.Error()
		}
	default:
		run.Status = store.JobSucceeded
	}
	if run.Status != store.JobSucceeded {
		fmt.Fprintf(out, "[mlbox] %s: %s\n", run.Status, run.Error)
		return
	}
	if spec.Promote != nil {
		run.Promotion = s.promote(ctx, job, before)
		fmt.Fprintf(out, "[mlbox] promotion of %s@%s: %s %s %s\n", run.Promotion.Model, run.Promotion.Alias, run.Promotion.Status, run.Promotion.Version, run.Promotion.Message)
		if run.Promotion.Status == "error" {
			run.Status, run.Error = store.JobFailed, "promotion: "+run.Promotion.Message
		}
	}
}

// startError is a command that could not be started.
type startError struct{ err error }

func (e *startError) Error() string { return "cannot start the command: " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// commandEnv is the command's environment: the server's, without MLBOX_*
// (configuration and secrets) and MLFLOW_* variables, plus
// MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME, MLBOX_JOB_NAME and
// MLBOX_JOB_RUN, plus the job's env (which wins).
func (s *Scheduler) commandEnv(job store.Job, run *store.JobRun, expName string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MLBOX_") || strings.HasPrefix(k, "MLFLOW_") {
			continue
		}
		env = append(env, kv)
	}
	set := map[string]string{
		"MLFLOW_EXPERIMENT_NAME": expName,
		"MLBOX_JOB_NAME":         job.Name,
		"MLBOX_JOB_RUN":          strconv.FormatUint(run.Number, 10),
	}
	s.mu.Lock()
	uri, token := s.opts.TrackingURI, s.opts.TrackingToken
	s.mu.Unlock()
	if uri != "" {
		set["MLFLOW_TRACKING_URI"] = uri
	}
	if token != "" {
		set["MLFLOW_TRACKING_TOKEN"] = token
	}
	for k, v := range job.Command.Env {
		set[k] = v
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+set[k])
	}
	return env
}

// ensureExperiment creates the command's experiment if needed, so that
// MLFLOW_EXPERIMENT_NAME resolves (the client falls back to the Default
// experiment for a name that does not exist).
func (s *Scheduler) ensureExperiment(ctx context.Context, name string) error {
	e, err := s.opts.Store.GetExperimentByName(ctx, name)
	if err == nil {
		if e.LifecycleStage != store.StageActive {
			return fmt.Errorf("experiment %q is deleted; restore it or set command.experiment", name)
		}
		return nil
	}
	if store.KindOf(err) != store.KindNotFound {
		return err
	}
	if _, err := s.opts.Store.CreateExperiment(ctx, name, "", nil); err != nil && store.KindOf(err) != store.KindExists {
		return fmt.Errorf("create experiment %q: %w", name, err)
	}
	return nil
}

func (s *Scheduler) newestVersion(ctx context.Context, model string) int64 {
	vs, err := s.opts.Store.ListModelVersions(ctx, model)
	if err != nil {
		return 0
	}
	var n int64
	for _, v := range vs {
		x, _ := strconv.ParseInt(v.Version, 10, 64)
		n = max(n, x)
	}
	return n
}

// promote moves the job's alias to the newest version registered during
// the run (numbered above before), through the model's promotion gates.
func (s *Scheduler) promote(ctx context.Context, job store.Job, before int64) *store.PromotionResult {
	p := job.Command.Promote
	res := &store.PromotionResult{Model: p.Model, Alias: p.Alias}
	after := s.newestVersion(ctx, p.Model)
	if after <= before {
		res.Status, res.Message = "no_new_version", fmt.Sprintf("the run registered no new version of %s", p.Model)
		return res
	}
	res.Version = strconv.FormatInt(after, 10)
	err := s.opts.Store.SetRegisteredModelAlias(context.WithoutCancel(ctx), p.Model, p.Alias, res.Version, "job:"+job.Name)
	switch k := store.KindOf(err); {
	case err == nil:
		res.Status = "promoted"
	case k == store.KindPermission || k == store.KindInvalid:
		res.Status, res.Message = "blocked", err.Error()
	default:
		res.Status, res.Message = "error", err.Error()
	}
	return res
}

// ---- API operations ----

// JobState is a job's live state.
type JobState struct {
	Running    bool   `json:"running"`
	CurrentRun uint64 `json:"current_run,omitempty"`
	Queued     bool   `json:"queued,omitempty"`
	// NextRunAt (unix ms) is the next tick; 0 when not scheduled.
	NextRunAt int64 `json:"next_run_at,omitempty"`
}

// State returns a job's live state.
func (s *Scheduler) State(name string) JobState {
	s.mu.Lock()
	defer s.mu.Unlock()
	js := s.jobs[name]
	if js == nil {
		return JobState{}
	}
	st := JobState{Running: js.running, CurrentRun: js.current, Queued: js.pending != nil}
	if js.sched != nil && s.cfg.Enabled && !s.stopping {
		st.NextRunAt = js.sched.Next(time.Now()).UnixMilli()
	}
	return st
}

// errAPICommands refuses command jobs through the API unless allowed.
func errAPICommands(name string) error {
	return store.Permissionf("Job %q: command jobs cannot be created or changed through the API (they run programs as the server's user); define it in config.toml, or set scheduler.api_commands = true", name)
}

// Create stores a new job (source api) and schedules it.
func (s *Scheduler) Create(ctx context.Context, j store.Job) (*store.Job, error) {
	j.Source = store.JobSourceAPI
	if err := ValidateJob(&j, s.loc); err != nil {
		return nil, err
	}
	if j.Kind == store.JobCommand && !s.cfg.APICommands {
		return nil, errAPICommands(j.Name)
	}
	out, err := s.opts.Store.CreateJob(ctx, j)
	if err != nil {
		return nil, err
	}
	s.upsert(*out)
	return out, nil
}

// errConfigJob refuses edits of jobs defined in config.toml.
func errConfigJob(name string) error {
	return store.Invalidf("Job %q is defined in config.toml: change it there (through the API it can be paused, resumed and run)", name)
}

// Update changes an API job with fn (which may run more than once) and
// reschedules it. A run in progress keeps the definition it started with.
func (s *Scheduler) Update(ctx context.Context, name string, fn func(j *store.Job) error) (*store.Job, error) {
	out, err := s.opts.Store.UpdateJob(ctx, name, func(j *store.Job) error {
		if j.Source == store.JobSourceConfig {
			return errConfigJob(name)
		}
		wasCommand := j.Kind == store.JobCommand
		if err := fn(j); err != nil {
			return err
		}
		if (wasCommand || j.Kind == store.JobCommand) && !s.cfg.APICommands {
			return errAPICommands(name)
		}
		return ValidateJob(j, s.loc)
	})
	if err != nil {
		return nil, err
	}
	s.upsert(*out)
	return out, nil
}

// SetPaused pauses (no scheduled runs; manual runs still work) or resumes
// a job. Resuming does not catch up on ticks missed while paused.
func (s *Scheduler) SetPaused(ctx context.Context, name string, paused bool) (*store.Job, error) {
	out, err := s.opts.Store.UpdateJob(ctx, name, func(j *store.Job) error {
		j.Paused = paused
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.upsert(*out)
	return out, nil
}

// Delete deletes an API job with its history and logs; a run in progress
// is interrupted.
func (s *Scheduler) Delete(ctx context.Context, name string) error {
	j, err := s.opts.Store.GetJob(ctx, name)
	if err != nil {
		return err
	}
	if j.Source == store.JobSourceConfig {
		return errConfigJob(name)
	}
	if err := s.opts.Store.DeleteJob(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	if js := s.jobs[name]; js != nil {
		js.deleted, js.pending = true, nil
		if js.entry != 0 {
			s.cron.Remove(js.entry)
		}
		if js.cancel != nil {
			js.cancel(errJobDeleted)
		}
		delete(s.jobs, name)
	}
	s.mu.Unlock()
	s.deleteLogs(name)
	return nil
}

// RunNow starts a run now. While a run is in progress, a job with overlap
// "queue" queues one (queued is true, run nil); with "skip" it is an error.
func (s *Scheduler) RunNow(ctx context.Context, name, actor string) (run *store.JobRun, queued bool, err error) {
	return s.fire(ctx, name, trigger{kind: TriggerManual, actor: actor})
}

// cronLogger adapts slog to robfig/cron's logger (its info is debug here).
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

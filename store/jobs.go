package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Scheduler jobs and their run history (bktJobs, bktJobRuns). The store
// keeps the records; cron parsing, execution and policies live in
// scheduler/ (which validates a job's schedule before it is stored).

// Job kinds.
const (
	// JobRetention applies (or, with DryRun, plans) a RetentionPolicy.
	JobRetention = "retention"
	// JobCommand runs a command (retraining), see CommandSpec.
	JobCommand = "command"
	// JobBackup writes a backup archive (metadata and artifacts) into a
	// directory and keeps the newest N there.
	JobBackup = "backup"
)

// Overlap policies: what a trigger does while the job is still running.
const (
	OverlapSkip  = "skip"  // drop the trigger (counted in metrics)
	OverlapQueue = "queue" // run once more after the current run (triggers coalesce: at most one waits)
)

// Missed-run policies: what happens at startup to ticks missed while the
// server was down.
const (
	MissedSkip    = "skip"     // forget them; wait for the next tick
	MissedRunOnce = "run_once" // run once at startup, however many were missed
)

// Job run statuses.
const (
	JobRunning     = "running"
	JobSucceeded   = "succeeded"
	JobFailed      = "failed"
	JobTimedOut    = "timed_out"
	JobInterrupted = "interrupted" // stopped by shutdown, or found running after a crash
)

// Job sources.
const (
	JobSourceAPI    = "api"
	JobSourceConfig = "config"
)

// Job is a scheduled (or manual-only) job.
type Job struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description,omitempty"`
	// Schedule is a cron spec (optional seconds field, descriptors such as
	// @daily, @every 1h); empty means the job only runs on demand.
	Schedule string `json:"schedule,omitempty"`
	// Timezone is an IANA zone for Schedule; empty means the scheduler's.
	Timezone string `json:"timezone,omitempty"`
	// Overlap is OverlapSkip (default) or OverlapQueue.
	Overlap string `json:"overlap,omitempty"`
	// MissedRuns is MissedSkip or MissedRunOnce; empty means the scheduler's.
	MissedRuns string `json:"missed_runs,omitempty"`
	Paused     bool   `json:"paused,omitempty"`

	// Retention is the policy of a JobRetention job; DryRun only plans.
	Retention *RetentionPolicy `json:"retention,omitempty"`
	DryRun    bool             `json:"dry_run,omitempty"`
	// Command is the spec of a JobCommand job.
	Command *CommandSpec `json:"command,omitempty"`
	// Backup is the spec of a JobBackup job.
	Backup *BackupSpec `json:"backup,omitempty"`

	// Maintained by the store and the scheduler; ignored on input.
	Source    string `json:"source,omitempty"`
	CreatedAt int64  `json:"created_at,omitempty"` // unix ms
	UpdatedAt int64  `json:"updated_at,omitempty"`
	// Anchor (unix ms): schedule ticks at or before it have been handled.
	// It is the last tick that fired, or when the schedule last changed;
	// the missed-run check at startup looks for ticks after it.
	Anchor  int64  `json:"anchor,omitempty"`
	LastRun uint64 `json:"last_run,omitempty"` // number of the newest run
}

// CommandSpec is what a command job runs.
type CommandSpec struct {
	Argv []string          `json:"argv"`
	Dir  string            `json:"dir,omitempty"` // default: <data_dir>/jobs/<name>
	Env  map[string]string `json:"env,omitempty"`
	// Timeout bounds a run; 0 means the scheduler's default (1h).
	Timeout Duration `json:"timeout,omitempty"`
	// Experiment is MLFLOW_EXPERIMENT_NAME for the command (created if
	// missing); default: the job's name.
	Experiment string `json:"experiment,omitempty"`
	// Promote, if set, moves an alias to the newest version of a model that
	// the run registered, through the promotion gates.
	Promote *PromoteSpec `json:"promote,omitempty"`
}

// BackupSpec is what a backup job writes.
type BackupSpec struct {
	// Dir is the (absolute) directory the archives go to, made if missing.
	Dir string `json:"dir"`
	// Keep is how many of this job's archives stay in Dir (the newest);
	// 0 means DefaultBackupKeep.
	Keep int `json:"keep,omitempty"`
	// IncludeS3 copies the S3 artifact objects too (else they are listed).
	IncludeS3 bool `json:"include_s3,omitempty"`
}

// DefaultBackupKeep is a backup job's default Keep.
const DefaultBackupKeep = 7

func (b *BackupSpec) validate(job string) error {
	if b == nil {
		return Invalidf("job %s: a backup job needs 'backup': {\"dir\": ..., \"keep\": N}", job)
	}
	if b.Dir == "" || !filepath.IsAbs(b.Dir) {
		return Invalidf("job %s: backup.dir must be an absolute directory (got %q)", job, b.Dir)
	}
	if b.Keep < 0 || b.Keep > 10000 {
		return Invalidf("job %s: backup.keep must be between 1 and 10000, or 0 for %d (got %d)", job, DefaultBackupKeep, b.Keep)
	}
	return nil
}

// PromoteSpec is a command job's follow-up.
type PromoteSpec struct {
	Model string `json:"model"`
	Alias string `json:"alias"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("90s", "1h30m"); a JSON number is taken as seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "1h30m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return Invalidf("invalid duration %q (use a Go duration such as \"90s\" or \"1h30m\")", s)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f > 1e9 {
		return Invalidf("invalid duration %s (use a string such as \"90s\" or a number of seconds)", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// JobRun is one execution of a job.
type JobRun struct {
	Job         string `json:"job"`
	Number      uint64 `json:"number"`  // 1, 2, ... per job
	Trigger     string `json:"trigger"` // schedule | manual | missed | queued
	Actor       string `json:"actor,omitempty"`
	Status      string `json:"status"`
	ScheduledAt int64  `json:"scheduled_at,omitempty"` // unix ms of the tick
	StartedAt   int64  `json:"started_at"`
	EndedAt     int64  `json:"ended_at,omitempty"`
	DurationMs  int64  `json:"duration_ms,omitempty"`
	ExitCode    *int   `json:"exit_code,omitempty"`
	Error       string `json:"error,omitempty"`
	// LogPath is the artifact path of the captured output (stdout and
	// stderr interleaved, or the retention report).
	LogPath      string `json:"log_path,omitempty"`
	LogBytes     int64  `json:"log_bytes,omitempty"`
	LogTruncated bool   `json:"log_truncated,omitempty"`
	// Retention: what the run planned or applied.
	Retention *RetentionSummary `json:"retention,omitempty"`
	// Promotion: the follow-up of a command job.
	Promotion *PromotionResult `json:"promotion,omitempty"`
}

// PromotionResult records a command job's follow-up alias move.
type PromotionResult struct {
	Model   string `json:"model"`
	Alias   string `json:"alias"`
	Version string `json:"version,omitempty"`
	// Status: promoted | blocked (by a gate) | no_new_version | error
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// JobRunStats aggregates a job's retained history.
type JobRunStats struct {
	Runs          int   `json:"runs"`
	Succeeded     int   `json:"succeeded"`
	Failures      int   `json:"failures"` // failed + timed_out
	Interrupted   int   `json:"interrupted"`
	Running       int   `json:"running"`
	TotalMs       int64 `json:"total_duration_ms"`
	MeanMs        int64 `json:"mean_duration_ms"`
	MaxMs         int64 `json:"max_duration_ms"`
	LastSuccessAt int64 `json:"last_success_at,omitempty"`
	LastFailureAt int64 `json:"last_failure_at,omitempty"`
}

var reJobName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// ValidateJobName checks a job name: 1-100 characters from [A-Za-z0-9_.-],
// starting with a letter or digit (it is used in URLs and artifact paths).
func ValidateJobName(name string) error {
	if !reJobName.MatchString(name) {
		return Invalidf("Invalid job name %q: use 1-100 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit", name)
	}
	return nil
}

// ValidateJob checks a job's fields and fills in the default overlap
// policy. Schedules and time zones are checked by the scheduler (which
// parses them) before a job reaches the store.
func ValidateJob(j *Job) error {
	if err := ValidateJobName(j.Name); err != nil {
		return err
	}
	switch j.Overlap {
	case "":
		j.Overlap = OverlapSkip
	case OverlapSkip, OverlapQueue:
	default:
		return Invalidf("job %s: overlap must be %q or %q (got %q)", j.Name, OverlapSkip, OverlapQueue, j.Overlap)
	}
	switch j.MissedRuns {
	case "", MissedSkip, MissedRunOnce:
	default:
		return Invalidf("job %s: missed_runs must be %q or %q (got %q)", j.Name, MissedSkip, MissedRunOnce, j.MissedRuns)
	}
	switch j.Kind {
	case JobRetention:
		if j.Command != nil || j.Backup != nil {
			return Invalidf("job %s: a retention job has no 'command' or 'backup'", j.Name)
		}
		if j.Retention == nil {
			return Invalidf("job %s: a retention job needs a 'retention' policy", j.Name)
		}
		if err := j.Retention.Validate(); err != nil {
			return Invalidf("job %s: %s", j.Name, err.Error())
		}
	case JobCommand:
		if j.Retention != nil || j.DryRun || j.Backup != nil {
			return Invalidf("job %s: a command job has no 'retention', 'dry_run' or 'backup'", j.Name)
		}
		if err := j.Command.validate(j.Name); err != nil {
			return err
		}
	case JobBackup:
		if j.Retention != nil || j.DryRun || j.Command != nil {
			return Invalidf("job %s: a backup job has no 'retention', 'dry_run' or 'command'", j.Name)
		}
		if err := j.Backup.validate(j.Name); err != nil {
			return err
		}
	default:
		return Invalidf("job %s: kind must be %q, %q or %q (got %q)", j.Name, JobRetention, JobCommand, JobBackup, j.Kind)
	}
	return nil
}

func (c *CommandSpec) validate(job string) error {
	if c == nil || len(c.Argv) == 0 || c.Argv[0] == "" {
		return Invalidf("job %s: a command job needs 'command.argv' (the program and its arguments)", job)
	}
	for _, a := range c.Argv {
		if strings.ContainsRune(a, 0) {
			return Invalidf("job %s: command.argv contains a NUL byte", job)
		}
	}
	for k, v := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return Invalidf("job %s: invalid environment variable %q", job, k)
		}
	}
	if c.Timeout < 0 {
		return Invalidf("job %s: command.timeout must not be negative", job)
	}
	if c.Promote != nil {
		if c.Promote.Model == "" {
			return Invalidf("job %s: command.promote.model is required", job)
		}
		if err := validateAlias(c.Promote.Alias); err != nil {
			return Invalidf("job %s: command.promote.alias: %s", job, err.Error())
		}
	}
	return nil
}

func getJobTx(tx *bolt.Tx, name string) (*Job, error) {
	v := tx.Bucket(bktJobs).Get([]byte(name))
	if v == nil {
		return nil, NotFoundf("Job %q not found", name)
	}
	var j Job
	if err := json.Unmarshal(v, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

func putJobTx(tx *bolt.Tx, j *Job) error {
	v, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return tx.Bucket(bktJobs).Put([]byte(j.Name), v)
}

func jobRunKey(name string, n uint64) []byte {
	return binary.BigEndian.AppendUint64(namePrefix(name), n)
}

// CreateJob stores a new job (source "api" unless set to "config").
func (s *Store) CreateJob(ctx context.Context, j Job) (*Job, error) {
	if err := ValidateJob(&j); err != nil {
		return nil, err
	}
	if j.Source != JobSourceConfig {
		j.Source = JobSourceAPI
	}
	now := time.Now().UnixMilli()
	j.CreatedAt, j.UpdatedAt, j.Anchor, j.LastRun = now, now, now, 0
	err := s.update(ctx, func(tx *wtx) error {
		if tx.Bucket(bktJobs).Get([]byte(j.Name)) != nil {
			return Existsf("Job %q already exists", j.Name)
		}
		return putJobTx(tx.Tx, &j)
	})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// GetJob returns a job.
func (s *Store) GetJob(ctx context.Context, name string) (*Job, error) {
	var j *Job
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		j, err = getJobTx(tx, name)
		return err
	})
	return j, err
}

// ListJobs returns every job, by name.
func (s *Store) ListJobs(ctx context.Context) ([]Job, error) {
	var out []Job
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bktJobs).ForEach(func(_, v []byte) error {
			var j Job
			if err := json.Unmarshal(v, &j); err != nil {
				return err
			}
			out = append(out, j)
			return nil
		})
	})
	return out, err
}

// UpdateJob changes a job with fn and validates the result. fn may run
// more than once (group commit) and must be deterministic. Name, source,
// creation time and run counter cannot be changed. When the schedule or
// time zone changes, the anchor moves to now, so the change does not look
// like missed runs.
func (s *Store) UpdateJob(ctx context.Context, name string, fn func(j *Job) error) (*Job, error) {
	var out *Job
	now := time.Now().UnixMilli()
	err := s.update(ctx, func(tx *wtx) error {
		old, err := getJobTx(tx.Tx, name)
		if err != nil {
			return err
		}
		j := cloneJob(old)
		if err := fn(j); err != nil {
			return err
		}
		j.Name, j.Source, j.CreatedAt, j.LastRun = old.Name, old.Source, old.CreatedAt, old.LastRun
		if err := ValidateJob(j); err != nil {
			return err
		}
		if j.Schedule != old.Schedule || j.Timezone != old.Timezone || (old.Paused && !j.Paused) {
			j.Anchor = now
		}
		j.UpdatedAt = now
		if err := putJobTx(tx.Tx, j); err != nil {
			return err
		}
		out = j
		return nil
	})
	return out, err
}

// cloneJob deep-copies a job through JSON (jobs are small).
func cloneJob(j *Job) *Job {
	b, _ := json.Marshal(j)
	var c Job
	_ = json.Unmarshal(b, &c)
	return &c
}

// SetJobAnchor records that schedule ticks up to at (unix ms) are handled.
// The anchor never moves back.
func (s *Store) SetJobAnchor(ctx context.Context, name string, at int64) error {
	return s.update(ctx, func(tx *wtx) error {
		j, err := getJobTx(tx.Tx, name)
		if err != nil {
			return err
		}
		if at <= j.Anchor {
			return nil
		}
		j.Anchor = at
		return putJobTx(tx.Tx, j)
	})
}

// DeleteJob deletes a job and its run history (the scheduler deletes the
// logs; the orphan collector would find them too).
func (s *Store) DeleteJob(ctx context.Context, name string) error {
	return s.update(ctx, func(tx *wtx) error {
		if _, err := getJobTx(tx.Tx, name); err != nil {
			return err
		}
		if err := tx.Bucket(bktJobs).Delete([]byte(name)); err != nil {
			return err
		}
		return deletePrefix(tx.Bucket(bktJobRuns), namePrefix(name))
	})
}

func deletePrefix(b *bolt.Bucket, p []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// SyncConfigJobs makes the config-defined jobs in the store match jobs:
// new ones are created, existing ones updated (keeping their pause state,
// anchor and history), and config jobs no longer listed are deleted with
// their history. A job created through the API under the same name is
// replaced by the config's. It returns the names of the deleted jobs.
func (s *Store) SyncConfigJobs(ctx context.Context, jobs []Job) ([]string, error) {
	seen := map[string]bool{}
	for i := range jobs {
		if err := ValidateJob(&jobs[i]); err != nil {
			return nil, err
		}
		if seen[jobs[i].Name] {
			return nil, Invalidf("job %q is defined twice", jobs[i].Name)
		}
		seen[jobs[i].Name] = true
	}
	now := time.Now().UnixMilli()
	var removed []string
	err := s.update(ctx, func(tx *wtx) error {
		removed = nil
		for _, j := range jobs {
			j.Source = JobSourceConfig
			old, err := getJobTx(tx.Tx, j.Name)
			switch {
			case KindOf(err) == KindNotFound:
				j.CreatedAt, j.UpdatedAt, j.Anchor, j.LastRun = now, now, now, 0
			case err != nil:
				return err
			default:
				j.CreatedAt, j.LastRun, j.Anchor, j.UpdatedAt = old.CreatedAt, old.LastRun, old.Anchor, old.UpdatedAt
				if old.Source == JobSourceConfig {
					j.Paused = old.Paused // pause/resume through the API survives restarts
				}
				if j.Schedule != old.Schedule || j.Timezone != old.Timezone {
					j.Anchor = now
				}
				if !jobConfigEqual(old, &j) {
					j.UpdatedAt = now
				}
			}
			if err := putJobTx(tx.Tx, &j); err != nil {
				return err
			}
		}
		var stale []string
		err := tx.Bucket(bktJobs).ForEach(func(k, v []byte) error {
			var j Job
			if json.Unmarshal(v, &j) == nil && j.Source == JobSourceConfig && !seen[j.Name] {
				stale = append(stale, j.Name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range stale {
			if err := tx.Bucket(bktJobs).Delete([]byte(name)); err != nil {
				return err
			}
			if err := deletePrefix(tx.Bucket(bktJobRuns), namePrefix(name)); err != nil {
				return err
			}
		}
		removed = stale
		return nil
	})
	return removed, err
}

func jobConfigEqual(a, b *Job) bool {
	x, y := cloneJob(a), cloneJob(b)
	for _, j := range []*Job{x, y} {
		j.Source, j.CreatedAt, j.UpdatedAt, j.Anchor, j.LastRun, j.Paused = "", 0, 0, 0, 0, false
	}
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(bx, by)
}

// StartJobRun numbers and stores a new run (status running), and keeps at
// most keep runs of the job (older records are dropped; 0 keeps all).
func (s *Store) StartJobRun(ctx context.Context, r JobRun, keep int) (*JobRun, error) {
	if r.StartedAt == 0 {
		r.StartedAt = time.Now().UnixMilli()
	}
	r.Status = JobRunning
	var out JobRun
	err := s.update(ctx, func(tx *wtx) error {
		j, err := getJobTx(tx.Tx, r.Job)
		if err != nil {
			return err
		}
		j.LastRun++
		run := r
		run.Number = j.LastRun
		if r.ScheduledAt > j.Anchor {
			j.Anchor = r.ScheduledAt
		}
		if err := putJobTx(tx.Tx, j); err != nil {
			return err
		}
		v, err := json.Marshal(&run)
		if err != nil {
			return err
		}
		b := tx.Bucket(bktJobRuns)
		if err := b.Put(jobRunKey(r.Job, run.Number), v); err != nil {
			return err
		}
		if keep > 0 && run.Number > uint64(keep) {
			// Drop records older than the newest keep. Their logs become
			// orphans for the collector.
			p := namePrefix(r.Job)
			limit := jobRunKey(r.Job, run.Number-uint64(keep)+1)
			var old [][]byte
			c := b.Cursor()
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && bytes.Compare(k, limit) < 0; k, _ = c.Next() {
				old = append(old, bytes.Clone(k))
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		out = run
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// FinishJobRun stores a run's outcome. A failed or timed-out run emits
// job.failed {job, run_id, error, exit_code}.
func (s *Store) FinishJobRun(ctx context.Context, r JobRun) error {
	if r.EndedAt == 0 {
		r.EndedAt = time.Now().UnixMilli()
	}
	if r.DurationMs == 0 && r.EndedAt > r.StartedAt {
		r.DurationMs = r.EndedAt - r.StartedAt
	}
	return s.update(ctx, func(tx *wtx) error {
		if _, err := getJobTx(tx.Tx, r.Job); err != nil {
			return err // deleted meanwhile: nothing to record
		}
		v, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bktJobRuns).Put(jobRunKey(r.Job, r.Number), v); err != nil {
			return err
		}
		if r.Status == JobFailed || r.Status == JobTimedOut {
			data := map[string]any{"job": r.Job, "run_id": strconv.FormatUint(r.Number, 10), "error": r.Error, "status": r.Status}
			if r.ExitCode != nil {
				data["exit_code"] = *r.ExitCode
			} else {
				data["exit_code"] = nil
			}
			tx.emit("job.failed", data)
		}
		return nil
	})
}

// GetJobRun returns one run of a job.
func (s *Store) GetJobRun(ctx context.Context, name string, n uint64) (*JobRun, error) {
	var out *JobRun
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getJobTx(tx, name); err != nil {
			return err
		}
		v := tx.Bucket(bktJobRuns).Get(jobRunKey(name, n))
		if v == nil {
			return NotFoundf("Run %d of job %q not found", n, name)
		}
		out = &JobRun{}
		return json.Unmarshal(v, out)
	})
	return out, err
}

// ListJobRuns returns a job's runs newest first, numbered below before
// (0: from the newest), at most limit (default 100, max 1000), and the
// statistics over the whole retained history.
func (s *Store) ListJobRuns(ctx context.Context, name string, before uint64, limit int) ([]JobRun, JobRunStats, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []JobRun
	var st JobRunStats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getJobTx(tx, name); err != nil {
			return err
		}
		p := namePrefix(name)
		c := tx.Bucket(bktJobRuns).Cursor()
		// newest first: start after the prefix range and walk back
		end := jobRunKey(name, ^uint64(0))
		k, v := c.Seek(end)
		switch {
		case k == nil:
			k, v = c.Last()
		case !bytes.Equal(k, end):
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, p) && len(k) == len(p)+8; k, v = c.Prev() {
			var r JobRun
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			st.add(&r)
			if (before == 0 || r.Number < before) && len(out) < limit {
				out = append(out, r)
			}
		}
		return nil
	})
	if st.Runs > 0 && st.Runs-st.Running > 0 {
		st.MeanMs = st.TotalMs / int64(st.Runs-st.Running)
	}
	return out, st, err
}

func (st *JobRunStats) add(r *JobRun) {
	st.Runs++
	switch r.Status {
	case JobRunning:
		st.Running++
		return
	case JobSucceeded:
		st.Succeeded++
		st.LastSuccessAt = max(st.LastSuccessAt, r.EndedAt)
	case JobFailed, JobTimedOut:
		st.Failures++
		st.LastFailureAt = max(st.LastFailureAt, r.EndedAt)
	case JobInterrupted:
		st.Interrupted++
	}
	st.TotalMs += r.DurationMs
	st.MaxMs = max(st.MaxMs, r.DurationMs)
}

// InterruptStaleJobRuns marks runs still recorded as running as
// interrupted: at startup they are left over from a crash. It returns the
// runs it changed.
func (s *Store) InterruptStaleJobRuns(ctx context.Context, msg string) ([]JobRun, error) {
	now := time.Now().UnixMilli()
	var changed []JobRun
	err := s.update(ctx, func(tx *wtx) error {
		changed = nil
		b := tx.Bucket(bktJobRuns)
		type kv struct {
			k []byte
			r JobRun
		}
		var todo []kv
		err := b.ForEach(func(k, v []byte) error {
			var r JobRun
			if json.Unmarshal(v, &r) == nil && r.Status == JobRunning {
				todo = append(todo, kv{bytes.Clone(k), r})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, t := range todo {
			r := t.r
			r.Status, r.Error, r.EndedAt = JobInterrupted, msg, now
			if now > r.StartedAt {
				r.DurationMs = now - r.StartedAt
			}
			v, _ := json.Marshal(&r)
			if err := b.Put(t.k, v); err != nil {
				return err
			}
			changed = append(changed, r)
		}
		return nil
	})
	return changed, err
}

// jobRunExistsTx reports whether a run record is retained (orphan collection
// of job logs).
func jobRunExistsTx(tx *bolt.Tx, name string, n uint64) bool {
	return tx.Bucket(bktJobRuns).Get(jobRunKey(name, n)) != nil
}

// JobLogPath is the artifact path of a job run's captured output.
func JobLogPath(job string, n uint64) string {
	return JobLogDir(job) + "/" + strconv.FormatUint(n, 10) + ".log"
}

// JobLogDir is the artifact directory of a job's logs.
func JobLogDir(job string) string { return jobLogRoot + "/" + job }

// jobLogRoot is the artifact prefix of job logs; nothing else lives there.
const jobLogRoot = "_mlbox/jobs"

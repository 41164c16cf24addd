package scheduler

import (
	"mlbox/internal/tomltable"

	"fmt"
	"time"

	"mlbox/store"
)

// Config is the [scheduler] table of config.toml.
type Config struct {
	// Enabled runs the scheduler; when false, jobs can still be listed,
	// edited and run by hand, but nothing fires on a schedule.
	Enabled bool `koanf:"enabled"` // default true
	// Timezone for schedules: an IANA name, "UTC" or "Local". A job's own
	// timezone, or a CRON_TZ= prefix in its schedule, overrides it.
	Timezone string `koanf:"timezone"` // default "UTC"
	// MissedRuns: what to do at startup with ticks missed while the server
	// was down: "run_once" (run once now) or "skip". A job may override it.
	MissedRuns string `koanf:"missed_runs"` // default "run_once"
	// KillGrace: after SIGTERM to a command's process group (timeout,
	// shutdown), how long to wait before SIGKILL.
	KillGrace time.Duration `koanf:"kill_grace"` // default 10s
	// DefaultTimeout bounds command runs that set no timeout.
	DefaultTimeout time.Duration `koanf:"default_timeout"` // default 1h
	// MaxOutputBytes: captured output kept per run (first and last half).
	MaxOutputBytes int64 `koanf:"max_output_bytes"` // default 1 MiB
	// HistoryLimit: run records kept per job.
	HistoryLimit int `koanf:"history_limit"` // default 200
	// APICommands allows creating and changing command jobs through the
	// API. A command job runs any program as the server's user, and the
	// API has no authentication of its own: off by default, so commands
	// come from config.toml only. Retention jobs are always allowed.
	APICommands bool `koanf:"api_commands"` // default false
	// Jobs defined in the file ([[scheduler.jobs]]). They are synced into
	// the store at startup; through the API they can be paused, resumed
	// and run, not edited or deleted.
	Jobs Jobs `koanf:"jobs"`
}

// DefaultConfig returns the scheduler defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:        true,
		Timezone:       "UTC",
		MissedRuns:     store.MissedRunOnce,
		KillGrace:      10 * time.Second,
		DefaultTimeout: time.Hour,
		MaxOutputBytes: 1 << 20,
		HistoryLimit:   200,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timezone == "" {
		c.Timezone = d.Timezone
	}
	if c.MissedRuns == "" {
		c.MissedRuns = d.MissedRuns
	}
	if c.KillGrace == 0 {
		c.KillGrace = d.KillGrace
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = d.DefaultTimeout
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = d.MaxOutputBytes
	}
	if c.HistoryLimit == 0 {
		c.HistoryLimit = d.HistoryLimit
	}
	return c
}

// JobConfig is one [[scheduler.jobs]] entry; the fields are those of the
// jobs API (see docs/scheduler.md).
type JobConfig struct {
	Name        string                 `json:"name" koanf:"name"`
	Kind        string                 `json:"kind" koanf:"kind"`
	Description string                 `json:"description,omitempty" koanf:"description"`
	Schedule    string                 `json:"schedule,omitempty" koanf:"schedule"`
	Timezone    string                 `json:"timezone,omitempty" koanf:"timezone"`
	Overlap     string                 `json:"overlap,omitempty" koanf:"overlap"`
	MissedRuns  string                 `json:"missed_runs,omitempty" koanf:"missed_runs"`
	Paused      bool                   `json:"paused,omitempty" koanf:"paused"`
	Retention   *store.RetentionPolicy `json:"retention,omitempty" koanf:"retention"`
	DryRun      bool                   `json:"dry_run,omitempty" koanf:"dry_run"`
	Command     *store.CommandSpec     `json:"command,omitempty" koanf:"command"`
	Backup      *store.BackupSpec      `json:"backup,omitempty" koanf:"backup"`
}

// Job converts the entry to a store job.
func (c JobConfig) Job() store.Job {
	return store.Job{Name: c.Name, Kind: c.Kind, Description: c.Description, Schedule: c.Schedule, Timezone: c.Timezone,
		Overlap: c.Overlap, MissedRuns: c.MissedRuns, Paused: c.Paused, Retention: c.Retention, DryRun: c.DryRun,
		Command: c.Command, Backup: c.Backup, Source: store.JobSourceConfig}
}

// Jobs is the [[scheduler.jobs]] array. Its methods let the config layer
// treat the array of tables as one value: DecodeTOML reads it, EncodeTOML
// writes it back (as inline tables), Masked hides environment values.
type Jobs []JobConfig

// DecodeTOML sets the jobs from the parsed TOML value (see DecodeJobs).
func (j *Jobs) DecodeTOML(v any) error {
	jobs, err := DecodeJobs(v)
	if err != nil {
		return err
	}
	*j = jobs
	return nil
}

// EncodeTOML renders the jobs as a TOML value: an array of inline tables
// (one line; loading it gives the same jobs back).
func (j Jobs) EncodeTOML() string { return tomltable.Encode(j) }

// Masked returns a copy with the values of command environment variables
// replaced (they often hold credentials), for printing.
func (j Jobs) Masked() Jobs {
	if j == nil {
		return nil
	}
	out := make(Jobs, len(j))
	for i, jc := range j {
		if jc.Command != nil && len(jc.Command.Env) > 0 {
			c := *jc.Command
			c.Env = make(map[string]string, len(jc.Command.Env))
			for k := range jc.Command.Env {
				c.Env[k] = "******"
			}
			jc.Command = &c
		}
		out[i] = jc
	}
	return out
}

// DecodeJobs converts the parsed TOML value of scheduler.jobs (an array of
// tables: []any or []map[string]any) into job entries. Unknown keys are
// errors; durations are strings ("30m"). It does not validate: see
// Config.Validate.
func DecodeJobs(v any) ([]JobConfig, error) {
	return tomltable.Decode[JobConfig](v, "[[scheduler.jobs]]")
}

// Validate returns one problem per line, each naming its key
// ("scheduler.timezone: ..."), for the config layer to report.
func (c Config) Validate() []string {
	var p []string
	add := func(key, format string, args ...any) {
		p = append(p, "scheduler."+key+": "+fmt.Sprintf(format, args...))
	}
	loc, err := LoadZone(c.Timezone)
	if err != nil {
		add("timezone", "%v", err)
		loc = time.UTC
	}
	switch c.MissedRuns {
	case store.MissedRunOnce, store.MissedSkip:
	default:
		add("missed_runs", "must be one of %s, %s (got %q)", store.MissedRunOnce, store.MissedSkip, c.MissedRuns)
	}
	if c.KillGrace <= 0 {
		add("kill_grace", "must be a positive duration (got %s)", c.KillGrace)
	}
	if c.DefaultTimeout <= 0 {
		add("default_timeout", "must be a positive duration (got %s)", c.DefaultTimeout)
	}
	if c.MaxOutputBytes < 1024 {
		add("max_output_bytes", "must be at least 1024 (got %d)", c.MaxOutputBytes)
	}
	if c.HistoryLimit < 1 || c.HistoryLimit > 100000 {
		add("history_limit", "must be between 1 and 100000 (got %d)", c.HistoryLimit)
	}
	seen := map[string]bool{}
	for i, jc := range c.Jobs {
		key := fmt.Sprintf("jobs[%d]", i+1)
		if jc.Name != "" {
			key += " (" + jc.Name + ")"
		}
		if seen[jc.Name] {
			add(key, "job %q is defined twice", jc.Name)
			continue
		}
		seen[jc.Name] = true
		j := jc.Job()
		if err := ValidateJob(&j, loc); err != nil {
			add(key, "%v", err)
		}
	}
	return p
}

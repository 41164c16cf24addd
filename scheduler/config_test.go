package scheduler

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"

	"mlbox/store"
)

const jobsTOML = `
[scheduler]
timezone = "Europe/Paris"

[[scheduler.jobs]]
name = "nightly-retention"
kind = "retention"
schedule = "0 30 3 * * *"
[scheduler.jobs.retention]
experiments = ["iris"]
runs = { max_age_days = 90, keep_best = { metric = "accuracy", k = 5 } }
versions = { keep_last = 10 }
purge = { after_days = 30 }
orphans = { min_age_hours = 24 }

[[scheduler.jobs]]
name = "retrain-iris"
kind = "command"
schedule = "@weekly"
overlap = "queue"
missed_runs = "skip"
[scheduler.jobs.command]
argv = ["python", "train.py", "--data", "iris.csv"]
dir = "/srv/iris"
timeout = "30m"
experiment = "iris"
env = { PYTHONUNBUFFERED = "1" }
promote = { model = "iris", alias = "champion" }
`

// scheduler.jobs as the config layer sees it: parsed TOML.
func parseJobsTOML(t *testing.T, text string) any {
	t.Helper()
	m, err := toml.Parser().Unmarshal([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return m["scheduler"].(map[string]any)["jobs"]
}

func TestDecodeJobs(t *testing.T) {
	jobs, err := DecodeJobs(parseJobsTOML(t, jobsTOML))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("%+v", jobs)
	}
	r, c := jobs[0], jobs[1]
	if r.Retention == nil || r.Retention.Runs.KeepBest.K != 5 || r.Retention.Versions.KeepLast != 10 || *r.Retention.Orphans.MinAgeHours != 24 {
		t.Fatalf("retention %+v", r.Retention)
	}
	if c.Command == nil || time.Duration(c.Command.Timeout) != 30*time.Minute || c.Command.Env["PYTHONUNBUFFERED"] != "1" || c.Command.Promote.Alias != "champion" || c.Overlap != store.OverlapQueue {
		t.Fatalf("command %+v", c.Command)
	}
	cfg := DefaultConfig()
	cfg.Timezone, cfg.Jobs = "Europe/Paris", jobs
	if p := cfg.Validate(); len(p) != 0 {
		t.Fatalf("problems: %v", p)
	}
	if j := c.Job(); j.Source != store.JobSourceConfig || j.Name != "retrain-iris" {
		t.Fatalf("%+v", j)
	}
}

func TestDecodeJobsErrors(t *testing.T) {
	for text, want := range map[string]string{
		"[[scheduler.jobs]]\nname = \"a\"\nkidn = \"command\"\n":                           `unknown field "kidn"`,
		"[[scheduler.jobs]]\nname = \"a\"\n[scheduler.jobs.command]\ntimeout = \"soon\"\n": `invalid duration "soon"`,
		"[[scheduler.jobs]]\nname = 5\n":                                                   "name",
		"[[scheduler.jobs]]\nname = \"a\"\n[scheduler.jobs.retention.runs]\nkeep = 3\n":    `unknown field "keep"`,
		"[scheduler]\njobs = \"nope\"\n":                                                   "array of tables",
		"[scheduler.jobs]\nname = \"a\"\n":                                                 "array of tables",
	} {
		_, err := DecodeJobs(parseJobsTOML(t, text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := Config{Timezone: "Mars/Olympus", MissedRuns: "always", KillGrace: -1, MaxOutputBytes: 10, Jobs: []JobConfig{
		{Name: "a", Kind: store.JobCommand, Schedule: "* * *", Command: &store.CommandSpec{Argv: []string{"x"}}},
		{Name: "a", Kind: store.JobCommand, Command: &store.CommandSpec{Argv: []string{"x"}}},
		{Name: "b/c", Kind: store.JobCommand, Command: &store.CommandSpec{Argv: []string{"x"}}},
		{Name: "d", Kind: store.JobRetention},
	}}
	got := strings.Join(cfg.Validate(), "\n")
	for _, want := range []string{
		`scheduler.timezone: unknown time zone "Mars/Olympus"`,
		"scheduler.missed_runs: must be one of run_once, skip",
		"scheduler.kill_grace: must be a positive duration",
		"scheduler.default_timeout: must be a positive duration",
		"scheduler.max_output_bytes: must be at least 1024",
		"scheduler.history_limit: must be between",
		"scheduler.jobs[1] (a): job a: schedule \"* * *\"",
		`scheduler.jobs[2] (a): job "a" is defined twice`,
		`scheduler.jobs[3] (b/c): Invalid job name`,
		"scheduler.jobs[4] (d): job d: a retention job needs a 'retention' policy",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestJobsTOMLRoundTrip(t *testing.T) {
	jobs, err := DecodeJobs(parseJobsTOML(t, jobsTOML))
	if err != nil {
		t.Fatal(err)
	}
	jobs[1].Description = "quotes \" and \\ and\nnewline"
	enc := Jobs(jobs).EncodeTOML()
	back, err := DecodeJobs(parseJobsTOML(t, "[scheduler]\njobs = "+enc+"\n"))
	if err != nil {
		t.Fatalf("%v\n%s", err, enc)
	}
	if !reflect.DeepEqual(back, jobs) {
		t.Fatalf("round trip changed the jobs:\n%s\n%+v\n%+v", enc, back, jobs)
	}
	m := Jobs(jobs).Masked()
	if m[1].Command.Env["PYTHONUNBUFFERED"] != "******" || jobs[1].Command.Env["PYTHONUNBUFFERED"] != "1" {
		t.Fatalf("masked %+v, original %+v", m[1].Command.Env, jobs[1].Command.Env)
	}
	var j Jobs
	if err := j.DecodeTOML(parseJobsTOML(t, jobsTOML)); err != nil || len(j) != 2 {
		t.Fatalf("DecodeTOML: %v %d", err, len(j))
	}
}

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"mlbox/scheduler"
	"mlbox/store"
	"mlbox/store/artifact"
)

// The scheduler's HTTP API (jobs, their history, retention plans and the
// retention log) and its place in the app's lifecycle. See docs/scheduler.md.

// schedulerConfig is the [scheduler] table.
func (a *App) schedulerConfig() scheduler.Config { return a.cfg.Scheduler }

// newScheduler builds the scheduler from its config; it does not start it.
func (a *App) newScheduler(cfg scheduler.Config) (*scheduler.Scheduler, error) {
	return scheduler.New(scheduler.Options{
		Config:    cfg,
		Store:     a.store,
		Artifacts: a.arts,
		WorkDir:   filepath.Join(a.cfg.DataDir, "jobs"),
		Logger:    a.log.With("component", "scheduler"),
		Metrics:   a.metrics,
		// command jobs reach this server with the MLflow client or mlbox's CLI
		TrackingToken: a.trackingToken(),
		Backup:        a.backupJob,
	})
}

// trackingToken is what command jobs send: the service token, else (with
// accounts) the job token, else nothing.
func (a *App) trackingToken() string {
	if a.cfg.HTTP.AuthToken != "" {
		return a.cfg.HTTP.AuthToken
	}
	return a.jobToken
}

// jobRoutes builds the scheduler and mounts its API.
func (a *App) jobRoutes() {
	s, err := a.newScheduler(a.schedulerConfig())
	if err != nil {
		// Config.Validate rejects what New would; keep serving with defaults.
		a.log.Error("invalid scheduler configuration; using the defaults", "err", err)
		s, _ = a.newScheduler(scheduler.DefaultConfig())
	}
	a.sched = s
	m := a.mux
	const p = "/api/mlbox/v1/"
	m.HandleFunc("GET "+p+"jobs", a.wrap(a.listJobs))
	m.HandleFunc("POST "+p+"jobs", a.wrap(a.createJob))
	m.HandleFunc("GET "+p+"jobs/{name}", a.wrap(a.getJob))
	m.HandleFunc("PATCH "+p+"jobs/{name}", a.wrap(a.updateJob))
	m.HandleFunc("DELETE "+p+"jobs/{name}", a.wrap(a.deleteJob))
	m.HandleFunc("POST "+p+"jobs/{name}/pause", a.wrap(a.pauseJob(true)))
	m.HandleFunc("POST "+p+"jobs/{name}/resume", a.wrap(a.pauseJob(false)))
	m.HandleFunc("POST "+p+"jobs/{name}/run", a.wrap(a.runJob))
	m.HandleFunc("GET "+p+"jobs/{name}/runs", a.wrap(a.listJobRuns))
	m.HandleFunc("GET "+p+"jobs/{name}/runs/{number}", a.wrap(a.getJobRun))
	m.HandleFunc("GET "+p+"jobs/{name}/runs/{number}/log", a.wrap(a.getJobRunLog))
	m.HandleFunc("POST "+p+"retention/plan", a.wrap(a.retention(false)))
	m.HandleFunc("POST "+p+"retention/apply", a.wrap(a.retention(true)))
	m.HandleFunc("GET "+p+"retention/log", a.wrap(a.listRetentionLog))
	m.HandleFunc("GET "+p+"retention/log/{seq}", a.wrap(a.getRetentionRecord))
}

// startJobs starts the scheduler for a server listening on addr; the
// returned function stops it (interrupting running jobs, killing their
// process groups) and waits until their runs are recorded. Serve calls it
// before serving and defers the stop, so the store is still open then.
func (a *App) startJobs(ctx context.Context, addr net.Addr) (stop func()) {
	a.sched.SetTrackingURI(trackingURI(addr))
	sctx, cancel := context.WithCancel(ctx)
	if err := a.sched.Start(sctx); err != nil {
		a.log.Error("scheduler could not start; jobs can still be run by hand", "err", err)
	}
	done := make(chan struct{})
	go func() {
		<-sctx.Done()
		a.sched.Stop()
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

// trackingURI is the URI jobs use to reach this server: a wildcard listen
// address becomes loopback.
func trackingURI(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// jobView is a job with its live state.
type jobView struct {
	store.Job
	State scheduler.JobState `json:"state"`
}

func (a *App) view(j *store.Job) jobView { return jobView{Job: *j, State: a.sched.State(j.Name)} }

// readOnlyJobFields are ignored in create and update bodies, so that a job
// read from the API can be sent back.
var readOnlyJobFields = []string{"source", "created_at", "updated_at", "anchor", "last_run", "state"}

// readBody reads a JSON object body (empty means {}) within the request
// size limit.
func (a *App) readBody(r *http.Request) (map[string]json.RawMessage, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, invalidParam("Content-Type must be application/json, found '" + ct + "'")
	}
	b, err := readLimitedBody(r, a.cfg.HTTP.MaxRequestBytes)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(b)) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, invalidParam("Malformed request body: expected a JSON object: " + err.Error())
	}
	return m, nil
}

// strictDecode decodes a JSON object into v, refusing unknown fields.
func strictDecode(m map[string]json.RawMessage, v any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if store.KindOf(err) != 0 {
			return err
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return invalidParam("Invalid value for field '" + ute.Field + "': expected " + ute.Type.String())
		}
		return invalidParam("Invalid request: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func (a *App) listJobs(w http.ResponseWriter, r *http.Request) error {
	jobs, err := a.store.ListJobs(r.Context())
	if err != nil {
		return err
	}
	out := make([]jobView, 0, len(jobs))
	for i := range jobs {
		out = append(out, a.view(&jobs[i]))
	}
	return writeJSON(w, map[string]any{"jobs": out})
}

func (a *App) createJob(w http.ResponseWriter, r *http.Request) error {
	m, err := a.readBody(r)
	if err != nil {
		return err
	}
	for _, k := range readOnlyJobFields {
		delete(m, k)
	}
	var j store.Job
	if err := strictDecode(m, &j); err != nil {
		return err
	}
	out, err := a.sched.Create(r.Context(), j)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"job": a.view(out)})
}

// maxJobName is the longest job name store.ValidateJobName accepts.
const maxJobName = 100

// jobName is the {name} wildcard, refused when longer than any job name.
func jobName(r *http.Request) (string, error) { return pathParam(r, "name", maxJobName) }

func (a *App) getJob(w http.ResponseWriter, r *http.Request) error {
	name, err := jobName(r)
	if err != nil {
		return err
	}
	j, err := a.store.GetJob(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"job": a.view(j)})
}

// updateJob merges the body's top-level fields into the job (null removes
// a field) and validates the result.
func (a *App) updateJob(w http.ResponseWriter, r *http.Request) error {
	name, err := jobName(r)
	if err != nil {
		return err
	}
	patch, err := a.readBody(r)
	if err != nil {
		return err
	}
	for _, k := range append(readOnlyJobFields, "name") {
		delete(patch, k)
	}
	out, err := a.sched.Update(r.Context(), name, func(j *store.Job) error {
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		cur := map[string]json.RawMessage{}
		if err := json.Unmarshal(b, &cur); err != nil {
			return err
		}
		for k, v := range patch {
			if string(bytes.TrimSpace(v)) == "null" {
				delete(cur, k)
			} else {
				cur[k] = v
			}
		}
		var nj store.Job
		if err := strictDecode(cur, &nj); err != nil {
			return err
		}
		*j = nj
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"job": a.view(out)})
}

func (a *App) deleteJob(w http.ResponseWriter, r *http.Request) error {
	name, err := jobName(r)
	if err != nil {
		return err
	}
	if err := a.sched.Delete(r.Context(), name); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) pauseJob(paused bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name, err := jobName(r)
		if err != nil {
			return err
		}
		out, err := a.sched.SetPaused(r.Context(), name, paused)
		if err != nil {
			return err
		}
		return writeJSON(w, map[string]any{"job": a.view(out)})
	}
}

// runJob starts a run now: {"run": {...}}, or {"queued": true} when a run is
// in progress and the job's overlap policy is "queue".
func (a *App) runJob(w http.ResponseWriter, r *http.Request) error {
	name, err := jobName(r)
	if err != nil {
		return err
	}
	run, queued, err := a.sched.RunNow(r.Context(), name, actor(r))
	if err != nil {
		return err
	}
	if queued {
		return writeJSON(w, map[string]any{"queued": true})
	}
	return writeJSON(w, map[string]any{"run": run})
}

func queryUint(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, invalidParam("Invalid value '" + v + "' for parameter '" + name + "': expected a non-negative integer")
	}
	return n, nil
}

// listJobRuns is the history, newest first (?limit=, ?before=<number>),
// with statistics over the retained runs.
func (a *App) listJobRuns(w http.ResponseWriter, r *http.Request) error {
	name, err := jobName(r)
	if err != nil {
		return err
	}
	limit, err := queryUint(r, "limit")
	if err != nil {
		return err
	}
	before, err := queryUint(r, "before")
	if err != nil {
		return err
	}
	runs, stats, err := a.store.ListJobRuns(r.Context(), name, before, int(min(limit, 1000)))
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []store.JobRun{}
	}
	return writeJSON(w, map[string]any{"runs": runs, "stats": stats})
}

func (a *App) jobRun(r *http.Request) (*store.JobRun, error) {
	name, err := jobName(r)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(r.PathValue("number"), 10, 64)
	if err != nil {
		return nil, invalidParam("Invalid run number '" + abbrev([]byte(r.PathValue("number"))) + "'")
	}
	return a.store.GetJobRun(r.Context(), name, n)
}

func (a *App) getJobRun(w http.ResponseWriter, r *http.Request) error {
	run, err := a.jobRun(r)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"run": run})
}

// getJobRunLog streams a run's captured output.
func (a *App) getJobRunLog(w http.ResponseWriter, r *http.Request) error {
	run, err := a.jobRun(r)
	if err != nil {
		return err
	}
	if run.LogPath == "" {
		return store.NotFoundf("Run %d of job %q has no log (yet)", run.Number, run.Job)
	}
	obj, err := a.arts.Open(r.Context(), run.LogPath)
	if err != nil {
		if errors.Is(err, artifact.ErrNotExist) {
			return store.NotFoundf("The log of run %d of job %q is gone", run.Number, run.Job)
		}
		return err
	}
	defer obj.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	http.ServeContent(w, r, "", obj.ModTime(), obj)
	return nil
}

// retentionRequest selects policies: an inline policy, the policy of a
// retention job by name, or (neither) every retention job that is not
// paused (for apply: and not dry_run).
type retentionRequest struct {
	Policy     *store.RetentionPolicy `json:"policy"`
	PolicyName string                 `json:"policy_name"`
}

func (a *App) retentionPolicies(ctx context.Context, req retentionRequest, apply bool) ([]store.RetentionPolicy, error) {
	if req.Policy != nil && req.PolicyName != "" {
		return nil, invalidParam("Give either 'policy' or 'policy_name', not both")
	}
	if req.Policy != nil {
		return []store.RetentionPolicy{*req.Policy}, nil
	}
	jobs, err := a.store.ListJobs(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.RetentionPolicy
	for _, j := range jobs {
		if j.Kind != store.JobRetention || j.Retention == nil {
			continue
		}
		p := *j.Retention
		if p.Name == "" {
			p.Name = j.Name
		}
		if req.PolicyName != "" {
			if j.Name == req.PolicyName || p.Name == req.PolicyName {
				return []store.RetentionPolicy{p}, nil
			}
			continue
		}
		if j.Paused || apply && j.DryRun {
			continue
		}
		out = append(out, p)
	}
	if req.PolicyName != "" {
		return nil, store.NotFoundf("No retention job or policy named %q", req.PolicyName)
	}
	return out, nil
}

// retention plans (dry run) or applies: {"plans": [...]}, one per policy.
func (a *App) retention(apply bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		m, err := a.readBody(r)
		if err != nil {
			return err
		}
		var req retentionRequest
		if err := strictDecode(m, &req); err != nil {
			return err
		}
		pols, err := a.retentionPolicies(r.Context(), req, apply)
		if err != nil {
			return err
		}
		if !apply {
			// One view of the store and one artifact walk for every policy.
			plans, err := a.store.PlanRetentions(r.Context(), a.arts, pols)
			if err != nil {
				return err
			}
			return writeJSON(w, map[string]any{"plans": plans})
		}
		// Each apply changes what the next one sees, so they go one by one.
		plans := make([]*store.RetentionPlan, 0, len(pols))
		for _, p := range pols {
			plan, err := a.store.ApplyRetention(r.Context(), a.arts, p, actor(r))
			if err != nil {
				return err
			}
			plans = append(plans, plan)
		}
		return writeJSON(w, map[string]any{"plans": plans})
	}
}

// listRetentionLog lists applies newest first (?limit=, ?before=<seq>,
// ?full=true for the actions).
func (a *App) listRetentionLog(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryUint(r, "limit")
	if err != nil {
		return err
	}
	before, err := queryUint(r, "before")
	if err != nil {
		return err
	}
	full, _ := strconv.ParseBool(r.URL.Query().Get("full"))
	recs, err := a.store.ListRetentionLog(r.Context(), before, int(min(limit, 1000)), full)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []store.RetentionRecord{}
	}
	return writeJSON(w, map[string]any{"records": recs})
}

func (a *App) getRetentionRecord(w http.ResponseWriter, r *http.Request) error {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		return invalidParam("Invalid retention log sequence '" + abbrev([]byte(r.PathValue("seq"))) + "'")
	}
	rec, err := a.store.GetRetentionRecord(r.Context(), seq)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"record": rec})
}

package serve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/store"
)

// Deployment serves one registered model: its target version (alias, then
// stage), optionally a canary and a shadow. The request path reads one
// atomic pointer (routing); a reconcile builds a new routing and swaps it
// in, and the versions it replaced are closed once their requests finish.
type Deployment struct {
	m    *Manager
	name string

	// mu serialises reconciles and rollbacks of this deployment.
	mu         sync.Mutex
	reconciled atomic.Bool // set after the first reconcile
	// failed is, per role, the version whose load failed and why; it is
	// not retried until a registry event or a settings change (force).
	failed [numRoles]failedLoad
	// rolledBack remembers an automatic rollback even if storing it in the
	// settings failed.
	rolledBack *RolledBack

	route    atomic.Pointer[routing]
	settings atomic.Pointer[Settings]

	requests      atomic.Int64
	inflight      *metrics.Gauge
	shadowDropped *metrics.Counter
	rollbacks     *metrics.Counter

	stMu      sync.Mutex
	state     string
	message   string
	lastErr   *LoadError
	notes     []string
	custom    bool
	updatedAt time.Time
}

type failedLoad struct {
	version string
	err     error
}

// routing is what the request path reads: immutable once stored.
type routing struct {
	main, canary, shadow     *slot
	canaryShare, shadowShare float64
	// why nothing serves when main is nil.
	why error
}

// slot is a loaded version in one role of a deployment.
type slot struct {
	lv     *loadedVersion
	rm     *roleMetrics
	target string // how it was resolved: "alias champion", "stage Production"
}

// LoadError is the last failure to load a version (status API).
type LoadError struct {
	Version string    `json:"version"`
	Role    string    `json:"role"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// Deployment states.
const (
	StateServing     = "serving"
	StateNoTarget    = "no_target"    // no alias, no version in the stage
	StateNotServable = "not_servable" // the target is not a wasm model
	StateFailed      = "failed"       // the target failed to load and nothing older serves
	StateDisabled    = "disabled"
)

// Errors a request can get from a deployment that does not serve.
var (
	// ErrNotServable: the version is not a wasm model (or its artifacts
	// are not in mlbox's artifact store).
	ErrNotServable = errors.New("not servable")
	// ErrNoTarget: the model has no version to serve.
	ErrNoTarget = errors.New("no version to serve")
	// ErrDisabled: the deployment is disabled in its settings.
	ErrDisabled = errors.New("deployment disabled")
)

func newDeployment(m *Manager, name string) *Deployment {
	labels := `{model=` + strconv.Quote(name) + `}`
	d := &Deployment{
		m: m, name: name,
		inflight:      m.set.GetOrCreateGauge(metricInFlight+labels, nil),
		shadowDropped: m.set.GetOrCreateCounter(metricShadowDr + labels),
		rollbacks:     m.set.GetOrCreateCounter(metricRollback + labels),
	}
	d.route.Store(&routing{why: fmt.Errorf("%w: model %s is being loaded", ErrNoTarget, name)})
	s := m.defaults
	d.settings.Store(&s)
	return d
}

// Name is the registered model's name.
func (d *Deployment) Name() string { return d.name }

// reconcileLocked resolves the targets and swaps in what changed. force
// retries versions that failed before. It returns a KindNotFound error
// when the model is gone, and errors that leave the deployment as it was
// (the store failing, ctx done).
func (d *Deployment) reconcileLocked(ctx context.Context, force bool) error {
	m := d.m
	if _, err := m.st.GetLatestVersions(ctx, d.name, nil); err != nil {
		return err // KindNotFound: the model is gone
	}
	set, custom, err := m.Settings(ctx, d.name)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		m.log.Error("serve: stored deployment settings are invalid; using the defaults", "model", d.name, "error", err)
	}
	d.settings.Store(&set)
	if force {
		d.failed = [numRoles]failedLoad{}
	}
	cur := d.route.Load()
	next := &routing{}
	state, message := StateServing, ""
	if !set.Enabled {
		next.why = fmt.Errorf("%w: model %s is disabled in its deployment settings", ErrDisabled, d.name)
		state, message = StateDisabled, next.why.Error()
		d.swap(cur, next)
		d.setState(state, message, custom)
		return nil
	}

	ver, target, err := d.resolveMain(ctx, &set)
	switch {
	case errors.Is(err, ErrNoTarget):
		next.why = err
		state, message = StateNoTarget, err.Error()
	case err != nil:
		return err
	default:
		next.main, err = d.assign(ctx, RoleMain, ver, target, cur.main, &set)
		if next.main == nil {
			next.why = err
			state, message = StateFailed, err.Error()
			if errors.Is(err, ErrNotServable) {
				state = StateNotServable
			}
		} else if err != nil {
			message = fmt.Sprintf("version %s failed to load; version %s keeps serving: %v", ver, next.main.lv.version, err)
		}
	}

	var notes []string
	if next.main != nil && set.Canary.Alias != "" && set.Canary.Share > 0 {
		rb := set.Canary.RolledBack
		if rb == nil {
			rb = d.rolledBack
		}
		v, err := m.readAlias(ctx, d.name, set.Canary.Alias)
		switch {
		case err != nil:
			notes = append(notes, fmt.Sprintf("canary: alias %q is not set", set.Canary.Alias))
		case v == next.main.lv.version:
			notes = append(notes, fmt.Sprintf("canary: alias %q points at the serving version %s", set.Canary.Alias, v))
		case rb != nil && rb.Version == v:
			notes = append(notes, fmt.Sprintf("canary: version %s was rolled back at %s (%s); it gets traffic again when alias %q moves, or when the settings are saved without rolled_back",
				v, rb.Time.Format(time.RFC3339), rb.Reason, set.Canary.Alias))
		default:
			s, err := d.assign(ctx, RoleCanary, v, "alias "+set.Canary.Alias, cur.canary, &set)
			if s != nil && s.lv.version == v {
				next.canary, next.canaryShare = s, set.Canary.Share
			} else {
				notes = append(notes, fmt.Sprintf("canary: %v", err))
			}
		}
	}
	if next.main != nil && set.Shadow.Enabled && set.Shadow.Alias != "" && set.Shadow.Share > 0 {
		v, err := m.readAlias(ctx, d.name, set.Shadow.Alias)
		switch {
		case err != nil:
			notes = append(notes, fmt.Sprintf("shadow: alias %q is not set", set.Shadow.Alias))
		case v == next.main.lv.version:
			notes = append(notes, fmt.Sprintf("shadow: alias %q points at the serving version %s", set.Shadow.Alias, v))
		default:
			s, err := d.assign(ctx, RoleShadow, v, "alias "+set.Shadow.Alias, cur.shadow, &set)
			if s != nil && s.lv.version == v {
				next.shadow, next.shadowShare = s, set.Shadow.Share
			} else {
				notes = append(notes, fmt.Sprintf("shadow: %v", err))
			}
		}
	}
	d.swap(cur, next)
	d.setState(state, message, custom, notes...)
	return nil
}

// resolveMain finds the target version: the alias, else the latest
// version in the stage.
func (d *Deployment) resolveMain(ctx context.Context, set *Settings) (version, target string, err error) {
	if set.Alias != "" {
		v, err := d.m.readAlias(ctx, d.name, set.Alias)
		if err == nil {
			return v, "alias " + set.Alias, nil
		}
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return "", "", err
		}
	}
	if set.Stage != "" {
		vs, err := d.m.st.GetLatestVersions(ctx, d.name, []string{set.Stage})
		if err != nil {
			return "", "", err
		}
		if len(vs) > 0 {
			return vs[len(vs)-1].Version, "stage " + set.Stage, nil
		}
	}
	switch {
	case set.Alias != "" && set.Stage != "":
		return "", "", fmt.Errorf("%w: model %s has no alias %q and no version in stage %s", ErrNoTarget, d.name, set.Alias, set.Stage)
	case set.Alias != "":
		return "", "", fmt.Errorf("%w: model %s has no alias %q", ErrNoTarget, d.name, set.Alias)
	case set.Stage != "":
		return "", "", fmt.Errorf("%w: model %s has no version in stage %s", ErrNoTarget, d.name, set.Stage)
	}
	return "", "", fmt.Errorf("%w: the deployment settings of model %s name neither an alias nor a stage", ErrNoTarget, d.name)
}

// assign returns the slot for version ver in role: cur if it already holds
// ver, else a newly loaded (and pinned) one. When the load fails, it
// returns cur (which keeps serving) and the error.
func (d *Deployment) assign(ctx context.Context, role Role, ver, target string, cur *slot, set *Settings) (*slot, error) {
	span := time.Duration(set.Rollback.Window)
	if cur != nil && cur.lv.version == ver {
		if cur.rm.win.span != span {
			cur.rm.win.reset(span)
		}
		if cur.target != target {
			return &slot{lv: cur.lv, rm: cur.rm, target: target}, nil
		}
		return cur, nil
	}
	if f := d.failed[role]; f.version == ver {
		return cur, f.err
	}
	m := d.m
	k := vkey{d.name, ver}
	start := time.Now()
	lv, err := m.cache.get(ctx, k, true, func(ctx context.Context) (*loadedVersion, error) {
		return m.loadVersion(ctx, d.name, ver, set.PoolSize)
	})
	if err != nil {
		if ctx.Err() != nil {
			return cur, err
		}
		d.failed[role] = failedLoad{ver, fmt.Errorf("version %s: %w", ver, err)}
		msg := fmt.Sprintf("version %s of %s: %v", ver, d.name, err)
		d.stMu.Lock()
		d.lastErr = &LoadError{Version: ver, Role: role.String(), Message: msg, Time: time.Now()}
		d.stMu.Unlock()
		m.loads.failed.Inc()
		if errors.Is(err, ErrNotServable) {
			// Not a failure of mlbox's: the version is not a model it
			// serves (its compile state says why).
			m.log.Info("serve: version is not servable", "model", d.name, "version", ver, "role", role.String(), "state", strings.TrimPrefix(err.Error(), ErrNotServable.Error()+": "))
			return cur, fmt.Errorf("version %s: %w", ver, err)
		}
		lvl := "keeping the current version"
		if cur == nil {
			lvl = "nothing serves"
		}
		m.log.Error("serve: version failed to load; "+lvl, "model", d.name, "version", ver, "role", role.String(), "error", err)
		return cur, fmt.Errorf("version %s: %w", ver, err)
	}
	d.failed[role] = failedLoad{}
	m.loads.ok.Inc()
	rm := lv.metrics(m.set, role, span)
	rm.win.reset(span)
	if role == RoleMain {
		m.obs.serving(lv)
	}
	from := ""
	if cur != nil {
		from = cur.lv.version
	}
	m.log.Info("serve: deployment swapped", "model", d.name, "role", role.String(), "version", ver, "from", from,
		"target", target, "sha256", lv.sha, "took_ms", time.Since(start).Milliseconds())
	return &slot{lv: lv, rm: rm, target: target}, nil
}

// swap installs next and releases the versions cur held that next does
// not.
func (d *Deployment) swap(cur, next *routing) {
	d.route.Store(next)
	for _, pair := range [][2]*slot{{cur.main, next.main}, {cur.canary, next.canary}, {cur.shadow, next.shadow}} {
		if old := pair[0]; old != nil && (pair[1] == nil || pair[1].lv != old.lv) {
			d.m.cache.unpin(vkey{d.name, old.lv.version})
		}
	}
}

// dropLocked releases everything (the model is gone).
func (d *Deployment) dropLocked() {
	cur := d.route.Load()
	d.swap(cur, &routing{why: store.NotFoundf("Registered Model with name=%s not found", d.name)})
	d.setState(StateNoTarget, "model deleted", false)
}

func (d *Deployment) setState(state, message string, custom bool, notes ...string) {
	failing := false
	for _, f := range d.failed {
		failing = failing || f.version != ""
	}
	d.stMu.Lock()
	d.reconciled.Store(true)
	d.state, d.message, d.custom, d.notes = state, message, custom, notes
	d.updatedAt = time.Now()
	if !failing {
		d.lastErr = nil // every target loaded
	}
	d.stMu.Unlock()
}

// pick chooses the slot for one request: the canary for its share,
// otherwise the main version.
func (r *routing) pick() (*slot, Role) {
	if r.canary != nil && rand.Float64() < r.canaryShare {
		return r.canary, RoleCanary
	}
	return r.main, RoleMain
}

// ---- automatic rollback ----

// judge compares a canary with its incumbent over their windows and
// returns why the canary should be rolled back, or "".
func judge(c, inc windowStats, rs RollbackSettings) string {
	if int64(rs.MinRequests) > c.Requests {
		return ""
	}
	w := time.Duration(rs.Window)
	if c.ErrorRate() > inc.ErrorRate()+rs.MaxErrorRateDelta {
		return fmt.Sprintf("error rate %.1f%% (%d of %d requests) over the last %s, incumbent %.1f%% (%d of %d); the margin is %.1f points",
			100*c.ErrorRate(), c.Failures, c.Requests, w, 100*inc.ErrorRate(), inc.Failures, inc.Requests, 100*rs.MaxErrorRateDelta)
	}
	if inc.Requests >= int64(rs.MinRequests) && inc.P99 > 0 && float64(c.P99) > float64(inc.P99)*rs.MaxP99Ratio {
		return fmt.Sprintf("p99 latency %s over the last %s (%d requests), incumbent %s (%d requests); the limit is ×%.2f",
			c.P99, w, c.Requests, inc.P99, inc.Requests, rs.MaxP99Ratio)
	}
	return ""
}

// checkRollbacks runs the automatic rollback check on every deployment
// with a live canary.
func (m *Manager) checkRollbacks(ctx context.Context, now time.Time) {
	for _, d := range m.Deployments() {
		r := d.route.Load()
		set := d.settings.Load()
		if r.canary == nil || r.main == nil || !set.Rollback.Auto {
			continue
		}
		reason := judge(r.canary.rm.win.stats(now), r.main.rm.win.stats(now), set.Rollback)
		if reason == "" {
			continue
		}
		if err := d.autoRollback(ctx, r.canary.lv.version, r.main.lv.version, reason); err != nil && ctx.Err() == nil {
			m.log.Error("serve: automatic rollback", "model", d.name, "error", err)
		}
	}
}

// autoRollback takes the canary version out of traffic, records why in the
// settings, the audit trail and a deployment.rolled_back event.
func (d *Deployment) autoRollback(ctx context.Context, candidate, incumbent, reason string) error {
	m := d.m
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.route.Load()
	if r.canary == nil || r.canary.lv.version != candidate {
		return nil // already rolled back, or moved on
	}
	set := d.settings.Load()
	rb := &RolledBack{Version: candidate, Reason: reason, Time: time.Now().UTC()}
	d.rolledBack = rb
	ns := *set
	ns.Canary.RolledBack = rb
	d.settings.Store(&ns)
	// Out of traffic first; the rest is bookkeeping.
	next := *r
	next.canary, next.canaryShare = nil, 0
	d.swap(r, &next)
	d.rollbacks.Inc()
	m.log.Warn("serve: canary rolled back", "model", d.name, "canary_alias", set.Canary.Alias,
		"version", candidate, "incumbent", incumbent, "reason", reason)

	var errs []error
	raw, err := m.st.GetDeploymentConfig(ctx, d.name)
	if err == nil {
		raw, err = withRolledBack(raw, rb)
	}
	if err == nil {
		err = m.st.PutDeploymentConfig(ctx, d.name, raw)
	}
	errs = append(errs, err)
	errs = append(errs, m.st.AppendAudit(ctx, store.AuditEntry{
		Model: d.name, Version: candidate, Action: "deployment.rolled_back", Actor: Actor,
		Before: candidate, After: incumbent, Rule: "automatic",
		Detail: "canary alias " + set.Canary.Alias + ": " + reason,
	}))
	errs = append(errs, m.st.Emit(ctx, "deployment.rolled_back", map[string]any{
		"name": d.name, "alias": set.Canary.Alias, "version": candidate, "incumbent_version": incumbent,
		"reason": reason, "automatic": true, "actor": Actor,
	}))
	errs = append(errs, d.reconcileLocked(ctx, false))
	return errors.Join(errs...)
}

// ---- manual rollback ----

// RollbackResult is the outcome of a manual rollback.
type RollbackResult struct {
	Name   string  `json:"name"`
	Alias  string  `json:"alias"`
	From   string  `json:"from_version"`
	To     string  `json:"to_version"`
	Status *Status `json:"status,omitempty"`
}

// Rollback moves alias (default: the deployment's target alias) back to
// the version it pointed at before its last move, as the audit trail
// records it. The move goes through the promotion gates like any alias
// change. A second rollback undoes the first.
func (m *Manager) Rollback(ctx context.Context, name, alias, actor string) (*RollbackResult, error) {
	if alias == "" {
		set, _, err := m.Settings(ctx, name)
		if err != nil && store.KindOf(err) != store.KindInvalid {
			return nil, err
		}
		alias = set.Alias
		if alias == "" {
			return nil, store.Invalidf("The deployment of %s has no target alias; name the alias to roll back.", name)
		}
	}
	if actor == "" {
		actor = Actor
	}
	cur, err := m.st.GetModelVersionByAlias(ctx, name, alias)
	if err != nil {
		return nil, err
	}
	var last *store.AuditEntry
	for after := uint64(0); ; {
		entries, err := m.st.ListAudit(ctx, name, after, 1000)
		if err != nil {
			return nil, err
		}
		for i := range entries {
			if e := &entries[i]; e.Action == "alias.set" && e.Detail == alias {
				last = e
			}
		}
		if len(entries) < 1000 {
			break
		}
		after = entries[len(entries)-1].Seq
	}
	if last == nil || last.Before == "" {
		return nil, store.Invalidf("Alias %s of model %s has no previous version in the audit trail to roll back to.", alias, name)
	}
	to := last.Before
	if to == cur.Version {
		return nil, store.Invalidf("Alias %s of model %s already points at version %s, its previous version.", alias, name, to)
	}
	if err := m.st.SetRegisteredModelAlias(ctx, name, alias, to, actor); err != nil {
		return nil, err
	}
	m.forgetAliases(name)
	reason := "manual rollback of alias " + alias + " from version " + cur.Version + " to " + to
	_ = m.st.AppendAudit(ctx, store.AuditEntry{
		Model: name, Version: to, Action: "deployment.rolled_back", Actor: actor,
		Before: cur.Version, After: to, Rule: "manual", Detail: reason,
	})
	_ = m.st.Emit(ctx, "deployment.rolled_back", map[string]any{
		"name": name, "alias": alias, "version": cur.Version, "incumbent_version": to,
		"reason": reason, "automatic": false, "actor": actor,
	})
	res := &RollbackResult{Name: name, Alias: alias, From: cur.Version, To: to}
	st, err := m.Reconcile(ctx, name)
	if err == nil {
		res.Status = st
	}
	return res, nil
}

// ---- status ----

// Status is a deployment's state for the status API.
type Status struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// Serving is the main target; Canary and Shadow are there when active.
	Serving   *VersionStatus `json:"serving,omitempty"`
	Canary    *VersionStatus `json:"canary,omitempty"`
	Shadow    *VersionStatus `json:"shadow,omitempty"`
	LastError *LoadError     `json:"last_error,omitempty"`
	// Notes explain why a configured canary or shadow gets no traffic.
	Notes         []string `json:"notes,omitempty"`
	Requests      int64    `json:"requests"`
	InFlight      int64    `json:"in_flight"`
	ShadowDropped uint64   `json:"shadow_dropped"`
	Rollbacks     uint64   `json:"rollbacks"`
	Settings      Settings `json:"settings"`
	// CustomSettings is true when the model has stored settings.
	CustomSettings bool      `json:"custom_settings"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// VersionStatus describes one version in one role.
type VersionStatus struct {
	Version string `json:"version"`
	// Compile is "compiled" for a module mlbox compiled from the model's
	// own flavor (sklearn), empty for a wasm flavor.
	Compile  string    `json:"compile,omitempty"`
	Target   string    `json:"target"`
	Share    float64   `json:"share,omitempty"`
	SHA256   string    `json:"sha256"`
	Metadata Metadata  `json:"metadata"`
	LoadedAt time.Time `json:"loaded_at"`
	LoadMs   int64     `json:"load_ms"`
	Requests int64     `json:"requests"`
	Failures int64     `json:"failures"`
	Window   struct {
		Span      string  `json:"span"`
		Requests  int64   `json:"requests"`
		Failures  int64   `json:"failures"`
		ErrorRate float64 `json:"error_rate"`
		P99Ms     float64 `json:"p99_ms"`
	} `json:"window"`
	// Drift is the PSI per feature, when the version has a profile.
	Drift map[string]float64 `json:"drift_psi,omitempty"`
}

func (s *slot) status(share float64, now time.Time) *VersionStatus {
	if s == nil {
		return nil
	}
	vs := &VersionStatus{
		Version: s.lv.version, Target: s.target, Share: share, SHA256: s.lv.sha, Metadata: s.lv.meta,
		Compile:  map[bool]string{true: "compiled"}[s.lv.compiled],
		LoadedAt: s.lv.loadedAt, LoadMs: s.lv.loadTook.Milliseconds(),
		Requests: s.rm.requests.Load(), Failures: s.rm.failures.Load(),
		Drift: s.lv.obs.psi(),
	}
	ws := s.rm.win.stats(now)
	vs.Window.Span = s.rm.win.span.String()
	vs.Window.Requests, vs.Window.Failures = ws.Requests, ws.Failures
	vs.Window.ErrorRate = ws.ErrorRate()
	vs.Window.P99Ms = float64(ws.P99.Microseconds()) / 1000
	return vs
}

// statusLocked builds the status; it needs only stMu (held here).
func (d *Deployment) statusLocked() Status {
	now := time.Now()
	r := d.route.Load()
	st := Status{
		Name: d.name, State: d.state, Message: d.message, LastError: d.lastErr, Notes: d.notes,
		Serving: r.main.status(0, now), Canary: r.canary.status(r.canaryShare, now), Shadow: r.shadow.status(r.shadowShare, now),
		Requests: d.requests.Load(), InFlight: int64(d.inflight.Get()),
		ShadowDropped: d.shadowDropped.Get(), Rollbacks: d.rollbacks.Get(),
		Settings: *d.settings.Load(), CustomSettings: d.custom, UpdatedAt: d.updatedAt,
	}
	return st
}

// Status returns the deployment's status.
func (d *Deployment) Status() Status {
	d.stMu.Lock()
	defer d.stMu.Unlock()
	return d.statusLocked()
}

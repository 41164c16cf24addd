package serve

// The deployment manager: one Deployment per registered model, bound to the
// registry through an alias (then a stage), kept in step with it through
// registry events, and swapped atomically when its target moves.
//
// Lock order: Deployment.mu (reconcile) → Manager.depsMu → versionCache.mu.
// The request path takes no lock but the rate limiter's and a window's.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/store"
	"mlbox/store/artifact"
)

// Store is what the manager needs from the metadata store (*store.Store
// implements it).
type Store interface {
	GetModelVersionByAlias(ctx context.Context, name, alias string) (*store.ModelVersion, error)
	GetLatestVersions(ctx context.Context, name string, stages []string) ([]store.ModelVersion, error)
	GetModelVersion(ctx context.Context, name, version string) (*store.ModelVersion, error)
	GetModelVersionDownloadURI(ctx context.Context, name, version string) (string, error)
	ListRegisteredModelNames(ctx context.Context) ([]string, error)
	SetRegisteredModelAlias(ctx context.Context, model, alias, version string, actor store.Actor) error
	SetModelVersionTag(ctx context.Context, name, version string, t store.Tag) error
	ListAudit(ctx context.Context, model string, after uint64, limit int) ([]store.AuditEntry, error)
	AppendAudit(ctx context.Context, e store.AuditEntry) error
	Emit(ctx context.Context, typ string, data map[string]any) error
	GetDeploymentConfig(ctx context.Context, model string) ([]byte, error)
	PutDeploymentConfig(ctx context.Context, model string, cfg []byte) error
}

// Artifacts is what the manager needs from the artifact store
// (artifact.Store implements it).
type Artifacts interface {
	Open(ctx context.Context, path string) (artifact.Object, error)
}

// ManagerConfig configures a Manager. Zero fields take defaults.
type ManagerConfig struct {
	// Runtime configures the wasm runtime the manager creates and owns.
	Runtime RuntimeConfig
	// Defaults are the settings of a model that has none stored (and the
	// base that stored settings are overlaid on). Zero value: DefaultSettings().
	Defaults *Settings
	// KeepVersions is how many versions no deployment serves are kept
	// loaded (recently replaced ones, explicit /versions/{v} targets).
	// 0 means 2; negative means none.
	KeepVersions int
	// RequestTimeout bounds a whole inference request (waiting for an
	// instance and every batch). 0 means 30s.
	RequestTimeout time.Duration
	// ShadowQueue bounds the mirrored requests waiting for the shadow
	// version; more are dropped. 0 means 256.
	ShadowQueue int
	// ShadowWorkers run mirrored requests. 0 means 1.
	ShadowWorkers int
	// Resync re-reads every deployment's target this often, in case an
	// event was missed or a load should be retried. 0 means 5m; negative
	// turns it off.
	Resync time.Duration
	// Limits protect the inference endpoints.
	Limits Limits
	// Observe plugs in the request log and drift monitors (see
	// manager_obs.go).
	Observe ObserveConfig
	// CompileDir caches the modules compiled from the models users log
	// (sklearn), by content hash. Empty means no disk cache (a restart
	// compiles again).
	CompileDir string
	// NoCompile turns the compiler off: only versions with a wasm flavor
	// are served.
	NoCompile bool
	// Metrics receives the serving metrics; nil means a private set.
	Metrics *metrics.Set
	// Logger; nil discards.
	Logger *slog.Logger
}

// Actor is how the manager signs the registry changes it makes itself.
const Actor = "mlbox-serve"

// Manager runs the deployments. Lifecycle: NewManager → Start → (Handler
// serves) → Close.
type Manager struct {
	cfg      ManagerConfig
	defaults Settings
	rt       *Runtime
	st       Store
	arts     Artifacts
	log      *slog.Logger
	set      *metrics.Set
	cache    *versionCache
	compiler *compiler
	limiter  *limiter
	obs      *observer

	depsMu sync.Mutex
	deps   atomic.Pointer[map[string]*Deployment]

	aliasMu  sync.RWMutex
	aliases  map[vkey]string // model, alias → version, for explicit @alias requests
	aliasGen uint64          // bumped by forgetAliases

	renames []rename // guarded by dirtyMu; settings to move to a new name

	dirtyMu sync.Mutex
	dirty   map[string]bool // model → force (retry failed loads)
	kick    chan struct{}

	shadowQ chan *shadowJob
	auth    atomic.Pointer[TokenCheck]

	loads struct{ ok, failed *metrics.Counter }

	startOnce sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
}

// NewManager creates a manager and its runtime. Nothing is loaded until
// Start (or until a request asks for a model).
func NewManager(ctx context.Context, cfg ManagerConfig, st Store, arts Artifacts) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.KeepVersions == 0 {
		cfg.KeepVersions = 2
	}
	if cfg.KeepVersions < 0 {
		cfg.KeepVersions = 0
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.ShadowQueue <= 0 {
		cfg.ShadowQueue = 256
	}
	if cfg.ShadowWorkers <= 0 {
		cfg.ShadowWorkers = 1
	}
	if cfg.Resync == 0 {
		cfg.Resync = 5 * time.Minute
	}
	defaults := DefaultSettings()
	if cfg.Defaults != nil {
		defaults = *cfg.Defaults
	}
	if err := defaults.Validate(); err != nil {
		return nil, fmt.Errorf("serve: default settings: %w", err)
	}
	if cfg.Runtime.Logger == nil {
		cfg.Runtime.Logger = cfg.Logger
	}
	rt, err := NewRuntime(ctx, cfg.Runtime)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, defaults: defaults, rt: rt, st: st, arts: arts,
		log: cfg.Logger, set: cfg.Metrics,
		cache:   newVersionCache(cfg.KeepVersions),
		limiter: newLimiter(cfg.Limits.RateLimit, cfg.Limits.RateBurst),
		aliases: map[vkey]string{},
		dirty:   map[string]bool{},
		kick:    make(chan struct{}, 1),
		shadowQ: make(chan *shadowJob, cfg.ShadowQueue),
	}
	m.obs = newObserver(m, cfg.Observe)
	if m.compiler, err = newCompiler(m, cfg.CompileDir); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("serve: %w", err)
	}
	m.SetTokenCheck(cfg.Limits.TokenCheck)
	empty := map[string]*Deployment{}
	m.deps.Store(&empty)
	m.loads.ok = m.set.GetOrCreateCounter(metricLoads + `{result="ok"}`)
	m.loads.failed = m.set.GetOrCreateCounter(metricLoads + `{result="error"}`)
	m.set.GetOrCreateGauge(`mlbox_serve_deployments`, func() float64 { return float64(len(*m.deps.Load())) })
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// SetTokenCheck installs the authorisation check of the inference
// endpoints (nil allows every request); see TokenCheck.
func (m *Manager) SetTokenCheck(fn TokenCheck) { m.auth.Store(&fn) }

// Runtime returns the manager's wasm runtime.
func (m *Manager) Runtime() *Runtime { return m.rt }

// Start loads every registered model whose target is a wasm version (in
// the background: Start returns at once) and starts the event loop, the
// rollback checks and the shadow workers.
func (m *Manager) Start(ctx context.Context) {
	m.startOnce.Do(func() {
		m.wg.Add(2 + m.cfg.ShadowWorkers)
		go m.loop()
		go m.compiler.worker()
		for range m.cfg.ShadowWorkers {
			go m.shadowWorker()
		}
		m.markAll(false)
	})
}

// Close stops the loop and the workers, and closes every loaded version
// (waiting for requests in flight) and the runtime. Safe to call more than
// once, and without Start.
func (m *Manager) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	m.cancel()
	m.startOnce.Do(func() {}) // a later Start does nothing
	m.wg.Wait()
	for _, d := range *m.deps.Load() {
		d.route.Store(&routing{why: ErrClosed})
	}
	m.cache.drain()
	m.obs.close()
	return m.rt.Close(context.Background())
}

// Notify is the registry event hook (store.OnEvent). It never blocks: it
// marks the model for a reconcile by the manager's loop.
func (m *Manager) Notify(ev store.Event) {
	name, _ := ev.Data["name"].(string)
	if name == "" {
		return
	}
	switch ev.Type {
	case "model_version.created":
		if v, _ := ev.Data["version"].(string); v != "" {
			m.compiler.enqueue(vkey{name, v})
		}
		return
	case "model_version_alias.created", "model_version_alias.deleted":
		m.forgetAliases(name)
	case "model_version.stage_transitioned":
	case "model_version.deleted":
		v, _ := ev.Data["version"].(string)
		m.forgetAliases(name)
		m.cache.remove(name, func(ver string) bool { return ver == v })
	case "registered_model.deleted":
		m.forgetAliases(name)
		m.cache.remove(name, func(string) bool { return true })
	case "registered_model.renamed":
		if old, _ := ev.Data["old_name"].(string); old != "" {
			m.forgetAliases(old)
			m.cache.remove(old, func(string) bool { return true })
			m.dirtyMu.Lock()
			m.renames = append(m.renames, rename{old, name})
			m.dirtyMu.Unlock()
			m.mark(old, true)
		}
	default:
		return
	}
	m.mark(name, true)
}

func (m *Manager) mark(name string, force bool) {
	m.dirtyMu.Lock()
	m.dirty[name] = m.dirty[name] || force
	m.dirtyMu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// markAll marks every registered model and every deployment.
func (m *Manager) markAll(force bool) {
	names, err := m.st.ListRegisteredModelNames(m.ctx)
	if err != nil {
		if !m.closed.Load() {
			m.log.Error("serve: listing registered models", "error", err)
		}
	}
	for name := range *m.deps.Load() {
		names = append(names, name)
	}
	m.dirtyMu.Lock()
	for _, n := range names {
		m.dirty[n] = m.dirty[n] || force
	}
	m.dirtyMu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Manager) loop() {
	defer m.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var resync <-chan time.Time
	if m.cfg.Resync > 0 {
		t := time.NewTicker(m.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
			m.dirtyMu.Lock()
			batch, renames := m.dirty, m.renames
			m.dirty, m.renames = map[string]bool{}, nil
			m.dirtyMu.Unlock()
			for _, r := range renames {
				m.moveSettings(m.ctx, r)
			}
			for _, name := range slices.Sorted(maps.Keys(batch)) {
				if m.ctx.Err() != nil {
					return
				}
				if _, err := m.reconcile(m.ctx, name, batch[name], false); err != nil && !errors.Is(err, context.Canceled) {
					m.log.Debug("serve: reconcile", "model", name, "error", err)
				}
			}
		case <-tick.C:
			m.checkRollbacks(m.ctx, time.Now())
		case <-resync:
			m.markAll(false)
		}
	}
}

type rename struct{ from, to string }

// moveSettings carries a renamed model's deployment settings over to its
// new name (the store keys them by name). Run by the loop: a hook cannot
// write to the store.
func (m *Manager) moveSettings(ctx context.Context, r rename) {
	raw, err := m.st.GetDeploymentConfig(ctx, r.from)
	if err != nil || raw == nil {
		return
	}
	if cur, err := m.st.GetDeploymentConfig(ctx, r.to); err != nil || cur != nil {
		return
	}
	if err := m.st.PutDeploymentConfig(ctx, r.to, raw); err != nil {
		m.log.Error("serve: moving deployment settings to the new model name", "from", r.from, "to", r.to, "error", err)
		return
	}
	_ = m.st.PutDeploymentConfig(ctx, r.from, nil)
}

// deployment returns the model's deployment, or nil.
func (m *Manager) deployment(name string) *Deployment { return (*m.deps.Load())[name] }

// Deployments returns every deployment, by name.
func (m *Manager) Deployments() []*Deployment {
	deps := *m.deps.Load()
	out := make([]*Deployment, 0, len(deps))
	for _, name := range slices.Sorted(maps.Keys(deps)) {
		out = append(out, deps[name])
	}
	return out
}

// getOrCreate returns the model's deployment, creating an empty one.
func (m *Manager) getOrCreate(name string) (*Deployment, bool) {
	if d := m.deployment(name); d != nil {
		return d, false
	}
	m.depsMu.Lock()
	defer m.depsMu.Unlock()
	cur := *m.deps.Load()
	if d := cur[name]; d != nil {
		return d, false
	}
	d := newDeployment(m, name)
	next := maps.Clone(cur)
	next[name] = d
	m.deps.Store(&next)
	return d, true
}

// drop removes a deployment (its model is gone).
func (m *Manager) drop(d *Deployment) {
	m.depsMu.Lock()
	cur := *m.deps.Load()
	if cur[d.name] == d {
		next := maps.Clone(cur)
		delete(next, d.name)
		m.deps.Store(&next)
	}
	m.depsMu.Unlock()
}

// Reconcile brings one model's deployment in step with the registry and
// its settings now, retrying a version that failed before, and returns its
// status. It returns a store.KindNotFound error when the model does not
// exist.
func (m *Manager) Reconcile(ctx context.Context, name string) (*Status, error) {
	return m.reconcile(ctx, name, true, false)
}

// ensure returns a serving-ready deployment for a request: one that exists,
// or one created and reconciled now (the lazy start).
func (m *Manager) ensure(ctx context.Context, name string) (*Deployment, error) {
	if d := m.deployment(name); d != nil && d.reconciled.Load() {
		return d, nil
	}
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if _, err := m.reconcile(ctx, name, false, true); err != nil {
		return nil, err
	}
	if d := m.deployment(name); d != nil {
		return d, nil
	}
	return nil, store.NotFoundf("Registered Model with name=%s not found", name)
}

func (m *Manager) reconcile(ctx context.Context, name string, force, lazy bool) (*Status, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if m.deployment(name) == nil {
		// Only registered models get a deployment (and metrics).
		if _, err := m.st.GetLatestVersions(ctx, name, nil); err != nil {
			return nil, err
		}
	}
	d, created := m.getOrCreate(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if lazy && !created && d.reconciled.Load() {
		st := d.Status()
		return &st, nil
	}
	err := d.reconcileLocked(ctx, force)
	if store.KindOf(err) == store.KindNotFound {
		d.dropLocked()
		m.drop(d)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	st := d.Status()
	return &st, nil
}

// forgetAliases drops the cached alias resolutions of a model.
func (m *Manager) forgetAliases(model string) {
	m.aliasMu.Lock()
	m.aliasGen++
	for k := range m.aliases {
		if k.model == model {
			delete(m.aliases, k)
		}
	}
	m.aliasMu.Unlock()
}

// readAlias returns the version an alias points at now, from the store
// (reconciles use it; they are not on the request path).
func (m *Manager) readAlias(ctx context.Context, model, alias string) (string, error) {
	mv, err := m.st.GetModelVersionByAlias(ctx, model, alias)
	if err != nil {
		if store.KindOf(err) == store.KindInvalid { // the store's answer for a missing alias
			return "", store.NotFoundf("%s", err.Error())
		}
		return "", err
	}
	return mv.Version, nil
}

// resolveAlias is readAlias cached until the model's aliases change, for
// explicit /models/{name}@{alias} requests.
func (m *Manager) resolveAlias(ctx context.Context, model, alias string) (string, error) {
	k := vkey{model, alias}
	m.aliasMu.RLock()
	v, ok := m.aliases[k]
	gen := m.aliasGen
	m.aliasMu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := m.readAlias(ctx, model, alias)
	if err != nil {
		return "", err
	}
	m.aliasMu.Lock()
	// An alias event between the read and now may have made v stale:
	// cache it only if none came.
	if m.aliasGen == gen {
		if len(m.aliases) > 10000 {
			clear(m.aliases)
		}
		m.aliases[k] = v
	}
	m.aliasMu.Unlock()
	return v, nil
}

// explicit returns a loaded version for an explicit request, loading it on
// demand and keeping it in the cache's LRU.
func (m *Manager) explicit(ctx context.Context, model, version string) (*loadedVersion, error) {
	k := vkey{model, version}
	if lv := m.cache.lookup(k); lv != nil {
		return lv, nil
	}
	if _, err := m.st.GetModelVersion(ctx, model, version); err != nil {
		return nil, err
	}
	poolSize := 0
	if d := m.deployment(model); d != nil {
		poolSize = d.settings.Load().PoolSize
	}
	return m.cache.get(ctx, k, false, func(ctx context.Context) (*loadedVersion, error) {
		return m.loadVersion(ctx, model, version, poolSize)
	})
}

// Loaded lists the loaded versions.
func (m *Manager) Loaded() []LoadedInfo { return m.cache.loaded() }

// Settings returns a model's effective settings and whether it has stored
// ones.
func (m *Manager) Settings(ctx context.Context, name string) (Settings, bool, error) {
	raw, err := m.st.GetDeploymentConfig(ctx, name)
	if err != nil {
		return m.defaults, false, err
	}
	s, err := ParseSettings(raw, m.defaults)
	if err != nil {
		return m.defaults, true, fmt.Errorf("stored settings of %s: %w", name, err)
	}
	return s, raw != nil, nil
}

// PutSettings validates and stores a model's settings (raw JSON, overlaid
// on the defaults; nil deletes them) and reconciles the deployment.
func (m *Manager) PutSettings(ctx context.Context, name string, raw []byte) (*Status, error) {
	if raw != nil {
		if _, err := ParseSettings(raw, m.defaults); err != nil {
			return nil, err
		}
	}
	if _, err := m.st.GetLatestVersions(ctx, name, nil); err != nil {
		return nil, err // the model must exist
	}
	if err := m.st.PutDeploymentConfig(ctx, name, raw); err != nil {
		return nil, err
	}
	if d := m.deployment(name); d != nil {
		d.mu.Lock()
		d.rolledBack = nil // a new decision by the operator
		d.mu.Unlock()
	}
	return m.Reconcile(ctx, name)
}

// Status returns one model's deployment status; a model that exists but
// has not been reconciled yet is reconciled now.
func (m *Manager) Status(ctx context.Context, name string) (*Status, error) {
	if d := m.deployment(name); d != nil {
		if d.reconciled.Load() {
			st := d.Status()
			return &st, nil
		}
	}
	return m.reconcile(ctx, name, false, true)
}

// Statuses returns the status of every deployment.
func (m *Manager) Statuses() []Status {
	out := []Status{}
	for _, d := range m.Deployments() {
		if d.reconciled.Load() {
			out = append(out, d.Status())
		}
	}
	return out
}

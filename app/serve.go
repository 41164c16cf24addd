package app

// Model serving: the serve.Manager's wiring, its configuration (the
// [serve] section) and the deployments API:
//
//	GET    /api/mlbox/v1/deployments                  {"deployments": [status...]}
//	GET    /api/mlbox/v1/deployments/{name}           status (with the effective settings)
//	PUT    /api/mlbox/v1/deployments/{name}           body: settings; stores, reconciles, returns status
//	DELETE /api/mlbox/v1/deployments/{name}           forgets the stored settings (back to defaults)
//	POST   /api/mlbox/v1/deployments/{name}/rollback  {"alias": "champion"}? → {name, alias, from_version, to_version, status}
//	GET    /api/mlbox/v1/deployments/{name}/requests  ?n=100 → {"requests": [...]} (the request log, newest first)
//	GET    /api/mlbox/v1/deployments/{name}/drift     {"versions": [...]} (PSI per feature)
//
// The inference endpoints themselves are serve's, mounted at /models/.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"mlbox/serve"
	"mlbox/store"
)

var serveAliasRE = regexp.MustCompile(`^[\w\-]+$`)

// ServeConfig configures model serving ([serve]).
type ServeConfig struct {
	Enabled                   bool          `koanf:"enabled"`                       // default true; false: no inference endpoints, no deployments
	TargetAlias               string        `koanf:"target_alias"`                  // default "champion"; the alias a deployment serves ("" = none)
	TargetStage               string        `koanf:"target_stage"`                  // default "Production"; served when the alias is not set ("" = none)
	PoolSize                  int           `koanf:"pool_size"`                     // default 0 = GOMAXPROCS; wasm instances per loaded version
	MemoryLimitMB             int           `koanf:"memory_limit_mb"`               // default 64; linear memory cap per instance (1..4096)
	CallTimeout               time.Duration `koanf:"call_timeout"`                  // default 2s; one call into a model (one batch)
	InitTimeout               time.Duration `koanf:"init_timeout"`                  // default 10s; instantiating and warming one instance
	RequestTimeout            time.Duration `koanf:"request_timeout"`               // default 30s; a whole inference request (504 past it)
	MaxRequestBytes           int64         `koanf:"max_request_bytes"`             // default 8 MiB; inference request body limit (413 past it)
	RateLimit                 float64       `koanf:"rate_limit"`                    // default 0 = off; requests/s per client (bearer token, else IP)
	RateBurst                 int           `koanf:"rate_burst"`                    // default 0 = ceil(rate_limit); requests a client may send at once
	KeepVersions              int           `koanf:"keep_versions"`                 // default 2; versions kept loaded that no deployment serves
	ShadowQueue               int           `koanf:"shadow_queue"`                  // default 256; mirrored requests waiting for a shadow version (more are dropped)
	ResyncInterval            time.Duration `koanf:"resync_interval"`               // default 5m; re-check every deployment's target ("0s" = only on events)
	RollbackAuto              bool          `koanf:"rollback_auto"`                 // default true; roll a failing canary back automatically
	RollbackWindow            time.Duration `koanf:"rollback_window"`               // default 60s; the window canary and incumbent are compared over
	RollbackMinRequests       int           `koanf:"rollback_min_requests"`         // default 50; canary requests in the window before it is judged
	RollbackMaxErrorRateDelta float64       `koanf:"rollback_max_error_rate_delta"` // default 0.05; allowed excess of the canary's error rate
	RollbackMaxP99Ratio       float64       `koanf:"rollback_max_p99_ratio"`        // default 2; allowed canary p99 / incumbent p99
	RequestLog                bool          `koanf:"request_log"`                   // default true; keep a sampled log of inference requests
	RequestLogSampleRate      float64       `koanf:"request_log_sample_rate"`       // default 0.01; share of successful requests logged (failures always are)
	RequestLogMaxBytes        int64         `koanf:"request_log_max_bytes"`         // default 8 MiB; ring file size per model
	RequestLogMaskFields      []string      `koanf:"request_log_mask_fields"`       // default []; input fields stored as "***"
	RequestLogHashFields      []string      `koanf:"request_log_hash_fields"`       // default []; input fields stored as a keyed hash
	RequestLogDropFields      []string      `koanf:"request_log_drop_fields"`       // default []; input fields not stored
	DriftWindow               int           `koanf:"drift_window"`                  // default 1000; recent rows compared with the training profile
	DriftThreshold            float64       `koanf:"drift_threshold"`               // default 0.2; PSI at which drift.detected fires
	DriftMinRows              int           `koanf:"drift_min_rows"`                // default 100; rows needed before drift is reported
	Compile                   bool          `koanf:"compile"`                       // default true; compile logged sklearn models to wasm (docs/serving.md)
	DefaultModel              string        `koanf:"default_model"`                 // default ""; the model POST /predict serves ("" = the only one serving)
}

// DefaultServeConfig returns the built-in serving defaults.
func DefaultServeConfig() ServeConfig {
	d := serve.DefaultSettings()
	return ServeConfig{
		Enabled:                   true,
		TargetAlias:               d.Alias,
		TargetStage:               d.Stage,
		MemoryLimitMB:             64,
		CallTimeout:               serve.DefaultCallTimeout,
		InitTimeout:               serve.DefaultInitTimeout,
		RequestTimeout:            30 * time.Second,
		MaxRequestBytes:           serve.DefaultMaxRequestBytes,
		KeepVersions:              2,
		ShadowQueue:               256,
		ResyncInterval:            5 * time.Minute,
		RollbackAuto:              d.Rollback.Auto,
		RollbackWindow:            time.Duration(d.Rollback.Window),
		RollbackMinRequests:       d.Rollback.MinRequests,
		RollbackMaxErrorRateDelta: d.Rollback.MaxErrorRateDelta,
		RollbackMaxP99Ratio:       d.Rollback.MaxP99Ratio,
		RequestLog:                true,
		RequestLogSampleRate:      0.01,
		RequestLogMaxBytes:        serve.DefaultRequestLogBytes,
		RequestLogMaskFields:      []string{},
		RequestLogHashFields:      []string{},
		RequestLogDropFields:      []string{},
		DriftWindow:               serve.DefaultDriftWindow,
		DriftThreshold:            serve.DefaultDriftThreshold,
		DriftMinRows:              serve.DefaultDriftMinRows,
		Compile:                   true,
	}
}

// settings are the deployment defaults the config describes.
func (c ServeConfig) settings() serve.Settings {
	s := serve.DefaultSettings()
	s.Alias, s.Stage = c.TargetAlias, c.TargetStage
	s.Rollback = serve.RollbackSettings{
		Auto: c.RollbackAuto, Window: serve.Duration(c.RollbackWindow), MinRequests: c.RollbackMinRequests,
		MaxErrorRateDelta: c.RollbackMaxErrorRateDelta, MaxP99Ratio: c.RollbackMaxP99Ratio,
	}
	return s
}

// Validate returns one problem per line, each naming its key.
func (c ServeConfig) Validate() []string {
	var p []string
	add := func(key, format string, args ...any) { p = append(p, "serve."+key+": "+fmt.Sprintf(format, args...)) }
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be a positive duration (got %s)", d)
		}
	}
	if c.TargetAlias == "" && c.TargetStage == "" {
		add("target_alias", "target_alias and target_stage cannot both be empty")
	} else if c.TargetAlias != "" && !serveAliasRE.MatchString(c.TargetAlias) {
		add("target_alias", "must be an alias: letters, digits, '_' and '-' (got %q)", c.TargetAlias)
	}
	if st, ok := store.CanonicalStage(c.TargetStage); c.TargetStage != "" && (!ok || st == store.StageNone || st == store.StageArchived) {
		add("target_stage", "must be Staging, Production or empty (got %q)", c.TargetStage)
	}
	if c.PoolSize < 0 || c.PoolSize > 1024 {
		add("pool_size", "must be between 0 and 1024 (got %d)", c.PoolSize)
	}
	if c.MemoryLimitMB < 1 || c.MemoryLimitMB > 4096 {
		add("memory_limit_mb", "must be between 1 and 4096 (got %d)", c.MemoryLimitMB)
	}
	positive("call_timeout", c.CallTimeout)
	positive("init_timeout", c.InitTimeout)
	positive("request_timeout", c.RequestTimeout)
	if c.MaxRequestBytes <= 0 {
		add("max_request_bytes", "must be positive (got %d)", c.MaxRequestBytes)
	}
	if c.RateLimit < 0 || c.RateLimit != c.RateLimit {
		add("rate_limit", "must be 0 (off) or positive (got %v)", c.RateLimit)
	}
	if c.RateBurst < 0 {
		add("rate_burst", "must not be negative (got %d)", c.RateBurst)
	}
	if c.KeepVersions < 0 || c.KeepVersions > 1000 {
		add("keep_versions", "must be between 0 and 1000 (got %d)", c.KeepVersions)
	}
	if c.ShadowQueue < 1 || c.ShadowQueue > 1<<20 {
		add("shadow_queue", "must be between 1 and 1048576 (got %d)", c.ShadowQueue)
	}
	if c.ResyncInterval < 0 {
		add("resync_interval", "must not be negative (got %s)", c.ResyncInterval)
	}
	if c.RequestLogSampleRate < 0 || c.RequestLogSampleRate > 1 || c.RequestLogSampleRate != c.RequestLogSampleRate {
		add("request_log_sample_rate", "must be between 0 and 1 (got %v)", c.RequestLogSampleRate)
	}
	if c.RequestLogMaxBytes < serve.MinRequestLogBytes {
		add("request_log_max_bytes", "must be at least %d (got %d)", serve.MinRequestLogBytes, c.RequestLogMaxBytes)
	}
	if c.DriftWindow < 1 {
		add("drift_window", "must be at least 1 (got %d)", c.DriftWindow)
	}
	if c.DriftThreshold <= 0 || c.DriftThreshold != c.DriftThreshold {
		add("drift_threshold", "must be positive (got %v)", c.DriftThreshold)
	}
	if c.DriftMinRows < 1 {
		add("drift_min_rows", "must be at least 1 (got %d)", c.DriftMinRows)
	}
	if c.RollbackWindow < time.Second || c.RollbackWindow > 24*time.Hour {
		add("rollback_window", "must be between 1s and 24h (got %s)", c.RollbackWindow)
	}
	if c.RollbackMinRequests < 1 {
		add("rollback_min_requests", "must be at least 1 (got %d)", c.RollbackMinRequests)
	}
	if d := c.RollbackMaxErrorRateDelta; d < 0 || d > 1 || d != d {
		add("rollback_max_error_rate_delta", "must be between 0 and 1 (got %v)", d)
	}
	if r := c.RollbackMaxP99Ratio; r < 1 || r != r {
		add("rollback_max_p99_ratio", "must be at least 1 (got %v)", r)
	}
	return p
}

// openServe builds the deployment manager and the request log.
func (a *App) openServe() error {
	c := a.cfg.Serve
	if !c.Enabled {
		return nil
	}
	log := a.log.With("component", "serve")
	var obs serve.ObserveConfig
	if c.RequestLog {
		rl, err := serve.OpenRequestLog(filepath.Join(a.cfg.DataDir, "serve", "requests"), serve.RequestLogConfig{
			SampleRate: 1, // the manager samples (ObserveConfig.SampleRate)
			MaxBytes:   c.RequestLogMaxBytes,
			MaskFields: c.RequestLogMaskFields, HashFields: c.RequestLogHashFields, DropFields: c.RequestLogDropFields,
		})
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		rl.RegisterMetrics(a.metrics)
		a.reqlog = rl
		obs.RequestLog, obs.SampleRate = rl, c.RequestLogSampleRate
	}
	obs.Drift = serve.DriftConfig{Window: c.DriftWindow, Threshold: c.DriftThreshold, MinRows: c.DriftMinRows}
	defaults := c.settings()
	resync := c.ResyncInterval
	if resync == 0 {
		resync = -1 // the manager's "off"
	}
	keep := c.KeepVersions
	if keep == 0 {
		keep = -1 // the manager's "none"
	}
	m, err := serve.NewManager(context.Background(), serve.ManagerConfig{
		Runtime: serve.RuntimeConfig{
			CacheDir:         filepath.Join(a.cfg.DataDir, "serve", "cache"),
			MemoryLimitPages: uint32(c.MemoryLimitMB) * 16,
			CallTimeout:      c.CallTimeout,
			InitTimeout:      c.InitTimeout,
			PoolSize:         c.PoolSize,
			Logger:           log,
		},
		Defaults:       &defaults,
		KeepVersions:   keep,
		RequestTimeout: c.RequestTimeout,
		ShadowQueue:    c.ShadowQueue,
		Resync:         resync,
		Limits:         serve.Limits{MaxRequestBytes: c.MaxRequestBytes, RateLimit: c.RateLimit, RateBurst: c.RateBurst},
		CompileDir:     filepath.Join(a.cfg.DataDir, "serve", "compiled"),
		NoCompile:      !c.Compile,
		Observe:        obs,
		Metrics:        a.metrics,
		Logger:         log,
	}, a.store, a.arts)
	if err != nil {
		if a.reqlog != nil {
			a.reqlog.Close()
			a.reqlog = nil
		}
		return fmt.Errorf("serve: %w", err)
	}
	a.serve = m
	a.store.OnEvent(m.Notify)
	return nil
}

// startServe loads the deployments (in the background).
func (a *App) startServe(ctx context.Context) {
	if a.serve != nil {
		a.serve.Start(ctx)
	}
}

// closeServe stops serving; call after the HTTP server stopped.
func (a *App) closeServe() error {
	var err error
	if a.serve != nil {
		err = a.serve.Close()
	}
	if a.reqlog != nil {
		err = errors.Join(err, a.reqlog.Close())
		a.reqlog = nil
	}
	return err
}

// Serving returns the deployment manager (nil when serve.enabled is false).
func (a *App) Serving() *serve.Manager { return a.serve }

// SetInferenceAuth installs the check applied to every inference request
// (nil allows all). It is the hook real authentication will use.
func (a *App) SetInferenceAuth(fn serve.TokenCheck) {
	if a.serve != nil {
		a.serve.SetTokenCheck(fn)
	}
}

var errServeDisabled = &apiError{http.StatusNotFound, "ENDPOINT_NOT_FOUND", "model serving is disabled (serve.enabled = false)"}

func (a *App) serveRoutes() {
	m := a.mux
	if a.serve != nil {
		m.Handle("/models/", a.serve.Handler())
		m.Handle("POST /predict", a.serve.DefaultHandler(a.cfg.Serve.DefaultModel))
	} else {
		m.HandleFunc("/models/", a.wrap(func(http.ResponseWriter, *http.Request) error { return errServeDisabled }))
		m.HandleFunc("POST /predict", a.wrap(func(http.ResponseWriter, *http.Request) error { return errServeDisabled }))
	}
	m.HandleFunc("GET /api/mlbox/v1/deployments", a.wrap(a.listDeployments))
	m.HandleFunc("GET /api/mlbox/v1/deployments/{name}", a.wrap(a.getDeployment))
	m.HandleFunc("PUT /api/mlbox/v1/deployments/{name}", a.wrap(a.putDeployment))
	m.HandleFunc("DELETE /api/mlbox/v1/deployments/{name}", a.wrap(a.deleteDeployment))
	m.HandleFunc("POST /api/mlbox/v1/deployments/{name}/rollback", a.wrap(a.rollbackDeployment))
	m.HandleFunc("GET /api/mlbox/v1/deployments/{name}/requests", a.wrap(a.deploymentRequests))
	m.HandleFunc("GET /api/mlbox/v1/deployments/{name}/drift", a.wrap(a.deploymentDrift))
}

func (a *App) listDeployments(w http.ResponseWriter, r *http.Request) error {
	if a.serve == nil {
		return errServeDisabled
	}
	sts, loaded := a.serve.Statuses(), a.serve.Loaded()
	if a.filtering(r) { // the models the caller may read
		keptS := sts[:0]
		for _, s := range sts {
			if a.canRead(r, "registered_model", s.Name) {
				keptS = append(keptS, s)
			}
		}
		keptL := loaded[:0]
		for _, l := range loaded {
			if a.canRead(r, "registered_model", l.Model) {
				keptL = append(keptL, l)
			}
		}
		sts, loaded = keptS, keptL
	}
	return writeJSON(w, map[string]any{"deployments": sts, "loaded": loaded})
}

func (a *App) getDeployment(w http.ResponseWriter, r *http.Request) error {
	if a.serve == nil {
		return errServeDisabled
	}
	name, err := modelName(r)
	if err != nil {
		return err
	}
	st, err := a.serve.Status(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, st)
}

func (a *App) putDeployment(w http.ResponseWriter, r *http.Request) error {
	if a.serve == nil {
		return errServeDisabled
	}
	name, err := modelName(r)
	if err != nil {
		return err
	}
	body, err := readLimitedBody(r, a.cfg.HTTP.MaxRequestBytes)
	if err != nil {
		return err
	}
	st, err := a.serve.PutSettings(r.Context(), name, body)
	if err != nil {
		return err
	}
	return writeJSON(w, st)
}

func (a *App) deleteDeployment(w http.ResponseWriter, r *http.Request) error {
	if a.serve == nil {
		return errServeDisabled
	}
	name, err := modelName(r)
	if err != nil {
		return err
	}
	st, err := a.serve.PutSettings(r.Context(), name, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, st)
}

func (a *App) rollbackDeployment(w http.ResponseWriter, r *http.Request) error {
	if a.serve == nil {
		return errServeDisabled
	}
	var req struct {
		Alias optString `json:"alias" max:"255"`
	}
	name, err := modelName(r)
	if err != nil {
		return err
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	res, err := a.serve.Rollback(r.Context(), name, req.Alias.V, actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, res)
}

func (a *App) deploymentRequests(w http.ResponseWriter, r *http.Request) error {
	if a.serve == nil {
		return errServeDisabled
	}
	n := 100
	q := r.URL.Query()
	if q.Get("n") == "" && q.Get("limit") != "" {
		q.Set("n", q.Get("limit")) // ?limit=N is accepted too
	}
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 10000 {
			return invalidParam("n must be an integer between 0 and 10000, got " + strconv.Quote(s))
		}
		n = v
	}
	name, err := modelName(r)
	if err != nil {
		return err
	}
	if _, err := a.store.GetRegisteredModel(r.Context(), name); err != nil {
		return err
	}
	out := []serve.RequestEntry{}
	if a.reqlog != nil {
		es, err := a.reqlog.Recent(name, n)
		if err != nil {
			return err
		}
		out = append(out, es...)
	}
	return writeJSON(w, map[string]any{"requests": out})
}

func (a *App) deploymentDrift(w http.ResponseWriter, r *http.Request) error {
	if a.serve == nil {
		return errServeDisabled
	}
	name, err := modelName(r)
	if err != nil {
		return err
	}
	ds, err := a.serve.Drift(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"versions": ds})
}

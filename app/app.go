// Package app is mlbox's composition root and its MLflow-facing HTTP API:
// config, wiring, router and middleware, the MLflow REST handlers, and the
// one place where domain errors become MLflow error codes.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/scheduler"
	"mlbox/serve"
	"mlbox/store"
	"mlbox/store/artifact"
	"mlbox/ui"
)

// Version is stamped at build time (-ldflags "-X mlbox/app.Version=...").
var Version = ""

// MLflowVersion is the MLflow API version mlbox answers on /version.
const MLflowVersion = "3.17.2"

// BuildVersion returns Version, or the VCS revision from the build info.
func BuildVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}

// App is one mlbox server: the store, the artifact backend and the HTTP API.
type App struct {
	cfg        Config
	log        *slog.Logger
	store      *store.Store
	arts       artifact.Store
	metrics    *metrics.Set
	mux        *router
	acct       *accounts   // nil unless auth.enabled
	proxy      *proxyAuth  // nil unless auth.proxy.trusted_cidrs is set
	tls        *certHolder // nil unless http.tls_cert_file is set
	tlsReloads struct{ ok, failed *metrics.Counter }
	limiter    *authLimiter // failed-credential lockout (ratelimit.go), set by middleware
	backupMu   sync.RWMutex // artifact deletions hold it shared; a backup copying artifacts, exclusive (backup.go)
	auditQ     *auditQueue  // failed credentials for the audit trail (authaudit.go); nil without accounts
	// jobToken is an admin token, made at start, that command jobs get as
	// MLFLOW_TRACKING_TOKEN when accounts are on without http.auth_token.
	jobToken string
	handler  http.Handler
	started  time.Time
	hooks    *webhooks
	serve    *serve.Manager       // nil when serve.enabled is false
	reqlog   *serve.RequestLog    // the inference request log, or nil
	sched    *scheduler.Scheduler // jobs.go
}

// New opens the store and the artifact backend and builds the router.
func New(cfg Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, log: log, metrics: metrics.NewSet(), mux: newRouter(), started: time.Now()}
	st, err := store.Open(cfg.DataDir, store.Options{
		OpenTimeout: cfg.Store.OpenTimeout,
		MaxBatch:    cfg.Store.MaxBatch,
		NoMetricLog: !cfg.Store.MetricLog,
		Logger:      log.With("component", "store"),
	})
	if err != nil {
		return nil, err
	}
	a.store = st
	if err := st.SetConfigGates(cfg.Registry.Gates.byModel()); err != nil {
		st.Close()
		return nil, fmt.Errorf("registry.gates: %w", err)
	}
	a.hooks = newWebhooks(st, cfg.Webhooks, log.With("component", "webhooks"), a.metrics)
	if err := a.openArtifacts(); err != nil {
		st.Close()
		return nil, err
	}
	if err := a.openServe(); err != nil {
		a.arts.Close()
		st.Close()
		return nil, err
	}
	if err := a.openAccounts(); err != nil {
		a.closeServe()
		a.arts.Close()
		st.Close()
		return nil, err
	}
	if err := a.openTLS(); err != nil {
		a.stopAuditQueue()
		a.closeServe()
		a.arts.Close()
		st.Close()
		return nil, err
	}
	a.tlsReloads.ok = a.metrics.NewCounter(`mlbox_tls_reloads_total{result="ok"}`)
	a.tlsReloads.failed = a.metrics.NewCounter(`mlbox_tls_reloads_total{result="error"}`)
	if a.authOn() {
		a.mux.guard = a.guard
	}
	a.routes()
	a.registerMetrics()
	a.registerHealthMetrics()
	a.handler = a.middleware(a.mux)
	return a, nil
}

// openAccounts loads the accounts (auth.enabled) and, on the first start,
// creates the admin from auth.admin_password; without one it refuses to
// start: there is no default password.
func (a *App) openAccounts() error {
	if !a.cfg.Auth.Enabled {
		return nil
	}
	ctx := context.Background()
	ac, err := newAccounts(ctx, a.store, a.cfg.Auth.DefaultPermission)
	if err != nil {
		return err
	}
	name := a.cfg.Auth.AdminUsername
	if u := ac.user(name); u == nil {
		if a.cfg.Auth.AdminPassword == "" {
			return fmt.Errorf("%w: auth.enabled is true and the admin account %q does not exist yet: "+
				"set its password (%d characters or more) in MLBOX_AUTH_ADMIN_PASSWORD or auth.admin_password "+
				"for the first start; there is no default password", ErrInvalidConfig, name, minPasswordLen)
		}
		if _, err := ac.createUser(ctx, name, a.cfg.Auth.AdminPassword, true, ""); err != nil {
			return fmt.Errorf("creating the admin account %q: %w", name, err)
		}
		a.log.Info("created the admin account", "username", name)
	} else if !u.IsAdmin {
		a.log.Warn("auth.admin_username names an account that is not an admin", "username", name)
	}
	a.acct = ac
	a.startAuditQueue()
	px, err := newProxyAuth(a.cfg.Auth.Proxy)
	if err != nil {
		return err // Validate refuses what fails here
	}
	a.proxy = px
	if a.cfg.HTTP.AuthToken == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		a.jobToken = "mlbox-job-" + hex.EncodeToString(b)
	}
	return nil
}

func (a *App) openArtifacts() error {
	switch a.cfg.Artifacts.Backend {
	case "s3":
		c := a.cfg.Artifacts.S3
		s3, err := artifact.NewS3(artifact.S3Config{
			Endpoint: c.Endpoint, Bucket: c.Bucket, Prefix: c.Prefix, AccessKey: c.AccessKey, SecretKey: c.SecretKey,
			Region: c.Region, Secure: c.Secure, CreateBucket: c.CreateBucket, RequestTimeout: c.Timeout,
		})
		if err != nil {
			return fmt.Errorf("artifacts.s3: %w", err)
		}
		a.arts = deleteGuard{Store: s3, mu: &a.backupMu}
	default:
		root := a.cfg.Artifacts.Root
		if root == "" {
			root = filepath.Join(a.cfg.DataDir, "artifacts")
		}
		l, err := artifact.NewLocal(root)
		if err != nil {
			return fmt.Errorf("artifacts.root: %w", err)
		}
		a.arts = deleteGuard{Store: l, mu: &a.backupMu}
	}
	return nil
}

// Store exposes the metadata store (tests, CLI tools).
func (a *App) Store() *store.Store { return a.store }

// Handler is the whole HTTP API with middleware.
func (a *App) Handler() http.Handler { return a.handler }

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully:
// it stops accepting, waits for in-flight requests (up to
// http.shutdown_timeout) and returns.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: a.handler,
		// Total time for the headers. Bodies have an idle timeout instead
		// (http.read_body_timeout, slowclient.go): ReadTimeout would be a
		// deadline for the whole request and cut off large uploads.
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       a.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := a.arts.Ready(rctx); err != nil {
		// Not fatal: the API keeps serving, artifact calls answer 503 and /readyz fails.
		a.log.Error("artifact storage is not ready", "backend", a.cfg.Artifacts.Backend, "err", err)
	}
	cancel()
	a.hooks.Start(ctx)
	a.startServe(ctx)
	scheme := "http"
	if a.tls != nil {
		scheme = "https"
		srv.TLSConfig = a.tls.tlsConfig()
	}
	a.log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "data_dir", a.cfg.DataDir, "version", BuildVersion())
	defer a.startJobs(ctx, ln.Addr())() // stops the scheduler after the HTTP server
	// At most http.max_conns_per_client connections per client address;
	// request bodies have their idle timeout in the middleware (slowclient.go).
	ln = newConnLimiter(ln, a.cfg.HTTP.MaxConnsPerClient, a.log, a.metrics)
	errc := make(chan error, 1)
	go func() {
		if a.tls != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "timeout", a.cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		a.log.Warn("in-flight requests did not finish in time", "err", err)
		srv.Close()
	}
	a.hooks.Stop()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close closes the store and the artifact backend. Call after Serve returned.
func (a *App) Close() error {
	a.hooks.Stop()
	err := a.closeServe()
	a.stopAuditQueue()
	err = errors.Join(err, a.store.Close())
	if a.arts != nil {
		err = errors.Join(err, a.arts.Close())
	}
	return err
}

// handlerFunc is an HTTP handler that returns its error; serveErr writes it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *App) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	}
}

func (a *App) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae.Status == http.StatusInternalServerError && isNoSpace(err) {
		ae = a.noSpaceError(err) // an artifact write on a full disk
	}
	if ae.Status >= 500 && ae.Status != http.StatusServiceUnavailable && ae.Status != http.StatusNotImplemented {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	b, _ := json.Marshal(map[string]string{"error_code": ae.Code, "message": ae.Msg})
	writeRaw(w, ae.Status, b)
}

// backup streams a consistent copy of mlbox.db (metric log flushed first):
// the file a restore puts in place of the data dir's mlbox.db.
func (a *App) backup(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("format") {
	case "archive":
		a.backupArchive(w, r)
		return
	case "", "db":
	default:
		a.writeError(w, r, invalidParam("format must be 'archive' (metadata and artifacts) or 'db' (metadata only)"))
		return
	}
	started := false
	_, err := a.store.Backup(r.Context(), func(size int64) io.Writer {
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", `attachment; filename="mlbox-`+time.Now().UTC().Format("20060102-150405")+`.db"`)
		h.Set("Cache-Control", "no-store")
		return w
	})
	if err == nil {
		return
	}
	if !started {
		a.writeError(w, r, err)
		return
	}
	// Headers and part of the body are out: cut the connection, so the
	// client sees a short body (Content-Length) instead of a good file.
	a.log.Error("backup failed while streaming", "err", err)
	panic(http.ErrAbortHandler)
}

func (a *App) routes() {
	m := a.mux
	m.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("OK")) })
	m.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("OK")) })
	m.HandleFunc("GET /readyz", a.readyz)
	m.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(MLflowVersion)) })
	m.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		a.metrics.WritePrometheus(w)
		metrics.WriteProcessMetrics(w)
	})
	m.HandleFunc("GET /api/mlbox/v1/version", func(w http.ResponseWriter, r *http.Request) {
		_ = writeJSON(w, map[string]string{"version": BuildVersion(), "mlflow_api": MLflowVersion})
	})
	m.HandleFunc("GET /api/mlbox/v1/backup", a.backup)
	a.importRoutes()
	a.registerUIAPI(m)
	a.userRoutes()
	a.tokenRoutes()
	a.sessionRoutes()
	a.trackingRoutes()
	a.artifactRoutes()
	a.loggedModelRoutes()
	a.registryRoutes()
	a.jobRoutes()
	a.webhookRoutes()
	a.serveRoutes()
	// Unknown API routes are a plain-text 404, which the MLflow client maps
	// to ENDPOINT_NOT_FOUND (it falls back between endpoints on that).
	for _, p := range []string{"/api/", "/ajax-api/"} {
		m.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	}
	uih := ui.Handler()
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		uih.ServeHTTP(w, r)
	})
}

// readyz answers 200 "OK" when the server serves everything, else 503
// saying what it waits for: the run index being built at start-up
// ("starting"), the artifact storage.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if ok, runs := a.store.Ready(); !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("starting: building the run index (" + strconv.FormatInt(runs, 10) + " runs read)"))
		return
	}
	if ro, why := a.store.ReadOnly(); ro {
		// Reads are served: stay in rotation, and say why writes are not.
		_, _ = w.Write([]byte("OK, read-only: " + why))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := a.arts.Ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("artifact storage not ready: " + err.Error()))
		return
	}
	_, _ = w.Write([]byte("OK"))
}

// mlflow registers an MLflow RPC under /api/2.0/mlflow and /ajax-api/2.0/mlflow.
func (a *App) mlflow(method, path string, h handlerFunc) {
	hf := a.wrap(h)
	for _, prefix := range []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"} {
		a.mux.HandleFunc(method+" "+prefix+path, hf)
	}
}

// mlflowRead registers a read RPC for both GET (query) and POST (JSON body).
func (a *App) mlflowRead(path string, h handlerFunc) {
	a.mlflow(http.MethodGet, path, h)
	a.mlflow(http.MethodPost, path, h)
}

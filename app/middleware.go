package app

import (
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// statusWriter records the status code for metrics and logs, and says in
// a Server-Timing header ("app;dur=1.234", milliseconds) how long the
// server took until the response started: for API answers, which are
// built whole before they are sent, the server-side time of the request.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	start  time.Time
}

// begin records the status and stamps the timing header, once.
func (w *statusWriter) begin(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if !w.start.IsZero() {
		w.Header().Set("Server-Timing", "app;dur="+strconv.FormatFloat(float64(time.Since(w.start).Microseconds())/1000, 'f', 3, 64))
	}
}

func (w *statusWriter) WriteHeader(code int) {
	w.begin(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.begin(http.StatusOK) // the implicit 200, if nothing came first
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom keeps the underlying writer's ReadFrom reachable, so artifact
// downloads of local files go out with sendfile(2).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	w.begin(http.StatusOK) // the implicit 200, if nothing came first
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

// routeMetrics caches the per-route, per-status series so the hot path
// does no string building after warm-up.
type routeMetrics struct {
	set      *metrics.Set
	mu       sync.RWMutex
	counters map[[2]string]*metrics.Counter
	hists    map[string]*metrics.PrometheusHistogram
}

func (rm *routeMetrics) observe(route string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	k := [2]string{route, code}
	rm.mu.RLock()
	c, h := rm.counters[k], rm.hists[route]
	rm.mu.RUnlock()
	if c == nil || h == nil {
		rm.mu.Lock()
		if c = rm.counters[k]; c == nil {
			c = rm.set.GetOrCreateCounter(`mlbox_http_requests_total{route=` + strconv.Quote(route) + `,code="` + code + `"}`)
			rm.counters[k] = c
		}
		if h = rm.hists[route]; h == nil {
			h = rm.set.GetOrCreatePrometheusHistogram(`mlbox_http_request_duration_seconds{route=` + strconv.Quote(route) + `}`)
			rm.hists[route] = h
		}
		rm.mu.Unlock()
	}
	c.Inc()
	h.Update(d.Seconds())
}

// middleware adds the idle timeout on request bodies (slowclient.go), CORS
// answers and the cross-origin check (origin.go), the brute-force lockout
// (ratelimit.go), authentication (auth.go), request metrics, debug access
// logs and panic recovery.
func (a *App) middleware(next http.Handler) http.Handler {
	rm := &routeMetrics{set: a.metrics, counters: map[[2]string]*metrics.Counter{}, hists: map[string]*metrics.PrometheusHistogram{}}
	inflight := a.metrics.NewGauge("mlbox_http_requests_in_flight", nil)
	authOn, token := a.authOn(), sha256.Sum256([]byte(a.cfg.HTTP.AuthToken))
	limiter := newAuthLimiter(a.cfg.HTTP, a.log, a.metrics)
	a.limiter = limiter
	origins := newOriginPolicy(a.cfg.HTTP.CORSAllowedOrigins)
	bodyTimeouts := a.metrics.NewCounter("mlbox_http_body_timeouts_total")
	crossOrigin := a.metrics.NewCounter("mlbox_http_cross_origin_refused_total")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		guardBody(w, r, a.cfg.HTTP.ReadBodyTimeout, bodyTimeouts.Inc)
		sw := &statusWriter{ResponseWriter: w, start: start}
		inflight.Inc()
		defer func() {
			inflight.Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", p)
				if sw.status == 0 {
					a.writeError(sw, r, errPanic)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			d := time.Since(start)
			rm.observe(route, sw.status, d)
			if a.log.Enabled(r.Context(), -4) {
				a.log.Debug("request", "method", r.Method, "path", r.URL.Path, "route", route, "status", sw.status, "bytes", sw.bytes, "duration_ms", float64(d.Microseconds())/1000)
			}
		}()
		if origins.corsPreflight(sw, r) {
			return
		}
		if authOn && !authExempt(r.URL.Path) {
			key := clientKey(a.clientAddr(r))
			if d := limiter.lockedFor(key); d > 0 {
				sw.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
				a.writeError(sw, r, errLockedOut)
				return
			}
			p, ok := a.authenticate(r, token)
			if !ok || (p == nil && a.acct == nil) {
				// Wrong credentials never pass as anonymous; with only the
				// service token, nothing is open without it.
				if !ok {
					limiter.failed(key, r.RemoteAddr)
					a.auditFailedCredentials(r)
				}
				a.challenge(sw, r)
				a.writeError(sw, r, errUnauthenticated)
				return
			}
			if p != nil {
				if !csrfOK(r, p) {
					a.writeError(sw, r, errCSRF)
					return
				}
				if p.session == nil {
					limiter.succeeded(key)
				}
				r = r.WithContext(withPrincipal(r.Context(), p))
			}
		}
		if src := origins.crossSite(r); src != "" {
			crossOrigin.Inc()
			if a.log.Enabled(r.Context(), slog.LevelDebug) {
				a.log.Debug("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", src, "host", r.Host)
			}
			a.writeError(sw, r, errCrossOrigin(src))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && origins.allows(o) {
			origins.corsHeaders(sw.Header(), o)
		}
		// ServeMux would answer a path with dot segments with a redirect to
		// its cleaned form; for artifacts that is a traversal attempt.
		if strings.Contains(r.URL.Path, "/mlflow-artifacts/") && hasDotSegment(r.URL.Path) {
			a.writeError(sw, r, invalidParam("Invalid path"))
			return
		}
		next.ServeHTTP(sw, r)
	})
}

func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return true
		}
	}
	return false
}

var errPanic = &apiError{http.StatusInternalServerError, "INTERNAL_ERROR", "internal error"}

func (a *App) registerMetrics() {
	st := a.store.Stats()
	a.metrics.NewGauge("mlbox_store_size_bytes", func() float64 { return float64(a.store.Size()) })
	a.metrics.NewGauge("mlbox_store_runs", func() float64 { return float64(a.store.RunCount()) })
	a.metrics.NewGauge(`mlbox_store_commits_total`, func() float64 { return float64(st.Commits.Load()) })
	a.metrics.NewGauge(`mlbox_store_writes_total`, func() float64 { return float64(st.Writes.Load()) })
	a.metrics.NewGauge(`mlbox_store_failed_writes_total`, func() float64 { return float64(st.FailedTx.Load()) })
	a.metrics.NewGauge(`mlbox_store_commit_seconds_total`, func() float64 { return float64(st.CommitNanos.Load()) / 1e9 })
	a.metrics.NewGauge(`mlbox_store_metric_log_syncs_total`, func() float64 { return float64(st.WALSyncs.Load()) })
	a.metrics.NewGauge(`mlbox_store_metric_log_writes_total`, func() float64 { return float64(st.WALWrites.Load()) })
	a.metrics.NewGauge(`mlbox_store_metric_log_sync_seconds_total`, func() float64 { return float64(st.WALSyncNanos.Load()) / 1e9 })
	a.metrics.NewGauge(`mlbox_store_metric_log_flushes_total`, func() float64 { return float64(st.Flushes.Load()) })
	a.metrics.NewGauge(`mlbox_store_metric_log_flush_seconds_total`, func() float64 { return float64(st.FlushNanos.Load()) / 1e9 })
	a.metrics.NewGauge(`mlbox_store_metric_log_pending_points`, func() float64 { return float64(a.store.PendingMetrics()) })
	a.metrics.NewGauge("mlbox_uptime_seconds", func() float64 { return time.Since(a.started).Seconds() })
}

package serve

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Role is what a loaded version is doing for a request.
type Role uint8

// The roles. A version serving several roles has one set of metrics per
// role.
const (
	RoleMain     Role = iota // the deployment's target (alias, then stage)
	RoleCanary               // the canary alias, for its share of requests
	RoleShadow               // the shadow alias, mirrored, answer discarded
	RoleExplicit             // addressed by /models/{name}@{alias} or /versions/{v}
	numRoles
)

func (r Role) String() string {
	switch r {
	case RoleMain:
		return "main"
	case RoleCanary:
		return "canary"
	case RoleShadow:
		return "shadow"
	case RoleExplicit:
		return "explicit"
	}
	return "role" + strconv.Itoa(int(r))
}

// Metric names. Labels: model, version, role (main, canary, shadow,
// explicit) and, for requests, code (HTTP status).
const (
	metricRequests = "mlbox_serve_requests_total"
	metricErrors   = "mlbox_serve_model_errors_total"
	metricLatency  = "mlbox_serve_request_duration_seconds"
	metricRows     = "mlbox_serve_rows_total"
	metricInFlight = "mlbox_serve_requests_in_flight"
	metricShadowDr = "mlbox_serve_shadow_dropped_total"
	metricLoads    = "mlbox_serve_loads_total"
	metricRollback = "mlbox_serve_rollbacks_total"
	metricRejected = "mlbox_serve_rejected_total"
)

// latencyBuckets suit in-process inference: from 100 µs to 10 s.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// statusCodes are the statuses a request that reached a version can end
// with; their counters are created up front so the hot path only indexes.
var statusCodes = [...]int{200, 400, 413, 499, 500, 503, 504}

// roleMetrics are one version's metric handles in one role, created once
// (on first use) so that serving a request builds no metric names.
type roleMetrics struct {
	set      *metrics.Set
	labels   string // model="…",version="…",role="…"
	codes    [len(statusCodes)]*metrics.Counter
	errs     [KindModelReported + 1]*metrics.Counter
	latency  *metrics.PrometheusHistogram
	rows     *metrics.Counter
	requests atomic.Int64
	failures atomic.Int64 // requests whose model call failed
	win      *window
}

func newRoleMetrics(set *metrics.Set, model, version string, role Role, span time.Duration) *roleMetrics {
	labels := `model=` + strconv.Quote(model) + `,version=` + strconv.Quote(version) + `,role="` + role.String() + `"`
	rm := &roleMetrics{set: set, labels: labels, win: newWindow(span)}
	for i, c := range statusCodes {
		rm.codes[i] = set.GetOrCreateCounter(metricRequests + `{` + labels + `,code="` + strconv.Itoa(c) + `"}`)
	}
	for k := KindTrap; k <= KindModelReported; k++ {
		rm.errs[k] = set.GetOrCreateCounter(metricErrors + `{` + labels + `,kind="` + kindLabel(k) + `"}`)
	}
	rm.latency = set.GetOrCreatePrometheusHistogramExt(metricLatency+`{`+labels+`}`, latencyBuckets)
	rm.rows = set.GetOrCreateCounter(metricRows + `{` + labels + `}`)
	return rm
}

func kindLabel(k ErrorKind) string {
	switch k {
	case KindBadOutput:
		return "bad_output"
	case KindModelReported:
		return "reported"
	}
	return k.String()
}

// observe records one request that reached this version. kind is the
// model error's kind, or 0; modelCalled says whether the request got as
// far as the module (decode errors do not count against a version in the
// rollback window).
func (rm *roleMetrics) observe(now time.Time, status int, lat time.Duration, rows int, kind ErrorKind, modelCalled bool) {
	rm.requests.Add(1)
	found := false
	for i, c := range statusCodes {
		if c == status {
			rm.codes[i].Inc()
			found = true
			break
		}
	}
	if !found {
		rm.set.GetOrCreateCounter(metricRequests + `{` + rm.labels + `,code="` + strconv.Itoa(status) + `"}`).Inc()
	}
	if kind != 0 && int(kind) < len(rm.errs) {
		rm.errs[kind].Inc()
	}
	if status == 200 {
		rm.rows.Add(rows)
	}
	rm.latency.Update(lat.Seconds())
	if modelCalled {
		failed := status != 200
		if failed {
			rm.failures.Add(1)
		}
		rm.win.add(now, lat, failed)
	}
}

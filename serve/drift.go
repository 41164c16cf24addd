package serve

// Drift: how far the inputs a model is served have moved from its
// training data, per feature, as the population stability index (PSI)
// between the training histogram in the model's profile (profile.json,
// docs/wasm-abi.md §10) and the same bins filled with a sliding window of
// served rows.
//
//	PSI = Σ_b (a_b − e_b) · ln(a_b / e_b)
//
// over the profile's bins plus one "missing" bin (NaN), where
//
//	e_b = max(E_b / N_e, ε)   E_b: training count of bin b, N_e: profile rows
//	a_b = max(A_b / N_a, ε)   A_b: window count of bin b,   N_a: rows in the window
//	ε   = 1e-4
//
// Served values outside the edges count in the first or last bin
// (Histogram.Bin), so a shift shows as mass piling into the end bins.
// The floor ε keeps empty bins finite: a bin empty on both sides adds 0,
// a bin empty in training that gets 10% of the traffic adds about 0.69.
// Rules of thumb: below 0.1 no change, 0.1–0.2 moderate, above 0.2 a
// significant shift.
//
// Lock order: DriftMonitor.mu, then nothing; driftGauges.mu is taken
// without DriftMonitor.mu held.

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Drift defaults, applied to zero DriftConfig fields.
const (
	DefaultDriftWindow    = 1000
	DefaultDriftThreshold = 0.2
	DefaultDriftMinRows   = 100
	// DriftEpsilon floors bin proportions in the PSI.
	DriftEpsilon = 1e-4
	// DriftRearm: after an alert, a feature alerts again only once its PSI
	// has fallen below DriftRearm × Threshold and crossed it again.
	DriftRearm = 0.8
	// maxDriftCells bounds the window's memory (2 bytes per cell): the
	// window is shortened to maxDriftCells / features rows if needed.
	maxDriftCells = 1 << 22
	// maxDriftBins: a feature with more bins is left out of the PSI.
	maxDriftBins = math.MaxUint16 - 1
)

// DriftConfig configures a DriftMonitor.
type DriftConfig struct {
	// Window is the number of most recent rows compared with the profile.
	// 0 means DefaultDriftWindow.
	Window int
	// Threshold is the PSI at which a feature alerts. 0 means
	// DefaultDriftThreshold.
	Threshold float64
	// MinRows is the number of rows the window needs before PSIs are
	// reported and alerts can fire. 0 means min(DefaultDriftMinRows, Window).
	MinRows int
}

// DriftMonitor compares a model's served inputs with its training profile.
// Observe is cheap enough for the request path; PSIs are computed on
// demand, and alerts are checked on a separate goroutine every
// Window/20 observed rows. It is safe for concurrent use.
type DriftMonitor struct {
	model, version string
	cfg            DriftConfig
	alert          func(feature string, psi float64)

	nf       int
	names    []string
	edges    [][]float64
	nbins    []int       // bins per feature, without the missing bin
	expected [][]float64 // per feature: floored proportions, the missing bin last; nil: left out
	every    int         // rows between alert checks

	mu       sync.Mutex
	ring     []uint16  // window × nf bin indices; nbins[j] is "missing"
	counts   [][]int32 // per feature, nbins+1
	pos      int
	filled   int
	since    int
	observed uint64
	rejected uint64 // Observe calls with the wrong number of features

	checking atomic.Bool // a checkAlerts goroutine runs
	pending  atomic.Bool // a check was asked for since it started
	alertMu  sync.Mutex
	alerting []bool

	gauges *driftGauges
}

// NewDriftMonitor returns a monitor of model version's inputs against the
// feature histograms of p. alert, if not nil, is called (on its own
// goroutine, never on the caller of Observe) each time a feature's PSI
// reaches cfg.Threshold from below; it fires again for that feature only
// after the PSI has dropped under DriftRearm × Threshold.
func NewDriftMonitor(model, version string, p *Profile, cfg DriftConfig, alert func(feature string, psi float64)) *DriftMonitor {
	if cfg.Window <= 0 {
		cfg.Window = DefaultDriftWindow
	}
	if cfg.Threshold <= 0 {
		cfg.Threshold = DefaultDriftThreshold
	}
	nf := len(p.Features)
	if nf > 0 && cfg.Window*nf > maxDriftCells {
		cfg.Window = max(1, maxDriftCells/nf)
	}
	if cfg.MinRows <= 0 {
		cfg.MinRows = min(DefaultDriftMinRows, cfg.Window)
	}
	cfg.MinRows = min(cfg.MinRows, cfg.Window)
	d := &DriftMonitor{
		model: model, version: version, cfg: cfg, alert: alert, nf: nf,
		names: make([]string, nf), edges: make([][]float64, nf), nbins: make([]int, nf),
		expected: make([][]float64, nf), counts: make([][]int32, nf),
		ring: make([]uint16, cfg.Window*nf), alerting: make([]bool, nf),
		every: max(1, cfg.Window/20),
	}
	for j := range p.Features {
		h := &p.Features[j]
		d.names[j] = h.Name
		if d.names[j] == "" {
			d.names[j] = "f" + strconv.Itoa(j)
		}
		d.edges[j], d.nbins[j] = h.Edges, len(h.Counts)
		d.counts[j] = make([]int32, len(h.Counts)+1)
		var total int64 = h.Missing
		for _, c := range h.Counts {
			total += c
		}
		if total <= 0 || len(h.Counts) == 0 || len(h.Counts) > maxDriftBins || len(h.Edges) != len(h.Counts)+1 {
			continue // nothing to compare with
		}
		e := make([]float64, len(h.Counts)+1)
		for b, c := range h.Counts {
			e[b] = max(float64(c)/float64(total), DriftEpsilon)
		}
		e[len(h.Counts)] = max(float64(h.Missing)/float64(total), DriftEpsilon)
		d.expected[j] = e
	}
	return d
}

// Observe adds rows (row-major, nFeatures values per row) to the window,
// evicting the oldest. A call whose nFeatures differs from the profile's
// is ignored. It does not allocate, apart from starting the alert check
// (a goroutine) every Window/20 rows.
func (d *DriftMonitor) Observe(rows []float64, nFeatures int) {
	if nFeatures != d.nf || nFeatures == 0 {
		d.mu.Lock()
		d.rejected++
		d.mu.Unlock()
		return
	}
	n := len(rows) / nFeatures
	if n == 0 {
		return
	}
	d.mu.Lock()
	w := d.cfg.Window
	for i := 0; i < n; i++ {
		row := rows[i*nFeatures : (i+1)*nFeatures]
		cells := d.ring[d.pos*nFeatures : (d.pos+1)*nFeatures]
		full := d.filled == w
		for j, v := range row {
			if d.expected[j] == nil {
				continue
			}
			b := binIndex(d.edges[j], d.nbins[j], v)
			if full {
				d.counts[j][cells[j]]--
			}
			cells[j] = uint16(b)
			d.counts[j][b]++
		}
		if d.pos++; d.pos == w {
			d.pos = 0
		}
		if !full {
			d.filled++
		}
	}
	d.observed += uint64(n)
	d.since += n
	check := d.alert != nil && d.since >= d.every && d.filled >= d.cfg.MinRows
	if check {
		d.since = 0
	}
	d.mu.Unlock()
	if check {
		d.pending.Store(true)
		if d.checking.CompareAndSwap(false, true) {
			go d.checkAlerts()
		}
	}
}

// binIndex is Histogram.Bin without the allocation-free sort.Search
// closure: the bin of v clamped into [0, nbins), or nbins for NaN.
func binIndex(edges []float64, nbins int, v float64) int {
	if v != v {
		return nbins
	}
	lo, hi := 0, len(edges) // the first edge > v
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if edges[mid] <= v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return min(max(lo-1, 0), nbins-1)
}

// PSI returns each feature's PSI over the current window (see the package
// comment for the formula). It is empty until the window holds MinRows
// rows; features whose profile histogram is empty are left out.
func (d *DriftMonitor) PSI() map[string]float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]float64, d.nf)
	if d.filled < d.cfg.MinRows || d.filled == 0 {
		return out
	}
	for j := range d.nf {
		if d.expected[j] != nil {
			out[d.names[j]] = d.psiLocked(j)
		}
	}
	return out
}

// featurePSI is feature j's PSI, NaN when there is not enough data.
func (d *DriftMonitor) featurePSI(j int) float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.filled < d.cfg.MinRows || d.filled == 0 || d.expected[j] == nil {
		return math.NaN()
	}
	return d.psiLocked(j)
}

func (d *DriftMonitor) psiLocked(j int) float64 {
	na := float64(d.filled)
	var s float64
	for b, e := range d.expected[j] {
		a := max(float64(d.counts[j][b])/na, DriftEpsilon)
		s += (a - e) * math.Log(a/e)
	}
	return s
}

// Config returns the effective configuration (defaults applied, the
// window possibly shortened for wide models).
func (d *DriftMonitor) Config() DriftConfig { return d.cfg }

// DriftStats describes the monitor's window.
type DriftStats struct {
	Model, Version string
	Window         int    // capacity in rows
	Rows           int    // rows in the window
	Observed       uint64 // rows observed in total
	Rejected       uint64 // Observe calls ignored for a wrong number of features
	Threshold      float64
	Alerting       []string // features whose PSI is over the threshold (since the last check)
}

// Stats returns the window's state.
func (d *DriftMonitor) Stats() DriftStats {
	d.mu.Lock()
	s := DriftStats{Model: d.model, Version: d.version, Window: d.cfg.Window, Rows: d.filled,
		Observed: d.observed, Rejected: d.rejected, Threshold: d.cfg.Threshold}
	d.mu.Unlock()
	d.alertMu.Lock()
	for j, a := range d.alerting {
		if a {
			s.Alerting = append(s.Alerting, d.names[j])
		}
	}
	d.alertMu.Unlock()
	return s
}

// checkAlerts runs on its own goroutine, one at a time: it checks, and
// checks again while Observe asked for more checks meanwhile.
func (d *DriftMonitor) checkAlerts() {
	for {
		d.pending.Store(false)
		d.checkOnce()
		d.checking.Store(false)
		if !d.pending.Load() || !d.checking.CompareAndSwap(false, true) {
			return
		}
	}
}

// checkOnce computes the PSIs and calls alert for each feature that
// crossed the threshold upwards.
func (d *DriftMonitor) checkOnce() {
	psi := make([]float64, d.nf)
	d.mu.Lock()
	for j := range psi {
		psi[j] = math.NaN()
		if d.expected[j] != nil {
			psi[j] = d.psiLocked(j)
		}
	}
	d.mu.Unlock()
	type fire struct {
		name string
		psi  float64
	}
	var fires []fire
	d.alertMu.Lock()
	for j, v := range psi {
		switch {
		case math.IsNaN(v):
		case !d.alerting[j] && v >= d.cfg.Threshold:
			d.alerting[j] = true
			fires = append(fires, fire{d.names[j], v})
		case d.alerting[j] && v < DriftRearm*d.cfg.Threshold:
			d.alerting[j] = false
		}
	}
	d.alertMu.Unlock()
	for _, f := range fires {
		d.alert(f.name, f.psi)
	}
}

// SetMetrics exposes the monitor on set as
//
//	mlbox_model_feature_psi{model,version,feature}   PSI, NaN below MinRows
//	mlbox_model_drift_window_rows{model,version}     rows in the window
//
// replacing the gauges of an earlier monitor of the same model version.
// Close removes them.
func (d *DriftMonitor) SetMetrics(set *metrics.Set) {
	if set == nil {
		return
	}
	d.Close() // drop gauges of an earlier SetMetrics
	labels := `model="` + escapeLabel(d.model) + `",version="` + escapeLabel(d.version) + `"`
	g := &driftGauges{set: set}
	for j := range d.nf {
		if d.expected[j] == nil {
			continue
		}
		name := `mlbox_model_feature_psi{` + labels + `,feature="` + escapeLabel(d.names[j]) + `"}`
		g.add(d, name, func() float64 { return d.featurePSI(j) })
	}
	g.add(d, `mlbox_model_drift_window_rows{`+labels+`}`, func() float64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		return float64(d.filled)
	})
	d.mu.Lock()
	d.gauges = g
	d.mu.Unlock()
}

// Close removes the monitor's gauges (if another monitor has not taken
// them over). Observe may still be called; it is harmless.
func (d *DriftMonitor) Close() {
	d.mu.Lock()
	g := d.gauges
	d.gauges = nil
	d.mu.Unlock()
	g.remove(d)
}

// driftGauges are the gauges one monitor registered on one set.
// gaugeOwners records which monitor owns each registered name, so that a
// monitor closed after its successor registered the same names leaves
// the successor's gauges alone.
type driftGauges struct {
	set   *metrics.Set
	names []string
}

type gaugeKey struct {
	set  *metrics.Set
	name string
}

var (
	gaugeMu     sync.Mutex
	gaugeOwners = map[gaugeKey]*DriftMonitor{}
)

func (g *driftGauges) add(d *DriftMonitor, name string, f func() float64) {
	gaugeMu.Lock()
	defer gaugeMu.Unlock()
	g.set.UnregisterMetric(name)
	g.set.NewGauge(name, f)
	gaugeOwners[gaugeKey{g.set, name}] = d
	g.names = append(g.names, name)
}

func (g *driftGauges) remove(d *DriftMonitor) {
	if g == nil {
		return
	}
	gaugeMu.Lock()
	defer gaugeMu.Unlock()
	for _, name := range g.names {
		k := gaugeKey{g.set, name}
		if gaugeOwners[k] == d {
			g.set.UnregisterMetric(name)
			delete(gaugeOwners, k)
		}
	}
}

// escapeLabel escapes a Prometheus label value.
func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

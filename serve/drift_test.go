package serve

import (
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func irisProfile(t testing.TB) *Profile {
	t.Helper()
	b, err := os.ReadFile(examplePath("iris-go", "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseProfile(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// irisRows reads the 150 iris rows (4 features, row-major).
func irisRows(t testing.TB) []float64 {
	t.Helper()
	f, err := os.Open(examplePath("iris-go", "iris.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []float64
	for _, r := range recs[1:] {
		for _, s := range r[:4] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, v)
		}
	}
	return rows
}

type alerts struct {
	mu  sync.Mutex
	got []string
}

func (a *alerts) add(f string, psi float64) {
	a.mu.Lock()
	a.got = append(a.got, f)
	a.mu.Unlock()
}

// wait waits for the alert goroutine to finish and returns the alerts.
func (a *alerts) wait(d *DriftMonitor) []string {
	for d.checking.Load() || d.pending.Load() {
		time.Sleep(time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got...)
}

func TestDriftTrainingDataHasZeroPSI(t *testing.T) {
	p, rows := irisProfile(t), irisRows(t)
	d := NewDriftMonitor("iris", "1", p, DriftConfig{Window: 150, MinRows: 150}, nil)
	d.Observe(rows[:4*100], 4)
	if psi := d.PSI(); len(psi) != 0 {
		t.Fatalf("PSI below MinRows: %v", psi)
	}
	d.Observe(rows[4*100:], 4)
	psi := d.PSI()
	if len(psi) != 4 {
		t.Fatalf("PSI = %v", psi)
	}
	for f, v := range psi {
		if math.Abs(v) > 1e-12 {
			t.Errorf("%s: PSI %v on the training data itself", f, v)
		}
	}
	// A window of the same rows in another order, twice over: still 0.
	d.Observe(rows, 4)
	for f, v := range d.PSI() {
		if math.Abs(v) > 1e-12 {
			t.Errorf("%s: PSI %v after a full window turn", f, v)
		}
	}
}

func TestDriftPSIFormula(t *testing.T) {
	p := &Profile{Format: ProfileFormat, Rows: 100, Features: []Histogram{{
		Name: "x", Edges: []float64{0, 1, 2, 3}, Counts: []int64{50, 50, 0},
	}}}
	d := NewDriftMonitor("m", "1", p, DriftConfig{Window: 10, MinRows: 10}, nil)
	// 2 in bin 0, 5 in bin 1 (one clamped from above the last edge? no:
	// 9 is clamped into bin 2), 2 in bin 2, 1 missing.
	d.Observe([]float64{0.5, -4, 1, 1.5, 1.5, 1.9, 1.99, 2.5, 9, math.NaN()}, 1)
	a := []float64{0.2, 0.5, 0.2, 0.1}
	e := []float64{0.5, 0.5, DriftEpsilon, DriftEpsilon}
	var want float64
	for i := range a {
		want += (a[i] - e[i]) * math.Log(a[i]/e[i])
	}
	if got := d.PSI()["x"]; math.Abs(got-want) > 1e-12 {
		t.Fatalf("PSI = %v, want %v", got, want)
	}
}

func TestDriftBinMatchesHistogram(t *testing.T) {
	h := &irisProfile(t).Features[2]
	vals := append([]float64{math.Inf(-1), math.Inf(1), -1e300, 1e300, 0, math.NaN()}, h.Edges...)
	for _, e := range h.Edges {
		vals = append(vals, math.Nextafter(e, -1e9), math.Nextafter(e, 1e9), e+0.01)
	}
	for _, v := range vals {
		want := h.Bin(v)
		if want < 0 {
			want = len(h.Counts)
		}
		if got := binIndex(h.Edges, len(h.Counts), v); got != want {
			t.Errorf("bin(%v) = %d, Histogram.Bin says %d", v, got, want)
		}
	}
}

func TestDriftAlertsOncePerCrossing(t *testing.T) {
	p, rows := irisProfile(t), irisRows(t)
	var al alerts
	// iris.csv is ordered by class, so only a full window looks like the
	// training data: no check before then (MinRows = Window).
	d := NewDriftMonitor("iris", "1", p, DriftConfig{Window: 300, Threshold: 0.2, MinRows: 300}, al.add)
	shifted := make([]float64, len(rows))
	copy(shifted, rows)
	for i := 2; i < len(shifted); i += 4 {
		shifted[i] += 3 // petal_length moves 3 cm up
	}
	feed := func(r []float64, times int) {
		for range times {
			for i := 0; i < len(r); i += 4 * 10 {
				d.Observe(r[i:min(i+40, len(r))], 4)
			}
		}
	}
	feed(rows, 2)
	if got := al.wait(d); len(got) != 0 {
		t.Fatalf("alerts on training data: %v", got)
	}
	feed(shifted, 2)
	if got := al.wait(d); len(got) != 1 || got[0] != "petal_length" {
		t.Fatalf("alerts after the shift: %v (PSI %v)", got, d.PSI())
	}
	if psi := d.PSI(); psi["petal_length"] < 1 || psi["sepal_length"] > 1e-9 {
		t.Fatalf("PSI %v", psi)
	}
	if s := d.Stats(); len(s.Alerting) != 1 || s.Rows != 300 || s.Observed != 600 {
		t.Fatalf("stats %+v", s)
	}
	feed(shifted, 3) // still drifted: no new alert
	if got := al.wait(d); len(got) != 1 {
		t.Fatalf("repeated alerts: %v", got)
	}
	feed(rows, 3) // back to normal: re-armed
	if got := al.wait(d); len(got) != 1 || len(d.Stats().Alerting) != 0 {
		t.Fatalf("alerts %v, alerting %v", got, d.Stats().Alerting)
	}
	feed(shifted, 2)
	if got := al.wait(d); len(got) != 2 {
		t.Fatalf("second crossing: %v", got)
	}
}

func TestDriftIgnoresWrongShape(t *testing.T) {
	d := NewDriftMonitor("iris", "1", irisProfile(t), DriftConfig{}, nil)
	d.Observe([]float64{1, 2, 3}, 3)
	d.Observe([]float64{1, 2, 3}, 4) // less than a row
	if s := d.Stats(); s.Rows != 0 || s.Rejected != 1 || s.Window != DefaultDriftWindow {
		t.Fatalf("stats %+v", s)
	}
}

func TestDriftObserveDoesNotAllocate(t *testing.T) {
	rows := irisRows(t)
	d := NewDriftMonitor("iris", "1", irisProfile(t), DriftConfig{}, nil)
	if n := testing.AllocsPerRun(100, func() { d.Observe(rows[:4*8], 4) }); n != 0 {
		t.Fatalf("Observe allocates %v times per call", n)
	}
}

func TestDriftMetrics(t *testing.T) {
	p, rows := irisProfile(t), irisRows(t)
	set := metrics.NewSet()
	scrape := func() string {
		var b strings.Builder
		set.WritePrometheus(&b)
		return b.String()
	}
	d1 := NewDriftMonitor(`ir"is`, "1", p, DriftConfig{Window: 150, MinRows: 150}, nil)
	d1.SetMetrics(set)
	d1.SetMetrics(set) // idempotent
	if s := scrape(); !strings.Contains(s, `mlbox_model_feature_psi{model="ir\"is",version="1",feature="sepal_length"} NaN`) {
		t.Fatalf("before MinRows:\n%s", s)
	}
	d1.Observe(rows, 4)
	s := scrape()
	if !strings.Contains(s, `mlbox_model_feature_psi{model="ir\"is",version="1",feature="petal_width"} 0`) ||
		!strings.Contains(s, `mlbox_model_drift_window_rows{model="ir\"is",version="1"} 150`) {
		t.Fatalf("metrics:\n%s", s)
	}
	// A successor for the same version takes the gauges over; closing the
	// old monitor leaves them.
	d2 := NewDriftMonitor(`ir"is`, "1", p, DriftConfig{Window: 10}, nil)
	d2.SetMetrics(set)
	d1.Close()
	if s := scrape(); !strings.Contains(s, `mlbox_model_drift_window_rows{model="ir\"is",version="1"} 0`) {
		t.Fatalf("after the successor:\n%s", s)
	}
	d2.Close()
	if s := scrape(); strings.Contains(s, "mlbox_model_") {
		t.Fatalf("after Close:\n%s", s)
	}
}

func BenchmarkDriftObserve(b *testing.B) {
	rows := irisRows(b)
	d := NewDriftMonitor("iris", "1", irisProfile(b), DriftConfig{}, func(string, float64) {})
	b.ReportAllocs()
	for b.Loop() {
		d.Observe(rows[:4], 4)
	}
}

package serve

// Observability glue between the deployments and the request log
// (reqlog.go) and drift monitors (drift.go).

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// ObserveConfig plugs the request log and drift monitoring into a Manager.
type ObserveConfig struct {
	// RequestLog receives the requests; nil logs nothing. The manager
	// samples successful requests itself, at SampleRate, before it copies
	// their bodies, so that a request that is not logged costs nothing:
	// open the log with RequestLogConfig.SampleRate 1. Failed requests are
	// always logged.
	RequestLog *RequestLog
	SampleRate float64
	// Drift configures the drift monitor of every loaded version that has
	// a profile. DisableDrift turns drift monitoring off.
	Drift        DriftConfig
	DisableDrift bool
}

type observer struct {
	m       *Manager
	cfg     ObserveConfig
	skipped atomic.Uint64 // successful requests sampled out
}

func newObserver(m *Manager, cfg ObserveConfig) *observer {
	o := &observer{m: m, cfg: cfg}
	m.set.GetOrCreateGauge(`mlbox_serve_request_log_sampled_out_total`, func() float64 { return float64(o.skipped.Load()) })
	return o
}

// attach starts the drift monitor of a newly loaded version that has a
// profile. An alert emits a drift.detected event (webhooks) and logs.
func (o *observer) attach(lv *loadedVersion) {
	if o.cfg.DisableDrift || lv.profile == nil {
		return
	}
	m := o.m
	model, version := lv.model, lv.version
	alert := func(feature string, psi float64) {
		m.log.Warn("serve: input drift", "model", model, "version", version, "feature", feature, "psi", psi)
		if m.closed.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
		defer cancel()
		if err := m.st.Emit(ctx, "drift.detected", map[string]any{
			"name": model, "version": version, "feature": feature, "psi": psi,
			"threshold": lv.obs.threshold(),
		}); err != nil && ctx.Err() == nil {
			m.log.Error("serve: emitting drift.detected", "model", model, "error", err)
		}
	}
	d := NewDriftMonitor(model, version, lv.profile, o.cfg.Drift, alert)
	d.SetMetrics(m.set)
	lv.obs.drift = d
}

// serving tells the request log the column names of the version now
// serving a model, so masking rules apply to positional inputs too.
func (o *observer) serving(lv *loadedVersion) {
	if l := o.cfg.RequestLog; l != nil {
		l.SetInputNames(lv.model, lv.meta.InputNames())
	}
}

// request records one request. Successful requests are sampled here; only
// those logged are copied.
func (o *observer) request(ev *reqEvent) {
	l := o.cfg.RequestLog
	if l == nil {
		return
	}
	failed := ev.Status >= 400 || ev.Err != ""
	if !failed {
		if r := o.cfg.SampleRate; r <= 0 || r < 1 && rand.Float64() >= r {
			o.skipped.Add(1)
			return
		}
	}
	e := &RequestEntry{
		Time: ev.Time, Model: ev.Model, Version: ev.Version, Target: ev.Target, Route: ev.Route, Client: ev.Client,
		Status: ev.Status, Latency: ev.Latency, Rows: ev.Rows, Error: ev.Err,
	}
	switch {
	case len(ev.Input) > 0:
		e.Input = append([]byte(nil), ev.Input...)
	case ev.Inputs != nil && ev.NFeatures > 0:
		e.Input = appendData(nil, ev.Inputs, ev.NFeatures)
	}
	if len(ev.Output) > 0 {
		e.Output = append([]byte(nil), ev.Output...)
	}
	if ev.meta != nil {
		// the names of the version that answered, not of whichever
		// version serves when the writer gets to the entry
		e.inputNames = ev.meta.InputNames()
	}
	l.Record(e)
}

// appendData encodes rows as {"data": [[...], ...]}.
func appendData(b []byte, in []float64, nf int) []byte {
	b = append(b, `{"data":`...)
	b = appendMatrix(b, in, len(in)/nf, nf, nf, 64)
	return append(b, '}')
}

// inputs feeds a version's inputs to its drift monitor.
func (o *observer) inputs(lv *loadedVersion, in []float64, nf int) {
	if d := lv.obs.drift; d != nil {
		d.Observe(in, nf)
	}
}

func (o *observer) close() {}

// versionObs is a loaded version's drift monitor.
type versionObs struct {
	drift *DriftMonitor
}

func (v *versionObs) close() {
	if v.drift != nil {
		v.drift.Close()
	}
}

func (v *versionObs) psi() map[string]float64 {
	if v.drift == nil {
		return nil
	}
	p := v.drift.PSI()
	if len(p) == 0 {
		return nil
	}
	return p
}

func (v *versionObs) threshold() float64 {
	if v.drift == nil {
		return 0
	}
	return v.drift.cfg.Threshold
}

// DriftStatus is one served version's drift (GET …/deployments/{name}/drift).
type DriftStatus struct {
	Version string             `json:"version"`
	Role    string             `json:"role"`
	Profile bool               `json:"profile"`
	Rows    int                `json:"rows"`
	Window  int                `json:"window"`
	PSI     map[string]float64 `json:"psi"`
	// Alerting lists the features over the threshold.
	Alerting  []string `json:"alerting,omitempty"`
	Threshold float64  `json:"threshold,omitempty"`
}

// Drift returns the drift of the versions a model's deployment serves.
func (m *Manager) Drift(ctx context.Context, name string) ([]DriftStatus, error) {
	if _, err := m.Status(ctx, name); err != nil {
		return nil, err
	}
	d := m.deployment(name)
	out := []DriftStatus{}
	if d == nil {
		return out, nil
	}
	r := d.route.Load()
	for i, s := range []*slot{r.main, r.canary, r.shadow} {
		if s == nil {
			continue
		}
		ds := DriftStatus{Version: s.lv.version, Role: Role(i).String(), PSI: map[string]float64{}}
		if dm := s.lv.obs.drift; dm != nil {
			st := dm.Stats()
			ds.Profile, ds.Rows, ds.Window, ds.Alerting, ds.Threshold = true, st.Rows, st.Window, st.Alerting, st.Threshold
			if p := dm.PSI(); p != nil {
				ds.PSI = p
			}
		}
		out = append(out, ds)
	}
	return out, nil
}

// RequestLog returns the request log (nil when there is none).
func (m *Manager) RequestLog() *RequestLog { return m.cfg.Observe.RequestLog }

//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one endpoint under load.
type target struct {
	Name  string `json:"name"` // "mlbox iris /predict"
	URL   string `json:"url"`
	body  []byte
	check func(status int, body []byte) error
	cpu   func() (time.Duration, bool) // the server's CPU time, if known
	// netHTTP: use net/http's client instead of rawConn.
	netHTTP bool
	// newConn: one connection per request (Connection: close).
	newConn bool
}

// requester sends one target's request over one worker's connection(s).
type requester interface {
	send(ctx context.Context, buf *bytes.Buffer, check bool) error
	close()
}

func newRequester(t *target, c *http.Client) (requester, error) {
	if t.netHTTP {
		if t.newConn {
			c = &http.Client{Timeout: c.Timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true}}
		}
		return &netRequester{c: c, t: t}, nil
	}
	rc, err := newRawConn(t)
	if err != nil {
		return nil, err
	}
	return &rawRequester{rc: rc, t: t}, nil
}

type netRequester struct {
	c *http.Client
	t *target
}

func (n *netRequester) send(ctx context.Context, buf *bytes.Buffer, check bool) error {
	return post(ctx, n.c, n.t, buf, check)
}

func (n *netRequester) close() {}

type rawRequester struct {
	rc *rawConn
	t  *target
}

func (r *rawRequester) send(_ context.Context, buf *bytes.Buffer, check bool) error {
	status, err := r.rc.do(buf, true)
	if err != nil {
		return err
	}
	if status != http.StatusOK || check {
		if r.t.check != nil {
			return r.t.check(status, buf.Bytes())
		}
		if status != http.StatusOK {
			return fmt.Errorf("HTTP %d: %.200s", status, buf.Bytes())
		}
	}
	return nil
}

func (r *rawRequester) close() { r.rc.close() }

// loadResult is one measured run against one target.
type loadResult struct {
	Target      string  `json:"target"`
	Mode        string  `json:"mode"`                  // closed or open
	Concurrency int     `json:"concurrency,omitempty"` // closed loop: requests in flight
	Rate        float64 `json:"rate,omitempty"`        // open loop: offered req/s
	Requests    int     `json:"requests"`
	Errors      int64   `json:"errors"`
	RPS         float64 `json:"rps"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	// Open loop: latency measured from the moment the request was sent
	// rather than scheduled (excludes the driver's own lateness).
	SvcP99Ms float64 `json:"service_p99_ms,omitempty"`
	// Open loop: p99 of how late requests went out (0 when the driver
	// kept the schedule): behind the connection's previous request, or
	// the driver short of CPU.
	LagP99Ms    float64 `json:"driver_lag_p99_ms,omitempty"`
	ServerCores float64 `json:"server_cores,omitempty"`
	DriverCores float64 `json:"driver_cores,omitempty"`
	FirstError  string  `json:"first_error,omitempty"`
}

func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// post sends one request and reads the whole answer.
func post(ctx context.Context, c *http.Client, t *target, buf *bytes.Buffer, check bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	buf.Reset()
	_, err = io.Copy(buf, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || check {
		if t.check != nil {
			return t.check(resp.StatusCode, buf.Bytes())
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes())
		}
	}
	return nil
}

// cpuMark snapshots CPU times at the start of the measured interval.
type cpuMark struct {
	self, srv     time.Duration
	selfOK, srvOK bool
}

func markCPU(t *target) cpuMark {
	var m cpuMark
	m.self, m.selfOK = selfCPUTime()
	if t.cpu != nil {
		m.srv, m.srvOK = t.cpu()
	}
	return m
}

func (m cpuMark) fill(r *loadResult, t *target, wall time.Duration) {
	if s, ok := selfCPUTime(); ok && m.selfOK {
		r.DriverCores = float64(s-m.self) / float64(wall)
	}
	if t.cpu != nil && m.srvOK {
		if s, ok := t.cpu(); ok {
			r.ServerCores = float64(s-m.srv) / float64(wall)
		}
	}
}

// closedLoop runs conc workers, each sending its next request as soon as
// the previous one is answered, for warmup (not measured) then dur.
func closedLoop(ctx context.Context, t *target, conc int, warmup, dur time.Duration) loadResult {
	c := newClient(conc)
	defer c.CloseIdleConnections()
	start := time.Now()
	from, end := start.Add(warmup), start.Add(warmup+dur)
	var (
		wg       sync.WaitGroup
		errs     atomic.Int64
		firstErr atomic.Value
		mu       sync.Mutex
		all      []int64
	)
	markCh := make(chan cpuMark, 1)
	markTimer := time.AfterFunc(warmup, func() { markCh <- markCPU(t) })
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]int64, 0, 1<<16)
			var buf bytes.Buffer
			rq, err := newRequester(t, c)
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer rq.close()
			for i := 0; ; i++ {
				t0 := time.Now()
				if t0.After(end) || ctx.Err() != nil {
					break
				}
				err := rq.send(ctx, &buf, i == 0 && w == 0)
				if t0.Before(from) {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat = append(lat, int64(time.Since(t0)))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	markTimer.Stop()
	var mark cpuMark
	select {
	case mark = <-markCh:
	default:
	}
	r := summarize(all, dur)
	r.Target, r.Mode, r.Concurrency, r.Errors = t.Name, "closed", conc, errs.Load()
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	mark.fill(&r, t, dur)
	return r
}

// openLoop offers rate requests per second on a fixed schedule, whatever
// the answers' latency, for warmup then dur, as wrk2 does: request i is
// due at start + i/rate and goes out on connection i mod conns, whose
// worker sleeps until it is due. Latency counts from the due time, so
// queueing (in the server, or behind a connection's previous request) is
// included; "lag" is how late requests went out, "svc" the latency from
// the actual send.
func openLoop(ctx context.Context, t *target, rate float64, warmup, dur time.Duration, conns int) loadResult {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	start := time.Now().Add(20 * time.Millisecond) // every worker is ready
	from := start.Add(warmup)
	n := int(rate * (warmup + dur).Seconds())
	interval := float64(time.Second) / rate
	var (
		wg            sync.WaitGroup
		errs          atomic.Int64
		firstErr      atomic.Value
		mu            sync.Mutex
		all, svc, lag []int64
	)
	markCh := make(chan cpuMark, 1)
	markTimer := time.AfterFunc(time.Until(from), func() { markCh <- markCPU(t) })
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := n/conns + 16
			lat, own, late := make([]int64, 0, size), make([]int64, 0, size), make([]int64, 0, size)
			var buf bytes.Buffer
			rq, err := newRequester(t, c)
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer rq.close()
			for i := w; i < n && ctx.Err() == nil; i += conns {
				due := start.Add(time.Duration(float64(i) * interval))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				sent := time.Now()
				err := rq.send(ctx, &buf, false)
				done := time.Now()
				if due.Before(from) {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat = append(lat, int64(done.Sub(due)))
				own = append(own, int64(done.Sub(sent)))
				late = append(late, int64(max(0, sent.Sub(due))))
			}
			mu.Lock()
			all, svc, lag = append(all, lat...), append(svc, own...), append(lag, late...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	markTimer.Stop()
	var mark cpuMark
	select {
	case mark = <-markCh:
	default:
	}
	r := summarize(all, dur)
	r.Target, r.Mode, r.Rate, r.Errors = t.Name, "open", rate, errs.Load()
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	slices.Sort(svc)
	if len(svc) > 0 {
		r.SvcP99Ms = ms(percentile(svc, 0.99))
	}
	slices.Sort(lag)
	if len(lag) > 0 {
		r.LagP99Ms = ms(percentile(lag, 0.99))
	}
	mark.fill(&r, t, dur)
	return r
}

func summarize(lat []int64, dur time.Duration) loadResult {
	slices.Sort(lat)
	r := loadResult{Requests: len(lat), RPS: float64(len(lat)) / dur.Seconds()}
	if len(lat) > 0 {
		r.P50Ms, r.P99Ms, r.P999Ms = ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), ms(percentile(lat, 0.999))
		r.MaxMs = ms(lat[len(lat)-1])
	}
	return r
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []int64, p float64) int64 {
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

// median combines repeated runs field by field.
func median(rs []loadResult) loadResult {
	if len(rs) == 0 {
		return loadResult{}
	}
	med := func(get func(*loadResult) float64) float64 {
		v := make([]float64, len(rs))
		for i := range rs {
			v[i] = get(&rs[i])
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m := rs[0]
	m.RPS = med(func(r *loadResult) float64 { return r.RPS })
	m.P50Ms = med(func(r *loadResult) float64 { return r.P50Ms })
	m.P99Ms = med(func(r *loadResult) float64 { return r.P99Ms })
	m.P999Ms = med(func(r *loadResult) float64 { return r.P999Ms })
	m.MaxMs = med(func(r *loadResult) float64 { return r.MaxMs })
	m.SvcP99Ms = med(func(r *loadResult) float64 { return r.SvcP99Ms })
	m.LagP99Ms = med(func(r *loadResult) float64 { return r.LagP99Ms })
	m.ServerCores = med(func(r *loadResult) float64 { return r.ServerCores })
	m.DriverCores = med(func(r *loadResult) float64 { return r.DriverCores })
	m.Requests = int(med(func(r *loadResult) float64 { return float64(r.Requests) }))
	m.Errors = 0
	for _, r := range rs {
		m.Errors += r.Errors
		if m.FirstError == "" {
			m.FirstError = r.FirstError
		}
	}
	return m
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fixed seeds: the seeded data (and so the expected search results) is the
// same on every invocation, independent of scheduling.
const (
	seedA = 0xa11ce
	seedB = 0xb0b
	seedC = 0xc0ffee
	seedD = 0xd00d
)

const searchFilter = "metrics.m0 > 0.9 and params.p0 = 'a'"

var searchOrderBy = []string{"metrics.m1 DESC"}

type bench struct {
	cfg *config
	rep *report
	srv *server // nil with --url
	c   *client
}

// runWorkload runs one workload with its own error budget: more than
// --max-errors failed requests cancel it and abort the benchmark.
func (b *bench) runWorkload(parent context.Context, w string) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	b.c.errs.Store(newErrTracker(b.cfg.maxErrors, cancel))
	var err error
	switch w {
	case "a":
		err = b.workloadA(ctx)
	case "b":
		err = b.workloadB(ctx)
	case "c":
		err = b.workloadC(ctx)
	case "d":
		err = b.workloadD(ctx)
	}
	if parent.Err() != nil {
		return errors.New("interrupted")
	}
	if cause := context.Cause(ctx); cause != nil {
		return fmt.Errorf("workload %s: %w", w, cause)
	}
	if err != nil {
		return fmt.Errorf("workload %s: %w", w, err)
	}
	if n := b.c.errs.Load().count(); n > 0 {
		fmt.Printf("[%s] %d failed request(s):\n", w, n)
		for _, m := range b.c.errs.Load().messages() {
			fmt.Printf("[%s]   %s\n", w, m)
		}
	}
	fmt.Println()
	return nil
}

// ---------------------------------------------------------------------------
// a: log-batch ingest

func (b *bench) workloadA(ctx context.Context) error {
	cfg := b.cfg
	res := &result{
		ID: "a", Workload: "a", Unit: "points/s", Headline: "throughput",
		Name:        fmt.Sprintf("log-batch ×%d, %d clients", cfg.batchSize, cfg.batchClients),
		Target:      "≥ 300k points/s",
		FastTrackML: "37k points/s",
		meets:       func(r runResult) bool { return r.Throughput >= 300e3 },
	}
	fmt.Printf("[a] %s, %s per run\n", res.Name, cfg.duration)
	exp, err := b.createExperiment(ctx, "a")
	if err != nil {
		return err
	}
	// Each request: nk metric keys × (batchSize/nk) consecutive steps.
	nk := min(10, cfg.batchSize)
	keys := make([][]byte, nk)
	for i := range keys {
		keys[i] = []byte(`{"key":"m` + strconv.Itoa(i) + `","value":`)
	}
	type worker struct {
		head []byte
		step int64
		size int
		rng  *rand.Rand
	}
	ws := make([]*worker, cfg.batchClients)
	for i := range ws {
		id, err := b.createRun(ctx, exp, nowMs())
		if err != nil {
			return err
		}
		ws[i] = &worker{
			head: []byte(`{"run_id":` + string(jsonString(id)) + `,"metrics":[`),
			rng:  rand.New(rand.NewPCG(seedA, uint64(i))),
		}
	}
	ts0 := nowMs()
	stepsPerReq := int64((cfg.batchSize + nk - 1) / nk)
	post, done := b.posters(cfg.batchClients)
	defer done()
	op := func(ctx context.Context, wi int) (time.Duration, error) {
		w := ws[wi]
		// A fresh buffer per request: the transport may still hold the
		// previous body briefly after the response arrived.
		body := make([]byte, 0, w.size+64)
		body = append(body, w.head...)
		for i := 0; i < cfg.batchSize; i++ {
			if i > 0 {
				body = append(body, ',')
			}
			step := w.step + int64(i/nk)
			body = append(body, keys[i%nk]...)
			body = strconv.AppendFloat(body, w.rng.Float64(), 'g', -1, 64)
			body = append(body, `,"timestamp":`...)
			body = strconv.AppendInt(body, ts0+step, 10)
			body = append(body, `,"step":`...)
			body = strconv.AppendInt(body, step, 10)
			body = append(body, '}')
		}
		body = append(body, "]}"...)
		w.step += stepsPerReq
		w.size = len(body)
		t := time.Now()
		err := post(ctx, wi, pathLogBatch, body)
		return time.Since(t), err
	}
	b.throughputRuns(ctx, res, cfg.batchClients, float64(cfg.batchSize), op)
	return b.addResult(res)
}

// ---------------------------------------------------------------------------
// b: single log-metric requests

func (b *bench) workloadB(ctx context.Context) error {
	cfg := b.cfg
	res := &result{
		ID: "b", Workload: "b", Unit: "req/s", Headline: "throughput",
		Name:        fmt.Sprintf("log-metric, %d clients", cfg.metricClients),
		Target:      "≥ 15k req/s, p99 < 10 ms",
		FastTrackML: "2.8k req/s",
		meets:       func(r runResult) bool { return r.Throughput >= 15e3 && r.P99Ms < 10 },
	}
	fmt.Printf("[b] %s, %s per run\n", res.Name, cfg.duration)
	exp, err := b.createExperiment(ctx, "b")
	if err != nil {
		return err
	}
	type worker struct {
		head []byte
		step int64
		rng  *rand.Rand
	}
	ws := make([]*worker, cfg.metricClients)
	for i := range ws {
		id, err := b.createRun(ctx, exp, nowMs())
		if err != nil {
			return err
		}
		ws[i] = &worker{
			head: []byte(`{"run_id":` + string(jsonString(id)) + `,"key":"loss","value":`),
			rng:  rand.New(rand.NewPCG(seedB, uint64(i))),
		}
	}
	ts0 := nowMs()
	post, done := b.posters(cfg.metricClients)
	defer done()
	op := func(ctx context.Context, wi int) (time.Duration, error) {
		w := ws[wi]
		body := make([]byte, 0, 160)
		body = append(body, w.head...)
		body = strconv.AppendFloat(body, w.rng.Float64(), 'g', -1, 64)
		body = append(body, `,"timestamp":`...)
		body = strconv.AppendInt(body, ts0+w.step, 10)
		body = append(body, `,"step":`...)
		body = strconv.AppendInt(body, w.step, 10)
		body = append(body, '}')
		w.step++
		t := time.Now()
		err := post(ctx, wi, pathLogMetric, body)
		return time.Since(t), err
	}
	b.throughputRuns(ctx, res, cfg.metricClients, 1, op)
	return b.addResult(res)
}

// opFunc performs one request and returns its latency; a non-nil error means
// it failed (the client has already counted it).
type opFunc func(ctx context.Context, worker int) (time.Duration, error)

func (b *bench) throughputRuns(ctx context.Context, res *result, clients int, perOp float64, op opFunc) {
	cfg := b.cfg
	if cfg.warmup > 0 {
		fmt.Printf("[%s] warm-up %s (not measured)\n", res.ID, cfg.warmup)
		b.drive(ctx, clients, cfg.warmup, op)
	}
	for r := 0; r < cfg.repeat && ctx.Err() == nil; r++ {
		m := b.mark()
		lat := b.drive(ctx, clients, cfg.duration, op)
		if ctx.Err() != nil {
			return
		}
		rr := b.finish(m, lat, float64(len(lat))*perOp)
		res.Runs = append(res.Runs, rr)
		fmt.Printf("[%s] run %d/%d: %s\n", res.ID, r+1, cfg.repeat, rr.line(res.Unit))
	}
}

// drive runs op in a closed loop on `clients` goroutines until dur has passed
// and returns the latencies of the successful requests. Requests started
// before the deadline are allowed to finish.
func (b *bench) drive(ctx context.Context, clients int, dur time.Duration, op opFunc) []int64 {
	deadline := time.Now().Add(dur)
	lats := make([][]int64, clients)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			l := make([]int64, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				d, err := op(ctx, w)
				if err == nil {
					l = append(l, int64(d))
				}
			}
			lats[w] = l
		})
	}
	wg.Wait()
	return slices.Concat(lats...)
}

// ---------------------------------------------------------------------------
// c: search over many runs

type searchRequest struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter"`
	OrderBy       []string `json:"order_by"`
	MaxResults    int      `json:"max_results"`
	PageToken     string   `json:"page_token,omitempty"`
}

type searchResponse struct {
	Runs []struct {
		Info struct {
			RunID   string `json:"run_id"`
			RunUUID string `json:"run_uuid"`
		} `json:"info"`
	} `json:"runs"`
	NextPageToken string `json:"next_page_token"`
}

func (b *bench) workloadC(ctx context.Context) error {
	cfg := b.cfg
	first := &result{
		ID: "c", Workload: "c", Unit: "req/s", Headline: "p50",
		Name:        fmt.Sprintf("search %s runs, page 1", fmtCount(cfg.runs)),
		Target:      "p50 < 20 ms",
		FastTrackML: "73 ms p50 (5k runs)",
		meets:       func(r runResult) bool { return r.P50Ms < 20 },
	}
	next := &result{
		ID: "c-pages", Workload: "c", Unit: "req/s", Headline: "p50",
		Name: fmt.Sprintf("search %s runs, next pages", fmtCount(cfg.runs)),
	}
	fmt.Printf("[c] search over %d runs (20 params, 50 metrics each): filter %q, order_by %q, max_results 100\n",
		cfg.runs, searchFilter, searchOrderBy)
	exp, err := b.createExperiment(ctx, "c")
	if err != nil {
		return err
	}

	// Seed: runs/create + one runs/log-batch (20 params, 50 metrics) per run.
	n := cfg.runs
	ids := make([]string, n)
	m0 := make([]float64, n)
	m1 := make([]float64, n)
	p0 := make([]byte, n)
	startBase := nowMs() - int64(n) // distinct start times, run i at startBase+i
	pkeys := make([][]byte, 20)
	for k := range pkeys {
		pkeys[k] = []byte(`{"key":"p` + strconv.Itoa(k) + `","value":"`)
	}
	mkeys := make([][]byte, 50)
	for k := range mkeys {
		mkeys[k] = []byte(`{"key":"m` + strconv.Itoa(k) + `","value":`)
	}
	fmt.Printf("[c] seeding %d runs with %d clients (not measured) ...\n", n, cfg.seedClients)
	seedTime := b.parallel(ctx, "c", "runs", n, cfg.seedClients, func(ctx context.Context, i int) {
		rng := rand.New(rand.NewPCG(seedC, uint64(i)))
		start := startBase + int64(i)
		id, err := b.createRun(ctx, exp, start)
		if err != nil {
			return
		}
		body := make([]byte, 0, 4096)
		body = append(body, `{"run_id":`...)
		body = append(body, jsonString(id)...)
		body = append(body, `,"params":[`...)
		for k := range 20 {
			if k > 0 {
				body = append(body, ',')
			}
			body = append(body, pkeys[k]...)
			if k == 0 {
				p0[i] = "abcd"[rng.IntN(4)]
				body = append(body, p0[i])
			} else {
				body = append(body, 'v')
				body = strconv.AppendInt(body, int64(rng.IntN(1000)), 10)
			}
			body = append(body, `"}`...)
		}
		body = append(body, `],"metrics":[`...)
		for k := range 50 {
			if k > 0 {
				body = append(body, ',')
			}
			v := rng.Float64()
			switch k {
			case 0:
				m0[i] = v
			case 1:
				m1[i] = v
			}
			body = append(body, mkeys[k]...)
			body = strconv.AppendFloat(body, v, 'g', -1, 64)
			body = append(body, `,"timestamp":`...)
			body = strconv.AppendInt(body, start, 10)
			body = append(body, `,"step":0}`...)
		}
		body = append(body, "]}"...)
		if b.c.do(ctx, http.MethodPost, pathLogBatch, body, nil) == nil {
			ids[i] = id
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	b.addSeed("c", "runs (create + log-batch of 20 params, 50 metrics)", n, 2*n, seedTime, "runs/s")

	// Expected result: m0 > 0.9 and p0 = 'a', by m1 DESC, then the default
	// tiebreak start_time DESC, run_id ASC.
	var expected []int
	for i := range n {
		if ids[i] != "" && p0[i] == 'a' && m0[i] > 0.9 {
			expected = append(expected, i)
		}
	}
	slices.SortFunc(expected, func(x, y int) int {
		switch {
		case m1[x] != m1[y]:
			if m1[x] > m1[y] {
				return -1
			}
			return 1
		case x != y:
			return y - x // larger start time first
		}
		return 0
	})
	want := make([]string, len(expected))
	for k, i := range expected {
		want[k] = ids[i]
	}
	fmt.Printf("[c] expected matches: %d; verifying all pages ...\n", len(want))
	first.Check = b.verifySearch(ctx, exp, want)
	next.Check = first.Check
	if ctx.Err() != nil {
		return nil
	}
	fmt.Printf("[c] check: %s\n", first.Check)

	body1 := marshalNoEscape(searchRequest{ExperimentIDs: []string{exp}, Filter: searchFilter, OrderBy: searchOrderBy, MaxResults: 100})
	var buf bytes.Buffer
	for r := 0; r < cfg.repeat && ctx.Err() == nil; r++ {
		// First page, sequential.
		m := b.mark()
		lat := make([]int64, 0, cfg.searchRequests)
		for i := 0; i < cfg.searchRequests && ctx.Err() == nil; i++ {
			t := time.Now()
			if b.c.do(ctx, http.MethodPost, pathSearchRuns, body1, nil) == nil {
				lat = append(lat, int64(time.Since(t)))
			}
		}
		rr := b.finishSequential(m, lat)
		first.Runs = append(first.Runs, rr)
		fmt.Printf("[c] run %d/%d, first page: %s\n", r+1, cfg.repeat, rr.line(first.Unit))

		// Following next_page_tokens: page 1 untimed, then searchPages timed pages.
		if cfg.searchChains < 1 || cfg.searchPages < 1 {
			continue
		}
		m = b.mark()
		lat = lat[:0]
		for ch := 0; ch < cfg.searchChains && ctx.Err() == nil; ch++ {
			if b.c.do(ctx, http.MethodPost, pathSearchRuns, body1, &buf) != nil {
				continue
			}
			tok := nextPageToken(buf.Bytes())
			for p := 0; p < cfg.searchPages && tok != "" && ctx.Err() == nil; p++ {
				body := marshalNoEscape(searchRequest{ExperimentIDs: []string{exp}, Filter: searchFilter, OrderBy: searchOrderBy, MaxResults: 100, PageToken: tok})
				t := time.Now()
				if b.c.do(ctx, http.MethodPost, pathSearchRuns, body, &buf) != nil {
					break
				}
				lat = append(lat, int64(time.Since(t)))
				tok = nextPageToken(buf.Bytes())
			}
		}
		if len(lat) == 0 {
			if r == 0 {
				next.Notes = append(next.Notes, "no next_page_token after the first page (fewer than 101 matching runs?); nothing measured")
			}
			continue
		}
		rr = b.finishSequential(m, lat)
		next.Runs = append(next.Runs, rr)
		fmt.Printf("[c] run %d/%d, next pages: %s\n", r+1, cfg.repeat, rr.line(next.Unit))
	}
	if err := b.addResult(first); err != nil {
		return err
	}
	return b.addResult(next)
}

// verifySearch walks all pages of the benchmark query once (this also warms
// the server) and compares the run ids with the expected order.
func (b *bench) verifySearch(ctx context.Context, exp string, want []string) string {
	var got []string
	tok := ""
	maxPages := len(want)/100 + 3
	for page := 0; ; page++ {
		if page >= maxPages {
			return fmt.Sprintf("FAILED: more than %d pages for %d expected matches", maxPages, len(want))
		}
		var resp searchResponse
		err := b.c.postJSON(ctx, pathSearchRuns, searchRequest{ExperimentIDs: []string{exp}, Filter: searchFilter, OrderBy: searchOrderBy, MaxResults: 100, PageToken: tok}, &resp)
		if err != nil {
			return "FAILED: " + err.Error()
		}
		if len(resp.Runs) > 100 {
			return fmt.Sprintf("FAILED: page %d has %d runs (max_results 100)", page+1, len(resp.Runs))
		}
		for _, r := range resp.Runs {
			id := r.Info.RunID
			if id == "" {
				id = r.Info.RunUUID
			}
			got = append(got, id)
		}
		tok = resp.NextPageToken
		if tok == "" {
			break
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("FAILED: %d runs returned over all pages, want %d", len(got), len(want))
	}
	for k := range want {
		if got[k] != want[k] {
			return fmt.Sprintf("FAILED: result #%d is run %s, want %s (order by metrics.m1 DESC)", k+1, got[k], want[k])
		}
	}
	return "ok"
}

// ---------------------------------------------------------------------------
// d: metric history

type historyResponse struct {
	Metrics []struct {
		Key       string  `json:"key"`
		Value     float64 `json:"value"`
		Timestamp int64   `json:"timestamp"`
		Step      int64   `json:"step"`
	} `json:"metrics"`
	NextPageToken string `json:"next_page_token"`
}

func (b *bench) workloadD(ctx context.Context) error {
	cfg := b.cfg
	all := &result{
		ID: "d", Workload: "d", Unit: "hist/s", Headline: "p50",
		Name:        fmt.Sprintf("get-history %s steps, 1 response", fmtCount(cfg.steps)),
		Target:      "< 60 ms",
		FastTrackML: "580 ms",
		meets:       func(r runResult) bool { return r.P50Ms < 60 },
	}
	paged := &result{
		ID: "d-paged", Workload: "d", Unit: "hist/s", Headline: "p50",
		Name:        fmt.Sprintf("get-history %s steps, pages of %s", fmtCount(cfg.steps), fmtCount(cfg.historyPage)),
		Target:      "< 60 ms",
		FastTrackML: "580 ms",
		meets:       func(r runResult) bool { return r.P50Ms < 60 },
	}
	fmt.Printf("[d] get-history of one metric with %d steps\n", cfg.steps)
	exp, err := b.createExperiment(ctx, "d")
	if err != nil {
		return err
	}
	runID, err := b.createRun(ctx, exp, nowMs())
	if err != nil {
		return err
	}
	const key = "loss"
	steps := cfg.steps
	values := make([]float64, steps)
	rng := rand.New(rand.NewPCG(seedD, 0))
	for i := range values {
		values[i] = rng.Float64()
	}
	ts0 := nowMs() - int64(steps) // timestamps increase with the step
	head := []byte(`{"run_id":` + string(jsonString(runID)) + `,"metrics":[`)
	batches := (steps + cfg.batchSize - 1) / cfg.batchSize
	fmt.Printf("[d] seeding %d steps as %d log-batch requests with %d clients (not measured) ...\n", steps, batches, cfg.seedClients)
	seedTime := b.parallel(ctx, "d", "requests", batches, cfg.seedClients, func(ctx context.Context, k int) {
		lo, hi := k*cfg.batchSize, min((k+1)*cfg.batchSize, steps)
		body := make([]byte, 0, 64*(hi-lo)+len(head)+8)
		body = append(body, head...)
		for s := lo; s < hi; s++ {
			if s > lo {
				body = append(body, ',')
			}
			body = append(body, `{"key":"loss","value":`...)
			body = strconv.AppendFloat(body, values[s], 'g', -1, 64)
			body = append(body, `,"timestamp":`...)
			body = strconv.AppendInt(body, ts0+int64(s), 10)
			body = append(body, `,"step":`...)
			body = strconv.AppendInt(body, int64(s), 10)
			body = append(body, '}')
		}
		body = append(body, "]}"...)
		_ = b.c.do(ctx, http.MethodPost, pathLogBatch, body, nil)
	})
	if ctx.Err() != nil {
		return nil
	}
	b.addSeed("d", "metric points (log-batch)", steps, batches, seedTime, "points/s")

	q := url.Values{"run_id": {runID}, "metric_key": {key}}
	pathAll := pathGetHistory + "?" + q.Encode()
	q.Set("max_results", strconv.Itoa(cfg.historyPage))
	pathPaged := pathGetHistory + "?" + q.Encode()

	fmt.Printf("[d] verifying both variants ...\n")
	var size int
	all.Check, size = b.verifyHistory(ctx, pathAll, 0, values, ts0)
	if size > 0 {
		all.Notes = append(all.Notes, fmt.Sprintf("one response is %.1f MB", float64(size)/1e6))
	}
	paged.Check, _ = b.verifyHistory(ctx, pathPaged, cfg.historyPage, values, ts0)
	if ctx.Err() != nil {
		return nil
	}
	fmt.Printf("[d] check: one response %s; paged %s\n", all.Check, paged.Check)

	var buf bytes.Buffer
	for r := 0; r < cfg.repeat && ctx.Err() == nil; r++ {
		m := b.mark()
		lat := make([]int64, 0, cfg.historyRequests)
		for i := 0; i < cfg.historyRequests && ctx.Err() == nil; i++ {
			t := time.Now()
			if b.c.do(ctx, http.MethodGet, pathAll, nil, nil) == nil {
				lat = append(lat, int64(time.Since(t)))
			}
		}
		rr := b.finishSequential(m, lat)
		all.Runs = append(all.Runs, rr)
		fmt.Printf("[d] run %d/%d, one response: %s\n", r+1, cfg.repeat, rr.line(all.Unit))

		m = b.mark()
		lat = lat[:0]
		for i := 0; i < cfg.historyRequests && ctx.Err() == nil; i++ {
			t := time.Now()
			ok := true
			path := pathPaged
			for page := 0; ; page++ {
				if b.c.do(ctx, http.MethodGet, path, nil, &buf) != nil {
					ok = false
					break
				}
				tok := nextPageToken(buf.Bytes())
				if tok == "" || page > steps/cfg.historyPage+2 {
					break
				}
				path = pathPaged + "&page_token=" + url.QueryEscape(tok)
			}
			if ok {
				lat = append(lat, int64(time.Since(t)))
			}
		}
		rr = b.finishSequential(m, lat)
		paged.Runs = append(paged.Runs, rr)
		fmt.Printf("[d] run %d/%d, paged: %s\n", r+1, cfg.repeat, rr.line(paged.Unit))
	}
	if err := b.addResult(all); err != nil {
		return err
	}
	return b.addResult(paged)
}

// verifyHistory fetches the whole history (following tokens) and checks count,
// order and values. It returns the check string and the size of the first
// response in bytes.
func (b *bench) verifyHistory(ctx context.Context, path string, pageSize int, values []float64, ts0 int64) (string, int) {
	var buf bytes.Buffer
	n := 0
	size := 0
	p := path
	for page := 0; ; page++ {
		if page > len(values)/max(pageSize, 1)+2 {
			return "FAILED: too many pages", size
		}
		if err := b.c.do(ctx, http.MethodGet, p, nil, &buf); err != nil {
			return "FAILED: " + err.Error(), size
		}
		if page == 0 {
			size = buf.Len()
		}
		var resp historyResponse
		if err := json.Unmarshal(buf.Bytes(), &resp); err != nil {
			return "FAILED: decoding response: " + err.Error(), size
		}
		if pageSize > 0 && len(resp.Metrics) > pageSize {
			return fmt.Sprintf("FAILED: page %d has %d points (max_results %d)", page+1, len(resp.Metrics), pageSize), size
		}
		for _, m := range resp.Metrics {
			if n >= len(values) {
				return fmt.Sprintf("FAILED: more than %d points", len(values)), size
			}
			if m.Key != "loss" || m.Step != int64(n) || m.Timestamp != ts0+int64(n) || m.Value != values[n] {
				return fmt.Sprintf("FAILED: point #%d is {key %q step %d ts %d value %v}, want step %d value %v",
					n, m.Key, m.Step, m.Timestamp, m.Value, n, values[n]), size
			}
			n++
		}
		if resp.NextPageToken == "" {
			break
		}
		if pageSize == 0 {
			return "FAILED: next_page_token without max_results", size
		}
		p = path + "&page_token=" + url.QueryEscape(resp.NextPageToken)
	}
	if n != len(values) {
		return fmt.Sprintf("FAILED: %d points, want %d", n, len(values)), size
	}
	return "ok", size
}

// ---------------------------------------------------------------------------
// helpers

// finishSequential is finish for sequential request loops: throughput is the
// request rate of the timed requests alone (1 / mean latency).
func (b *bench) finishSequential(m cpuMark, lat []int64) runResult {
	rr := b.finish(m, lat, 0)
	if rr.MeanMs > 0 {
		rr.Throughput = 1000 / rr.MeanMs
	}
	return rr
}

// parallel calls fn(i) for every i in [0,n) from `clients` goroutines and
// prints progress every 5 s. It returns the elapsed time.
func (b *bench) parallel(ctx context.Context, label, unit string, n, clients int, fn func(ctx context.Context, i int)) time.Duration {
	var nextIdx, done atomic.Int64
	start := time.Now()
	stop := make(chan struct{})
	var tick sync.WaitGroup
	tick.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d := done.Load()
				fmt.Printf("[%s]   %d/%d %s (%s/s)\n", label, d, n, unit, fmtRate(float64(d)/time.Since(start).Seconds()))
			}
		}
	})
	var wg sync.WaitGroup
	for range min(clients, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := nextIdx.Add(1) - 1
				if i >= int64(n) {
					return
				}
				fn(ctx, int(i))
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	tick.Wait()
	return time.Since(start)
}

func (b *bench) addSeed(wl, what string, items, requests int, d time.Duration, unit string) {
	s := &seedResult{Workload: wl, What: what, Items: items, Requests: requests, Seconds: d.Seconds(), Unit: unit}
	if d > 0 {
		s.PerSecond = float64(items) / d.Seconds()
	}
	b.rep.Seeding = append(b.rep.Seeding, s)
	fmt.Printf("[%s] seeded %d %s in %.1f s (%s %s)\n", wl, items, what, s.Seconds, fmtRate(s.PerSecond), unit)
}

func (b *bench) addResult(r *result) error {
	r.finalize()
	if len(r.Runs) > 0 || len(r.Notes) > 0 {
		b.rep.Results = append(b.rep.Results, r)
	}
	return nil
}

var benchStamp = strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid())

func (b *bench) createExperiment(ctx context.Context, wl string) (string, error) {
	var out struct {
		ExperimentID flexString `json:"experiment_id"`
	}
	name := "mlbox-bench-" + wl + "-" + benchStamp
	if err := b.c.postJSON(ctx, pathCreateExperiment, map[string]any{"name": name}, &out); err != nil {
		return "", fmt.Errorf("experiments/create: %w", err)
	}
	if out.ExperimentID == "" {
		return "", errors.New("experiments/create: response has no experiment_id")
	}
	return string(out.ExperimentID), nil
}

func (b *bench) createRun(ctx context.Context, exp string, startMs int64) (string, error) {
	var out struct {
		Run struct {
			Info struct {
				RunID   string `json:"run_id"`
				RunUUID string `json:"run_uuid"`
			} `json:"info"`
		} `json:"run"`
	}
	body := []byte(`{"experiment_id":` + string(jsonString(exp)) + `,"start_time":` + strconv.FormatInt(startMs, 10) + `}`)
	var buf bytes.Buffer
	if err := b.c.do(ctx, http.MethodPost, pathCreateRun, body, &buf); err != nil {
		return "", fmt.Errorf("runs/create: %w", err)
	}
	err := json.Unmarshal(buf.Bytes(), &out)
	id := out.Run.Info.RunID
	if id == "" {
		id = out.Run.Info.RunUUID
	}
	if err == nil && id == "" {
		err = errors.New("no run.info.run_id")
	}
	if err != nil {
		err = fmt.Errorf("runs/create: bad response: %w (body %.200q)", err, buf.String())
		b.c.errs.Load().add("POST "+pathCreateRun, err)
		return "", err
	}
	return id, nil
}

func marshalNoEscape(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only fixed, marshalable request types are passed
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func nowMs() int64 { return time.Now().UnixMilli() }

func fmtCount(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return strconv.Itoa(n/1e6) + "M"
	case n >= 1e3 && n%1e3 == 0:
		return strconv.Itoa(n/1e3) + "k"
	}
	return strconv.Itoa(n)
}

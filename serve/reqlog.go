package serve

// The request log: a sampled, masked record of inference requests, kept
// per model in a fixed-size ring file (reqlog_ring.go) so that the newest
// requests can be inspected (GET /api/mlbox/v1/deployments/{name}/requests)
// without the log ever growing. Masking is in reqlog_mask.go.
//
// Lock order: RequestLog.mu, then ring.mu. Record takes no lock.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Request-log defaults and bounds.
const (
	// DefaultRequestLogBytes is the ring size per model when
	// RequestLogConfig.MaxBytes is 0.
	DefaultRequestLogBytes = 8 << 20
	// MinRequestLogBytes is the smallest ring accepted.
	MinRequestLogBytes = 64 << 10
	// requestLogQueue bounds the entries waiting for the writer; Record
	// drops (and counts) entries beyond it.
	requestLogQueue = 4096
	// maxEntryBytes bounds one stored entry; larger inputs and outputs are
	// replaced by a note of their size (after masking, so nothing leaks).
	maxEntryBytes = 1 << 20
)

// RequestLogConfig configures a RequestLog. Field names in the three field
// lists match case-insensitively; a name in several lists is dropped
// rather than hashed, and hashed rather than masked.
type RequestLogConfig struct {
	// SampleRate is the fraction of successful requests stored, 0 to 1.
	// Failed requests (Status >= 400 or a non-empty Error) are always
	// stored. 0 stores failures only.
	SampleRate float64
	// MaxBytes is the size of each model's ring file; the oldest entries
	// are overwritten. 0 means DefaultRequestLogBytes.
	MaxBytes int64
	// MaskFields are input fields whose values are replaced by "***".
	MaskFields []string
	// HashFields are input fields whose values are replaced by
	// "sha256:<16 hex digits>", an HMAC-SHA256 keyed with a random salt
	// kept in <dir>/hash.salt: equal values give equal hashes within one
	// data directory, and cannot be looked up in a precomputed table.
	HashFields []string
	// DropFields are input fields removed entirely.
	DropFields []string
}

// RequestEntry is one logged inference request.
//
// Its JSON form (used on disk and by the HTTP API) is
//
//	{"time": RFC 3339, "model", "version", "target", "route", "client",
//	 "status", "latency_ms", "rows", "input", "output", "error"}
type RequestEntry struct {
	Time    time.Time
	Model   string // the deployment (registered model) name; one ring per Model
	Version string // the model version that answered
	Target  string // how the version was chosen: an alias, a stage, "canary", ...
	Route   string // the endpoint, e.g. "predict" or "invocations"
	Client  string // the caller's address or user
	Status  int    // the HTTP status returned
	Latency time.Duration
	Rows    int
	Input   json.RawMessage // the request body, masked before it is stored
	Output  json.RawMessage
	Error   string

	// inputNames are the positional input names of the version that
	// answered; nil: the model's names from SetInputNames.
	inputNames []string
}

type requestEntryJSON struct {
	Time      time.Time       `json:"time"`
	Model     string          `json:"model"`
	Version   string          `json:"version,omitempty"`
	Target    string          `json:"target,omitempty"`
	Route     string          `json:"route,omitempty"`
	Client    string          `json:"client,omitempty"`
	Status    int             `json:"status"`
	LatencyMS float64         `json:"latency_ms"`
	Rows      int             `json:"rows"`
	Input     json.RawMessage `json:"input,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// MarshalJSON writes the documented JSON form.
func (e RequestEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(requestEntryJSON{
		Time: e.Time.UTC(), Model: e.Model, Version: e.Version, Target: e.Target, Route: e.Route,
		Client: e.Client, Status: e.Status, LatencyMS: float64(e.Latency) / 1e6, Rows: e.Rows,
		Input: validJSON(e.Input), Output: validJSON(e.Output), Error: e.Error,
	})
}

// UnmarshalJSON reads the documented JSON form.
func (e *RequestEntry) UnmarshalJSON(b []byte) error {
	var j requestEntryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = RequestEntry{
		Time: j.Time, Model: j.Model, Version: j.Version, Target: j.Target, Route: j.Route, Client: j.Client,
		Status: j.Status, Latency: time.Duration(math.Round(j.LatencyMS * 1e6)), Rows: j.Rows,
		Input: j.Input, Output: j.Output, Error: j.Error,
	}
	return nil
}

// validJSON returns b, or b as a JSON string when it is not valid JSON (so
// that a bad body never makes an entry unencodable).
func validJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

// failed reports whether the entry is always stored, whatever the sample
// rate.
func (e *RequestEntry) failed() bool { return e.Status >= 400 || e.Error != "" }

// RequestLog stores sampled, masked RequestEntries in one bounded ring file
// per model under its directory. It is safe for concurrent use.
//
// Record never blocks: entries go through a bounded queue to one writer
// goroutine, which masks, encodes and appends them. Entries are written to
// the page cache at once and fsynced at a checkpoint (at least every
// second while entries arrive, and at Close), so a crash loses at most a
// torn record at the write head, which readers skip.
type RequestLog struct {
	dir  string
	cfg  RequestLogConfig
	mask *masker

	queue  chan *RequestEntry
	syncCh chan chan struct{}
	quit   chan struct{}
	done   chan struct{}
	closed atomic.Bool

	recorded, dropped, sampledOut, failures atomic.Uint64

	mu    sync.Mutex
	rings map[string]*ring
	names map[string][]string // SetInputNames
	once  sync.Once
}

// RequestLogStats are the log's counters since it was opened.
type RequestLogStats struct {
	Recorded   uint64 // entries written
	Dropped    uint64 // entries lost because the queue was full (or the log closed)
	SampledOut uint64 // successful requests not chosen by the sample rate
	Failures   uint64 // entries that could not be written (I/O errors)
}

// OpenRequestLog opens (creating) the request log in dir and starts its
// writer. The caller must Close it.
func OpenRequestLog(dir string, cfg RequestLogConfig) (*RequestLog, error) {
	if math.IsNaN(cfg.SampleRate) || cfg.SampleRate < 0 || cfg.SampleRate > 1 {
		return nil, fmt.Errorf("serve: request log sample rate %v is outside [0, 1]", cfg.SampleRate)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultRequestLogBytes
	}
	if cfg.MaxBytes < MinRequestLogBytes {
		return nil, fmt.Errorf("serve: request log size %d is below the minimum of %d bytes", cfg.MaxBytes, MinRequestLogBytes)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("serve: request log: %w", err)
	}
	m, err := newMasker(dir, cfg)
	if err != nil {
		return nil, err
	}
	l := &RequestLog{
		dir: dir, cfg: cfg, mask: m,
		queue:  make(chan *RequestEntry, requestLogQueue),
		syncCh: make(chan chan struct{}),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		rings:  make(map[string]*ring),
		names:  make(map[string][]string),
	}
	go l.writer()
	return l, nil
}

// Record queues e for storage and returns at once. It applies the sample
// rate here; masking happens in the writer, before anything reaches the
// disk. When the queue is full the entry is dropped and counted.
//
// Record takes ownership of e, including the Input and Output slices: the
// caller must not modify them afterwards (pass copies of pooled buffers).
func (l *RequestLog) Record(e *RequestEntry) {
	if e == nil || e.Model == "" {
		return
	}
	if !e.failed() && (l.cfg.SampleRate <= 0 || (l.cfg.SampleRate < 1 && rand.Float64() >= l.cfg.SampleRate)) {
		l.sampledOut.Add(1)
		return
	}
	if l.closed.Load() {
		l.dropped.Add(1)
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
	}
}

// SetInputNames tells the log the column names of model's positional
// inputs (the model's feature names), so that masking rules also apply to
// unnamed rows such as {"data": [5.1, 3.5, 1.4, 0.2]} or {"inputs": [[...]]}.
// Without it only named fields are masked. nil forgets the names.
func (l *RequestLog) SetInputNames(model string, names []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if names == nil {
		delete(l.names, model)
		return
	}
	l.names[model] = append([]string(nil), names...)
}

// Recent returns up to n of model's newest entries, newest first (n <= 0:
// all the ring holds). Entries recorded before the call are included. An
// unknown model has no entries.
func (l *RequestLog) Recent(model string, n int) ([]RequestEntry, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	l.sync()
	r, err := l.ring(model, false)
	if err != nil || r == nil {
		return nil, err
	}
	var out []RequestEntry
	err = r.walk(func(payload []byte) bool {
		var e RequestEntry
		if json.Unmarshal(payload, &e) == nil {
			out = append(out, e)
		}
		return n <= 0 || len(out) < n
	})
	return out, err
}

// Stats returns the counters.
func (l *RequestLog) Stats() RequestLogStats {
	return RequestLogStats{l.recorded.Load(), l.dropped.Load(), l.sampledOut.Load(), l.failures.Load()}
}

// RegisterMetrics exposes the counters on set as
// mlbox_serve_request_log_{recorded,dropped,failed}_total, and, when the
// log samples (SampleRate < 1), mlbox_serve_request_log_sampled_out_total.
func (l *RequestLog) RegisterMetrics(set *metrics.Set) {
	cs := map[string]*atomic.Uint64{"recorded": &l.recorded, "dropped": &l.dropped, "failed": &l.failures}
	if l.cfg.SampleRate < 1 {
		cs["sampled_out"] = &l.sampledOut
	}
	for name, c := range cs {
		full := "mlbox_serve_request_log_" + name + "_total"
		set.UnregisterMetric(full) // a previous log's, after a reopen
		set.NewGauge(full, func() float64 { return float64(c.Load()) })
	}
}

// Close stops the writer after it has stored what was queued, fsyncs and
// closes the ring files. Entries recorded after Close are dropped.
func (l *RequestLog) Close() error {
	var err error
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.quit)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range l.rings {
			err = errors.Join(err, r.close())
		}
		l.rings = nil
	})
	return err
}

// sync waits until the writer has stored everything queued before the
// call.
func (l *RequestLog) sync() {
	ch := make(chan struct{})
	select {
	case l.syncCh <- ch:
		<-ch
	case <-l.done:
	}
}

func (l *RequestLog) writer() {
	defer close(l.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	batch := make([]*RequestEntry, 0, 256)
	for {
		var waiter chan struct{}
		select {
		case e := <-l.queue:
			batch = append(batch, e)
		case waiter = <-l.syncCh:
		case <-tick.C:
			l.checkpointAll(false)
			continue
		case <-l.quit:
			l.drain(batch[:0])
			l.checkpointAll(true)
			return
		}
		batch = l.drain(batch)
		if waiter != nil {
			close(waiter)
		}
		batch = batch[:0]
	}
}

// drain writes batch plus whatever else is queued right now.
func (l *RequestLog) drain(batch []*RequestEntry) []*RequestEntry {
	for {
	more:
		for len(batch) < cap(batch) {
			select {
			case e := <-l.queue:
				batch = append(batch, e)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			return batch
		}
		l.write(batch)
		if len(batch) < cap(batch) {
			return batch
		}
		clear(batch)
		batch = batch[:0]
	}
}

func (l *RequestLog) write(batch []*RequestEntry) {
	touched := make(map[*ring]bool, 1)
	for _, e := range batch {
		payload := l.encode(e)
		r, err := l.ring(e.Model, true)
		if err == nil {
			err = r.append(payload)
		}
		if err != nil {
			l.failures.Add(1)
			continue
		}
		touched[r] = true
		l.recorded.Add(1)
	}
	for r := range touched {
		if err := r.flush(); err != nil {
			l.failures.Add(1)
		}
	}
}

// encode masks e's input and returns its stored form, shrunk to fit one
// record.
func (l *RequestLog) encode(e *RequestEntry) []byte {
	names := e.inputNames
	if names == nil {
		l.mu.Lock()
		names = l.names[e.Model]
		l.mu.Unlock()
	}
	e.Input = l.mask.apply(e.Input, names)
	b, _ := e.MarshalJSON() // cannot fail: every RawMessage is valid
	limit := min(int(l.cfg.MaxBytes/4), maxEntryBytes) - recordOverhead
	for _, f := range []*json.RawMessage{&e.Input, &e.Output} {
		if len(b) <= limit {
			break
		}
		if len(*f) > 0 {
			*f = json.RawMessage(fmt.Sprintf(`{"not_stored":"%d bytes"}`, len(*f)))
			b, _ = e.MarshalJSON()
		}
	}
	if len(b) > limit && len(e.Error) > 256 {
		e.Error = e.Error[:256] + "…"
		b, _ = e.MarshalJSON()
	}
	return b
}

// ring returns model's ring, opening it (and with create, creating it).
func (l *RequestLog) ring(model string, create bool) (*ring, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rings == nil {
		return nil, ErrClosed
	}
	if r := l.rings[model]; r != nil {
		return r, nil
	}
	path := filepath.Join(l.dir, ringFileName(model))
	if !create {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	r, err := openRing(path, l.cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	l.rings[model] = r
	return r, nil
}

func (l *RequestLog) checkpointAll(final bool) {
	l.mu.Lock()
	rs := make([]*ring, 0, len(l.rings))
	for _, r := range l.rings {
		rs = append(rs, r)
	}
	l.mu.Unlock()
	for _, r := range rs {
		if err := r.checkpoint(final); err != nil {
			l.failures.Add(1)
		}
	}
}

// ringFileName maps a model name onto a safe file name: letters, digits,
// '-', '_' and '.' (not first) stay, every other byte becomes %XX.
func ringFileName(model string) string {
	var b strings.Builder
	for i := 0; i < len(model); i++ {
		c := model[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || (c == '.' && i > 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String() + ".reqlog"
}

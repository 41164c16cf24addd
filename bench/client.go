package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	pathCreateExperiment = "/api/2.0/mlflow/experiments/create"
	pathCreateRun        = "/api/2.0/mlflow/runs/create"
	pathLogBatch         = "/api/2.0/mlflow/runs/log-batch"
	pathLogMetric        = "/api/2.0/mlflow/runs/log-metric"
	pathSearchRuns       = "/api/2.0/mlflow/runs/search"
	pathGetHistory       = "/api/2.0/mlflow/metrics/get-history"
)

// client is a thin HTTP/1.1 keep-alive client. Every failed request (transport
// error or non-200 status) is counted in errs; the caller only skips it.
type client struct {
	base string
	hc   *http.Client
	tr   *http.Transport
	hdr  http.Header // shared, read-only: the transport never mutates request headers

	errs atomic.Pointer[errTracker]
}

func newClient(base string, conns int, timeout time.Duration) *client {
	tr := &http.Transport{
		Proxy: nil, // never route the benchmark through an environment proxy
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        4 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	c := &client{
		base: base,
		tr:   tr,
		hc:   &http.Client{Transport: tr, Timeout: timeout},
		hdr:  http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
	}
	c.errs.Store(newErrTracker(1<<62, func(error) {}))
	return c
}

func (c *client) close() { c.tr.CloseIdleConnections() }

func (c *client) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	return c.hc.Do(req)
}

// do sends one request. body nil means no body. The response body is read
// completely (so the connection is reused): into buf when buf is non-nil,
// otherwise discarded. Any error is also recorded in the current errTracker,
// unless ctx was already cancelled.
func (c *client) do(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) error {
	err := c.roundTrip(ctx, method, path, body, buf)
	if err != nil && ctx.Err() == nil {
		c.errs.Load().add(method+" "+shortPath(path), err)
	}
	return err
}

func (c *client) roundTrip(ctx context.Context, method, path string, body []byte, buf *bytes.Buffer) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header = c.hdr
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(msg))}
	}
	if buf != nil {
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	return err
}

// postJSON marshals in, posts it, and decodes the response into out (if non-nil).
func (c *client) postJSON(ctx context.Context, path string, in, out any) error {
	body := marshalNoEscape(in)
	var buf bytes.Buffer
	if err := c.do(ctx, http.MethodPost, path, body, &buf); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		err = fmt.Errorf("decoding response: %w (body %.200q)", err, buf.String())
		c.errs.Load().add("POST "+path, err)
		return err
	}
	return nil
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

func shortPath(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// errTracker counts failed requests of one workload, keeps the first few
// messages, and aborts the workload (via cancel) once more than max failed.
type errTracker struct {
	n      atomic.Int64
	max    int64
	cancel func(error)

	mu    sync.Mutex
	first []string
}

func newErrTracker(max int, cancel func(error)) *errTracker {
	return &errTracker{max: int64(max), cancel: cancel}
}

func (e *errTracker) add(what string, err error) {
	n := e.n.Add(1)
	if n <= 5 {
		e.mu.Lock()
		e.first = append(e.first, what+": "+err.Error())
		e.mu.Unlock()
	}
	if n == e.max+1 {
		e.cancel(fmt.Errorf("more than %d failed requests (--max-errors); first errors:\n  %s", e.max, strings.Join(e.messages(), "\n  ")))
	}
}

func (e *errTracker) count() int64 { return e.n.Load() }

func (e *errTracker) messages() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.first...)
}

// flexString accepts a JSON string or number (experiment ids are strings per
// the API, but be lenient).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	*f = flexString(strings.TrimSpace(string(b)))
	return nil
}

// nextPageToken extracts the top-level next_page_token string from a response
// without decoding the (possibly multi-megabyte) rest of it. A key inside a
// JSON string value cannot match because its quotes would be escaped.
func nextPageToken(body []byte) string {
	const key = `"next_page_token"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	j := 1
	for j < len(rest) && rest[j] != '"' {
		if rest[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(rest) {
		return ""
	}
	var s string
	if json.Unmarshal(rest[:j+1], &s) != nil {
		return ""
	}
	return s
}

// jsonString returns s encoded as a JSON string literal.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

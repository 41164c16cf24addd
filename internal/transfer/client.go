package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client speaks MLflow's REST API (and mlbox's import API) to one server.
type Client struct {
	Base  string // scheme://host[:port][/prefix], no trailing slash
	user  string
	pass  string
	token string
	http  *http.Client
}

// NewClient makes a client for a server URL. Credentials come from the
// URL's user:password, else from user/pass/token (MLflow's environment
// variables for the mlbox side).
func NewClient(raw, user, pass, token string) (*Client, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL must be http(s)://host[:port][/prefix], got %q", raw)
	}
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		token = ""
		u.User = nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &Client{Base: strings.TrimSuffix(u.String(), "/"), user: user, pass: pass, token: token,
		http: &http.Client{Transport: tr}}, nil
}

// Redacted is the client's URL for messages.
func (c *Client) Redacted() string { return c.Base }

// APIError is an error answer: MLflow's {"error_code", "message"}.
type APIError struct {
	Status int
	Code   string
	Msg    string
	What   string
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: %s: %s", e.What, e.Code, e.Msg)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.What, e.Status, e.Msg)
}

// IsCode reports whether err is an API error with that MLflow error code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// IsStatus reports whether err is an API error with that HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

func (c *Client) request(ctx context.Context, method, p string, body io.Reader, ctype string, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+p, body)
	if err != nil {
		return nil, err
	}
	if size >= 0 && body != nil {
		req.ContentLength = size
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.user != "" && c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	} else if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.http.Do(req)
}

// retryable reports whether a failed call is worth another try: the
// network, or a server that is restarting or overloaded.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusBadGateway ||
			ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusGatewayTimeout
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// Call does a JSON call and decodes the answer into out (may be nil),
// retrying network errors and 429/502/503/504 a few times.
func (c *Client) Call(ctx context.Context, method, p string, in, out any) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return err
		}
	}
	var err error
	for attempt := 0; ; attempt++ {
		err = c.callOnce(ctx, method, p, payload, in != nil, out)
		if err == nil || !retryable(err) || attempt == 4 || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
		}
	}
}

func (c *Client) callOnce(ctx context.Context, method, p string, payload []byte, hasBody bool, out any) error {
	var body io.Reader
	ctype := ""
	size := int64(-1)
	if hasBody {
		body, ctype, size = bytes.NewReader(payload), "application/json", int64(len(payload))
	}
	resp, err := c.request(ctx, method, p, body, ctype, size)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return apiError(method+" "+c.Base+pathOnly(p), resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(quoteNonFinite(raw), out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, c.Base+pathOnly(p), err)
	}
	return nil
}

func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

func apiError(what string, status int, raw []byte) *APIError {
	e := &APIError{Status: status, What: what}
	var body struct {
		Code string `json:"error_code"`
		Msg  string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Code != "" {
		e.Code, e.Msg = body.Code, body.Msg
	} else {
		e.Msg = strings.TrimSpace(string(raw))
		if len(e.Msg) > 300 {
			e.Msg = e.Msg[:300] + "…"
		}
	}
	return e
}

// quoteNonFinite turns the bare NaN, Infinity and -Infinity that Python's
// json module writes (MLflow's metric values) into strings, which
// Float.UnmarshalJSON reads; encoding/json rejects them bare.
func quoteNonFinite(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	inStr := false
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if inStr {
			out = append(out, ch)
			if ch == '\\' && i+1 < len(b) {
				i++
				out = append(out, b[i])
			} else if ch == '"' {
				inStr = false
			}
			continue
		}
		switch {
		case ch == '"':
			inStr = true
		case bytes.HasPrefix(b[i:], []byte("NaN")):
			out = append(out, `"NaN"`...)
			i += 2
			continue
		case bytes.HasPrefix(b[i:], []byte("-Infinity")):
			out = append(out, `"-Infinity"`...)
			i += 8
			continue
		case bytes.HasPrefix(b[i:], []byte("Infinity")):
			out = append(out, `"Infinity"`...)
			i += 7
			continue
		}
		out = append(out, ch)
	}
	return out
}

// Download opens an artifact for reading; the caller closes it.
func (c *Client) Download(ctx context.Context, p string) (io.ReadCloser, int64, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
			}
		}
		resp, err := c.request(ctx, http.MethodGet, p, nil, "", -1)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode != http.StatusOK {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			lastErr = apiError("GET "+c.Base+pathOnly(p), resp.StatusCode, raw)
			if retryable(lastErr) {
				continue
			}
			return nil, 0, lastErr
		}
		return resp.Body, resp.ContentLength, nil
	}
	return nil, 0, lastErr
}

// Upload writes an artifact through the server's artifact proxy.
func (c *Client) Upload(ctx context.Context, p string, body io.Reader, size int64) error {
	resp, err := c.request(ctx, http.MethodPut, p, body, "application/octet-stream", size)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		return apiError("PUT "+c.Base+pathOnly(p), resp.StatusCode, raw)
	}
	return nil
}

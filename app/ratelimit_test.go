package app

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const lockoutToken = "right-token-0123456789"

// lockedBuffer is a log sink safe for concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuthLockoutOverTCP: wrong tokens in a row over a real connection
// end in 429 REQUEST_LIMIT_EXCEEDED with Retry-After, for the right token
// too, while the health checks stay open.
func TestAuthLockoutOverTCP(t *testing.T) {
	s := startServer(t, func(c *Config) { c.HTTP.AuthToken = lockoutToken })
	get := func(path, token string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, resp.Header, b.String()
	}
	search := "/api/2.0/mlflow/experiments/search?max_results=1"
	for i := range 10 {
		if st, _, body := get(search, "guess-"+strconv.Itoa(i)); st != 401 {
			t.Fatalf("wrong token %d: %d %s", i, st, body)
		}
	}
	for _, token := range []string{"guess-10", lockoutToken} {
		st, h, body := get(search, token)
		var e struct {
			Code string `json:"error_code"`
		}
		_ = json.Unmarshal([]byte(body), &e)
		ra, _ := strconv.Atoi(h.Get("Retry-After"))
		if st != 429 || e.Code != "REQUEST_LIMIT_EXCEEDED" || ra < 50 || ra > 60 {
			t.Fatalf("locked out, token %q: %d Retry-After %q %s", token, st, h.Get("Retry-After"), body)
		}
	}
	if st, _, _ := get("/health", ""); st != 200 {
		t.Fatalf("health while locked out: %d", st)
	}
}

// TestAuthLockoutPerAddress drives the handler with made-up peer
// addresses: a locked-out address does not lock out another one, one log
// line is written per lockout, a correct token resets the count, missing
// credentials are not guesses, and IPv6 addresses are tracked by /64.
func TestAuthLockoutPerAddress(t *testing.T) {
	logs := &lockedBuffer{}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.AuthToken = lockoutToken
	a, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	do := func(addr, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/2.0/mlflow/experiments/search?max_results=1", nil)
		req.RemoteAddr = addr
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		return rec
	}
	basic := func(pw string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth("mallory", pw)
		return r.Header.Get("Authorization")
	}

	const attacker, user = "198.51.100.7:40000", "203.0.113.9:50000"
	// Nine wrong, one right: the count starts again.
	for range 9 {
		do(attacker, basic("nope"))
	}
	if rec := do(attacker, "Bearer "+lockoutToken); rec.Code != 200 {
		t.Fatalf("right token after 9 failures: %d", rec.Code)
	}
	// Requests without credentials are not guesses.
	for range 30 {
		if rec := do(attacker, ""); rec.Code != 401 {
			t.Fatalf("no credentials: %d", rec.Code)
		}
	}
	for i := range 2000 {
		rec := do(attacker, basic("guess-"+strconv.Itoa(i)))
		if want := 401; i >= 10 {
			want = 429
			if rec.Code != want || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("guess %d: %d %q", i, rec.Code, rec.Header().Get("Retry-After"))
			}
		} else if rec.Code != want {
			t.Fatalf("guess %d: %d", i, rec.Code)
		}
	}
	if rec := do(attacker, "Bearer "+lockoutToken); rec.Code != 429 {
		t.Fatalf("right token from the locked address: %d", rec.Code)
	}
	if rec := do(user, "Bearer "+lockoutToken); rec.Code != 200 {
		t.Fatalf("right token from another address: %d %s", rec.Code, rec.Body)
	}
	if n := strings.Count(logs.String(), "client locked out"); n != 1 {
		t.Fatalf("%d lockout log lines, want 1:\n%s", n, logs.String())
	}
	// An IPv6 attacker cannot step to the next address of its /64.
	for i := range 10 {
		do("[2001:db8:1:2::"+strconv.Itoa(i+1)+"]:1", "Bearer nope")
	}
	if rec := do("[2001:db8:1:2:ffff::1]:1", "Bearer "+lockoutToken); rec.Code != 429 {
		t.Fatalf("another address of a locked /64: %d", rec.Code)
	}
	if rec := do("[2001:db8:1:3::1]:1", "Bearer "+lockoutToken); rec.Code != 200 {
		t.Fatalf("another /64: %d", rec.Code)
	}
	var b bytes.Buffer
	a.metrics.WritePrometheus(&b)
	if !strings.Contains(b.String(), "mlbox_http_auth_lockouts_total 2") {
		t.Fatalf("metrics:\n%s", b.String())
	}
}

// TestAuthLimiterTiming: the window, the lockout's end, its doubling, and
// the bound on tracked addresses.
func TestAuthLimiterTiming(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newAuthLimiter(HTTPConfig{AuthMaxFailures: 3, AuthFailureWindow: time.Minute, AuthLockout: time.Minute}, slog.New(slog.DiscardHandler), nil)
	l.now = func() time.Time { return now }
	k := netip.MustParseAddr("192.0.2.1")
	fail := func(n int) {
		for range n {
			l.failed(k, "192.0.2.1:1")
		}
	}
	// Failures spread over more than the window do not add up.
	fail(2)
	now = now.Add(61 * time.Second)
	fail(2)
	if d := l.lockedFor(k); d != 0 {
		t.Fatalf("locked after 2+2 failures in separate windows: %v", d)
	}
	fail(1)
	if d := l.lockedFor(k); d != time.Minute {
		t.Fatalf("first lockout %v", d)
	}
	now = now.Add(time.Minute)
	if d := l.lockedFor(k); d != 0 {
		t.Fatalf("still locked after the lockout: %v", d)
	}
	for _, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour} {
		fail(3)
		if d := l.lockedFor(k); d != want {
			t.Fatalf("lockout %v, want %v", d, want)
		}
		now = now.Add(want)
	}
	// Forgotten after an hour without failures: the next lockout is short again.
	now = now.Add(authStateTTL + time.Minute)
	for i := range authStateMax + 10 {
		l.failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "x")
	}
	if n := len(l.m); n > authStateMax {
		t.Fatalf("%d addresses tracked", n)
	}
	fail(3)
	if d := l.lockedFor(k); d != time.Minute {
		t.Fatalf("lockout after the address was forgotten: %v", d)
	}
	// 0 turns the lockout off.
	off := newAuthLimiter(HTTPConfig{AuthMaxFailures: 0, AuthFailureWindow: time.Minute, AuthLockout: time.Minute}, slog.New(slog.DiscardHandler), nil)
	for range 100 {
		off.failed(k, "x")
	}
	if off.lockedFor(k) != 0 || len(off.m) != 0 {
		t.Fatal("auth_max_failures = 0 locked out")
	}
}

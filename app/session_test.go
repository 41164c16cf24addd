package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// browser is a client with a cookie jar, as the UI runs in.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *browser) do(method, path string, body any, hdr map[string]string) (int, map[string]any, http.Header) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(uiRequestHeader, uiRequestValue)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, resp.Header
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUISessions(t *testing.T) {
	s := authServer(t)
	adminCreds(t, s)
	s.must(t, "POST", api+"/users/create", map[string]any{"username": "alice", "password": "alice-password-1"})
	b := newBrowser(t, s.URL)
	const sess = "/api/mlbox/v1/session"

	// Not logged in: the session says so, API calls get 401 without a
	// Basic challenge (no browser prompt over the UI).
	st, m, _ := b.do("GET", sess, nil, nil)
	if st != 200 || m["auth"] != "accounts" || m["authenticated"] != false {
		t.Fatalf("anonymous session: %d %v", st, m)
	}
	st, _, h := b.do("POST", api+"/experiments/search", map[string]any{}, nil)
	if st != 401 || h.Get("WWW-Authenticate") != "" {
		t.Fatalf("the UI's 401: %d challenge %q", st, h.Get("WWW-Authenticate"))
	}
	// Other clients still get the challenge.
	if resp, err := http.Get(s.URL + api + "/experiments/search"); err != nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("anonymous API call: %v %v", resp, err)
	}

	// A wrong password: 401, no cookie.
	st, m, h = b.do("POST", sess, map[string]any{"username": "alice", "password": "nope"}, nil)
	if st != 401 || h.Get("Set-Cookie") != "" || m["error_code"] != "UNAUTHENTICATED" {
		t.Fatalf("wrong password: %d %v", st, m)
	}
	// Logging in sets an HttpOnly, SameSite=Lax cookie (not Secure: plain HTTP).
	st, m, h = b.do("POST", sess, map[string]any{"username": "alice", "password": "alice-password-1"}, nil)
	if st != 200 || m["csrf_token"] == nil || m["user"].(map[string]any)["username"] != "alice" {
		t.Fatalf("login: %d %v", st, m)
	}
	ck := h.Get("Set-Cookie")
	if !strings.HasPrefix(ck, sessionCookie+"=mlbox_") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") || strings.Contains(ck, "Secure") || !strings.Contains(ck, "Path=/") {
		t.Fatalf("cookie: %s", ck)
	}
	b.csrf = m["csrf_token"].(string)
	if st, m, _ := b.do("GET", sess, nil, nil); st != 200 || m["authenticated"] != true || m["csrf_token"] != b.csrf {
		t.Fatalf("session after login: %d %v", st, m)
	}
	// Reads need only the cookie; writes need the CSRF token too.
	if st, _, _ := b.do("GET", api+"/experiments/search?max_results=5", nil, nil); st != 200 {
		t.Fatalf("a GET with the cookie: %d", st)
	}
	if st, m, _ := b.do("POST", api+"/experiments/create", map[string]any{"name": "no-csrf"}, nil); st != 403 || !strings.Contains(m["message"].(string), "CSRF") {
		t.Fatalf("a write without the CSRF token: %d %v", st, m)
	}
	if st, _, _ := b.do("POST", api+"/experiments/create", map[string]any{"name": "wrong-csrf"}, map[string]string{csrfHeader: strings.Repeat("0", 32)}); st != 403 {
		t.Fatalf("a write with a wrong CSRF token: %d", st)
	}
	if st, _, _ := b.do("POST", api+"/experiments/create", map[string]any{"name": "with-csrf"}, map[string]string{csrfHeader: b.csrf}); st != 200 {
		t.Fatalf("a write with the CSRF token: %d", st)
	}
	// The session acts as alice, with her rights.
	if st, _, _ := b.do("POST", api+"/users/create", map[string]any{"username": "x", "password": "x-password-123"}, map[string]string{csrfHeader: b.csrf}); st != 403 {
		t.Fatalf("alice creates a user: %d", st)
	}
	// A session manages tokens (it is a password login).
	if st, m, _ := b.do("POST", "/api/mlbox/v1/tokens", map[string]any{"name": "from-ui"}, map[string]string{csrfHeader: b.csrf}); st != 201 {
		t.Fatalf("token from the UI: %d %v", st, m)
	}
	// Sessions are not access tokens: not listed, not usable as Bearer.
	if _, m, _ := b.do("GET", "/api/mlbox/v1/tokens", nil, nil); len(m["tokens"].([]any)) != 1 {
		t.Fatalf("tokens listed: %v", m)
	}
	var secret string
	for _, c := range b.c.Jar.Cookies(mustURL(t, s.URL)) {
		if c.Name == sessionCookie {
			secret = c.Value
		}
	}
	if st, _, _ := s.bearer(t, secret, "GET", api+"/users/current", nil); st != 401 {
		t.Fatalf("the session secret as a Bearer token: %d", st)
	}

	// Logging out needs the token, ends the session for good, clears the cookie.
	if st, _, _ := b.do("DELETE", sess, nil, nil); st != 403 {
		t.Fatalf("logout without CSRF: %d", st)
	}
	st, _, h = b.do("DELETE", sess, nil, map[string]string{csrfHeader: b.csrf})
	if st != 200 || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %s", st, h.Get("Set-Cookie"))
	}
	replay := newBrowser(t, s.URL)
	req, _ := http.NewRequest("GET", s.URL+api+"/users/current", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: secret})
	resp, err := replay.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("the old cookie after logout: %d", resp.StatusCode)
	}

	// Expiry.
	b2 := newBrowser(t, s.URL)
	_, m, _ = b2.do("POST", sess, map[string]any{"username": "alice", "password": "alice-password-1"}, nil)
	for _, c := range b2.c.Jar.Cookies(mustURL(t, s.URL)) {
		if c.Name == sessionCookie {
			secret = c.Value
		}
	}
	if _, _, ok := s.App.acct.checkToken(secret, time.Now().Add(7*24*time.Hour+time.Minute)); ok {
		t.Fatal("a session outlives auth.session_lifetime")
	}
}

func TestUISessionLimitsAndLockout(t *testing.T) {
	s := authServer(t, func(c *Config) { c.HTTP.AuthMaxFailures = 3 })
	adminCreds(t, s)
	s.must(t, "POST", api+"/users/create", map[string]any{"username": "bob", "password": "bob-password-12"})
	const sess = "/api/mlbox/v1/session"
	// Many logins keep at most maxSessionsPerUser sessions.
	for range maxSessionsPerUser + 5 {
		if st, m, _ := newBrowser(t, s.URL).do("POST", sess, map[string]any{"username": "bob", "password": "bob-password-12"}, nil); st != 200 {
			t.Fatalf("login: %d %v", st, m)
		}
	}
	n := 0
	s.App.acct.mu.RLock()
	for _, tk := range s.App.acct.tokens {
		if tk.Kind == "session" {
			n++
		}
	}
	s.App.acct.mu.RUnlock()
	if n > maxSessionsPerUser {
		t.Fatalf("%d sessions kept", n)
	}
	// Wrong passwords at the login lock the address out, as Basic does.
	b := newBrowser(t, s.URL)
	for range 4 {
		b.do("POST", sess, map[string]any{"username": "bob", "password": "wrong"}, nil)
	}
	if st, _, h := b.do("POST", sess, map[string]any{"username": "bob", "password": "bob-password-12"}, nil); st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("after failed logins: %d", st)
	}
}

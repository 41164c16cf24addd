package app

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// proxied sends a GET with the proxy's headers (and optional extra ones).
func (s *testServer) proxied(t testing.TB, path string, hdr map[string]string) (int, map[string]any, string) {
	t.Helper()
	req, err := newReq("GET", s.URL+path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// Not doReq: it would add the admin's credentials.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

func currentName(m map[string]any) any {
	if u, ok := m["user"].(map[string]any); ok {
		return u["username"]
	}
	return nil
}

func TestTrustedProxy(t *testing.T) {
	s := authServer(t, func(c *Config) {
		c.Auth.Proxy.TrustedCIDRs = []string{"10.0.0.0/8", "127.0.0.1"}
		c.Auth.Proxy.AdminGroups = []string{"mlbox-admins"}
	})
	adminCreds(t, s)
	const cur = "/api/2.0/mlflow/users/current"

	// A new name becomes a user with the default permission.
	st, m, raw := s.proxied(t, cur, map[string]string{"X-Forwarded-User": "carol"})
	if st != 200 || currentName(m) != "carol" || m["user"].(map[string]any)["is_admin"] != false {
		t.Fatalf("first sight: %d %s", st, raw)
	}
	if u := s.App.acct.user("carol"); u == nil || u.Source != "proxy" || u.PasswordHash != "" {
		t.Fatalf("the created user: %+v", u)
	}
	if st, _, _ := s.proxied(t, "/metrics", map[string]string{"X-Forwarded-User": "carol"}); st != 403 {
		t.Fatalf("carol lists users: %d", st)
	}
	// She cannot log in with a password: she has none.
	if st, _, _ := s.as(t, "carol", "", "GET", cur, nil); st != 401 {
		t.Fatalf("carol with Basic: %d", st)
	}
	// The admin groups make an admin, and leaving them unmakes one.
	st, m, raw = s.proxied(t, "/metrics", map[string]string{"X-Forwarded-User": "carol", "X-Forwarded-Groups": "devs, mlbox-admins"})
	if st != 200 {
		t.Fatalf("carol in the admin group: %d %s", st, raw)
	}
	if u := s.App.acct.user("carol"); !u.IsAdmin {
		t.Fatal("carol's admin flag is not stored")
	}
	if st, _, _ := s.proxied(t, "/metrics", map[string]string{"X-Forwarded-User": "carol", "X-Forwarded-Groups": "devs"}); st != 403 {
		t.Fatalf("carol out of the admin group: %d", st)
	}
	if u := s.App.acct.user("carol"); u.IsAdmin {
		t.Fatal("carol is still an admin")
	}
	// A password user named by the proxy is that user; the groups make
	// them an admin for the request without changing their account.
	s.must(t, "POST", api+"/users/create", map[string]any{"username": "dave", "password": "dave-password-1"})
	if st, _, _ := s.proxied(t, "/metrics", map[string]string{"X-Forwarded-User": "dave", "X-Forwarded-Groups": "mlbox-admins"}); st != 200 {
		t.Fatalf("dave in the admin group: %d", st)
	}
	if u := s.App.acct.user("dave"); u.IsAdmin || u.Source != "" {
		t.Fatalf("dave's account changed: %+v", u)
	}
	// The email names the user when the user header is absent.
	if st, m, raw := s.proxied(t, cur, map[string]string{"X-Forwarded-Email": "erin@example.com"}); st != 200 || currentName(m) != "erin@example.com" {
		t.Fatalf("by email: %d %s", st, raw)
	}
	// The header wins over credentials the proxy passed on.
	if st, m, raw := s.proxied(t, cur, map[string]string{"X-Forwarded-User": "carol", "Authorization": "Bearer some-idp-token"}); st != 200 || currentName(m) != "carol" {
		t.Fatalf("with the IdP's token passed on: %d %s", st, raw)
	}
	// Without the header, requests through the proxy authenticate as usual.
	if st, m, _ := s.as(t, "dave", "dave-password-1", "GET", cur, nil); st != 200 || currentName(m) != "dave" {
		t.Fatalf("Basic through the proxy: %d", st)
	}
	// Names no proxy sends are refused.
	for _, bad := range []string{strings.Repeat("x", 256), "__user_1__", "\xff\xfe"} {
		if st, _, raw := s.proxied(t, cur, map[string]string{"X-Forwarded-User": bad}); st != 401 {
			t.Errorf("name %q: %d %s", bad, st, raw)
		}
	}
}

// TestProxyHeaderFromElsewhereIsIgnored: the same headers from an address
// that is not the proxy's change nothing.
func TestProxyHeaderFromElsewhereIsIgnored(t *testing.T) {
	s := authServer(t, func(c *Config) {
		c.Auth.Proxy.TrustedCIDRs = []string{"10.1.2.3"}
		c.Auth.Proxy.AdminGroups = []string{"mlbox-admins"}
	})
	adminCreds(t, s)
	const cur = "/api/2.0/mlflow/users/current"
	hdr := map[string]string{"X-Forwarded-User": "admin", "X-Forwarded-Groups": "mlbox-admins"}
	if st, _, raw := s.proxied(t, cur, hdr); st != 401 {
		t.Fatalf("the header from an untrusted address: %d %s", st, raw)
	}
	s.must(t, "POST", api+"/users/create", map[string]any{"username": "dave", "password": "dave-password-1"})
	req, _ := newReq("GET", s.URL+"/metrics", "", "")
	req.SetBasicAuth("dave", "dave-password-1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if st, _, raw := doReq(t, req); st != 403 {
		t.Fatalf("dave claiming to be the admin: %d %s", st, raw)
	}
	if s.App.acct.user("mallory") != nil || s.App.acct.count() != 2 {
		t.Fatal("an account was created")
	}
}

// TestProxyRateLimitPerClient: behind the proxy, failures count against
// the client the proxy names in X-Forwarded-For, not the proxy.
func TestProxyRateLimitPerClient(t *testing.T) {
	s := authServer(t, func(c *Config) {
		c.Auth.Proxy.TrustedCIDRs = []string{"127.0.0.1"}
		c.HTTP.AuthMaxFailures = 2
	})
	send := func(client, pw string) int {
		req, _ := newReq("GET", s.URL+"/api/2.0/mlflow/users/current", "", "")
		req.SetBasicAuth("admin", pw)
		req.Header.Set("X-Forwarded-For", "203.0.113.9, "+client)
		st, _, _ := doReq(t, req)
		return st
	}
	for range 3 {
		send("198.51.100.1", "wrong-password")
	}
	if st := send("198.51.100.1", testAdminPassword); st != http.StatusTooManyRequests {
		t.Fatalf("the failing client: %d", st)
	}
	if st := send("198.51.100.2", testAdminPassword); st != 200 {
		t.Fatalf("another client behind the proxy: %d", st)
	}
}

func TestProxyConfigValidation(t *testing.T) {
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Auth.Proxy.TrustedCIDRs = []string{"127.0.0.1"} }, "needs auth.enabled"},
		{func(c *Config) {
			c.Auth.Enabled, c.Auth.AdminPassword = true, testAdminPassword
			c.Auth.Proxy.TrustedCIDRs = []string{"10.0.0.0/33"}
		}, "neither an address nor a CIDR"},
		{func(c *Config) {
			c.Auth.Enabled, c.Auth.AdminPassword = true, testAdminPassword
			c.Auth.Proxy.TrustedCIDRs = []string{"10.0.0.1"}
			c.Auth.Proxy.UserHeader = "X User"
		}, "auth.proxy.user_header"},
		{func(c *Config) {
			c.Auth.Enabled, c.Auth.AdminPassword = true, testAdminPassword
			c.Auth.Proxy.TrustedCIDRs = []string{"10.0.0.1"}
			c.Auth.Proxy.UserHeader, c.Auth.Proxy.EmailHeader = "", ""
		}, "must not both be empty"},
	} {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		c.mut(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q: %v", c.want, err)
		}
	}
}

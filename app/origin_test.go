package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestCrossOriginWrites: a browser request from another site that would
// change something is refused with 403 and changes nothing, even with valid
// (Basic) credentials; same-origin browser requests, clients that send no
// origin at all, reads, and configured origins go through.
func TestCrossOriginWrites(t *testing.T) {
	const token = "origin-token-0123456789"
	s := startServer(t, func(c *Config) {
		c.HTTP.AuthToken = token
		c.HTTP.CORSAllowedOrigins = []string{"https://dash.example.com"}
	})
	exists := func(name string) bool {
		req, _ := http.NewRequest("GET", s.URL+api+"/experiments/get-by-name?experiment_name="+name, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		st, _, _ := doReq(t, req)
		return st == 200
	}
	post := func(name string, headers map[string]string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest("POST", s.URL+api+"/experiments/create", strings.NewReader(`{"name":"`+name+`"}`))
		req.SetBasicAuth("victim", token)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, resp.Header
	}
	self := s.URL
	otherPort := strings.Replace(self, ":"+self[strings.LastIndex(self, ":")+1:], ":1", 1)
	for i, c := range []struct {
		name    string
		headers map[string]string
	}{
		{"evil origin", map[string]string{"Origin": "https://evil.example"}},
		{"evil origin, same-site per the browser", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "same-site"}},
		{"evil referer, no origin", map[string]string{"Referer": "https://evil.example/attack.html"}},
		{"cross-site per the browser, no origin", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"null origin (sandboxed frame)", map[string]string{"Origin": "null"}},
		{"another local app", map[string]string{"Origin": otherPort}},
		{"same host, another port", map[string]string{"Origin": strings.Replace(self, "http://", "https://", 1) + "0"}},
	} {
		name := "xo-refused-" + string(rune('a'+i))
		st, m, _ := post(name, c.headers)
		if st != 403 || m["error_code"] != "PERMISSION_DENIED" {
			t.Errorf("%s: %d %v", c.name, st, m)
		}
		if exists(name) {
			t.Errorf("%s: the experiment was created", c.name)
		}
	}
	for i, c := range []struct {
		name    string
		headers map[string]string
		cors    string
	}{
		{"no origin (MLflow client, curl)", nil, ""},
		{"same origin (the UI)", map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, ""},
		{"same origin, old browser", map[string]string{"Origin": self}, ""},
		{"same origin referer", map[string]string{"Referer": self + "/#/experiments"}, ""},
		{"same origin per the browser, behind a proxy that rewrites Host", map[string]string{"Origin": "https://mlbox.example.com", "Sec-Fetch-Site": "same-origin"}, ""},
		{"configured origin", map[string]string{"Origin": "https://dash.example.com", "Sec-Fetch-Site": "cross-site"}, "https://dash.example.com"},
		{"configured origin, default port spelled out", map[string]string{"Origin": "https://DASH.example.com:443"}, "https://DASH.example.com:443"},
	} {
		name := "xo-allowed-" + string(rune('a'+i))
		st, m, h := post(name, c.headers)
		if st != 200 || !exists(name) {
			t.Errorf("%s: %d %v", c.name, st, m)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != c.cors {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", c.name, got, c.cors)
		}
	}
	// Reads are not refused (they change nothing; CORS keeps their answers
	// from other sites' scripts).
	req, _ := http.NewRequest("GET", s.URL+api+"/experiments/search?max_results=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", "https://evil.example")
	if st, _, _ := doReq(t, req); st != 200 {
		t.Errorf("cross-origin GET: %d", st)
	}

	// A CORS preflight from the configured origin is answered without
	// credentials; another origin's is not.
	for origin, want := range map[string]int{"https://dash.example.com": 204, "https://evil.example": 401} {
		req, _ := http.NewRequest("OPTIONS", s.URL+api+"/experiments/create", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("preflight from %s: %d", origin, resp.StatusCode)
		}
		if want == 204 && (resp.Header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
			resp.Header.Get("Access-Control-Allow-Headers") != "authorization, content-type" || resp.Header.Get("Access-Control-Allow-Credentials") != "") {
			t.Errorf("preflight headers: %v", resp.Header)
		}
	}
}

// TestCrossOriginWithoutAuth: an mlbox without a token on localhost is what
// a web page the developer visits would attack; the same check applies.
func TestCrossOriginWithoutAuth(t *testing.T) {
	s := startServer(t)
	req, _ := http.NewRequest("POST", s.URL+api+"/experiments/create", strings.NewReader(`{"name":"drive-by"}`))
	req.Header.Set("Origin", "https://evil.example")
	if st, m, raw := doReq(t, req); st != 403 || m["error_code"] != "PERMISSION_DENIED" {
		t.Fatalf("cross-origin write: %d %s", st, raw)
	}
	if st, _, _ := s.call(t, "GET", api+"/experiments/get-by-name?experiment_name=drive-by", nil); st != 404 {
		t.Fatalf("the experiment exists: %d", st)
	}
	s.must(t, "POST", api+"/experiments/create", map[string]any{"name": "no-origin"})
}

func TestSameHost(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:5000", "127.0.0.1:5000", true},
		{"http://127.0.0.1:5001", "127.0.0.1:5000", false},
		{"http://LOCALHOST:5000", "localhost:5000", true},
		{"https://mlbox.example.com", "mlbox.example.com", true},
		{"https://mlbox.example.com:443", "mlbox.example.com", true},
		{"http://mlbox.example.com", "mlbox.example.com:80", true},
		{"https://mlbox.example.com", "mlbox.example.com:443", true},
		{"https://mlbox.example.com:8443", "mlbox.example.com", false},
		{"https://mlbox.example.com.evil.example", "mlbox.example.com", false},
		{"http://[::1]:5000", "[::1]:5000", true},
		{"http://[::1]:5000", "[::2]:5000", false},
		{"null", "127.0.0.1:5000", false},
	} {
		if got := sameHost(c.origin, c.host); got != c.want {
			t.Errorf("sameHost(%q, %q) = %v", c.origin, c.host, got)
		}
	}
}

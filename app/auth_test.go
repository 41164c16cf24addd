package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAuthToken(t *testing.T) {
	const token = "s3cret-token-0123456789"
	s := startServer(t, func(c *Config) { c.HTTP.AuthToken = token })
	do := func(method, path, auth string) (int, http.Header, string) {
		t.Helper()
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader(`{"name":"authz-exp"}`)
		}
		req, _ := http.NewRequest(method, s.URL+path, body)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(raw)
	}
	basic := func(user, pw string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pw)
		return r.Header.Get("Authorization")
	}
	search := "/api/2.0/mlflow/experiments/search?max_results=10"
	for _, c := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no credentials", "GET", search, "", 401},
		{"wrong bearer", "GET", search, "Bearer nope", 401},
		{"bearer prefix of the token", "GET", search, "Bearer " + token[:10], 401},
		{"bearer", "GET", search, "Bearer " + token, 200},
		{"bearer, lower-case scheme", "GET", search, "bearer " + token, 200},
		{"basic, any user", "GET", search, basic("alice", token), 200},
		{"basic, wrong password", "GET", search, basic("alice", "nope"), 401},
		{"basic, garbage", "GET", search, "Basic !!!", 401},
		{"other scheme", "GET", search, "Digest " + token, 401},
		{"write without", "POST", "/api/2.0/mlflow/experiments/create", "", 401},
		{"write with", "POST", "/api/2.0/mlflow/experiments/create", "Bearer " + token, 200},
		{"ajax-api", "GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1", "", 401},
		{"artifacts", "GET", "/api/2.0/mlflow-artifacts/artifacts", "", 401},
		{"metrics", "GET", "/metrics", "", 401},
		{"ui", "GET", "/", "", 401},
		{"inference", "POST", "/models/x/predict", "", 401},
		{"health", "GET", "/health", "", 200},
		{"livez", "GET", "/livez", "", 200},
		{"readyz", "GET", "/readyz", "", 200},
	} {
		st, h, body := do(c.method, c.path, c.auth)
		if st != c.want {
			t.Errorf("%s: %s %s: %d %s, want %d", c.name, c.method, c.path, st, body, c.want)
			continue
		}
		if st == 401 {
			var e struct {
				Code string `json:"error_code"`
			}
			if json.Unmarshal([]byte(body), &e); e.Code != "UNAUTHENTICATED" {
				t.Errorf("%s: body %s", c.name, body)
			}
			if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic realm=") {
				t.Errorf("%s: WWW-Authenticate %q", c.name, h.Get("WWW-Authenticate"))
			}
		}
	}
	// without a token configured nothing is asked for
	open := startServer(t)
	if st, _, raw := open.call(t, "GET", search, nil); st != 200 {
		t.Fatalf("no auth configured: %d %s", st, raw)
	}
}

package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const testAdminPassword = "admin-password-123"

// Tests create hundreds of users: hash their passwords cheaply (the
// parameters are part of each hash, so checking works the same).
func init() { argonTime, argonMemory, argonThreads = 1, 64, 1 }

func authServer(t testing.TB, mutate ...func(*Config)) *testServer {
	t.Helper()
	return startServer(t, append([]func(*Config){func(c *Config) {
		c.Auth.Enabled = true
		c.Auth.AdminPassword = testAdminPassword
		c.HTTP.AuthMaxFailures = 0
	}}, mutate...)...)
}

// as sends a JSON request with HTTP Basic credentials (user "" sends none).
func (s *testServer) as(t testing.TB, user, pw, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	var b string
	if body != nil {
		raw, _ := json.Marshal(body)
		b = string(raw)
	}
	if method == http.MethodGet && body != nil {
		q := url.Values{}
		for k, v := range body.(map[string]any) {
			q.Set(k, v.(string))
		}
		path += "?" + q.Encode()
		b = ""
	}
	req, err := newReq(method, s.URL+path, "application/json", b)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	return doReq(t, req)
}

func TestAuthNeedsAnAdminPassword(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = true
	_, err := New(cfg, nil)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "MLBOX_AUTH_ADMIN_PASSWORD") {
		t.Fatalf("New without an admin password: %v", err)
	}
	// Once the admin exists, the password is no longer needed.
	cfg.Auth.AdminPassword = testAdminPassword
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	cfg.Auth.AdminPassword = ""
	a, err = New(cfg, nil)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	a.Close()
}

func TestAuthUsersAndPermissions(t *testing.T) {
	s := authServer(t)
	const api2, api3 = "/api/2.0/mlflow", "/api/3.0/mlflow"
	admin := func(method, path string, body any) (int, map[string]any, string) {
		return s.as(t, "admin", testAdminPassword, method, path, body)
	}
	if st, _, _ := s.as(t, "", "", "GET", api2+"/experiments/search", nil); st != 401 {
		t.Fatalf("anonymous: %d", st)
	}
	if st, _, _ := s.as(t, "admin", "wrong-password-1", "GET", api2+"/experiments/search", nil); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	if st, _, raw := s.as(t, "", "", "GET", "/health", nil); st != 200 {
		t.Fatalf("health: %d %s", st, raw)
	}
	for _, u := range []string{"alice", "bob"} {
		st, m, raw := admin("POST", api2+"/users/create", map[string]any{"username": u, "password": u + "-password-1", "is_admin": true})
		if st != 200 || m["user"].(map[string]any)["username"] != u || m["user"].(map[string]any)["is_admin"] != false {
			t.Fatalf("create %s: %d %s", u, st, raw)
		}
	}
	if st, m, _ := admin("POST", api2+"/users/create", map[string]any{"username": "alice", "password": "another-password"}); st != 400 || m["error_code"] != "RESOURCE_ALREADY_EXISTS" {
		t.Fatalf("duplicate: %d %v", st, m)
	}
	if st, m, _ := admin("POST", api2+"/users/create", map[string]any{"username": "carol", "password": "short"}); st != 400 || m["error_code"] != "INVALID_PARAMETER_VALUE" {
		t.Fatalf("short password: %d %v", st, m)
	}
	alice := func(method, path string, body any) (int, map[string]any, string) {
		return s.as(t, "alice", "alice-password-1", method, path, body)
	}
	bob := func(method, path string, body any) (int, map[string]any, string) {
		return s.as(t, "bob", "bob-password-1", method, path, body)
	}
	if st, _, _ := bob("POST", api2+"/users/create", map[string]any{"username": "eve", "password": "eve-password-1"}); st != 403 {
		t.Fatalf("a user creating users: %d", st)
	}
	if st, _, _ := bob("GET", api2+"/users/get", map[string]any{"username": "alice"}); st != 403 {
		t.Fatalf("reading another user: %d", st)
	}
	if st, m, _ := bob("GET", api2+"/users/get", map[string]any{"username": "bob"}); st != 200 || m["user"].(map[string]any)["username"] != "bob" {
		t.Fatalf("reading oneself: %d %v", st, m)
	}

	// alice creates an experiment and owns it; bob (default READ) reads it
	// but cannot write to it until alice grants him EDIT.
	st, m, raw := alice("POST", api2+"/experiments/create", map[string]any{"name": "alice-exp"})
	if st != 200 {
		t.Fatalf("create experiment: %d %s", st, raw)
	}
	exp := m["experiment_id"].(string)
	if st, m, _ := alice("GET", api3+"/users/permissions/get", map[string]any{"username": "alice", "resource_type": "experiment", "resource_id": exp}); st != 200 || m["permission"] != "MANAGE" || m["allowed"] != true {
		t.Fatalf("creator's permission: %d %v", st, m)
	}
	if st, _, _ := bob("GET", api2+"/experiments/get", map[string]any{"experiment_id": exp}); st != 200 {
		t.Fatalf("bob reads: %d", st)
	}
	createRun := map[string]any{"experiment_id": exp, "start_time": 1}
	if st, m, _ := bob("POST", api2+"/runs/create", createRun); st != 403 || m["error_code"] != "PERMISSION_DENIED" {
		t.Fatalf("bob writes without a grant: %d %v", st, m)
	}
	if st, _, _ := bob("POST", api3+"/users/permissions/grant", map[string]any{"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "EDIT"}); st != 403 {
		t.Fatalf("bob grants himself: %d", st)
	}
	grant := map[string]any{"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "EDIT"}
	if st, _, raw := alice("POST", api3+"/users/permissions/grant", grant); st != 200 {
		t.Fatalf("the owner grants: %d %s", st, raw)
	}
	if st, m, _ := alice("POST", api3+"/users/permissions/grant", grant); st != 400 || m["error_code"] != "RESOURCE_ALREADY_EXISTS" {
		t.Fatalf("granting twice: %d %v", st, m)
	}
	st, m, raw = bob("POST", api2+"/runs/create", createRun)
	if st != 200 {
		t.Fatalf("bob writes with EDIT: %d %s", st, raw)
	}
	run := m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	if st, _, raw := bob("POST", api2+"/runs/log-metric", map[string]any{"run_id": run, "key": "m", "value": 1, "timestamp": 1}); st != 200 {
		t.Fatalf("bob logs to the run: %d %s", st, raw)
	}
	if st, _, _ := bob("POST", api2+"/runs/delete", map[string]any{"run_id": run}); st != 403 {
		t.Fatalf("deleting needs MANAGE: %d", st)
	}
	if st, _, _ := bob("GET", api2+"/runs/get", map[string]any{"run_id": "0123456789abcdef0123456789abcdef"}); st != 403 {
		t.Fatalf("an unknown run is denied, not 404: %d", st)
	}
	if st, _, raw := alice("POST", api3+"/users/permissions/revoke", map[string]any{"username": "bob", "resource_type": "experiment", "resource_id": exp}); st != 200 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	if st, _, _ := bob("POST", api2+"/runs/log-metric", map[string]any{"run_id": run, "key": "m", "value": 2, "timestamp": 2}); st != 403 {
		t.Fatalf("after revoke: %d", st)
	}
	// DENY hides the experiment from bob even though the default is READ.
	if st, _, raw := admin("POST", api3+"/users/permissions/grant", map[string]any{"username": "bob", "resource_type": "experiment", "resource_id": exp, "permission": "DENY"}); st != 200 {
		t.Fatalf("deny: %d %s", st, raw)
	}
	if st, _, _ := bob("GET", api2+"/experiments/get", map[string]any{"experiment_id": exp}); st != 403 {
		t.Fatalf("denied read: %d", st)
	}
	// Server-wide operations are for admins.
	for _, p := range []string{"/api/mlbox/v1/jobs", "/api/mlbox/v1/backup", "/metrics", api2 + "/webhooks"} {
		if st, _, _ := bob("GET", p, nil); st != 403 {
			t.Errorf("bob GET %s: %d", p, st)
		}
		if st, _, _ := admin("GET", p, nil); st != 200 {
			t.Errorf("admin GET %s: %d", p, st)
		}
	}
	// A deleted user's credentials stop working at once.
	if st, _, raw := admin("DELETE", api2+"/users/delete", map[string]any{"username": "bob"}); st != 200 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	if st, _, _ := bob("GET", api2+"/users/current", nil); st != 401 {
		t.Fatalf("deleted user: %d", st)
	}
	if st, m, _ := admin("DELETE", api2+"/users/delete", map[string]any{"username": "admin"}); st != 400 || m["error_code"] != "BAD_REQUEST" {
		t.Fatalf("deleting oneself: %d %v", st, m)
	}
	// Changing one's own password needs the current one.
	if st, _, _ := alice("PATCH", api2+"/users/update-password", map[string]any{"username": "alice", "password": "alice-password-2"}); st != 400 {
		t.Fatalf("no current password: %d", st)
	}
	if st, _, raw := alice("PATCH", api2+"/users/update-password", map[string]any{"username": "alice", "password": "alice-password-2", "current_password": "alice-password-1"}); st != 200 {
		t.Fatalf("password change: %d %s", st, raw)
	}
	if st, _, _ := alice("GET", api2+"/users/current", nil); st != 401 {
		t.Fatalf("old password after change: %d", st)
	}
	if st, m, _ := s.as(t, "alice", "alice-password-2", "GET", api2+"/users/current", nil); st != 200 || m["user"].(map[string]any)["username"] != "alice" {
		t.Fatalf("new password: %d %v", st, m)
	}
}

func TestAuthSearchesShowWhatTheUserMayRead(t *testing.T) {
	s := authServer(t, func(c *Config) { c.Auth.DefaultPermission = "NO_PERMISSIONS" })
	const api2, api3 = "/api/2.0/mlflow", "/api/3.0/mlflow"
	admin := func(method, path string, body any) map[string]any {
		t.Helper()
		st, m, raw := s.as(t, "admin", testAdminPassword, method, path, body)
		if st != 200 {
			t.Fatalf("%s %s: %d %s", method, path, st, raw)
		}
		return m
	}
	admin("POST", api2+"/users/create", map[string]any{"username": "bob", "password": "bob-password-1"})
	bob := func(method, path string, body any) map[string]any {
		t.Helper()
		st, m, raw := s.as(t, "bob", "bob-password-1", method, path, body)
		if st != 200 {
			t.Fatalf("bob %s %s: %d %s", method, path, st, raw)
		}
		return m
	}
	// Ten experiments with a run and a model each; bob may read 2, 5 and 9.
	var exps []string
	readable := map[string]bool{}
	for i := range 10 {
		id := admin("POST", api2+"/experiments/create", map[string]any{"name": "e" + itoa(int64(i))})["experiment_id"].(string)
		exps = append(exps, id)
		admin("POST", api2+"/runs/create", map[string]any{"experiment_id": id, "start_time": 1})
		admin("POST", api2+"/registered-models/create", map[string]any{"name": "m" + itoa(int64(i))})
		if i == 2 || i == 5 || i == 9 {
			readable[id] = true
			admin("POST", api3+"/users/permissions/grant", map[string]any{"username": "bob", "resource_type": "experiment", "resource_id": id, "permission": "READ"})
			admin("POST", api3+"/users/permissions/grant", map[string]any{"username": "bob", "resource_type": "registered_model", "resource_id": "m" + itoa(int64(i)), "permission": "READ"})
		}
	}
	// Experiments, one per page: every page token resumes where the last
	// page stopped looking, and bob sees exactly his three.
	seen := map[string]bool{}
	token := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		m := bob("POST", api2+"/experiments/search", map[string]any{"max_results": 1, "page_token": token})
		exs, _ := m["experiments"].([]any)
		if len(exs) > 1 {
			t.Fatalf("page of %d", len(exs))
		}
		for _, e := range exs {
			seen[e.(map[string]any)["experiment_id"].(string)] = true
		}
		token, _ = m["next_page_token"].(string)
		if token == "" {
			break
		}
	}
	if len(seen) != 3 {
		t.Fatalf("bob saw experiments %v, want %v", seen, readable)
	}
	for id := range seen {
		if !readable[id] {
			t.Fatalf("bob saw experiment %s", id)
		}
	}
	// Runs: the experiments bob may not read are dropped from the search.
	m := bob("POST", api2+"/runs/search", map[string]any{"experiment_ids": exps})
	if runs, _ := m["runs"].([]any); len(runs) != 3 {
		t.Fatalf("bob's runs: %d", len(runs))
	}
	if m := bob("POST", api2+"/runs/search", map[string]any{"experiment_ids": []string{exps[0]}}); len(m) != 0 {
		t.Fatalf("runs of an unreadable experiment: %v", m)
	}
	if m := bob("POST", "/api/mlbox/v1/runs/count", map[string]any{"experiment_ids": exps}); m["count"] != float64(3) {
		t.Fatalf("count: %v", m)
	}
	// Registered models and their versions.
	m = bob("GET", api2+"/registered-models/search", map[string]any{"max_results": "2"})
	n := len(m["registered_models"].([]any))
	for tok, _ := m["next_page_token"].(string); tok != ""; tok, _ = m["next_page_token"].(string) {
		m = bob("GET", api2+"/registered-models/search", map[string]any{"max_results": "2", "page_token": tok})
		rms, _ := m["registered_models"].([]any)
		n += len(rms)
	}
	if n != 3 {
		t.Fatalf("bob's registered models: %d", n)
	}
	// Admins see everything.
	if m := admin("POST", api2+"/experiments/search", map[string]any{"max_results": 100}); len(m["experiments"].([]any)) != 11 {
		t.Fatalf("admin's experiments: %d", len(m["experiments"].([]any)))
	}
	if st, _, _ := s.as(t, "bob", "bob-password-1", "GET", api2+"/experiments/get-by-name", map[string]any{"experiment_name": "e0"}); st != 403 {
		t.Fatalf("get-by-name of an unreadable experiment: %d", st)
	}
}

func TestAuthRolesAndWorkspaceAdmins(t *testing.T) {
	s := authServer(t)
	const api2, api3 = "/api/2.0/mlflow", "/api/3.0/mlflow"
	call := func(user, pw, method, path string, body any, want int) map[string]any {
		t.Helper()
		st, m, raw := s.as(t, user, pw, method, path, body)
		if st != want {
			t.Fatalf("%s %s %s: %d %s, want %d", user, method, path, st, raw, want)
		}
		return m
	}
	admin := func(method, path string, body any) map[string]any {
		t.Helper()
		return call("admin", testAdminPassword, method, path, body, 200)
	}
	for _, u := range []string{"wsadmin", "bob"} {
		admin("POST", api2+"/users/create", map[string]any{"username": u, "password": u + "-password-1"})
	}
	exp := admin("POST", api2+"/experiments/create", map[string]any{"name": "private"})["experiment_id"].(string)
	// A workspace admin: MANAGE on everything, and manages roles.
	role := admin("POST", api3+"/roles/create", map[string]any{"workspace": "default", "name": "leads"})["role"].(map[string]any)
	rid := fmt.Sprint(role["id"])
	call("admin", testAdminPassword, "POST", api3+"/roles/permissions/add", map[string]any{"role_id": rid, "resource_type": "workspace", "resource_pattern": "*", "permission": "READ"}, 400)
	admin("POST", api3+"/roles/permissions/add", map[string]any{"role_id": rid, "resource_type": "workspace", "resource_pattern": "*", "permission": "MANAGE"})
	call("bob", "bob-password-1", "POST", api3+"/roles/create", map[string]any{"workspace": "default", "name": "bobs"}, 403)
	call("wsadmin", "wsadmin-password-1", "POST", api3+"/roles/create", map[string]any{"workspace": "default", "name": "early"}, 403)
	admin("POST", api3+"/roles/assign", map[string]any{"username": "wsadmin", "role_id": rid})
	call("wsadmin", "wsadmin-password-1", "POST", api2+"/experiments/delete", map[string]any{"experiment_id": exp}, 200)
	r2 := call("wsadmin", "wsadmin-password-1", "POST", api3+"/roles/create", map[string]any{"workspace": "default", "name": "readers"}, 200)["role"].(map[string]any)
	r2id := fmt.Sprint(r2["id"])
	call("wsadmin", "wsadmin-password-1", "POST", api3+"/roles/create", map[string]any{"workspace": "default", "name": "__user_7__"}, 400)
	call("wsadmin", "wsadmin-password-1", "POST", api3+"/roles/create", map[string]any{"workspace": "other", "name": "x"}, 403)
	// A role with DENY on one experiment beats the default READ.
	exp2 := admin("POST", api2+"/experiments/create", map[string]any{"name": "hidden"})["experiment_id"].(string)
	call("wsadmin", "wsadmin-password-1", "POST", api3+"/roles/permissions/add", map[string]any{"role_id": r2id, "resource_type": "experiment", "resource_pattern": exp2, "permission": "DENY"}, 200)
	call("bob", "bob-password-1", "GET", api2+"/experiments/get", map[string]any{"experiment_id": exp2}, 200)
	call("wsadmin", "wsadmin-password-1", "POST", api3+"/roles/assign", map[string]any{"username": "bob", "role_id": r2id}, 200)
	call("bob", "bob-password-1", "GET", api2+"/experiments/get", map[string]any{"experiment_id": exp2}, 403)
	// Bob may read the roles of a workspace he is in, not manage them; an
	// unknown role is 403 to him (no oracle) and 404 to admins.
	call("bob", "bob-password-1", "GET", api3+"/roles/get", map[string]any{"role_id": r2id}, 200)
	call("bob", "bob-password-1", "DELETE", api3+"/roles/delete", map[string]any{"role_id": r2id}, 403)
	call("bob", "bob-password-1", "GET", api3+"/roles/get", map[string]any{"role_id": "999"}, 403)
	call("admin", testAdminPassword, "GET", api3+"/roles/get", map[string]any{"role_id": "999"}, 404)
	call("admin", testAdminPassword, "GET", api3+"/roles/get", map[string]any{"role_id": "abc"}, 400)
	// Deleting the role lifts the DENY.
	call("wsadmin", "wsadmin-password-1", "DELETE", api3+"/roles/delete", map[string]any{"role_id": r2id}, 200)
	call("bob", "bob-password-1", "GET", api2+"/experiments/get", map[string]any{"experiment_id": exp2}, 200)
}

// Command jobs reach the server with MLFLOW_TRACKING_TOKEN: with accounts
// and no service token, a per-process job token with an admin's rights.
func TestAuthJobToken(t *testing.T) {
	s := authServer(t)
	tok := s.App.trackingToken()
	if tok == "" || tok != s.App.jobToken {
		t.Fatalf("job token %q", tok)
	}
	for _, c := range []struct {
		auth string
		want int
	}{{"Bearer " + tok, 200}, {"Bearer " + tok + "x", 401}, {"", 401}} {
		req, _ := newReq("GET", s.URL+"/api/mlbox/v1/jobs", "", "")
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		if st, _, raw := doReq(t, req); st != c.want {
			t.Errorf("%q: %d %s", c.auth, st, raw)
		}
	}
	// With a service token, jobs get that one and there is no job token.
	s2 := authServer(t, func(c *Config) { c.HTTP.AuthToken = "service-token-0123456789" })
	if s2.App.jobToken != "" || s2.App.trackingToken() != "service-token-0123456789" {
		t.Fatalf("with a service token: %q %q", s2.App.jobToken, s2.App.trackingToken())
	}
}

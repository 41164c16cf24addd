package app

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestAuthzMatrix sends every route the router has (under every prefix it
// is served on) as each role, with the route's request from the bad-input
// table (badinput_test.go) on fresh fixtures, and checks the answer
// against the route's declared policy (policy.go): the roles the policy
// refuses get 401 (anonymous) or 403, and the least privileged role it
// lets through gets neither. A route without a policy does not even
// register; one without a request template fails
// TestBadInputRoutesComplete.
//
// Roles: anonymous; users whose grant on the fixtures' experiment and
// registered model is DENY, READ, USE, EDIT or MANAGE (default READ); an
// admin; the service token. And two access tokens, which do not count as
// a route's minimum: u-edit's personal token (t-edit) and a user named by
// the trusted proxy's header with u-edit's grants (p-edit) must be let
// through wherever u-edit is, and an inference-only token of u-manage for
// the fixtures' model (t-infer) nowhere but /models/<that model>/....
func TestAuthzMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("walks every route")
	}
	const token = "service-token-0123456789"
	// Fixtures are made by the admin (doReq adds its credentials).
	// The test's requests come from 127.0.0.1, the trusted proxy's address:
	// only the proxy user's carry its header.
	s := badInputServer(t, func(c *Config) {
		c.HTTP.AuthToken = token
		c.HTTP.AuthMaxFailures = 0
		c.Auth.Proxy.TrustedCIDRs = []string{"127.0.0.1", "::1"}
	})
	grantees := []struct {
		name string
		lv   level
	}{{"u-deny", lvlDeny}, {"u-read", lvlRead}, {"u-use", lvlUse}, {"u-edit", lvlEdit}, {"u-manage", lvlManage}, {"p-edit", lvlEdit}}
	for _, g := range grantees {
		if g.name == "p-edit" { // made on first sight, by the proxy
			req, _ := newReq("GET", s.URL+api+"/users/current", "", "")
			req.Header.Set("X-Forwarded-User", g.name)
			resp, err := walkClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("proxy user: %v %v", resp, err)
			}
			resp.Body.Close()
			continue
		}
		s.must(t, "POST", api+"/users/create", map[string]any{"username": g.name, "password": g.name + "-password"})
	}
	// u-edit's personal token acts as u-edit (the role t-edit).
	st, tm, raw := s.call(t, "POST", "/api/mlbox/v1/tokens", map[string]any{"name": "matrix", "user": "u-edit"})
	if st != 201 {
		t.Fatalf("token: %d %s", st, raw)
	}
	editToken := tm["secret"].(string)
	var checked atomic.Int64
	var observed sync.Map // pattern -> the least privileged role let through
	var last []routeInfo
	run := func(t *testing.T, ri routeInfo) {
		sp, ok := specFor(ri.Pattern)
		if !ok {
			return // TestBadInputRoutesComplete reports it
		}
		method, patPath, hasMethod := strings.Cut(ri.Pattern, " ")
		if !hasMethod {
			method, patPath = "GET", ri.Pattern
		}
		pth := patPath
		if len(sp.paths) > 0 {
			pth = sp.paths[0]
		}
		ajax := strings.HasPrefix(patPath, "/ajax-api/")
		if ajax {
			pth = strings.Replace(strings.Replace(pth, "/api/2.0/", "/ajax-api/2.0/", 1), "/api/3.0/", "/ajax-api/3.0/", 1)
		}
		var base walkReq
		for _, r := range buildWalk(t, sp, method, patPath, pth, ajax) {
			if r.what == "base" {
				base = r
			}
		}
		if base.method == "" {
			t.Fatalf("%s: no base request", ri.Pattern)
		}
		var f fixtures
		setup := func() {
			f = makeFixtures(t, s, strings.Contains(ri.Pattern, "/webhooks"), sp.usesAccounts())
			for _, g := range grantees {
				perm := g.lv.String()
				for _, res := range [][2]string{{"experiment", f["$EXP"]}, {"registered_model", f["$RM"]}} {
					s.must(t, "POST", "/api/3.0/mlflow/users/permissions/grant", map[string]any{"username": g.name, "resource_type": res[0], "resource_id": res[1], "permission": perm})
				}
			}
		}
		setup()
		// t-infer: an inference-only token of u-manage for the fixtures'
		// registered model.
		st, tm, raw := s.call(t, "POST", "/api/mlbox/v1/tokens", map[string]any{"name": "infer-" + f["$RM"], "user": "u-manage", "models": []string{f["$RM"]}})
		if st != 201 {
			t.Fatalf("inference token: %d %s", st, raw)
		}
		type role struct {
			name, user, pw, bearer string
			proxyUser              string // named by the trusted proxy's header
			lv                     level
			admin                  bool
			token                  bool // an access token or proxy user: does not count as the route's minimum
			infer                  bool // inference-only
		}
		roles := []role{{name: "anonymous"}, {name: "t-infer", bearer: tm["secret"].(string), lv: lvlManage, token: true, infer: true}}
		for _, g := range grantees {
			switch g.name {
			case "u-edit":
				roles = append(roles, role{name: "t-edit", bearer: editToken, lv: g.lv, token: true},
					role{name: "p-edit", proxyUser: "p-edit", lv: g.lv, token: true})
			case "p-edit":
				continue
			}
			roles = append(roles, role{name: g.name, user: g.name, pw: g.name + "-password", lv: g.lv})
		}
		roles = append(roles, role{name: "admin", user: "admin", pw: testAdminPassword, admin: true}, role{name: "service", bearer: token, admin: true})
		// allowed: what the policy (and, for the routes listed in
		// handlerChecks, the handler) lets a role do with the request.
		allowed := func(rl role) bool {
			if ri.Policy.Access == accessPublic {
				return true
			}
			if rl.name == "anonymous" {
				return false
			}
			if rl.infer {
				// Inference on its model only (serve.default_model is not it).
				return ri.Policy.Access == accessResource && ri.Policy.Res == resServedModel
			}
			if rl.bearer != "" && rl.token && strings.HasPrefix(patPath, "/api/mlbox/v1/tokens") {
				return false // tokens are managed with a password
			}
			if rl.admin {
				return true
			}
			if hc, ok := handlerChecks[policyKey(ri.Pattern)]; ok {
				return hc(rl.lv)
			}
			switch ri.Policy.Access {
			case accessUser:
				return true
			case accessAdmin:
				return false
			}
			lv := rl.lv
			if ri.Policy.Res == resDefaultModel {
				lv = lvlRead // no grant names serve.default_model: the default
			}
			return lv.can(ri.Policy.Need)
		}
		send := func(rl role) int {
			target := s.URL + f.fill(base.path)
			if base.query != "" {
				target += "?" + fillQuery(f, base.query)
			}
			body := base.body
			if len(body) > 0 && !sp.raw {
				body = []byte(f.fill(string(body)))
			}
			req, err := http.NewRequest(base.method, target, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if base.ct != "" {
				req.Header.Set("Content-Type", base.ct)
			}
			switch {
			case rl.proxyUser != "":
				req.Header.Set("X-Forwarded-User", rl.proxyUser)
			case rl.bearer != "":
				req.Header.Set("Authorization", "Bearer "+rl.bearer)
			case rl.user != "":
				req.SetBasicAuth(rl.user, rl.pw)
			}
			resp, err := walkClient.Do(req)
			if err != nil {
				t.Fatalf("%s as %s: %v", ri.Pattern, rl.name, err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checked.Add(1)
			if resp.StatusCode >= 500 && resp.StatusCode != 501 && resp.StatusCode != 503 {
				t.Errorf("%s as %s: %d %.200s", ri.Pattern, rl.name, resp.StatusCode, raw)
			}
			return resp.StatusCode
		}
		// Ascending privilege: every role the policy refuses must be
		// refused (such requests change nothing), and the first role let
		// through is the route's minimum, recorded in the golden file.
		minRole := ""
		for _, rl := range roles {
			st := send(rl)
			refused := st == 401 || st == 403
			if refused && sp.status == st && minRole == "" && rl.admin {
				refused = false // the request is meant to answer this (a gate refusing, say)
			}
			if allowed(rl) {
				if refused {
					t.Errorf("%s as %s (allowed by %+v): %d", ri.Pattern, rl.name, ri.Policy, st)
				}
				if rl.token {
					if sp.fresh { // it renamed or deleted: new fixtures for the user it stands for
						setup()
					}
					continue // the user it stands for is tried next
				}
				if minRole == "" {
					minRole = rl.name
				}
				break
			}
			want := 403
			if rl.name == "anonymous" {
				want = 401
			}
			if st != want {
				t.Errorf("%s as %s (refused by %+v): %d, want %d", ri.Pattern, rl.name, ri.Policy, st, want)
			}
		}
		observed.Store(ri.Pattern, minRole)
		// u-manage holds at most 100 tokens.
		s.must(t, "DELETE", "/api/mlbox/v1/tokens/"+tm["token"].(map[string]any)["id"].(string), nil)
	}
	t.Run("routes", func(t *testing.T) {
		for _, ri := range s.App.mux.routes {
			if sp, ok := specFor(ri.Pattern); ok && (sp.last || strings.Contains(ri.Pattern, "/webhooks")) {
				last = append(last, ri)
				continue
			}
			t.Run(ri.Pattern, func(t *testing.T) {
				t.Parallel()
				run(t, ri)
			})
		}
	})
	for _, ri := range last {
		t.Run(ri.Pattern, func(t *testing.T) { run(t, ri) })
	}
	t.Logf("%d routes, %d requests", len(s.App.mux.routes), checked.Load())
	if t.Failed() {
		return
	}
	var b strings.Builder
	b.WriteString("# The least privileged role each route lets through (TestAuthzMatrix).\n")
	b.WriteString("# Roles, in order: anonymous, u-deny, u-read, u-use, u-edit, u-manage (the\n")
	b.WriteString("# user's grant on the request's experiment and registered model), admin.\n")
	b.WriteString("# Access tokens and a proxy user are checked too, never listed: u-edit's\n")
	b.WriteString("# personal token and a user the trusted proxy names (EDIT) as u-edit, an\n")
	b.WriteString("# inference-only token on /models/<its model>/... only.\n")
	b.WriteString("# Regenerate with: go test ./app -run TestAuthzMatrix -update-authz-golden\n")
	var lines []string
	for _, ri := range s.App.mux.routes {
		v, _ := observed.Load(ri.Pattern)
		lines = append(lines, fmt.Sprintf("%-80s %s", ri.Pattern, v))
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, "\n") + "\n")
	const golden = "testdata/authz_matrix.golden"
	if *updateAuthzGolden {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-authz-golden to create it)", err)
	}
	if string(want) != b.String() {
		t.Errorf("who may call what changed: compare with %s (and update it with -update-authz-golden if that is intended)\n%s", golden, lineDiff(string(want), b.String()))
	}
}

var updateAuthzGolden = flag.Bool("update-authz-golden", false, "rewrite app/testdata/authz_matrix.golden")

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		w[l] = true
	}
	for _, l := range strings.Split(got, "\n") {
		g[l] = true
	}
	var out []string
	for l := range w {
		if !g[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range g {
		if !w[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// handlerChecks are the routes whose handler narrows an any-user policy
// (MLflow's rules): given the caller's level on the fixtures, may the
// route's request from the bad-input table pass?
var handlerChecks = map[string]func(level) bool{
	// The request names another user ($USER): admins only.
	"GET mlflow:/users/get":                 func(level) bool { return false },
	"PATCH mlflow:/users/update-password":   func(level) bool { return false },
	"GET mlflow:/users/permissions/get":     func(level) bool { return false },
	"GET mlflow:/users/permissions/list":    func(level) bool { return false },
	"GET mlflow:/users/roles/list":          func(level) bool { return false },
	"POST mlflow:/users/permissions/grant":  func(l level) bool { return l == lvlManage },
	"POST mlflow:/users/permissions/revoke": func(l level) bool { return l == lvlManage },
	// Tokens: the requests name $USER's tokens (404 for others' on delete,
	// which is not a refusal).
	"GET /api/mlbox/v1/tokens":  func(level) bool { return false },
	"POST /api/mlbox/v1/tokens": func(level) bool { return false },
	// Roles: the fixture users hold roles in "default" (their own), so
	// they may read its roles but not manage them (no workspace MANAGE).
	"POST mlflow:/roles/create":               func(level) bool { return false },
	"GET mlflow:/roles/get":                   func(level) bool { return true },
	"GET mlflow:/roles/list":                  func(level) bool { return true },
	"PATCH mlflow:/roles/update":              func(level) bool { return false },
	"DELETE mlflow:/roles/delete":             func(level) bool { return false },
	"POST mlflow:/roles/permissions/add":      func(level) bool { return false },
	"DELETE mlflow:/roles/permissions/remove": func(level) bool { return false },
	"GET mlflow:/roles/permissions/list":      func(level) bool { return true },
	"PATCH mlflow:/roles/permissions/update":  func(level) bool { return false },
	"POST mlflow:/roles/assign":               func(level) bool { return false },
	"DELETE mlflow:/roles/unassign":           func(level) bool { return false },
	"GET mlflow:/roles/users/list":            func(level) bool { return false },
	// These read what they name after the lookup.
	"GET mlflow:/experiments/get-by-name":            func(l level) bool { return l.can(capRead) },
	"POST mlflow:/experiments/get-by-name":           func(l level) bool { return l.can(capRead) },
	"GET mlflow:/metrics/get-history-bulk-interval":  func(l level) bool { return l.can(capRead) },
	"POST mlflow:/metrics/get-history-bulk-interval": func(l level) bool { return l.can(capRead) },
}

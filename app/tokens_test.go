package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// bearer sends a JSON request with a token.
func (s *testServer) bearer(t testing.TB, token, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	var b string
	if body != nil {
		raw, _ := json.Marshal(body)
		b = string(raw)
	}
	req, err := newReq(method, s.URL+path, "application/json", b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return doReq(t, req)
}

// adminCreds makes doReq (s.call, s.must) send the admin's credentials.
func adminCreds(t testing.TB, s *testServer) {
	host := strings.TrimPrefix(s.URL, "http://")
	testCreds.Store(host, [2]string{"admin", testAdminPassword})
	t.Cleanup(func() { testCreds.Delete(host) })
}

func TestAccessTokens(t *testing.T) {
	s := authServer(t)
	adminCreds(t, s)
	v := registerIris(t, s, "iris")
	setAlias(t, s, "iris", "champion", v)
	registerIris(t, s, "other")
	waitServing(t, s, "iris", v)
	for _, u := range []string{"alice", "bob"} {
		s.must(t, "POST", api+"/users/create", map[string]any{"username": u, "password": u + "-password-1"})
	}
	alice := func(method, path string, body any) (int, map[string]any, string) {
		return s.as(t, "alice", "alice-password-1", method, path, body)
	}
	const tokens = "/api/mlbox/v1/tokens"

	// A personal token: created with the password, shown once.
	st, m, raw := alice("POST", tokens, map[string]any{"name": "laptop"})
	if st != 201 {
		t.Fatalf("create: %d %s", st, raw)
	}
	personal, _ := m["secret"].(string)
	tok := m["token"].(map[string]any)
	if !strings.HasPrefix(personal, "mlbox_") || tok["kind"] != "personal" || tok["user"] != "alice" || tok["name"] != "laptop" {
		t.Fatalf("create: %s", raw)
	}
	if exp, _ := tok["expires_ms"].(float64); exp < float64(time.Now().Add(89*24*time.Hour).UnixMilli()) || exp > float64(time.Now().Add(91*24*time.Hour).UnixMilli()) {
		t.Fatalf("default expiry: %v", tok["expires_ms"])
	}
	if strings.Contains(raw, "secret_hash") {
		t.Fatalf("the digest leaks: %s", raw)
	}
	if st, _, raw := alice("POST", tokens, map[string]any{"name": "laptop"}); st != 400 || !strings.Contains(raw, "RESOURCE_ALREADY_EXISTS") {
		t.Fatalf("same name twice: %d %s", st, raw)
	}
	for _, bad := range []map[string]any{{}, {"name": " "}, {"name": "x", "expires_in_days": -1}, {"name": "x", "expires_in_days": 4000}, {"name": "x", "models": []string{""}}, {"name": strings.Repeat("n", 101)}} {
		if st, _, raw := alice("POST", tokens, bad); st != 400 || !strings.Contains(raw, "INVALID_PARAMETER_VALUE") {
			t.Errorf("create %v: %d %s", bad, st, raw)
		}
	}

	// It acts as alice.
	if st, m, raw := s.bearer(t, personal, "GET", api+"/users/current", nil); st != 200 || m["user"].(map[string]any)["username"] != "alice" {
		t.Fatalf("current user with the token: %d %s", st, raw)
	}
	if st, _, raw := s.bearer(t, personal, "POST", api+"/experiments/create", map[string]any{"name": "alice-exp"}); st != 200 {
		t.Fatalf("create an experiment with the token: %d %s", st, raw)
	}
	if st, _, raw := s.bearer(t, personal, "POST", api+"/users/create", map[string]any{"username": "mallory", "password": "mallory-password"}); st != 403 {
		t.Fatalf("an admin route with a user's token: %d %s", st, raw)
	}
	// ... but cannot manage tokens.
	if st, _, raw := s.bearer(t, personal, "POST", tokens, map[string]any{"name": "more"}); st != 403 {
		t.Fatalf("a token minting a token: %d %s", st, raw)
	}
	if st, _, raw := s.bearer(t, personal, "GET", tokens, nil); st != 403 {
		t.Fatalf("a token listing tokens: %d %s", st, raw)
	}
	// Wrong, malformed and unknown tokens are refused, never anonymous.
	for _, bad := range []string{personal + "x", personal[:len(personal)-1], "mlbox_", "mlbox_0123456789abcdef_x", "mlbox_zz"} {
		if st, _, raw := s.bearer(t, bad, "GET", api+"/experiments/search?max_results=1", nil); st != 401 {
			t.Errorf("token %q: %d %s", bad, st, raw)
		}
	}

	// An inference-only token: its maker needs USE on each model.
	if st, _, raw := alice("POST", tokens, map[string]any{"name": "edge", "models": []string{"iris"}}); st != 403 {
		t.Fatalf("inference token without USE: %d %s", st, raw)
	}
	s.must(t, "POST", "/api/3.0/mlflow/users/permissions/grant", map[string]any{"username": "alice", "resource_type": "registered_model", "resource_id": "iris", "permission": "USE"})
	st, m, raw = alice("POST", tokens, map[string]any{"name": "edge", "models": []string{"iris"}, "expires_in_days": 0, "description": "the edge box"})
	if st != 201 {
		t.Fatalf("inference token: %d %s", st, raw)
	}
	infer := m["secret"].(string)
	if tok := m["token"].(map[string]any); tok["kind"] != "inference" || tok["expires_ms"] != nil || tok["description"] != "the edge box" {
		t.Fatalf("inference token: %s", raw)
	}
	predict := func(token, model string) (int, string) {
		req, _ := newReq("POST", s.URL+"/models/"+model+"/predict", "application/json", `{"data": [[5.1, 3.5, 1.4, 0.2]]}`)
		req.Header.Set("Authorization", "Bearer "+token)
		st, _, raw := doReq(t, req)
		return st, raw
	}
	if st, raw := predict(infer, "iris"); st != 200 {
		t.Fatalf("predict with the inference token: %d %s", st, raw)
	}
	if st, raw := predict(infer, "iris@champion"); st != 200 {
		t.Fatalf("predict by alias with the inference token: %d %s", st, raw)
	}
	if st, raw := predict(infer, "other"); st != 403 {
		t.Fatalf("another model with the inference token: %d %s", st, raw)
	}
	for _, c := range [][2]string{{"GET", api + "/experiments/search?max_results=1"}, {"POST", api + "/experiments/create"}, {"GET", "/api/mlbox/v1/version"},
		{"GET", "/api/mlbox/v1/deployments/iris"}, {"DELETE", "/api/mlbox/v1/deployments/iris"}, {"GET", api + "/users/current"}, {"GET", "/metrics"}} {
		if st, _, raw := s.bearer(t, infer, c[0], c[1], map[string]any{"name": "x"}); st != 403 {
			t.Errorf("%s %s with the inference token: %d %.200s", c[0], c[1], st, raw)
		}
	}
	if st, _, _ := s.bearer(t, infer, "GET", "/health", nil); st != 200 {
		t.Errorf("/health with the inference token: %d", st)
	}
	// Its rights are its maker's, checked at each call.
	s.must(t, "POST", "/api/3.0/mlflow/users/permissions/revoke", map[string]any{"username": "alice", "resource_type": "registered_model", "resource_id": "iris"})
	if st, raw := predict(infer, "iris"); st != 403 {
		t.Fatalf("predict after the maker lost USE: %d %s", st, raw)
	}

	// Listing: one's own; admins see all or one user's.
	st, m, raw = alice("GET", tokens, nil)
	if st != 200 || len(m["tokens"].([]any)) != 2 || strings.Contains(raw, "mlbox_") {
		t.Fatalf("alice's tokens: %d %s", st, raw)
	}
	first := m["tokens"].([]any)[0].(map[string]any)
	if first["name"] != "laptop" || first["last_used_ms"] == nil {
		t.Fatalf("the used token: %v", first)
	}
	if st, _, _ := s.as(t, "bob", "bob-password-1", "GET", tokens+"?user=alice", nil); st != 403 {
		t.Fatalf("bob lists alice's tokens: %d", st)
	}
	if st, m, raw := s.call(t, "GET", tokens+"?all=true", nil); st != 200 || len(m["tokens"].([]any)) != 2 {
		t.Fatalf("admin lists all: %d %s", st, raw)
	}
	// An admin makes a token for a service account.
	st, m, raw = s.call(t, "POST", tokens, map[string]any{"name": "ci", "user": "bob", "expires_in_days": 7})
	if st != 201 || m["token"].(map[string]any)["user"] != "bob" {
		t.Fatalf("admin creates bob's token: %d %s", st, raw)
	}
	bobTok := m["token"].(map[string]any)["id"].(string)
	if st, _, raw := alice("POST", tokens, map[string]any{"name": "x", "user": "bob"}); st != 403 {
		t.Fatalf("alice creates bob's token: %d %s", st, raw)
	}

	// Revocation: not someone else's (not found), one's own at once.
	if st, _, raw := alice("DELETE", tokens+"/"+bobTok, nil); st != 404 {
		t.Fatalf("alice revokes bob's token: %d %s", st, raw)
	}
	id := tok["id"].(string)
	if st, _, raw := alice("DELETE", tokens+"/"+id, nil); st != 200 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	if st, _, _ := s.bearer(t, personal, "GET", api+"/users/current", nil); st != 401 {
		t.Fatalf("a revoked token: %d", st)
	}
	if st, _, _ := alice("DELETE", tokens+"/"+id, nil); st != 404 {
		t.Fatalf("revoke twice: %d", st)
	}

	// Expiry.
	s.must(t, "POST", "/api/3.0/mlflow/users/permissions/grant", map[string]any{"username": "alice", "resource_type": "registered_model", "resource_id": "iris", "permission": "USE"})
	_, m, _ = alice("POST", tokens, map[string]any{"name": "short", "expires_in_days": 1})
	short := m["secret"].(string)
	if _, _, ok := s.App.acct.checkToken(short, time.Now()); !ok {
		t.Fatal("a fresh token is refused")
	}
	if _, _, ok := s.App.acct.checkToken(short, time.Now().Add(25*time.Hour)); ok {
		t.Fatal("an expired token is accepted")
	}
	if _, _, ok := s.App.acct.checkToken(infer, time.Now().Add(10*365*24*time.Hour)); !ok {
		t.Fatal("a token without expiry expired")
	}

	// At rest: a digest, not the secret; and tokens survive a reload.
	stt, err := s.App.store.LoadAuth(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	secretOf := func(full string) string { _, sec, _ := tokenParts(full); return sec }
	for _, st := range stt.Tokens {
		if st.SecretHash == "" || strings.Contains(st.SecretHash, secretOf(infer)) || strings.Contains(st.SecretHash, secretOf(short)) {
			t.Fatalf("stored token %+v", st)
		}
	}
	if err := s.App.acct.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, raw := predict(infer, "iris"); st != 200 {
		t.Fatalf("predict after a reload: %d %s", st, raw)
	}

	// Deleting a user drops their tokens.
	s.must(t, "DELETE", api+"/users/delete", map[string]any{"username": "alice"})
	if st, raw := predict(infer, "iris"); st != 401 {
		t.Fatalf("the token of a deleted user: %d %s", st, raw)
	}
	if st, m, _ := s.call(t, "GET", tokens+"?all=true", nil); st != 200 || len(m["tokens"].([]any)) != 1 {
		t.Fatalf("after deleting alice: %v", m)
	}
}

// TestAccessTokensNeedAccounts: without accounts the API is not there.
func TestAccessTokensNeedAccounts(t *testing.T) {
	s := startServer(t, func(c *Config) { c.HTTP.AuthToken = "service-token-0123456789" })
	if st, _, raw := s.bearer(t, "service-token-0123456789", "GET", "/api/mlbox/v1/tokens", nil); st != http.StatusNotFound {
		t.Fatalf("%d %s", st, raw)
	}
}

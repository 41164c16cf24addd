package app

import (
	"strings"
	"testing"
	"time"
)

func TestAuthAuditTrail(t *testing.T) {
	s := authServer(t)
	adminCreds(t, s)
	const audit = "/api/mlbox/v1/auth/audit"
	s.must(t, "POST", api+"/users/create", map[string]any{"username": "alice", "password": "alice-password-1"})
	s.must(t, "POST", "/api/3.0/mlflow/users/permissions/grant", map[string]any{"username": "alice", "resource_type": "experiment", "resource_id": "0", "permission": "EDIT"})
	s.must(t, "POST", "/api/3.0/mlflow/users/permissions/revoke", map[string]any{"username": "alice", "resource_type": "experiment", "resource_id": "0"})
	// A wrong password over Basic, and at the login page.
	if st, _, _ := s.as(t, "alice", "wrong-password", "GET", api+"/users/current", nil); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	b := newBrowser(t, s.URL)
	b.do("POST", "/api/mlbox/v1/session", map[string]any{"username": "alice", "password": "nope"}, nil)
	_, m, _ := b.do("POST", "/api/mlbox/v1/session", map[string]any{"username": "alice", "password": "alice-password-1"}, nil)
	b.csrf, _ = m["csrf_token"].(string)
	_, tok, _ := b.do("POST", "/api/mlbox/v1/tokens", map[string]any{"name": "ci"}, map[string]string{csrfHeader: b.csrf})
	id := tok["token"].(map[string]any)["id"].(string)
	b.do("DELETE", "/api/mlbox/v1/tokens/"+id, nil, map[string]string{csrfHeader: b.csrf})
	b.do("DELETE", "/api/mlbox/v1/session", nil, map[string]string{csrfHeader: b.csrf})

	want := []string{"user.created", "permission.granted", "permission.revoked", "auth.failed", "login.failed", "login", "token.created", "token.revoked", "logout"}
	var entries []any
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, m, _ := s.call(t, "GET", audit+"?limit=1000", nil)
		entries, _ = m["entries"].([]any)
		got := map[string]map[string]any{}
		for _, e := range entries {
			em := e.(map[string]any)
			got[em["action"].(string)] = em
		}
		missing := ""
		for _, w := range want {
			if got[w] == nil {
				missing = w
			}
		}
		if missing == "" {
			if got["login"]["target"] != "alice" || got["token.created"]["actor"] != "alice" || got["permission.granted"]["actor"] != "admin" ||
				got["auth.failed"]["target"] != "alice" || !strings.HasPrefix(got["auth.failed"]["detail"].(string), "basic GET") ||
				got["login.failed"]["remote"] == "" {
				t.Fatalf("entries: %v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s entry in %v", missing, entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Newest first, paged, filtered.
	first := entries[0].(map[string]any)["seq"].(float64)
	if last := entries[len(entries)-1].(map[string]any)["seq"].(float64); first <= last {
		t.Fatalf("not newest first: %v .. %v", first, last)
	}
	_, m, _ = s.call(t, "GET", audit+"?limit=2", nil)
	if len(m["entries"].([]any)) != 2 || m["next_before"] == nil {
		t.Fatalf("a page of 2: %v", m)
	}
	_, m, _ = s.call(t, "GET", audit+"?action=token.", nil)
	for _, e := range m["entries"].([]any) {
		if !strings.HasPrefix(e.(map[string]any)["action"].(string), "token.") {
			t.Fatalf("action filter: %v", e)
		}
	}
	if st, _, _ := s.call(t, "GET", audit+"?limit=x", nil); st != 400 {
		t.Fatalf("limit=x: %d", st)
	}
	// Admins only.
	if st, _, _ := s.as(t, "alice", "alice-password-1", "GET", audit, nil); st != 403 {
		t.Fatalf("alice reads the audit trail: %d", st)
	}
}

package store

import (
	"context"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestAuthAudit(t *testing.T) {
	s, dir := openTest(t)
	ctx := context.Background()
	old := MaxAuthAudit
	MaxAuthAudit = 50
	t.Cleanup(func() { MaxAuthAudit = old })
	for i := range 60 {
		action := "login"
		if i%3 == 0 {
			action = "token.created"
		}
		if err := s.AppendAuthAudit(ctx, AuthAuditEntry{Action: action, Actor: fmt.Sprintf("u%d", i%4), Target: "t", Remote: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.authAuditLen(); n != 50 {
		t.Fatalf("kept %d entries, want 50", n)
	}
	// Newest first, in pages.
	var all []AuthAuditEntry
	var before uint64
	for {
		page, next, err := s.ListAuthAudit(ctx, AuthAuditFilter{Before: before, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == 0 {
			break
		}
		before = next
	}
	if len(all) != 50 || all[0].Seq != 60 || all[49].Seq != 11 || all[0].Time == 0 {
		t.Fatalf("%d entries, %d..%d", len(all), all[0].Seq, all[len(all)-1].Seq)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq-1 {
			t.Fatalf("not consecutive at %d", i)
		}
	}
	// Filters.
	tok, _, _ := s.ListAuthAudit(ctx, AuthAuditFilter{Action: "token."})
	for _, e := range tok {
		if e.Action != "token.created" {
			t.Fatalf("prefix filter: %+v", e)
		}
	}
	if len(tok) != 16 { // i%3 == 0 among the kept i = 10..59: 12, 15, ..., 57
		t.Fatalf("%d token entries", len(tok))
	}
	u1, _, _ := s.ListAuthAudit(ctx, AuthAuditFilter{User: "u1", Action: "login"})
	for _, e := range u1 {
		if e.Actor != "u1" || e.Action != "login" {
			t.Fatalf("user filter: %+v", e)
		}
	}
	if len(u1) == 0 {
		t.Fatal("no entries for u1")
	}
	// Survives a reopen, and the sequence goes on.
	s.Close()
	s2 := reopen(t, dir)
	if err := s2.AppendAuthAudit(ctx, AuthAuditEntry{Action: "logout"}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s2.ListAuthAudit(ctx, AuthAuditFilter{Limit: 1})
	if len(got) != 1 || got[0].Seq != 61 || got[0].Action != "logout" {
		t.Fatalf("after reopen: %+v", got)
	}
}

// authAuditLen counts the stored entries.
func (s *Store) authAuditLen() int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bktAuthAudit).Stats().KeyN
		return nil
	})
	return n
}

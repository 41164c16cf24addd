package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAuthRecords(t *testing.T) {
	ctx := context.Background()
	s, dir := openTest(t)
	alice, err := s.CreateUser(ctx, User{Username: "alice", PasswordHash: "h1"})
	if err != nil || alice.ID == 0 {
		t.Fatalf("create: %+v %v", alice, err)
	}
	if _, err := s.CreateUser(ctx, User{Username: "alice"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	if _, err := s.CreateUser(ctx, User{Username: " "}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("blank name: %v", err)
	}
	bob, _ := s.CreateUser(ctx, User{Username: "bob"})
	if bob.ID == alice.ID {
		t.Fatal("ids must differ")
	}
	g := Grant{Kind: "experiment", Resource: "1", UserID: alice.ID, Permission: "EDIT"}
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGrant(ctx, g); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate grant: %v", err)
	}
	if err := s.UpdateGrant(ctx, Grant{Kind: "experiment", Resource: "2", UserID: alice.ID, Permission: "READ"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing grant: %v", err)
	}
	// Resource names that are prefixes of one another stay apart.
	for _, r := range []string{"m", "m2"} {
		if err := s.PutGrant(ctx, Grant{Kind: "registered_model", Resource: r, UserID: bob.ID, Permission: "READ"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RenameResourceGrants(ctx, "registered_model", "m", "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignRole(ctx, alice.ID, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("assign a missing role: %v", err)
	}
	r, err := s.PutRole(ctx, Role{Name: "readers", Workspace: "default", Permissions: []RolePermission{{ID: 1, ResourceType: "experiment", ResourcePattern: "*", Permission: "READ"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRole(ctx, Role{Name: "readers", Workspace: "default"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate role: %v", err)
	}
	if _, err := s.AssignRole(ctx, alice.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, Token{ID: "t1", UserID: alice.ID, SecretHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, Token{ID: "t2", UserID: bob.ID, SecretHash: "y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, "bob", func(u *User) error { u.IsAdmin = true; return nil }); err != nil {
		t.Fatal(err)
	}

	// Everything survives a reopen.
	s.Close()
	s2, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, err := s2.LoadAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Users) != 2 || len(st.Grants) != 3 || len(st.Roles) != 1 || len(st.Assignments) != 1 || len(st.Tokens) != 2 {
		t.Fatalf("state after reopen: %+v", st)
	}
	names := map[string]bool{}
	for _, g := range st.Grants {
		names[g.Kind+":"+g.Resource] = true
	}
	if !names["registered_model:n"] || !names["registered_model:m2"] || names["registered_model:m"] {
		t.Fatalf("rename moved the wrong grants: %v", names)
	}

	// Deleting a user takes its grants, roles and tokens with it.
	if _, err := s2.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	st, _ = s2.LoadAuth(ctx)
	if len(st.Users) != 1 || len(st.Grants) != 2 || len(st.Assignments) != 0 || len(st.Tokens) != 1 {
		t.Fatalf("after delete: %+v", st)
	}
	if _, err := s2.CreateUser(ctx, User{Username: "alice"}); err != nil {
		t.Fatalf("the name is free again: %v", err)
	}
	if err := s2.DeleteResourceGrants(ctx, "registered_model", "n"); err != nil {
		t.Fatal(err)
	}
	st, _ = s2.LoadAuth(ctx)
	if len(st.Grants) != 1 || st.Grants[0].Resource != "m2" {
		t.Fatalf("after resource delete: %+v", st.Grants)
	}
}

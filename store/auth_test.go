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
	// A user's own role is made and assigned on their first grant.
	p := RolePermission{ResourceType: "experiment", ResourcePattern: "1", Permission: "EDIT"}
	g1, err := s.AddRolePermission(ctx, p, false, "__user_1__", "default", alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRolePermission(ctx, p, false, "__user_1__", "default", alice.ID); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate grant: %v", err)
	}
	p.Permission = "MANAGE"
	if g, err := s.AddRolePermission(ctx, p, true, "__user_1__", "default", alice.ID); err != nil || g.ID != g1.ID {
		t.Fatalf("upsert: %+v %v", g, err)
	}
	// Resource names that are prefixes of one another stay apart.
	var bobRole int64
	for _, r := range []string{"m", "m2"} {
		g, err := s.AddRolePermission(ctx, RolePermission{ResourceType: "registered_model", ResourcePattern: r, Permission: "READ"}, false, "__user_2__", "default", bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		bobRole = g.RoleID
	}
	if err := s.MoveResourcePermissions(ctx, []int64{bobRole}, "registered_model", "m", "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignRole(ctx, alice.ID, 99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("assign a missing role: %v", err)
	}
	r, err := s.CreateRole(ctx, Role{Name: "readers", Workspace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRole(ctx, Role{Name: "readers", Workspace: "default"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate role: %v", err)
	}
	rp, err := s.AddRolePermission(ctx, RolePermission{RoleID: r.ID, ResourceType: "experiment", ResourcePattern: "*", Permission: "READ"}, false, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRolePermission(ctx, rp.ID, func(p *RolePermission) error { p.Permission = "USE"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignRole(ctx, alice.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssignRole(ctx, alice.ID, r.ID); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate assignment: %v", err)
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
	if len(st.Users) != 2 || len(st.Roles) != 3 || len(st.Assignments) != 3 || len(st.Tokens) != 2 {
		t.Fatalf("state after reopen: %+v", st)
	}
	perms := map[string]string{}
	for _, r := range st.Roles {
		for _, p := range r.Permissions {
			perms[r.Name+":"+p.ResourceType+":"+p.ResourcePattern] = p.Permission
		}
	}
	want := map[string]string{"__user_1__:experiment:1": "MANAGE", "__user_2__:registered_model:n": "READ",
		"__user_2__:registered_model:m2": "READ", "readers:experiment:*": "USE"}
	if len(perms) != len(want) {
		t.Fatalf("permissions: %v", perms)
	}
	for k, v := range want {
		if perms[k] != v {
			t.Fatalf("permissions: %v, want %v", perms, want)
		}
	}

	// Deleting a user takes their own role, assignments and tokens; shared
	// roles stay.
	if _, err := s2.DeleteUser(ctx, "alice", g1.RoleID); err != nil {
		t.Fatal(err)
	}
	st, _ = s2.LoadAuth(ctx)
	if len(st.Users) != 1 || len(st.Roles) != 2 || len(st.Assignments) != 1 || len(st.Tokens) != 1 {
		t.Fatalf("after delete: %+v", st)
	}
	if _, err := s2.UpdateRolePermission(ctx, g1.ID, func(*RolePermission) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted role's permission by id: %v", err)
	}
	if _, err := s2.CreateUser(ctx, User{Username: "alice"}); err != nil {
		t.Fatalf("the name is free again: %v", err)
	}
	if err := s2.MoveResourcePermissions(ctx, []int64{bobRole}, "registered_model", "n", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.RemoveRolePermission(ctx, rp.ID); err != nil {
		t.Fatal(err)
	}
	st, _ = s2.LoadAuth(ctx)
	n := 0
	for _, r := range st.Roles {
		n += len(r.Permissions)
	}
	if n != 1 {
		t.Fatalf("after removals: %+v", st.Roles)
	}
	if err := s2.DeleteRole(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	st, _ = s2.LoadAuth(ctx)
	if len(st.Roles) != 1 || len(st.Assignments) != 1 {
		t.Fatalf("after role delete: %+v", st)
	}
}

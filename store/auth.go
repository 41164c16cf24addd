package store

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Accounts: users, their grants on resources, roles and access tokens. The
// store only persists them; what a permission allows, how passwords are
// hashed and how a request is authenticated is policy, decided by app/.
//
// Buckets (schema 5):
//
//	auth_users       u64be(id) -> User JSON
//	auth_user_names  username -> u64be(id)
//	auth_grants      kind \x00 resource \x00 u64be(user id) -> Grant JSON
//	auth_roles       u64be(id) -> Role JSON (with its permissions)
//	auth_user_roles  u64be(user id) \x00 u64be(role id) -> RoleAssignment JSON
//	auth_tokens      token id -> Token JSON
var (
	bktUsers     = []byte("auth_users")
	bktUserNames = []byte("auth_user_names")
	bktGrants    = []byte("auth_grants")
	bktRoles     = []byte("auth_roles")
	bktUserRoles = []byte("auth_user_roles")
	bktTokens    = []byte("auth_tokens")
)

func migrateAuth(tx *bolt.Tx, _ *Store) error {
	for _, b := range [][]byte{bktUsers, bktUserNames, bktGrants, bktRoles, bktUserRoles, bktTokens} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// User is an account. PasswordHash is an encoded KDF output (app/ chooses
// the KDF); it is never sent to clients.
type User struct {
	ID           int64  `json:"id"`
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
	IsAdmin      bool   `json:"is_admin"`
	// Source says how the account came to be: "" (created by an admin or
	// the bootstrap) or "proxy" (created on first sight behind a trusted
	// proxy; it has no usable password).
	Source    string `json:"source,omitempty"`
	CreatedMs int64  `json:"created_ms"`
}

// Grant is one user's permission on one resource: Kind "experiment" with
// the experiment id, "registered_model" with the model name, and so on.
type Grant struct {
	Kind       string `json:"kind"`
	Resource   string `json:"resource"`
	UserID     int64  `json:"user_id"`
	Permission string `json:"permission"`
}

// Role is a named set of permissions in a workspace.
type Role struct {
	ID          int64            `json:"id"`
	Name        string           `json:"name"`
	Workspace   string           `json:"workspace"`
	Description string           `json:"description,omitempty"`
	Permissions []RolePermission `json:"permissions"`
}

// RolePermission grants Permission on resources of ResourceType matching
// ResourcePattern ("*" for all of them).
type RolePermission struct {
	ID              int64  `json:"id"`
	RoleID          int64  `json:"role_id"`
	ResourceType    string `json:"resource_type"`
	ResourcePattern string `json:"resource_pattern"`
	Permission      string `json:"permission"`
}

// RoleAssignment gives a user a role.
type RoleAssignment struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"user_id"`
	RoleID int64 `json:"role_id"`
}

// Token is an access token. Only a digest of the secret is kept
// (SecretHash); Models, when set, limits it to inference on those
// registered models.
type Token struct {
	ID          string   `json:"id"`
	UserID      int64    `json:"user_id"`
	Name        string   `json:"name"`
	SecretHash  string   `json:"secret_hash"`
	CreatedMs   int64    `json:"created_ms"`
	ExpiresMs   int64    `json:"expires_ms,omitempty"` // 0: never
	LastUsedMs  int64    `json:"last_used_ms,omitempty"`
	Models      []string `json:"models,omitempty"`
	Description string   `json:"description,omitempty"`
}

// AuthState is every account record, read in one transaction: app/ keeps
// it in memory and applies its own writes to it.
type AuthState struct {
	Users       []User
	Grants      []Grant
	Roles       []Role
	Assignments []RoleAssignment
	Tokens      []Token
}

func grantKey(kind, resource string, user int64) []byte {
	k := make([]byte, 0, len(kind)+len(resource)+10)
	k = append(k, kind...)
	k = append(k, 0)
	k = append(k, resource...)
	k = append(k, 0)
	return append(k, u64(uint64(user))...)
}

// LoadAuth reads every account record.
func (s *Store) LoadAuth(ctx context.Context) (*AuthState, error) {
	st := &AuthState{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		load := func(bkt []byte, add func(v []byte) error) error {
			return tx.Bucket(bkt).ForEach(func(_, v []byte) error { return add(v) })
		}
		if err := load(bktUsers, func(v []byte) error {
			var u User
			err := json.Unmarshal(v, &u)
			st.Users = append(st.Users, u)
			return err
		}); err != nil {
			return err
		}
		if err := load(bktGrants, func(v []byte) error {
			var g Grant
			err := json.Unmarshal(v, &g)
			st.Grants = append(st.Grants, g)
			return err
		}); err != nil {
			return err
		}
		if err := load(bktRoles, func(v []byte) error {
			var r Role
			err := json.Unmarshal(v, &r)
			st.Roles = append(st.Roles, r)
			return err
		}); err != nil {
			return err
		}
		if err := load(bktUserRoles, func(v []byte) error {
			var a RoleAssignment
			err := json.Unmarshal(v, &a)
			st.Assignments = append(st.Assignments, a)
			return err
		}); err != nil {
			return err
		}
		return load(bktTokens, func(v []byte) error {
			var t Token
			err := json.Unmarshal(v, &t)
			st.Tokens = append(st.Tokens, t)
			return err
		})
	})
	return st, err
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func getUserTx(tx *bolt.Tx, username string) (*User, error) {
	id := tx.Bucket(bktUserNames).Get([]byte(username))
	if id == nil {
		return nil, NotFoundf("User with username=%s not found", username)
	}
	var u User
	if err := json.Unmarshal(tx.Bucket(bktUsers).Get(id), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser adds an account; a taken username is KindExists.
func (s *Store) CreateUser(ctx context.Context, u User) (*User, error) {
	if strings.TrimSpace(u.Username) == "" {
		return nil, Invalidf("Username cannot be empty")
	}
	var out User
	err := s.update(ctx, func(tx *wtx) error {
		if tx.Bucket(bktUserNames).Get([]byte(u.Username)) != nil {
			return Existsf("User '%s' already exists", u.Username)
		}
		b := tx.Bucket(bktUsers)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		out = u
		out.ID = int64(n)
		if out.CreatedMs == 0 {
			out.CreatedMs = time.Now().UnixMilli()
		}
		if err := putJSON(b, u64(n), &out); err != nil {
			return err
		}
		return tx.Bucket(bktUserNames).Put([]byte(u.Username), u64(n))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser changes an account through fn (which must not change its
// ID or Username).
func (s *Store) UpdateUser(ctx context.Context, username string, fn func(u *User) error) (*User, error) {
	var out User
	err := s.update(ctx, func(tx *wtx) error {
		u, err := getUserTx(tx.Tx, username)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		u.Username = username
		out = *u
		return putJSON(tx.Bucket(bktUsers), u64(uint64(u.ID)), u)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser removes an account with its grants, role assignments and
// tokens.
func (s *Store) DeleteUser(ctx context.Context, username string) (*User, error) {
	var out User
	err := s.update(ctx, func(tx *wtx) error {
		u, err := getUserTx(tx.Tx, username)
		if err != nil {
			return err
		}
		out = *u
		if err := deleteWhere(tx.Bucket(bktGrants), func(_, v []byte) bool {
			var g Grant
			return json.Unmarshal(v, &g) == nil && g.UserID == u.ID
		}); err != nil {
			return err
		}
		prefix := u64(uint64(u.ID))
		if err := deleteWhere(tx.Bucket(bktUserRoles), func(k, _ []byte) bool { return bytes.HasPrefix(k, prefix) }); err != nil {
			return err
		}
		if err := deleteWhere(tx.Bucket(bktTokens), func(_, v []byte) bool {
			var t Token
			return json.Unmarshal(v, &t) == nil && t.UserID == u.ID
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bktUserNames).Delete([]byte(username)); err != nil {
			return err
		}
		return tx.Bucket(bktUsers).Delete(prefix)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// deleteWhere deletes the keys of b for which match is true.
func deleteWhere(b *bolt.Bucket, match func(k, v []byte) bool) error {
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if match(k, v) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// CreateGrant stores a new grant; one that exists is KindExists.
func (s *Store) CreateGrant(ctx context.Context, g Grant) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktGrants)
		k := grantKey(g.Kind, g.Resource, g.UserID)
		if b.Get(k) != nil {
			return Existsf("Permission (%s=%s, user_id=%d) already exists", g.Kind, g.Resource, g.UserID)
		}
		return putJSON(b, k, &g)
	})
}

// UpdateGrant changes the permission of an existing grant (KindNotFound if
// there is none).
func (s *Store) UpdateGrant(ctx context.Context, g Grant) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktGrants)
		k := grantKey(g.Kind, g.Resource, g.UserID)
		if b.Get(k) == nil {
			return NotFoundf("Permission (%s=%s, user_id=%d) not found", g.Kind, g.Resource, g.UserID)
		}
		return putJSON(b, k, &g)
	})
}

// PutGrant creates or replaces a grant.
func (s *Store) PutGrant(ctx context.Context, g Grant) error {
	return s.update(ctx, func(tx *wtx) error {
		return putJSON(tx.Bucket(bktGrants), grantKey(g.Kind, g.Resource, g.UserID), &g)
	})
}

// DeleteGrant removes a grant (KindNotFound if there is none).
func (s *Store) DeleteGrant(ctx context.Context, kind, resource string, user int64) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktGrants)
		k := grantKey(kind, resource, user)
		if b.Get(k) == nil {
			return NotFoundf("Permission (%s=%s, user_id=%d) not found", kind, resource, user)
		}
		return b.Delete(k)
	})
}

// DeleteResourceGrants removes every grant on one resource (when it is
// deleted for good).
func (s *Store) DeleteResourceGrants(ctx context.Context, kind, resource string) error {
	prefix := append(append(append([]byte(kind), 0), resource...), 0)
	return s.update(ctx, func(tx *wtx) error {
		return deleteWhere(tx.Bucket(bktGrants), func(k, _ []byte) bool {
			return bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8
		})
	})
}

// RenameResourceGrants moves every grant on a resource to its new name
// (a registered model rename).
func (s *Store) RenameResourceGrants(ctx context.Context, kind, from, to string) error {
	prefix := append(append(append([]byte(kind), 0), from...), 0)
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktGrants)
		var moved []Grant
		if err := deleteWhere(b, func(k, v []byte) bool {
			if !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
				return false
			}
			var g Grant
			if json.Unmarshal(v, &g) != nil {
				return false
			}
			g.Resource = to
			moved = append(moved, g)
			return true
		}); err != nil {
			return err
		}
		for _, g := range moved {
			if err := putJSON(b, grantKey(g.Kind, g.Resource, g.UserID), &g); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutRole creates (ID 0: a new id is given) or replaces a role; role
// names are unique per workspace.
func (s *Store) PutRole(ctx context.Context, r Role) (*Role, error) {
	var out Role
	err := s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktRoles)
		dup := false
		_ = b.ForEach(func(_, v []byte) error {
			var o Role
			if json.Unmarshal(v, &o) == nil && o.ID != r.ID && o.Name == r.Name && o.Workspace == r.Workspace {
				dup = true
			}
			return nil
		})
		if dup {
			return Existsf("Role '%s' already exists in workspace '%s'", r.Name, r.Workspace)
		}
		out = r
		if out.ID == 0 {
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			out.ID = int64(n)
		} else if b.Get(u64(uint64(r.ID))) == nil {
			return NotFoundf("Role with id=%d not found", r.ID)
		}
		if out.Permissions == nil {
			out.Permissions = []RolePermission{}
		}
		for i := range out.Permissions {
			out.Permissions[i].RoleID = out.ID
		}
		return putJSON(b, u64(uint64(out.ID)), &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// NextRolePermissionID hands out an id for a new role permission.
func (s *Store) NextRolePermissionID(ctx context.Context) (int64, error) {
	var id int64
	err := s.update(ctx, func(tx *wtx) error {
		n, err := tx.Bucket(bktGrants).NextSequence() // unused by grants themselves
		id = int64(n)
		return err
	})
	return id, err
}

// DeleteRole removes a role and its assignments.
func (s *Store) DeleteRole(ctx context.Context, id int64) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktRoles)
		if b.Get(u64(uint64(id))) == nil {
			return NotFoundf("Role with id=%d not found", id)
		}
		if err := deleteWhere(tx.Bucket(bktUserRoles), func(k, _ []byte) bool {
			return len(k) == 17 && bytes.Equal(k[9:], u64(uint64(id)))
		}); err != nil {
			return err
		}
		return b.Delete(u64(uint64(id)))
	})
}

func assignmentKey(user, role int64) []byte {
	k := append(u64(uint64(user)), 0)
	return append(k, u64(uint64(role))...)
}

// AssignRole gives a user a role (KindExists if it has it).
func (s *Store) AssignRole(ctx context.Context, user, role int64) (*RoleAssignment, error) {
	var out RoleAssignment
	err := s.update(ctx, func(tx *wtx) error {
		if tx.Bucket(bktRoles).Get(u64(uint64(role))) == nil {
			return NotFoundf("Role with id=%d not found", role)
		}
		if tx.Bucket(bktUsers).Get(u64(uint64(user))) == nil {
			return NotFoundf("User with id=%d not found", user)
		}
		b := tx.Bucket(bktUserRoles)
		k := assignmentKey(user, role)
		if b.Get(k) != nil {
			return Existsf("User %d already has role %d", user, role)
		}
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		out = RoleAssignment{ID: int64(n), UserID: user, RoleID: role}
		return putJSON(b, k, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UnassignRole takes a role from a user.
func (s *Store) UnassignRole(ctx context.Context, user, role int64) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktUserRoles)
		k := assignmentKey(user, role)
		if b.Get(k) == nil {
			return NotFoundf("User %d does not have role %d", user, role)
		}
		return b.Delete(k)
	})
}

// PutToken stores a token (new or updated).
func (s *Store) PutToken(ctx context.Context, t Token) error {
	return s.update(ctx, func(tx *wtx) error {
		if tx.Bucket(bktUsers).Get(u64(uint64(t.UserID))) == nil {
			return NotFoundf("User with id=%d not found", t.UserID)
		}
		return putJSON(tx.Bucket(bktTokens), []byte(t.ID), &t)
	})
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktTokens)
		if b.Get([]byte(id)) == nil {
			return NotFoundf("Token '%s' not found", id)
		}
		return b.Delete([]byte(id))
	})
}

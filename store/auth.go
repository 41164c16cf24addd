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
//	auth_roles       u64be(id) -> Role JSON (without its permissions)
//	auth_role_perms  u64be(role id) type \x00 pattern -> RolePermission JSON
//	auth_perm_ids    u64be(permission id) -> its auth_role_perms key
//	auth_user_roles  u64be(user id) \x00 u64be(role id) -> RoleAssignment JSON
//	auth_tokens      token id -> Token JSON
//
// As in MLflow 3, a user's own grants are the permissions of a role of
// their own (app/ names it); the store does not tell the two apart.
var (
	bktUsers     = []byte("auth_users")
	bktUserNames = []byte("auth_user_names")
	bktRoles     = []byte("auth_roles")
	bktRolePerms = []byte("auth_role_perms")
	bktPermIDs   = []byte("auth_perm_ids")
	bktUserRoles = []byte("auth_user_roles")
	bktTokens    = []byte("auth_tokens")
)

func migrateAuth(tx *bolt.Tx, _ *Store) error {
	for _, b := range [][]byte{bktUsers, bktUserNames, bktRoles, bktRolePerms, bktPermIDs, bktUserRoles, bktTokens} {
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
	// Kind is "" for an access token, "session" for a UI login session
	// (its secret travels in a cookie).
	Kind string `json:"kind,omitempty"`
}

// AuthState is every account record, read in one transaction: app/ keeps
// it in memory and applies its own writes to it.
type AuthState struct {
	Users       []User
	Roles       []Role // with their permissions
	Assignments []RoleAssignment
	Tokens      []Token
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
		byID := map[int64]int{}
		if err := load(bktRoles, func(v []byte) error {
			var r Role
			err := json.Unmarshal(v, &r)
			r.Permissions = []RolePermission{}
			byID[r.ID] = len(st.Roles)
			st.Roles = append(st.Roles, r)
			return err
		}); err != nil {
			return err
		}
		if err := load(bktRolePerms, func(v []byte) error {
			var p RolePermission
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			if i, ok := byID[p.RoleID]; ok {
				st.Roles[i].Permissions = append(st.Roles[i].Permissions, p)
			}
			return nil
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

// DeleteUser removes an account with its role assignments and tokens, and
// the roles in ownRoles (the user's own grants) altogether.
func (s *Store) DeleteUser(ctx context.Context, username string, ownRoles ...int64) (*User, error) {
	var out User
	err := s.update(ctx, func(tx *wtx) error {
		u, err := getUserTx(tx.Tx, username)
		if err != nil {
			return err
		}
		out = *u
		for _, role := range ownRoles {
			if err := deleteRoleTx(tx, role); err != nil && KindOf(err) != KindNotFound {
				return err
			}
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

// TouchToken records when a token was last used; a token revoked
// meanwhile stays revoked.
func (s *Store) TouchToken(ctx context.Context, id string, ms int64) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktTokens)
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if ms <= t.LastUsedMs {
			return nil
		}
		t.LastUsedMs = ms
		return putJSON(b, []byte(id), &t)
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

func rolePermKey(role int64, typ, pattern string) []byte {
	k := make([]byte, 0, 9+len(typ)+len(pattern))
	k = append(k, u64(uint64(role))...)
	k = append(k, typ...)
	k = append(k, 0)
	return append(k, pattern...)
}

func getRoleTx(tx *bolt.Tx, id int64) (*Role, error) {
	v := tx.Bucket(bktRoles).Get(u64(uint64(id)))
	if v == nil {
		return nil, NotFoundf("Role with id=%d not found", id)
	}
	var r Role
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func roleNameTakenTx(tx *bolt.Tx, r Role) bool {
	taken := false
	_ = tx.Bucket(bktRoles).ForEach(func(_, v []byte) error {
		var o Role
		if json.Unmarshal(v, &o) == nil && o.ID != r.ID && o.Name == r.Name && o.Workspace == r.Workspace {
			taken = true
		}
		return nil
	})
	return taken
}

// CreateRole adds a role (without permissions); names are unique per
// workspace.
func (s *Store) CreateRole(ctx context.Context, r Role) (*Role, error) {
	var out Role
	err := s.update(ctx, func(tx *wtx) error {
		if roleNameTakenTx(tx.Tx, r) {
			return Existsf("Role (name=%s, workspace=%s) already exists.", r.Name, r.Workspace)
		}
		b := tx.Bucket(bktRoles)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		out = Role{ID: int64(n), Name: r.Name, Workspace: r.Workspace, Description: r.Description}
		return putJSON(b, u64(n), &out)
	})
	if err != nil {
		return nil, err
	}
	out.Permissions = []RolePermission{}
	return &out, nil
}

// UpdateRole renames a role or changes its description (nil: unchanged).
func (s *Store) UpdateRole(ctx context.Context, id int64, name, description *string) (*Role, error) {
	var out Role
	err := s.update(ctx, func(tx *wtx) error {
		r, err := getRoleTx(tx.Tx, id)
		if err != nil {
			return err
		}
		if name != nil {
			r.Name = *name
		}
		if description != nil {
			r.Description = *description
		}
		if roleNameTakenTx(tx.Tx, *r) {
			return Existsf("Role with name=%s already exists in workspace=%s", r.Name, r.Workspace)
		}
		out = *r
		return putJSON(tx.Bucket(bktRoles), u64(uint64(id)), r)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func deleteRoleTx(tx *wtx, id int64) error {
	if _, err := getRoleTx(tx.Tx, id); err != nil {
		return err
	}
	prefix := u64(uint64(id))
	ids := tx.Bucket(bktPermIDs)
	if err := deleteWhere(tx.Bucket(bktRolePerms), func(k, v []byte) bool {
		if !bytes.HasPrefix(k, prefix) {
			return false
		}
		var p RolePermission
		if json.Unmarshal(v, &p) == nil {
			_ = ids.Delete(u64(uint64(p.ID)))
		}
		return true
	}); err != nil {
		return err
	}
	if err := deleteWhere(tx.Bucket(bktUserRoles), func(k, _ []byte) bool {
		return len(k) == 17 && bytes.Equal(k[9:], prefix)
	}); err != nil {
		return err
	}
	return tx.Bucket(bktRoles).Delete(prefix)
}

// DeleteRole removes a role with its permissions and assignments.
func (s *Store) DeleteRole(ctx context.Context, id int64) error {
	return s.update(ctx, func(tx *wtx) error { return deleteRoleTx(tx, id) })
}

// EnsureRole returns the role named name in workspace, creating it (and
// assigning it to user, when user > 0) if there is none: a user's own
// role, made on their first grant.
func ensureRoleTx(tx *wtx, name, workspace string, user int64) (int64, error) {
	var found int64
	_ = tx.Bucket(bktRoles).ForEach(func(k, v []byte) error {
		var o Role
		if found == 0 && json.Unmarshal(v, &o) == nil && o.Name == name && o.Workspace == workspace {
			found = o.ID
		}
		return nil
	})
	if found == 0 {
		b := tx.Bucket(bktRoles)
		n, err := b.NextSequence()
		if err != nil {
			return 0, err
		}
		found = int64(n)
		if err := putJSON(b, u64(n), &Role{ID: found, Name: name, Workspace: workspace}); err != nil {
			return 0, err
		}
	}
	if user > 0 {
		ub := tx.Bucket(bktUserRoles)
		k := assignmentKey(user, found)
		if ub.Get(k) == nil {
			n, err := ub.NextSequence()
			if err != nil {
				return 0, err
			}
			if err := putJSON(ub, k, &RoleAssignment{ID: int64(n), UserID: user, RoleID: found}); err != nil {
				return 0, err
			}
		}
	}
	return found, nil
}

// AddRolePermission adds a permission to a role (KindExists when the role
// has one for that type and pattern). With upsert, an existing one is
// changed instead. When ensureName is set, the role is found (or made and
// assigned to user) by name in workspace, and role is ignored.
func (s *Store) AddRolePermission(ctx context.Context, p RolePermission, upsert bool, ensureName, workspace string, user int64) (*RolePermission, error) {
	var out RolePermission
	err := s.update(ctx, func(tx *wtx) error {
		if ensureName != "" {
			id, err := ensureRoleTx(tx, ensureName, workspace, user)
			if err != nil {
				return err
			}
			p.RoleID = id
		} else if _, err := getRoleTx(tx.Tx, p.RoleID); err != nil {
			return err
		}
		b := tx.Bucket(bktRolePerms)
		k := rolePermKey(p.RoleID, p.ResourceType, p.ResourcePattern)
		out = p
		if v := b.Get(k); v != nil {
			if !upsert {
				return Existsf("Role permission (role_id=%d, resource_type=%s, resource_pattern=%s) already exists.", p.RoleID, p.ResourceType, p.ResourcePattern)
			}
			var old RolePermission
			if err := json.Unmarshal(v, &old); err != nil {
				return err
			}
			out.ID = old.ID
		} else {
			ids := tx.Bucket(bktPermIDs)
			n, err := ids.NextSequence()
			if err != nil {
				return err
			}
			out.ID = int64(n)
			if err := ids.Put(u64(n), k); err != nil {
				return err
			}
		}
		return putJSON(b, k, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateRolePermission changes the level of a role permission by id.
func (s *Store) UpdateRolePermission(ctx context.Context, id int64, fn func(p *RolePermission) error) (*RolePermission, error) {
	var out RolePermission
	err := s.update(ctx, func(tx *wtx) error {
		k := tx.Bucket(bktPermIDs).Get(u64(uint64(id)))
		if k == nil {
			return NotFoundf("Role permission with id=%d not found", id)
		}
		b := tx.Bucket(bktRolePerms)
		if err := json.Unmarshal(b.Get(k), &out); err != nil {
			return err
		}
		if err := fn(&out); err != nil {
			return err
		}
		return putJSON(b, bytes.Clone(k), &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveRolePermission deletes a role permission by id.
func (s *Store) RemoveRolePermission(ctx context.Context, id int64) (*RolePermission, error) {
	var out RolePermission
	err := s.update(ctx, func(tx *wtx) error {
		ids := tx.Bucket(bktPermIDs)
		k := ids.Get(u64(uint64(id)))
		if k == nil {
			return NotFoundf("Role permission with id=%d not found", id)
		}
		k = bytes.Clone(k)
		b := tx.Bucket(bktRolePerms)
		if err := json.Unmarshal(b.Get(k), &out); err != nil {
			return err
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		return ids.Delete(u64(uint64(id)))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// MoveResourcePermissions changes the pattern of the permissions on
// (typ, from) to to, in the given roles (a registered model rename), or
// deletes them when to is "" (the model was deleted).
func (s *Store) MoveResourcePermissions(ctx context.Context, roles []int64, typ, from, to string) error {
	return s.update(ctx, func(tx *wtx) error {
		b := tx.Bucket(bktRolePerms)
		ids := tx.Bucket(bktPermIDs)
		for _, role := range roles {
			k := rolePermKey(role, typ, from)
			v := b.Get(k)
			if v == nil {
				continue
			}
			var p RolePermission
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			if to == "" {
				if err := ids.Delete(u64(uint64(p.ID))); err != nil {
					return err
				}
				continue
			}
			nk := rolePermKey(role, typ, to)
			if b.Get(nk) != nil { // the new name already had a grant: keep that one
				if err := ids.Delete(u64(uint64(p.ID))); err != nil {
					return err
				}
				continue
			}
			p.ResourcePattern = to
			if err := putJSON(b, nk, &p); err != nil {
				return err
			}
			if err := ids.Put(u64(uint64(p.ID)), nk); err != nil {
				return err
			}
		}
		return nil
	})
}

package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"

	"mlbox/store"
)

// Accounts (auth.enabled): users with passwords, permissions as roles in
// the way of MLflow 3's basic-auth app, and the resolution of what a user
// may do with a resource. The records live in the store; this keeps all
// of them in memory (a small team's accounts are small) and reloads after
// every change.

// level is a permission level, ordered as MLflow orders them.
type level int8

const (
	lvlDeny   level = -1
	lvlNone   level = 0 // NO_PERMISSIONS
	lvlRead   level = 1
	lvlUse    level = 2
	lvlEdit   level = 3
	lvlManage level = 4
)

var levelNames = map[string]level{
	"DENY": lvlDeny, "NO_PERMISSIONS": lvlNone, "READ": lvlRead, "USE": lvlUse, "EDIT": lvlEdit, "MANAGE": lvlManage,
}

func (l level) String() string {
	for n, v := range levelNames {
		if v == l {
			return n
		}
	}
	return "NO_PERMISSIONS"
}

// can reports whether the level grants capability c.
func (l level) can(c capability) bool {
	switch c {
	case capRead:
		return l >= lvlRead
	case capUse:
		return l >= lvlUse
	case capUpdate:
		return l >= lvlEdit
	case capDelete, capManage:
		return l >= lvlManage
	}
	return false
}

// defaultWorkspace is the one workspace (MLflow's name for it); roles of
// other workspaces never match.
const defaultWorkspace = "default"

// ownRolePrefix names a user's own role, which holds their direct grants.
const ownRolePrefix = "__user_"

func ownRoleName(user int64) string { return ownRolePrefix + strconv.FormatInt(user, 10) + "__" }

// Resource types: the per-id ones and the wildcard-only tiers MLflow 3.17
// knows (mlbox resolves experiment and registered_model grants; the
// others are stored and listed as given).
var (
	perIDTypes    = []string{"experiment", "registered_model", "prompt", "scorer", "gateway_secret", "gateway_endpoint", "gateway_model_definition", "mcp_server"}
	wildcardTypes = []string{"run", "trace", "assessment", "logged_model", "review_queue", "registered_model_version", "prompt_version", "scorer_version", "mcp_server_version"}
)

func validResourceType(t string) bool {
	for _, x := range perIDTypes {
		if x == t {
			return true
		}
	}
	for _, x := range wildcardTypes {
		if x == t {
			return true
		}
	}
	return t == "workspace"
}

func perIDType(t string) bool {
	for _, x := range perIDTypes {
		if x == t {
			return true
		}
	}
	return false
}

// minPasswordLen is MLflow's rule.
const minPasswordLen = 12

// accounts is the in-memory copy of the account records.
type accounts struct {
	st          *store.Store
	defaultPerm level

	// Changes write to the store, then apply their delta to the memory
	// copy and count it in gen. A reload (one at a time, reloadMu) swaps in
	// what it read only if no delta was applied meanwhile, else reads
	// again: a reload that read the store before a write never replaces
	// what that write applied.
	reloadMu  sync.Mutex
	gen       uint64
	mu        sync.RWMutex
	byName    map[string]*store.User
	byID      map[int64]*store.User
	roles     map[int64]*store.Role
	userRoles map[int64][]int64 // user id -> role ids
	ownRole   map[int64]int64   // user id -> id of their own role
	tokens    map[string]*store.Token

	// verified remembers credentials that passed the KDF, keyed by a
	// digest of user and password; an entry counts only while the user's
	// stored hash is the one it was checked against.
	vmu      sync.Mutex
	verified map[[32]byte]string
	kdf      chan struct{} // bounds concurrent KDF runs
}

func newAccounts(ctx context.Context, st *store.Store, defaultPerm string) (*accounts, error) {
	ac := &accounts{st: st, defaultPerm: levelNames[defaultPerm], verified: map[[32]byte]string{}, kdf: make(chan struct{}, 2)}
	return ac, ac.reload(ctx)
}

// reload reads every record again (after a change of roles, or one that
// touches many records).
func (ac *accounts) reload(ctx context.Context) error {
	ac.reloadMu.Lock()
	defer ac.reloadMu.Unlock()
	for {
		ac.mu.RLock()
		gen := ac.gen
		ac.mu.RUnlock()
		if done, err := ac.reloadFrom(ctx, gen); done || err != nil {
			return err
		}
	}
}

// change runs a store write and then applies its effect to the memory
// copy with delta; a nil delta reloads everything.
func (ac *accounts) change(ctx context.Context, write func() error, delta func()) error {
	if err := write(); err != nil {
		return err
	}
	if delta == nil {
		return ac.reload(ctx)
	}
	ac.mu.Lock()
	delta()
	ac.gen++
	ac.mu.Unlock()
	return nil
}

// reloadFrom reads every record and swaps them in, unless a delta was
// applied since gen was read (done is then false).
func (ac *accounts) reloadFrom(ctx context.Context, gen uint64) (done bool, err error) {
	s, err := ac.st.LoadAuth(context.WithoutCancel(ctx))
	if err != nil {
		return false, err
	}
	byName := make(map[string]*store.User, len(s.Users))
	byID := make(map[int64]*store.User, len(s.Users))
	for i := range s.Users {
		u := &s.Users[i]
		byName[u.Username] = u
		byID[u.ID] = u
	}
	roles := make(map[int64]*store.Role, len(s.Roles))
	own := map[int64]int64{}
	for i := range s.Roles {
		r := &s.Roles[i]
		roles[r.ID] = r
	}
	userRoles := map[int64][]int64{}
	for _, a := range s.Assignments {
		userRoles[a.UserID] = append(userRoles[a.UserID], a.RoleID)
		if r := roles[a.RoleID]; r != nil && r.Name == ownRoleName(a.UserID) && r.Workspace == defaultWorkspace {
			own[a.UserID] = r.ID
		}
	}
	tokens := make(map[string]*store.Token, len(s.Tokens))
	for i := range s.Tokens {
		tokens[s.Tokens[i].ID] = &s.Tokens[i]
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.gen != gen {
		return false, nil
	}
	ac.byName, ac.byID, ac.roles, ac.userRoles, ac.ownRole, ac.tokens = byName, byID, roles, userRoles, own, tokens
	return true, nil
}

func (ac *accounts) user(name string) *store.User {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	return ac.byName[name]
}

func (ac *accounts) userByID(id int64) *store.User {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	return ac.byID[id]
}

func (ac *accounts) count() int {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	return len(ac.byID)
}

// --- passwords ---

// argon2id parameters (RFC 9106's second recommended option, with less
// memory): 64 MiB, 3 passes, 2 lanes. Each hash records its own, so
// changing them here leaves existing passwords valid. (Variables so that
// tests can make hashing cheap.)
var (
	argonTime    uint32 = 3
	argonMemory  uint32 = 64 * 1024
	argonThreads uint8  = 2
)

const argonKeyLen = 32

// hashPassword returns an encoded argon2id hash in the PHC string format.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkPassword reports whether pw matches an encoded argon2id hash.
func checkPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var ver int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &ver); err != nil || ver != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	// Parameters come from our own file, but bound them anyway.
	if m == 0 || m > 1<<22 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// verify checks a user's password: from the cache of verified
// credentials, else with the KDF (at most two at a time).
func (ac *accounts) verify(ctx context.Context, username, pw string) (*store.User, bool) {
	u := ac.user(username)
	if u == nil || u.PasswordHash == "" {
		// Spend the time a check would, so unknown names do not answer faster.
		ac.kdfRun(ctx, func() { checkPassword(dummyHash(), pw) })
		return nil, false
	}
	k := sha256.Sum256([]byte(username + "\x00" + pw))
	ac.vmu.Lock()
	h, ok := ac.verified[k]
	ac.vmu.Unlock()
	if ok && h == u.PasswordHash {
		return u, true
	}
	good := false
	if !ac.kdfRun(ctx, func() { good = checkPassword(u.PasswordHash, pw) }) || !good {
		return nil, false
	}
	ac.vmu.Lock()
	if len(ac.verified) >= 4096 {
		clear(ac.verified)
	}
	ac.verified[k] = u.PasswordHash
	ac.vmu.Unlock()
	return u, true
}

func (ac *accounts) kdfRun(ctx context.Context, f func()) bool {
	select {
	case ac.kdf <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-ac.kdf }()
	f()
	return true
}

// dummyHash is checked against for unknown users.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("mlbox-no-such-user")
	return h
})

// --- resolution ---

// grantOn folds a user's grants on (typ, id) over their roles in the
// default workspace: any DENY wins, else the highest; ok is false when
// no grant names the resource. A workspace MANAGE grant (a workspace
// admin) is MANAGE on everything.
func (ac *accounts) grantOn(user int64, typ, id string) (l level, ok bool) {
	l = lvlNone
	deny := false
	for _, rid := range ac.userRoles[user] {
		r := ac.roles[rid]
		if r == nil || r.Workspace != defaultWorkspace {
			continue
		}
		for _, p := range r.Permissions {
			if p.ResourceType == "workspace" && p.Permission == "MANAGE" {
				return lvlManage, true
			}
			if p.ResourceType != typ || (p.ResourcePattern != "*" && p.ResourcePattern != id) {
				continue
			}
			pl, known := levelNames[p.Permission]
			if !known {
				continue
			}
			ok = true
			if pl == lvlDeny {
				deny = true
			} else if pl > l {
				l = pl
			}
		}
	}
	if deny {
		return lvlDeny, true
	}
	return l, ok
}

// effective is a user's permission on a resource (MLflow's simple
// resolution): their grants, never below the default unless denied; the
// default when nothing names it.
func (ac *accounts) effective(user int64, typ, id string) level {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	return ac.effectiveLocked(user, typ, id)
}

func (ac *accounts) effectiveLocked(user int64, typ, id string) level {
	g, ok := ac.grantOn(user, typ, id)
	switch {
	case !ok:
		return ac.defaultPerm
	case g == lvlDeny:
		return lvlDeny
	case g < ac.defaultPerm:
		return ac.defaultPerm
	}
	return g
}

// --- changes ---

var errCannotDeleteSelf = &apiError{400, "BAD_REQUEST", "Users cannot delete their own account. Ask another admin to delete this user instead."}

// createUser validates and stores a new account.
func (ac *accounts) createUser(ctx context.Context, username, password string, admin bool, source string) (*store.User, error) {
	if username == "" || (password == "" && source == "") {
		return nil, invalidParam("Username and password cannot be empty.")
	}
	hash := ""
	if source == "" {
		if len(password) < minPasswordLen {
			return nil, invalidParam(fmt.Sprintf("Password must be at least %d characters.", minPasswordLen))
		}
		h, err := hashPassword(password)
		if err != nil {
			return nil, err
		}
		hash = h
	}
	var u *store.User
	err := ac.change(ctx, func() (err error) {
		u, err = ac.st.CreateUser(ctx, store.User{Username: username, PasswordHash: hash, IsAdmin: admin, Source: source})
		return err
	}, func() { ac.putUserLocked(u) })
	if store.KindOf(err) == store.KindExists {
		return nil, &apiError{400, "RESOURCE_ALREADY_EXISTS", fmt.Sprintf("User (username=%s) already exists.", username)}
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// putUserLocked stores a new or changed user (a fresh copy: readers may
// hold the old one).
func (ac *accounts) putUserLocked(u *store.User) {
	c := *u
	ac.byName[c.Username] = &c
	ac.byID[c.ID] = &c
}

// updateUser changes a user in the store and in memory.
func (ac *accounts) updateUser(ctx context.Context, username string, fn func(u *store.User) error) error {
	var u *store.User
	return ac.change(ctx, func() (err error) {
		u, err = ac.st.UpdateUser(ctx, username, fn)
		return err
	}, func() { ac.putUserLocked(u) })
}

func (ac *accounts) setPassword(ctx context.Context, username, password string) error {
	if len(password) < minPasswordLen {
		return invalidParam(fmt.Sprintf("Password must be at least %d characters.", minPasswordLen))
	}
	h, err := hashPassword(password)
	if err != nil {
		return err
	}
	return ac.updateUser(ctx, username, func(u *store.User) error { u.PasswordHash = h; return nil })
}

func (ac *accounts) setAdmin(ctx context.Context, username string, admin bool) error {
	return ac.updateUser(ctx, username, func(u *store.User) error { u.IsAdmin = admin; return nil })
}

func (ac *accounts) deleteUser(ctx context.Context, username string) error {
	u := ac.user(username)
	if u == nil {
		return store.NotFoundf("User with username=%s not found", username)
	}
	ac.mu.RLock()
	var own []int64
	for _, rid := range ac.userRoles[u.ID] {
		if r := ac.roles[rid]; r != nil && r.Name == ownRoleName(u.ID) {
			own = append(own, rid)
		}
	}
	ac.mu.RUnlock()
	return ac.change(ctx, func() error {
		_, err := ac.st.DeleteUser(ctx, username, own...)
		return err
	}, nil)
}

// grant adds a direct grant to a user's own role; upsert changes one
// that exists (the creator's MANAGE), else that is RESOURCE_ALREADY_EXISTS.
func (ac *accounts) grant(ctx context.Context, u *store.User, typ, id, perm string, upsert bool) error {
	var rp *store.RolePermission
	err := ac.change(ctx, func() (err error) {
		rp, err = ac.st.AddRolePermission(ctx, store.RolePermission{ResourceType: typ, ResourcePattern: id, Permission: perm},
			upsert, ownRoleName(u.ID), defaultWorkspace, u.ID)
		return err
	}, func() { ac.putOwnPermissionLocked(u.ID, *rp) })
	if store.KindOf(err) == store.KindExists {
		return &apiError{400, "RESOURCE_ALREADY_EXISTS", fmt.Sprintf("Permission for user=%s on resource_type=%s, resource_id=%s already exists.", u.Username, typ, id)}
	}
	return err
}

// putOwnPermissionLocked adds or replaces a permission of a user's own
// role, making the role (as the store just did) if memory has none. Roles
// are copied on change: readers may hold the old one.
func (ac *accounts) putOwnPermissionLocked(user int64, rp store.RolePermission) {
	old := ac.roles[rp.RoleID]
	var r store.Role
	if old != nil {
		r = *old
	} else {
		r = store.Role{ID: rp.RoleID, Name: ownRoleName(user), Workspace: defaultWorkspace}
	}
	perms := make([]store.RolePermission, 0, len(r.Permissions)+1)
	for _, p := range r.Permissions {
		if p.ID != rp.ID {
			perms = append(perms, p)
		}
	}
	r.Permissions = append(perms, rp)
	ac.roles[r.ID] = &r
	if ac.ownRole[user] != r.ID {
		ac.ownRole[user] = r.ID
		ac.userRoles[user] = append(append([]int64(nil), ac.userRoles[user]...), r.ID)
	}
}

// revoke removes a direct grant.
func (ac *accounts) revoke(ctx context.Context, u *store.User, typ, id string) error {
	notFound := store.NotFoundf("Permission for user=%s on resource_type=%s, resource_id=%s not found.", u.Username, typ, id)
	ac.mu.RLock()
	var pid int64
	if r := ac.roles[ac.ownRole[u.ID]]; r != nil {
		for _, p := range r.Permissions {
			if p.ResourceType == typ && p.ResourcePattern == id {
				pid = p.ID
			}
		}
	}
	ac.mu.RUnlock()
	if pid == 0 {
		return notFound
	}
	err := ac.change(ctx, func() error {
		_, err := ac.st.RemoveRolePermission(ctx, pid)
		return err
	}, func() {
		old := ac.roles[ac.ownRole[u.ID]]
		if old == nil {
			return
		}
		r := *old
		r.Permissions = make([]store.RolePermission, 0, len(old.Permissions))
		for _, p := range old.Permissions {
			if p.ID != pid {
				r.Permissions = append(r.Permissions, p)
			}
		}
		ac.roles[r.ID] = &r
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	return err
}

// ownRoles returns the ids of every user's own role (the grants a model
// rename or delete moves).
func (ac *accounts) ownRoles() []int64 {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	out := make([]int64, 0, len(ac.ownRole))
	for _, id := range ac.ownRole {
		out = append(out, id)
	}
	return out
}

// moveModel follows a registered model's rename (to != "") or deletion
// (to == "") in the users' own grants, as MLflow does.
func (ac *accounts) moveModel(ctx context.Context, from, to string) error {
	roles := ac.ownRoles()
	return ac.change(ctx, func() error {
		for _, typ := range []string{"registered_model", "prompt"} {
			if err := ac.st.MoveResourcePermissions(ctx, roles, typ, from, to); err != nil {
				return err
			}
		}
		return nil
	}, nil)
}

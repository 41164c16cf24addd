package app

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"mlbox/store"
)

// The account API of MLflow 3's basic-auth app, so that
// mlflow.server.get_app_client("basic-auth", tracking_uri) works against
// mlbox unchanged: users under /api/2.0/mlflow/users/..., per-user grants
// and roles under /api/3.0/mlflow/... (and the /ajax-api/ twins). Without
// auth.enabled these routes answer 404, as an MLflow server without the
// app does.

func (a *App) userRoutes() {
	a.mlflow("POST", "/users/create", a.accountsOnly(a.createUser))
	a.mlflow("GET", "/users/get", a.accountsOnly(a.getUser))
	a.mlflow("GET", "/users/current", a.accountsOnly(a.currentUser))
	a.mlflow("GET", "/users/list", a.accountsOnly(a.listUsers))
	a.mlflow("PATCH", "/users/update-password", a.accountsOnly(a.updatePassword))
	a.mlflow("PATCH", "/users/update-admin", a.accountsOnly(a.updateAdmin))
	a.mlflow("DELETE", "/users/delete", a.accountsOnly(a.deleteUser))

	a.mlflow3("POST", "/users/permissions/grant", a.accountsOnly(a.grantPermission))
	a.mlflow3("POST", "/users/permissions/revoke", a.accountsOnly(a.revokePermission))
	a.mlflow3("GET", "/users/permissions/get", a.accountsOnly(a.getPermission))
	a.mlflow3("GET", "/users/permissions/list", a.accountsOnly(a.listPermissions))
	a.mlflow3("GET", "/users/current/permissions", a.accountsOnly(a.currentPermissions))
	a.mlflow3("GET", "/users/roles/list", a.accountsOnly(a.listUserRoles))
	a.roleRoutes()
}

// mlflow3 registers an RPC under /api/3.0/mlflow and /ajax-api/3.0/mlflow.
func (a *App) mlflow3(method, path string, h handlerFunc) {
	hf := a.wrap(h)
	for _, prefix := range []string{"/api/3.0/mlflow", "/ajax-api/3.0/mlflow"} {
		a.mux.HandleFunc(method+" "+prefix+path, hf)
	}
}

// accountsOnly answers 404 (ENDPOINT_NOT_FOUND to the client) while
// accounts are off.
func (a *App) accountsOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if a.acct == nil {
			http.NotFound(w, r)
			return nil
		}
		return h(w, r)
	}
}

// userJSON is a user as MLflow's client reads it; the two permission
// lists keep MLflow 2.x clients (whose User.from_json requires them)
// working.
func userJSON(u *store.User) map[string]any {
	return map[string]any{"id": u.ID, "username": u.Username, "is_admin": u.IsAdmin,
		"experiment_permissions": []any{}, "registered_model_permissions": []any{}}
}

// caller returns the authenticated user (nil for the service token).
func caller(r *http.Request) (*principal, *store.User) {
	p := principalOf(r)
	if p == nil {
		return nil, nil
	}
	return p, p.user
}

// selfOrAdmin allows admins, and users acting on their own account.
func selfOrAdmin(r *http.Request, username string) error {
	p, u := caller(r)
	if p != nil && (p.admin || (u != nil && u.Username == username)) {
		return nil
	}
	return errPermissionDenied
}

func (a *App) targetUser(name string) (*store.User, error) {
	u := a.acct.user(name)
	if u == nil {
		return nil, store.NotFoundf("User with username=%s not found", name)
	}
	return u, nil
}

func (a *App) createUser(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true" max:"255"`
		Password optString `json:"password" required:"true" max:"1024"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	// is_admin in the body is ignored, as MLflow does: use update-admin.
	u, err := a.acct.createUser(r.Context(), req.Username.V, req.Password.V, false, "")
	if err != nil {
		return err
	}
	a.authAudit(r, "user.created", u.Username, "")
	return writeJSON(w, map[string]any{"user": userJSON(u)})
}

func (a *App) getUser(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := selfOrAdmin(r, req.Username.V); err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"user": userJSON(u)})
}

func (a *App) currentUser(w http.ResponseWriter, r *http.Request) error {
	p, u := caller(r)
	if u == nil {
		// The service token is no account: describe it as the admin it is.
		return writeJSON(w, map[string]any{"user": map[string]any{"id": 0, "username": p.name, "is_admin": true}, "is_basic_auth": false})
	}
	return writeJSON(w, map[string]any{"user": userJSON(u), "is_basic_auth": true})
}

func (a *App) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, me := caller(r)
	ac := a.acct
	ac.mu.RLock()
	users := make([]*store.User, 0, len(ac.byID))
	for _, u := range ac.byID {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		m := map[string]any{"id": u.ID, "username": u.Username, "is_admin": u.IsAdmin}
		roles := []any{}
		if p.admin || (me != nil && me.ID == u.ID) {
			roles = ac.rolesOfLocked(u.ID)
		}
		m["roles"] = roles
		out = append(out, m)
	}
	ac.mu.RUnlock()
	return writeJSON(w, map[string]any{"users": out})
}

func (a *App) updatePassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true"`
		Password optString `json:"password" required:"true" max:"1024"`
		Current  optString `json:"current_password"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := selfOrAdmin(r, req.Username.V); err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	if _, me := caller(r); me != nil && me.ID == u.ID {
		// Changing one's own password needs the current one, admins too.
		if req.Current.V == "" {
			return invalidParam("Current password is required when changing your own password.")
		}
		if !checkPassword(u.PasswordHash, req.Current.V) {
			return invalidParam("Current password does not match.")
		}
		if req.Current.V == req.Password.V {
			return invalidParam("New password must differ from the current password.")
		}
	}
	if err := a.acct.setPassword(r.Context(), u.Username, req.Password.V); err != nil {
		return err
	}
	a.authAudit(r, "user.password_changed", u.Username, "")
	return writeJSON(w, map[string]any{})
}

func (a *App) updateAdmin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true"`
		IsAdmin  optBool   `json:"is_admin" required:"true"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	if err := a.acct.setAdmin(r.Context(), u.Username, req.IsAdmin.V); err != nil {
		return err
	}
	a.authAudit(r, "user.admin_changed", u.Username, strconv.FormatBool(req.IsAdmin.V))
	return writeJSON(w, map[string]any{})
}

func (a *App) deleteUser(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if _, me := caller(r); me != nil && me.Username == req.Username.V {
		return errCannotDeleteSelf
	}
	if err := a.acct.deleteUser(r.Context(), req.Username.V); err != nil {
		return err
	}
	a.authAudit(r, "user.deleted", req.Username.V, "")
	return writeJSON(w, map[string]any{})
}

// --- per-user grants ---

type grantRequest struct {
	Username     optString `json:"username" required:"true" max:"255"`
	ResourceType optString `json:"resource_type" required:"true" max:"64"`
	ResourceID   optString `json:"resource_id" required:"true" max:"255"`
	Permission   optString `json:"permission" max:"32"`
}

// checkGrantTarget validates a grant's type and id and checks that the
// caller may change grants on it: admins, and users who may manage the
// resource (its owner, say).
func (a *App) checkGrantTarget(r *http.Request, typ, id string) error {
	if typ == "workspace" {
		return invalidParam("resource_type 'workspace' is not supported by the per-user permission convenience APIs. Use set_workspace_permission / delete_workspace_permission for workspace-wide grants.")
	}
	if !validResourceType(typ) {
		return invalidParam(fmt.Sprintf("Invalid resource type '%s'. Valid resource types are: %s", typ, resourceTypeList()))
	}
	if !perIDType(typ) && id != "*" {
		return invalidParam(fmt.Sprintf("Invalid resource_pattern '%s' for resource_type='%s'. This resource type supports only wildcard ('*') grants.", id, typ))
	}
	p, u := caller(r)
	if p.admin {
		return nil
	}
	if id == "*" || u == nil || a.acct.effective(u.ID, typ, id) != lvlManage {
		return errPermissionDenied
	}
	return nil
}

func resourceTypeList() string {
	all := append(append([]string{"workspace"}, perIDTypes...), wildcardTypes...)
	sort.Strings(all)
	return "('" + strings.Join(all, "', '") + "')"
}

func (a *App) grantPermission(w http.ResponseWriter, r *http.Request) error {
	var req grantRequest
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if !req.Permission.Set {
		return missingParam("permission")
	}
	if err := a.checkGrantTarget(r, req.ResourceType.V, req.ResourceID.V); err != nil {
		return err
	}
	perm := req.Permission.V
	lv, ok := levelNames[perm]
	if !ok {
		return invalidParam(fmt.Sprintf("Invalid permission '%s'. Valid permissions are: ('READ', 'USE', 'EDIT', 'MANAGE', 'NO_PERMISSIONS', 'DENY')", perm))
	}
	if lv == lvlNone {
		return invalidParam(fmt.Sprintf("Invalid permission 'NO_PERMISSIONS' for resource_type='%s'. Resource-level grants accept only: ('DENY', 'EDIT', 'MANAGE', 'READ', 'USE').", req.ResourceType.V))
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	if err := a.acct.grant(r.Context(), u, req.ResourceType.V, req.ResourceID.V, perm, false); err != nil {
		return err
	}
	a.authAudit(r, "permission.granted", u.Username, req.ResourceType.V+"/"+req.ResourceID.V+"="+perm)
	return writeJSON(w, map[string]any{})
}

func (a *App) revokePermission(w http.ResponseWriter, r *http.Request) error {
	var req grantRequest
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.checkGrantTarget(r, req.ResourceType.V, req.ResourceID.V); err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	if err := a.acct.revoke(r.Context(), u, req.ResourceType.V, req.ResourceID.V); err != nil {
		return err
	}
	a.authAudit(r, "permission.revoked", u.Username, req.ResourceType.V+"/"+req.ResourceID.V)
	return writeJSON(w, map[string]any{})
}

func (a *App) getPermission(w http.ResponseWriter, r *http.Request) error {
	var req grantRequest
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	typ := req.ResourceType.V
	if typ == "workspace" {
		return invalidParam("resource_type 'workspace' is not supported by the per-user permission convenience APIs.")
	}
	if err := selfOrAdmin(r, req.Username.V); err != nil {
		return err
	}
	if !validResourceType(typ) {
		return invalidParam(fmt.Sprintf("Invalid resource type '%s'. Valid resource types are: %s", typ, resourceTypeList()))
	}
	if !perIDType(typ) && req.ResourceID.V != "*" {
		return invalidParam(fmt.Sprintf("resource_type '%s' is not supported by the per-user permission convenience APIs.", typ))
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	lv := a.acct.effective(u.ID, typ, req.ResourceID.V)
	return writeJSON(w, map[string]any{"allowed": lv.can(capUse), "permission": lv.String()})
}

// permissionRows lists every permission of a user's roles.
func (ac *accounts) permissionRowsLocked(user int64) []map[string]any {
	rows := []map[string]any{}
	for _, rid := range ac.userRoles[user] {
		r := ac.roles[rid]
		if r == nil {
			continue
		}
		for _, p := range r.Permissions {
			rows = append(rows, map[string]any{"role_id": r.ID, "role_name": r.Name, "workspace": r.Workspace,
				"resource_type": p.ResourceType, "resource_pattern": p.ResourcePattern, "permission": p.Permission})
		}
	}
	return rows
}

// rolesOfLocked lists a user's roles as MLflow's Role JSON.
func (ac *accounts) rolesOfLocked(user int64) []any {
	out := []any{}
	ids := append([]int64(nil), ac.userRoles[user]...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, rid := range ids {
		if r := ac.roles[rid]; r != nil {
			out = append(out, roleJSON(r))
		}
	}
	return out
}

func roleJSON(r *store.Role) map[string]any {
	perms := r.Permissions
	if perms == nil {
		perms = []store.RolePermission{}
	}
	var desc any
	if r.Description != "" {
		desc = r.Description
	}
	return map[string]any{"id": r.ID, "name": r.Name, "workspace": r.Workspace, "description": desc, "permissions": perms}
}

func (a *App) listPermissions(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := selfOrAdmin(r, req.Username.V); err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	a.acct.mu.RLock()
	rows := a.acct.permissionRowsLocked(u.ID)
	a.acct.mu.RUnlock()
	return writeJSON(w, map[string]any{"is_admin": u.IsAdmin, "permissions": rows})
}

func (a *App) currentPermissions(w http.ResponseWriter, r *http.Request) error {
	_, me := caller(r)
	if me == nil {
		return writeJSON(w, map[string]any{"is_admin": true, "permissions": []any{}})
	}
	a.acct.mu.RLock()
	rows := a.acct.permissionRowsLocked(me.ID)
	a.acct.mu.RUnlock()
	return writeJSON(w, map[string]any{"is_admin": me.IsAdmin, "permissions": rows})
}

func (a *App) listUserRoles(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := selfOrAdmin(r, req.Username.V); err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	a.acct.mu.RLock()
	roles := a.acct.rolesOfLocked(u.ID)
	a.acct.mu.RUnlock()
	return writeJSON(w, map[string]any{"roles": roles})
}

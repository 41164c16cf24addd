package app

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"mlbox/store"
)

// Roles of MLflow 3's basic-auth app under /api/3.0/mlflow/roles/...:
// named sets of permissions in a workspace, assigned to users. mlbox has
// one workspace, "default"; roles of other workspaces are kept and listed
// but never match. Admins manage every role; a workspace admin (a user
// whose role in the workspace holds MANAGE on "workspace" "*") manages
// that workspace's roles; users present in a workspace (holding any role
// there) may read its roles.

func (a *App) roleRoutes() {
	a.mlflow3("POST", "/roles/create", a.accountsOnly(a.createRole))
	a.mlflow3("GET", "/roles/get", a.accountsOnly(a.getRole))
	a.mlflow3("GET", "/roles/list", a.accountsOnly(a.listRoles))
	a.mlflow3("PATCH", "/roles/update", a.accountsOnly(a.updateRole))
	a.mlflow3("DELETE", "/roles/delete", a.accountsOnly(a.deleteRole))
	a.mlflow3("POST", "/roles/permissions/add", a.accountsOnly(a.addRolePermission))
	a.mlflow3("DELETE", "/roles/permissions/remove", a.accountsOnly(a.removeRolePermission))
	a.mlflow3("GET", "/roles/permissions/list", a.accountsOnly(a.listRolePermissions))
	a.mlflow3("PATCH", "/roles/permissions/update", a.accountsOnly(a.updateRolePermission))
	a.mlflow3("POST", "/roles/assign", a.accountsOnly(a.assignRole))
	a.mlflow3("DELETE", "/roles/unassign", a.accountsOnly(a.unassignRole))
	a.mlflow3("GET", "/roles/users/list", a.accountsOnly(a.listRoleUsers))
}

// intParam parses an id sent as a JSON number or a numeric string.
func intParam(name string, v optString) (int64, error) {
	if !v.Set {
		return 0, missingParam(name)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.V), 10, 64)
	if err != nil {
		return 0, invalidParam(fmt.Sprintf("Parameter '%s' must be an integer. Got: '%s'", name, v.V))
	}
	return n, nil
}

// workspaceAdminLocked reports whether user administers workspace ws.
func (ac *accounts) workspaceAdminLocked(user int64, ws string) bool {
	for _, rid := range ac.userRoles[user] {
		r := ac.roles[rid]
		if r == nil || r.Workspace != ws {
			continue
		}
		for _, p := range r.Permissions {
			if p.ResourceType == "workspace" && p.Permission == "MANAGE" {
				return true
			}
		}
	}
	return false
}

// presentLocked reports whether user holds any role in workspace ws.
func (ac *accounts) presentLocked(user int64, ws string) bool {
	for _, rid := range ac.userRoles[user] {
		if r := ac.roles[rid]; r != nil && r.Workspace == ws {
			return true
		}
	}
	return false
}

func (ac *accounts) role(id int64) (store.Role, bool) {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	r := ac.roles[id]
	if r == nil {
		return store.Role{}, false
	}
	return *r, true
}

// roleOfPermission finds the role holding a role permission.
func (ac *accounts) roleOfPermission(id int64) (store.Role, store.RolePermission, bool) {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	for _, r := range ac.roles {
		for _, p := range r.Permissions {
			if p.ID == id {
				return *r, p, true
			}
		}
	}
	return store.Role{}, store.RolePermission{}, false
}

// mayManageWorkspace: admins, and the workspace's admins.
func (a *App) mayManageWorkspace(r *http.Request, ws string) bool {
	p, u := caller(r)
	if p.admin {
		return true
	}
	if u == nil {
		return false
	}
	a.acct.mu.RLock()
	defer a.acct.mu.RUnlock()
	return a.acct.workspaceAdminLocked(u.ID, ws)
}

// mayViewWorkspace: admins, and users present in the workspace.
func (a *App) mayViewWorkspace(r *http.Request, ws string) bool {
	p, u := caller(r)
	if p.admin {
		return true
	}
	if u == nil {
		return false
	}
	a.acct.mu.RLock()
	defer a.acct.mu.RUnlock()
	return a.acct.presentLocked(u.ID, ws) || a.acct.workspaceAdminLocked(u.ID, ws)
}

// roleFor resolves a role_id for a gate: a role that does not exist is
// 403 to non-admins (no existence oracle) and 404 to admins.
func (a *App) roleFor(r *http.Request, v optString, manage bool) (store.Role, error) {
	id, err := intParam("role_id", v)
	if err != nil {
		return store.Role{}, err
	}
	role, ok := a.acct.role(id)
	if !ok {
		if p, _ := caller(r); p.admin {
			return store.Role{}, store.NotFoundf("Role with id=%d not found", id)
		}
		return store.Role{}, errPermissionDenied
	}
	allowed := a.mayViewWorkspace(r, role.Workspace)
	if manage {
		allowed = a.mayManageWorkspace(r, role.Workspace)
	}
	if !allowed {
		return store.Role{}, errPermissionDenied
	}
	return role, nil
}

func checkRoleName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalidParam("Role name cannot be empty.")
	}
	if strings.HasPrefix(name, ownRolePrefix) {
		return invalidParam(fmt.Sprintf("Role name '%s' uses the reserved '%s' prefix, which is held for the per-user permission representation. Choose a different name.", name, ownRolePrefix))
	}
	return nil
}

// checkRolePermission validates a permission for a resource type.
func checkRolePermission(typ, pattern, perm string) error {
	lv, ok := levelNames[perm]
	if !ok {
		return invalidParam(fmt.Sprintf("Invalid permission '%s'. Valid permissions are: ('READ', 'USE', 'EDIT', 'MANAGE', 'NO_PERMISSIONS', 'DENY')", perm))
	}
	if !validResourceType(typ) {
		return invalidParam(fmt.Sprintf("Invalid resource type '%s'. Valid resource types are: %s", typ, resourceTypeList()))
	}
	if typ == "workspace" {
		if lv != lvlUse && lv != lvlManage {
			return invalidParam(fmt.Sprintf("Invalid permission '%s' for resource_type='workspace'. Workspace-wide grants accept only: ('MANAGE', 'USE').", perm))
		}
	} else if lv == lvlNone {
		return invalidParam(fmt.Sprintf("Invalid permission 'NO_PERMISSIONS' for resource_type='%s'. Resource-level grants accept only: ('DENY', 'EDIT', 'MANAGE', 'READ', 'USE').", typ))
	}
	if (typ == "workspace" || !perIDType(typ)) && pattern != "*" {
		return invalidParam(fmt.Sprintf("Invalid resource_pattern '%s' for resource_type='%s'. This resource type supports only wildcard ('*') grants.", pattern, typ))
	}
	if strings.TrimSpace(pattern) == "" {
		return invalidParam("resource_pattern cannot be empty.")
	}
	return nil
}

func (a *App) roleResponse(w http.ResponseWriter, id int64) error {
	role, ok := a.acct.role(id)
	if !ok {
		return store.NotFoundf("Role with id=%d not found", id)
	}
	return writeJSON(w, map[string]any{"role": roleJSON(&role)})
}

func (a *App) createRole(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Workspace   optString `json:"workspace" required:"true" max:"63"`
		Name        optString `json:"name" required:"true" max:"255"`
		Description optString `json:"description" max:"1024"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Workspace.V) == "" {
		return invalidParam("Workspace cannot be empty.")
	}
	if !a.mayManageWorkspace(r, req.Workspace.V) {
		return errPermissionDenied
	}
	if err := checkRoleName(req.Name.V); err != nil {
		return err
	}
	role, err := a.store.CreateRole(r.Context(), store.Role{Name: req.Name.V, Workspace: req.Workspace.V, Description: req.Description.V})
	if err != nil {
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.created", role.Name, role.Workspace)
	return a.roleResponse(w, role.ID)
}

func (a *App) getRole(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoleID optString `json:"role_id"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, false)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"role": roleJSON(&role)})
}

func (a *App) listRoles(w http.ResponseWriter, r *http.Request) error {
	wss := r.URL.Query()["workspace"]
	for _, ws := range wss {
		if strings.TrimSpace(ws) == "" {
			return invalidParam("Parameter 'workspace' must be a non-empty string when provided.")
		}
	}
	p, _ := caller(r)
	if !p.admin {
		if len(wss) == 0 {
			return errPermissionDenied
		}
		for _, ws := range wss {
			if !a.mayViewWorkspace(r, ws) {
				return errPermissionDenied
			}
		}
	}
	want := map[string]bool{}
	for _, ws := range wss {
		want[ws] = true
	}
	ac := a.acct
	ac.mu.RLock()
	roles := make([]*store.Role, 0, len(ac.roles))
	for _, ro := range ac.roles {
		if len(want) == 0 || want[ro.Workspace] {
			roles = append(roles, ro)
		}
	}
	sort.Slice(roles, func(i, j int) bool { return roles[i].ID < roles[j].ID })
	out := make([]any, 0, len(roles))
	for _, ro := range roles {
		out = append(out, roleJSON(ro))
	}
	ac.mu.RUnlock()
	return writeJSON(w, map[string]any{"roles": out})
}

func (a *App) updateRole(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoleID      optString `json:"role_id"`
		Name        optString `json:"name" max:"255"`
		Description optString `json:"description" max:"1024"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, true)
	if err != nil {
		return err
	}
	if !req.Name.Set && !req.Description.Set {
		return invalidParam("At least one of 'name' or 'description' must be provided to update a role.")
	}
	var name, desc *string
	if req.Name.Set {
		if err := checkRoleName(req.Name.V); err != nil {
			return err
		}
		name = &req.Name.V
	}
	if req.Description.Set {
		desc = &req.Description.V
	}
	if strings.HasPrefix(role.Name, ownRolePrefix) {
		return invalidParam("A user's own role holds their direct grants: change them with users/permissions/grant and revoke.")
	}
	if _, err := a.store.UpdateRole(r.Context(), role.ID, name, desc); err != nil {
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.updated", role.Name, role.Workspace)
	return a.roleResponse(w, role.ID)
}

func (a *App) deleteRole(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoleID optString `json:"role_id"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, true)
	if err != nil {
		return err
	}
	if err := a.store.DeleteRole(r.Context(), role.ID); err != nil {
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.deleted", role.Name, role.Workspace)
	return writeJSON(w, map[string]any{})
}

func (a *App) addRolePermission(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoleID          optString `json:"role_id"`
		ResourceType    optString `json:"resource_type" required:"true" max:"64"`
		ResourcePattern optString `json:"resource_pattern" required:"true" max:"255"`
		Permission      optString `json:"permission" required:"true" max:"32"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, true)
	if err != nil {
		return err
	}
	if err := checkRolePermission(req.ResourceType.V, req.ResourcePattern.V, req.Permission.V); err != nil {
		return err
	}
	rp, err := a.store.AddRolePermission(r.Context(), store.RolePermission{RoleID: role.ID, ResourceType: req.ResourceType.V,
		ResourcePattern: req.ResourcePattern.V, Permission: req.Permission.V}, false, "", "", 0)
	if err != nil {
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.permission_added", role.Name, rp.ResourceType+"/"+rp.ResourcePattern+"="+rp.Permission)
	return writeJSON(w, map[string]any{"role_permission": rp})
}

// permissionFor resolves a role_permission_id for a manage gate.
func (a *App) permissionFor(r *http.Request, v optString) (store.Role, store.RolePermission, error) {
	id, err := intParam("role_permission_id", v)
	if err != nil {
		return store.Role{}, store.RolePermission{}, err
	}
	role, rp, ok := a.acct.roleOfPermission(id)
	if !ok {
		if p, _ := caller(r); p.admin {
			return store.Role{}, store.RolePermission{}, store.NotFoundf("Role permission with id=%d not found", id)
		}
		return store.Role{}, store.RolePermission{}, errPermissionDenied
	}
	if !a.mayManageWorkspace(r, role.Workspace) {
		return store.Role{}, store.RolePermission{}, errPermissionDenied
	}
	return role, rp, nil
}

func (a *App) removeRolePermission(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID optString `json:"role_permission_id"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, rp, err := a.permissionFor(r, req.ID)
	if err != nil {
		return err
	}
	if _, err := a.store.RemoveRolePermission(r.Context(), rp.ID); err != nil {
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.permission_removed", role.Name, rp.ResourceType+"/"+rp.ResourcePattern)
	return writeJSON(w, map[string]any{})
}

func (a *App) updateRolePermission(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID         optString `json:"role_permission_id"`
		Permission optString `json:"permission" required:"true" max:"32"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, rp, err := a.permissionFor(r, req.ID)
	if err != nil {
		return err
	}
	if err := checkRolePermission(rp.ResourceType, rp.ResourcePattern, req.Permission.V); err != nil {
		return err
	}
	out, err := a.store.UpdateRolePermission(r.Context(), rp.ID, func(p *store.RolePermission) error {
		p.Permission = req.Permission.V
		return nil
	})
	if err != nil {
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.permission_updated", role.Name, out.ResourceType+"/"+out.ResourcePattern+"="+out.Permission)
	return writeJSON(w, map[string]any{"role_permission": out})
}

func (a *App) listRolePermissions(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoleID optString `json:"role_id"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, false)
	if err != nil {
		return err
	}
	perms := role.Permissions
	if perms == nil {
		perms = []store.RolePermission{}
	}
	return writeJSON(w, map[string]any{"role_permissions": perms})
}

type assignRequest struct {
	Username optString `json:"username" required:"true" max:"255"`
	RoleID   optString `json:"role_id"`
}

func (a *App) assignRole(w http.ResponseWriter, r *http.Request) error {
	var req assignRequest
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, true)
	if err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	as, err := a.store.AssignRole(r.Context(), u.ID, role.ID)
	if store.KindOf(err) == store.KindExists {
		return &apiError{400, "RESOURCE_ALREADY_EXISTS", fmt.Sprintf("User role assignment (user_id=%d, role_id=%d) already exists", u.ID, role.ID)}
	}
	if err != nil {
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.assigned", u.Username, role.Name)
	return writeJSON(w, map[string]any{"assignment": as})
}

func (a *App) unassignRole(w http.ResponseWriter, r *http.Request) error {
	var req assignRequest
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, true)
	if err != nil {
		return err
	}
	u, err := a.targetUser(req.Username.V)
	if err != nil {
		return err
	}
	if err := a.store.UnassignRole(r.Context(), u.ID, role.ID); err != nil {
		if store.KindOf(err) == store.KindNotFound {
			return store.NotFoundf("User role assignment (user_id=%d, role_id=%d) not found", u.ID, role.ID)
		}
		return err
	}
	if err := a.acct.reload(r.Context()); err != nil {
		return err
	}
	a.authAudit(r, "role.unassigned", u.Username, role.Name)
	return writeJSON(w, map[string]any{})
}

func (a *App) listRoleUsers(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RoleID optString `json:"role_id"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	role, err := a.roleFor(r, req.RoleID, true)
	if err != nil {
		return err
	}
	st, err := a.store.LoadAuth(r.Context())
	if err != nil {
		return err
	}
	out := []store.RoleAssignment{}
	for _, as := range st.Assignments {
		if as.RoleID == role.ID {
			out = append(out, as)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return writeJSON(w, map[string]any{"assignments": out})
}

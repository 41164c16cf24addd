package app

import "strings"

// Access policies: what each route needs, declared once per route. The
// router (router.go) refuses a route without one, and the route × role
// test (authz_matrix_test.go) walks this table through the router.
//
// The MLflow routes follow what MLflow's basic-auth app (3.17) asks for
// each call (deleting a tag of a logged model or model version needs
// MANAGE there, while setting one needs EDIT); mlbox's own routes follow the same levels: reading needs
// READ, inference USE, changes EDIT, deletes and permission-like changes
// MANAGE, and server-wide operations an admin.

// access is the kind of check a route gets.
type access uint8

const (
	// accessPublic: no credentials needed (health checks, the UI's files,
	// the login endpoint).
	accessPublic access = iota + 1
	// accessUser: any authenticated user; the handler filters what it
	// returns by what the user may read (searches) or needs nothing more
	// (creating an experiment, reading one's own account).
	accessUser
	// accessAdmin: admins only (and the service token).
	accessAdmin
	// accessResource: a capability on the resource the request names.
	accessResource
)

// capability is what a permission allows; levels grant a set of them.
type capability uint8

const (
	capRead capability = iota + 1
	capUse
	capUpdate
	capDelete
	capManage
)

func (c capability) String() string {
	switch c {
	case capRead:
		return "read"
	case capUse:
		return "use"
	case capUpdate:
		return "update"
	case capDelete:
		return "delete"
	case capManage:
		return "manage"
	}
	return "?"
}

// resKind is what a resource-checked route names.
type resKind uint8

const (
	resExperiment   resKind = iota + 1 // experiment_id
	resRun                             // run_id (or run_uuid): its experiment
	resLoggedModel                     // {model_id}: its experiment
	resArtifactPath                    // the artifact path's first segment: an experiment id
	resModel                           // a registered model by name
	resServedModel                     // /models/<name>[@alias]/...: a registered model (inference)
	resDefaultModel                    // POST /predict: serve.default_model
)

// policy is one route's requirement. For accessResource, Res says what
// the request names, From where its identifier is (a query or JSON body
// parameter, or a {path value}), and Need the capability.
type policy struct {
	Access access
	Res    resKind
	Need   capability
	From   string
}

var (
	public    = policy{Access: accessPublic}
	anyUser   = policy{Access: accessUser}
	adminOnly = policy{Access: accessAdmin}
)

func onExp(c capability) policy   { return policy{accessResource, resExperiment, c, "experiment_id"} }
func onRun(c capability) policy   { return policy{accessResource, resRun, c, "run_id"} }
func onModel(c capability) policy { return policy{accessResource, resModel, c, "name"} }
func onLogged(c capability) policy {
	return policy{accessResource, resLoggedModel, c, "{model_id}"}
}
func onArtifacts(c capability) policy {
	return policy{accessResource, resArtifactPath, c, "{path}"}
}
func onPathModel(c capability) policy { return policy{accessResource, resModel, c, "{name}"} }

// policies maps policyKey(pattern) to its policy. Keys of routes served
// for several methods by mlflowRead list each method.
var policies = map[string]policy{
	// Health checks and the UI's static files: orchestrators and the
	// login page load them without credentials. /version is what MLflow's
	// client probes before it has credentials too.
	"GET /health":  public,
	"GET /livez":   public,
	"GET /readyz":  public,
	"GET /version": public,
	"/":            public,
	// Unknown API routes answer 404 to users only.
	"/api/":      anyUser,
	"/ajax-api/": anyUser,
	// Process metrics name every model and route: admins (and the
	// service token Prometheus uses).
	"GET /metrics":              adminOnly,
	"GET /api/mlbox/v1/version": anyUser,
	// The accounts' audit trail (authaudit.go).
	"GET /api/mlbox/v1/auth/audit": adminOnly,
	// UI login sessions: who am I, log in, log out (session.go).
	"GET /api/mlbox/v1/session":    public,
	"POST /api/mlbox/v1/session":   public,
	"DELETE /api/mlbox/v1/session": public,
	// Access tokens: one's own (admins: anyone's); tokens.go checks.
	"GET /api/mlbox/v1/tokens":         anyUser,
	"POST /api/mlbox/v1/tokens":        anyUser,
	"DELETE /api/mlbox/v1/tokens/{id}": anyUser,
	"GET /api/mlbox/v1/backup":         adminOnly,
	// mlbox import / export (importapi.go).
	"POST /api/mlbox/v1/import/experiments":       adminOnly,
	"POST /api/mlbox/v1/import/runs":              adminOnly,
	"POST /api/mlbox/v1/import/runs/finish":       adminOnly,
	"POST /api/mlbox/v1/import/logged-models":     adminOnly,
	"POST /api/mlbox/v1/import/finish":            adminOnly,
	"POST /api/mlbox/v1/import/registered-models": adminOnly,
	"POST /api/mlbox/v1/import/model-versions":    adminOnly,
	"GET /api/mlbox/v1/import/ledger":             adminOnly,
	"POST /api/mlbox/v1/import/ledger":            adminOnly,

	// Accounts (users.go). The handlers add MLflow's finer rules: a user
	// reads and changes their own account; grants need MANAGE on the
	// resource they are about.
	"POST mlflow:/users/create":             adminOnly,
	"GET mlflow:/users/get":                 anyUser,
	"GET mlflow:/users/current":             anyUser,
	"GET mlflow:/users/list":                anyUser,
	"PATCH mlflow:/users/update-password":   anyUser,
	"PATCH mlflow:/users/update-admin":      adminOnly,
	"DELETE mlflow:/users/delete":           adminOnly,
	"POST mlflow:/users/permissions/grant":  anyUser,
	"POST mlflow:/users/permissions/revoke": anyUser,
	"GET mlflow:/users/permissions/get":     anyUser,
	"GET mlflow:/users/permissions/list":    anyUser,
	"GET mlflow:/users/current/permissions": anyUser,
	"GET mlflow:/users/roles/list":          anyUser,
	// Roles (roles.go): admins and the workspace's admins manage them;
	// users with a role in the workspace read them.
	"POST mlflow:/roles/create":               anyUser,
	"GET mlflow:/roles/get":                   anyUser,
	"GET mlflow:/roles/list":                  anyUser,
	"PATCH mlflow:/roles/update":              anyUser,
	"DELETE mlflow:/roles/delete":             anyUser,
	"POST mlflow:/roles/permissions/add":      anyUser,
	"DELETE mlflow:/roles/permissions/remove": anyUser,
	"GET mlflow:/roles/permissions/list":      anyUser,
	"PATCH mlflow:/roles/permissions/update":  anyUser,
	"POST mlflow:/roles/assign":               anyUser,
	"DELETE mlflow:/roles/unassign":           anyUser,
	"GET mlflow:/roles/users/list":            anyUser,

	// Experiments.
	"POST mlflow:/experiments/create":                anyUser, // the creator gets MANAGE
	"GET mlflow:/experiments/get":                    onExp(capRead),
	"POST mlflow:/experiments/get":                   onExp(capRead),
	"GET mlflow:/experiments/get-by-name":            anyUser, // the handler checks READ on what it found
	"POST mlflow:/experiments/get-by-name":           anyUser,
	"GET mlflow:/experiments/search":                 anyUser, // filtered
	"POST mlflow:/experiments/search":                anyUser,
	"POST mlflow:/experiments/delete":                onExp(capDelete),
	"POST mlflow:/experiments/restore":               onExp(capDelete),
	"POST mlflow:/experiments/update":                onExp(capUpdate),
	"POST mlflow:/experiments/set-experiment-tag":    onExp(capUpdate),
	"POST mlflow:/experiments/delete-experiment-tag": onExp(capUpdate),
	"GET /api/mlbox/v1/experiments/{id}/columns":     {accessResource, resExperiment, capRead, "{id}"},
	"POST /api/mlbox/v1/runs/count":                  anyUser, // filtered like runs/search

	// Runs.
	"POST mlflow:/runs/create":                                   onExp(capUpdate),
	"GET mlflow:/runs/get":                                       onRun(capRead),
	"POST mlflow:/runs/get":                                      onRun(capRead),
	"POST mlflow:/runs/update":                                   onRun(capUpdate),
	"POST mlflow:/runs/delete":                                   onRun(capDelete),
	"POST mlflow:/runs/restore":                                  onRun(capDelete),
	"GET mlflow:/runs/search":                                    anyUser, // filtered
	"POST mlflow:/runs/search":                                   anyUser,
	"POST mlflow:/runs/log-metric":                               onRun(capUpdate),
	"POST mlflow:/runs/log-parameter":                            onRun(capUpdate),
	"POST mlflow:/runs/set-tag":                                  onRun(capUpdate),
	"POST mlflow:/runs/delete-tag":                               onRun(capUpdate),
	"POST mlflow:/runs/log-batch":                                onRun(capUpdate),
	"POST mlflow:/runs/log-inputs":                               onRun(capUpdate),
	"POST mlflow:/runs/outputs":                                  onRun(capUpdate),
	"POST mlflow:/runs/log-model":                                onRun(capUpdate),
	"GET mlflow:/metrics/get-history":                            onRun(capRead),
	"POST mlflow:/metrics/get-history":                           onRun(capRead),
	"GET mlflow:/metrics/get-history-bulk-interval":              anyUser, // run_ids: the handler checks each
	"POST mlflow:/metrics/get-history-bulk-interval":             anyUser,
	"GET mlflow:/artifacts/list":                                 onRun(capRead),
	"POST mlflow:/artifacts/list":                                onRun(capRead),
	"PUT artifacts:/artifacts/{path...}":                         onArtifacts(capUpdate),
	"GET artifacts:/artifacts/{path...}":                         onArtifacts(capRead),
	"GET artifacts:/artifacts":                                   {accessResource, resArtifactPath, capRead, "path"},
	"DELETE artifacts:/artifacts/{path...}":                      onArtifacts(capDelete),
	"POST artifacts:/mpu/create/{path...}":                       onArtifacts(capUpdate),
	"POST artifacts:/mpu/complete/{path...}":                     onArtifacts(capUpdate),
	"POST artifacts:/mpu/abort/{path...}":                        onArtifacts(capUpdate),
	"PUT artifacts:/mpu/part/{path...}":                          onArtifacts(capUpdate),
	"POST mlflow:/logged-models":                                 onExp(capUpdate),
	"GET mlflow:/logged-models/{model_id}":                       onLogged(capRead),
	"PATCH mlflow:/logged-models/{model_id}":                     onLogged(capUpdate),
	"DELETE mlflow:/logged-models/{model_id}":                    onLogged(capDelete),
	"POST mlflow:/logged-models/search":                          anyUser, // filtered
	"PATCH mlflow:/logged-models/{model_id}/tags":                onLogged(capUpdate),
	"DELETE mlflow:/logged-models/{model_id}/tags/{tag_key...}":  onLogged(capDelete),
	"POST mlflow:/logged-models/{model_id}/params":               onLogged(capUpdate),
	"GET mlflow:/logged-models/{model_id}/artifacts/directories": onLogged(capRead),

	// The model registry.
	"POST mlflow:/registered-models/create":                         anyUser, // the creator gets MANAGE
	"GET mlflow:/registered-models/get":                             onModel(capRead),
	"POST mlflow:/registered-models/get":                            onModel(capRead),
	"POST mlflow:/registered-models/rename":                         onModel(capUpdate),
	"PATCH mlflow:/registered-models/update":                        onModel(capUpdate),
	"DELETE mlflow:/registered-models/delete":                       onModel(capDelete),
	"GET mlflow:/registered-models/search":                          anyUser, // filtered
	"POST mlflow:/registered-models/search":                         anyUser,
	"GET mlflow:/registered-models/get-latest-versions":             onModel(capRead),
	"POST mlflow:/registered-models/get-latest-versions":            onModel(capRead),
	"POST mlflow:/registered-models/set-tag":                        onModel(capUpdate),
	"DELETE mlflow:/registered-models/delete-tag":                   onModel(capUpdate),
	"POST mlflow:/registered-models/alias":                          onModel(capUpdate),
	"DELETE mlflow:/registered-models/alias":                        onModel(capDelete),
	"GET mlflow:/registered-models/alias":                           onModel(capRead),
	"POST mlflow:/model-versions/create":                            onModel(capUpdate),
	"GET mlflow:/model-versions/get":                                onModel(capRead),
	"POST mlflow:/model-versions/get":                               onModel(capRead),
	"PATCH mlflow:/model-versions/update":                           onModel(capUpdate),
	"DELETE mlflow:/model-versions/delete":                          onModel(capDelete),
	"GET mlflow:/model-versions/search":                             anyUser, // filtered
	"POST mlflow:/model-versions/search":                            anyUser,
	"GET mlflow:/model-versions/get-download-uri":                   onModel(capRead),
	"POST mlflow:/model-versions/get-download-uri":                  onModel(capRead),
	"POST mlflow:/model-versions/set-tag":                           onModel(capUpdate),
	"DELETE mlflow:/model-versions/delete-tag":                      onModel(capDelete),
	"POST mlflow:/model-versions/transition-stage":                  onModel(capUpdate),
	"GET /api/mlbox/v1/models/{name}/gates":                         onPathModel(capRead),
	"PUT /api/mlbox/v1/models/{name}/gates":                         onPathModel(capManage),
	"GET /api/mlbox/v1/models/{name}/versions/{version}/approvals":  onPathModel(capRead),
	"POST /api/mlbox/v1/models/{name}/versions/{version}/approvals": onPathModel(capUpdate),
	"GET /api/mlbox/v1/models/{name}/audit":                         onPathModel(capRead),

	// Serving: inference needs USE on the model; deployments are the
	// model's settings (reading them READ, changing them MANAGE, a
	// rollback EDIT); the request log holds inputs, so it needs MANAGE.
	"/models/":                                       {accessResource, resServedModel, capUse, "{path}"},
	"POST /predict":                                  {accessResource, resDefaultModel, capUse, ""},
	"GET /api/mlbox/v1/deployments":                  anyUser, // filtered
	"GET /api/mlbox/v1/deployments/{name}":           onPathModel(capRead),
	"PUT /api/mlbox/v1/deployments/{name}":           onPathModel(capManage),
	"DELETE /api/mlbox/v1/deployments/{name}":        onPathModel(capManage),
	"POST /api/mlbox/v1/deployments/{name}/rollback": onPathModel(capUpdate),
	"GET /api/mlbox/v1/deployments/{name}/requests":  onPathModel(capManage),
	"GET /api/mlbox/v1/deployments/{name}/drift":     onPathModel(capRead),

	// Jobs, retention and webhooks act on the whole server: admins.
	"GET /api/mlbox/v1/jobs":                                      adminOnly,
	"POST /api/mlbox/v1/jobs":                                     adminOnly,
	"GET /api/mlbox/v1/jobs/{name}":                               adminOnly,
	"PATCH /api/mlbox/v1/jobs/{name}":                             adminOnly,
	"DELETE /api/mlbox/v1/jobs/{name}":                            adminOnly,
	"POST /api/mlbox/v1/jobs/{name}/pause":                        adminOnly,
	"POST /api/mlbox/v1/jobs/{name}/resume":                       adminOnly,
	"POST /api/mlbox/v1/jobs/{name}/run":                          adminOnly,
	"GET /api/mlbox/v1/jobs/{name}/runs":                          adminOnly,
	"GET /api/mlbox/v1/jobs/{name}/runs/{number}":                 adminOnly,
	"GET /api/mlbox/v1/jobs/{name}/runs/{number}/log":             adminOnly,
	"POST /api/mlbox/v1/retention/plan":                           adminOnly,
	"POST /api/mlbox/v1/retention/apply":                          adminOnly,
	"GET /api/mlbox/v1/retention/log":                             adminOnly,
	"GET /api/mlbox/v1/retention/log/{seq}":                       adminOnly,
	"POST mlflow:/webhooks":                                       adminOnly,
	"GET mlflow:/webhooks":                                        adminOnly,
	"GET mlflow:/webhooks/{webhook_id}":                           adminOnly,
	"PATCH mlflow:/webhooks/{webhook_id}":                         adminOnly,
	"DELETE mlflow:/webhooks/{webhook_id}":                        adminOnly,
	"POST mlflow:/webhooks/{webhook_id}/test":                     adminOnly,
	"GET /api/mlbox/v1/webhooks/events":                           adminOnly,
	"GET /api/mlbox/v1/webhooks/{webhook_id}/deliveries":          adminOnly,
	"POST /api/mlbox/v1/webhooks/deliveries/{delivery_id}/replay": adminOnly,
}

// policyFor returns the declared policy of a registered pattern.
func policyFor(pattern string) (policy, bool) {
	p, ok := policies[policyKey(pattern)]
	return p, ok
}

// pathParam returns the {name} of a policy's From, or "".
func (p policy) pathParam() string {
	if strings.HasPrefix(p.From, "{") && strings.HasSuffix(p.From, "}") {
		return strings.TrimSuffix(strings.TrimPrefix(p.From, "{"), "}")
	}
	return ""
}

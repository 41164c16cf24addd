package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The bad-input walk: every route registered on the mux gets, for each of
// its fields, oversized, empty, wrong-typed, negative and malformed values,
// and malformed bodies and wrong content types. No answer may be a 5xx (the
// MLflow client retries those for minutes), every 4xx from the API is
// MLflow error JSON, and a 4xx leaves the route's fixtures (run,
// experiment, logged model, registered model and version, webhook, job)
// exactly as they were.
//
// The routes are read from the router itself (muxPatterns), and every pattern
// must have an entry in badInputRoutes: a new route fails
// TestBadInputRoutesComplete until it is described here.

// muxPatterns returns every pattern registered on the router, sorted.
func muxPatterns(t testing.TB, rt *router) []string {
	t.Helper()
	out := make([]string, 0, len(rt.routes))
	for _, r := range rt.routes {
		out = append(out, r.Pattern)
	}
	sort.Strings(out)
	return out
}

// routeSpec describes one route for the walk. Templates use placeholders
// for the fixtures: $EXP, $RUN, $MODEL (logged model), $RM (registered
// model), $VER (its version), $ALIAS, $WEBHOOK, $DELIVERY, $JOB.
type routeSpec struct {
	// paths are concrete request paths (the pattern's wildcards filled in);
	// default: the pattern's own path. The segments in the wildcards'
	// places are walked as fields too.
	paths []string
	// body is a valid JSON request: the body of a POST/PUT/PATCH/DELETE,
	// the query string of a GET. Every value in it is a field to walk.
	body string
	// query is a valid query string template for handlers that read the
	// URL's query themselves (any method); each parameter is walked.
	query string
	// raw: the body is opaque bytes (an artifact upload), not JSON.
	raw bool
	// status is what the base request answers (default 200).
	status int
	// fresh: recreate the fixtures after a request that succeeded (renames
	// and deletes that would otherwise leave the rest of the walk with
	// stale names).
	fresh bool
	// last: walked after the others (retention applies to every experiment).
	last bool
	// allow lists 5xx statuses this route answers by design (501 NOT_IMPLEMENTED
	// for multipart uploads on the local backend).
	allow []int
}

const mlflowPrefix = "/api/2.0/mlflow"

// badInputRoutes is keyed by mux pattern; MLflow RPCs are listed once under
// /api/2.0/mlflow and cover their /ajax-api/2.0/mlflow twin.
var badInputRoutes = map[string]routeSpec{
	// operations
	"GET /health":                                 {},
	"GET /livez":                                  {},
	"GET /readyz":                                 {},
	"GET /version":                                {},
	"GET /metrics":                                {},
	"GET /api/mlbox/v1/version":                   {},
	"GET /api/mlbox/v1/backup":                    {},
	"POST /api/mlbox/v1/import/experiments":       {body: `{"experiment":{"experiment_id":"77","name":"imported-exp","creation_time":5,"tags":[{"key":"k","value":"v"}]}}`},
	"POST /api/mlbox/v1/import/runs":              {body: `{"experiment_id":"$EXP","run":{"info":{"run_id":"0123456789abcdef0123456789abcdef","status":"FINISHED","start_time":5},"data":{"tags":[{"key":"k","value":"v"}]}}}`},
	"POST /api/mlbox/v1/import/runs/finish":       {body: `{"run_id":"0123456789abcdef0123456789abcdef","status":"FINISHED","end_time":9}`, status: -1},
	"POST /api/mlbox/v1/import/logged-models":     {body: `{"experiment_id":"$EXP","model":{"info":{"model_id":"m-0123456789abcdef0123456789abcdef","name":"lm","status":"LOGGED_MODEL_READY"}}}`},
	"POST /api/mlbox/v1/import/finish":            {body: `{"kind":"logged_model","id":"m-0123456789abcdef0123456789abcdef"}`, status: -1},
	"POST /api/mlbox/v1/import/registered-models": {body: `{"registered_model":{"name":"imported-rm","creation_timestamp":5}}`},
	"POST /api/mlbox/v1/import/model-versions":    {body: `{"model_version":{"name":"$RM","version":"40","source":"s3://b/k","current_stage":"Staging"}}`},
	"GET /api/mlbox/v1/import/ledger":             {query: "kind=run"},
	"POST /api/mlbox/v1/import/ledger":            {body: `{"kind":"export:http://x","entries":{"a":"b"}}`},
	"GET /api/mlbox/v1/auth/audit":                {query: "before=100&limit=5&action=login&user=admin"},
	"GET /api/mlbox/v1/session":                   {},
	"POST /api/mlbox/v1/session":                  {body: `{"username":"admin","password":"` + testAdminPassword + `"}`},
	"DELETE /api/mlbox/v1/session":                {},
	"GET /api/mlbox/v1/tokens":                    {query: "user=$USER"},
	"POST /api/mlbox/v1/tokens": {body: `{"name":"t-new","user":"$USER","expires_in_days":30,"models":["$RM"],"description":"d"}`,
		status: 201, fresh: true},
	"DELETE /api/mlbox/v1/tokens/{id}":           {paths: []string{"/api/mlbox/v1/tokens/$TOKEN"}, fresh: true},
	"POST /api/mlbox/v1/runs/count":              {body: `{"experiment_ids":["$EXP"],"filter":"metrics.m > 0","run_view_type":"ALL"}`},
	"GET /api/mlbox/v1/experiments/{id}/columns": {paths: []string{"/api/mlbox/v1/experiments/$EXP/columns"}},
	"/":          {paths: []string{"/", "/index.html", "/static/x.js"}, status: -1},
	"/api/":      {paths: []string{"/api/nope"}, status: 404},
	"/ajax-api/": {paths: []string{"/ajax-api/nope"}, status: 404},

	// accounts
	"POST " + mlflowPrefix + "/users/create":           {body: `{"username":"$USER-new","password":"bi-password-456"}`, fresh: true},
	"GET " + mlflowPrefix + "/users/get":               {body: `{"username":"$USER"}`},
	"GET " + mlflowPrefix + "/users/current":           {},
	"GET " + mlflowPrefix + "/users/list":              {},
	"PATCH " + mlflowPrefix + "/users/update-password": {body: `{"username":"$USER","password":"bi-password-789"}`},
	"PATCH " + mlflowPrefix + "/users/update-admin":    {body: `{"username":"$USER","is_admin":false}`},
	"DELETE " + mlflowPrefix + "/users/delete":         {body: `{"username":"$USER"}`, fresh: true},
	"POST /api/3.0/mlflow/users/permissions/grant":     {body: `{"username":"$USER","resource_type":"registered_model","resource_id":"$RM","permission":"READ"}`, fresh: true},
	"POST /api/3.0/mlflow/users/permissions/revoke":    {body: `{"username":"$USER","resource_type":"experiment","resource_id":"$EXP"}`, fresh: true},
	"GET /api/3.0/mlflow/users/permissions/get":        {body: `{"username":"$USER","resource_type":"experiment","resource_id":"$EXP"}`},
	"GET /api/3.0/mlflow/users/permissions/list":       {body: `{"username":"$USER"}`},
	"GET /api/3.0/mlflow/users/current/permissions":    {},
	"GET /api/3.0/mlflow/users/roles/list":             {body: `{"username":"$USER"}`},
	"POST /api/3.0/mlflow/roles/create":                {body: `{"workspace":"default","name":"$ROLENAME-new","description":"d"}`, fresh: true},
	"GET /api/3.0/mlflow/roles/get":                    {body: `{"role_id":"$ROLE"}`},
	"GET /api/3.0/mlflow/roles/list":                   {body: `{"workspace":"default"}`},
	"PATCH /api/3.0/mlflow/roles/update":               {body: `{"role_id":"$ROLE","name":"$ROLENAME-2","description":"x"}`, fresh: true},
	"DELETE /api/3.0/mlflow/roles/delete":              {body: `{"role_id":"$ROLE"}`, fresh: true},
	"POST /api/3.0/mlflow/roles/permissions/add":       {body: `{"role_id":"$ROLE","resource_type":"registered_model","resource_pattern":"$RM","permission":"EDIT"}`, fresh: true},
	"DELETE /api/3.0/mlflow/roles/permissions/remove":  {body: `{"role_permission_id":"$RPERM"}`, fresh: true},
	"GET /api/3.0/mlflow/roles/permissions/list":       {body: `{"role_id":"$ROLE"}`},
	"PATCH /api/3.0/mlflow/roles/permissions/update":   {body: `{"role_permission_id":"$RPERM","permission":"EDIT"}`},
	"POST /api/3.0/mlflow/roles/assign":                {body: `{"username":"admin","role_id":"$ROLE"}`, fresh: true},
	"DELETE /api/3.0/mlflow/roles/unassign":            {body: `{"username":"$USER","role_id":"$ROLE"}`, fresh: true},
	"GET /api/3.0/mlflow/roles/users/list":             {body: `{"role_id":"$ROLE"}`},

	// experiments
	"POST " + mlflowPrefix + "/experiments/create":                {body: `{"name":"$EXPNAME-new","artifact_location":"","tags":[{"key":"k","value":"v"}]}`, fresh: true},
	"GET " + mlflowPrefix + "/experiments/get":                    {body: `{"experiment_id":"$EXP"}`},
	"POST " + mlflowPrefix + "/experiments/get":                   {body: `{"experiment_id":"$EXP"}`},
	"GET " + mlflowPrefix + "/experiments/get-by-name":            {body: `{"experiment_name":"$EXPNAME"}`},
	"POST " + mlflowPrefix + "/experiments/get-by-name":           {body: `{"experiment_name":"$EXPNAME"}`},
	"GET " + mlflowPrefix + "/experiments/search":                 {body: `{"max_results":10,"page_token":"","filter":"name = 'x'","order_by":["name"],"view_type":"ALL"}`},
	"POST " + mlflowPrefix + "/experiments/search":                {body: `{"max_results":10,"page_token":"","filter":"name = 'x'","order_by":["name"],"view_type":"ALL"}`},
	"POST " + mlflowPrefix + "/experiments/delete":                {body: `{"experiment_id":"$EXP"}`, fresh: true},
	"POST " + mlflowPrefix + "/experiments/restore":               {body: `{"experiment_id":"$EXP"}`, status: 404},
	"POST " + mlflowPrefix + "/experiments/update":                {body: `{"experiment_id":"$EXP","new_name":"renamed-$EXP"}`},
	"POST " + mlflowPrefix + "/experiments/set-experiment-tag":    {body: `{"experiment_id":"$EXP","key":"k","value":"v"}`},
	"POST " + mlflowPrefix + "/experiments/delete-experiment-tag": {body: `{"experiment_id":"$EXP","key":"k"}`, fresh: true},

	// runs
	"POST " + mlflowPrefix + "/runs/create":        {body: `{"experiment_id":"$EXP","user_id":"u","run_name":"r","start_time":1,"tags":[{"key":"k","value":"v"}]}`},
	"GET " + mlflowPrefix + "/runs/get":            {body: `{"run_id":"$RUN"}`},
	"POST " + mlflowPrefix + "/runs/get":           {body: `{"run_id":"$RUN","run_uuid":"$RUN"}`},
	"POST " + mlflowPrefix + "/runs/update":        {body: `{"run_id":"$RUN","status":"FINISHED","end_time":5,"run_name":"n"}`},
	"POST " + mlflowPrefix + "/runs/delete":        {body: `{"run_id":"$RUN"}`, fresh: true},
	"POST " + mlflowPrefix + "/runs/restore":       {body: `{"run_id":"$RUN"}`},
	"GET " + mlflowPrefix + "/runs/search":         {body: `{"experiment_ids":["$EXP"],"filter":"metrics.m > 0","run_view_type":"ALL","max_results":5,"order_by":["metrics.m DESC"],"page_token":""}`},
	"POST " + mlflowPrefix + "/runs/search":        {body: `{"experiment_ids":["$EXP"],"filter":"metrics.m > 0","run_view_type":"ALL","max_results":5,"order_by":["metrics.m DESC"],"page_token":""}`},
	"POST " + mlflowPrefix + "/runs/log-metric":    {body: `{"run_id":"$RUN","key":"m","value":1.5,"timestamp":1,"step":2,"model_id":"$MODEL","dataset_name":"d","dataset_digest":"dg"}`},
	"POST " + mlflowPrefix + "/runs/log-parameter": {body: `{"run_id":"$RUN","key":"p2","value":"v"}`, fresh: true},
	"POST " + mlflowPrefix + "/runs/set-tag":       {body: `{"run_id":"$RUN","key":"t","value":"v"}`},
	"POST " + mlflowPrefix + "/runs/delete-tag":    {body: `{"run_id":"$RUN","key":"k"}`, fresh: true},
	"POST " + mlflowPrefix + "/runs/log-batch": {fresh: true, body: `{"run_id":"$RUN",
		"metrics":[{"key":"m","value":1,"timestamp":1,"step":1,"model_id":"$MODEL","dataset_name":"d","dataset_digest":"dg"}],
		"params":[{"key":"p3","value":"v"}],"tags":[{"key":"t2","value":"v"}]}`},
	"POST " + mlflowPrefix + "/runs/log-inputs": {body: `{"run_id":"$RUN",
		"datasets":[{"tags":[{"key":"mlflow.data.context","value":"train"}],"dataset":{"name":"ds","digest":"abc","source_type":"local","source":"{}","schema":"{}","profile":"{}"}}],
		"models":[{"model_id":"$MODEL"}]}`},
	"POST " + mlflowPrefix + "/runs/outputs":                      {body: `{"run_id":"$RUN","models":[{"model_id":"$MODEL","step":3}]}`},
	"POST " + mlflowPrefix + "/runs/log-model":                    {body: `{"run_id":"$RUN","model_json":"{\"artifact_path\":\"m\",\"flavors\":{},\"utc_time_created\":\"x\",\"run_id\":\"$RUN\"}"}`},
	"GET " + mlflowPrefix + "/metrics/get-history":                {body: `{"run_id":"$RUN","metric_key":"m","max_results":10,"page_token":""}`},
	"POST " + mlflowPrefix + "/metrics/get-history":               {body: `{"run_id":"$RUN","metric_key":"m","max_results":10,"page_token":""}`},
	"GET " + mlflowPrefix + "/metrics/get-history-bulk-interval":  {body: `{"run_ids":["$RUN"],"metric_key":"m","start_step":0,"end_step":10,"max_results":5}`},
	"POST " + mlflowPrefix + "/metrics/get-history-bulk-interval": {body: `{"run_ids":["$RUN"],"metric_key":"m","start_step":0,"end_step":10,"max_results":5}`},

	// artifacts
	"PUT /api/2.0/mlflow-artifacts/artifacts/{path...}":    {paths: []string{"/api/2.0/mlflow-artifacts/artifacts/$EXP/$RUN/artifacts/f.txt"}, raw: true},
	"GET /api/2.0/mlflow-artifacts/artifacts/{path...}":    {paths: []string{"/api/2.0/mlflow-artifacts/artifacts/$EXP/$RUN/artifacts/a.txt"}},
	"GET /api/2.0/mlflow-artifacts/artifacts":              {query: "path=$EXP/$RUN/artifacts"},
	"DELETE /api/2.0/mlflow-artifacts/artifacts/{path...}": {paths: []string{"/api/2.0/mlflow-artifacts/artifacts/$EXP/$RUN/artifacts/gone.txt"}},
	"POST /api/2.0/mlflow-artifacts/mpu/create/{path...}": {paths: []string{"/api/2.0/mlflow-artifacts/mpu/create/$EXP/$RUN/artifacts"},
		body: `{"path":"big.bin","num_parts":2}`, status: 501, allow: []int{501}},
	"POST /api/2.0/mlflow-artifacts/mpu/complete/{path...}": {paths: []string{"/api/2.0/mlflow-artifacts/mpu/complete/$EXP/$RUN/artifacts"},
		body: `{"path":"big.bin","upload_id":"u1","parts":[{"part_number":1,"etag":"e","url":"http://x"}]}`, status: 501, allow: []int{501}},
	"POST /api/2.0/mlflow-artifacts/mpu/abort/{path...}": {paths: []string{"/api/2.0/mlflow-artifacts/mpu/abort/$EXP/$RUN/artifacts"},
		body: `{"path":"big.bin","upload_id":"u1"}`, status: 501, allow: []int{501}},
	"PUT /api/2.0/mlflow-artifacts/mpu/part/{path...}": {paths: []string{"/api/2.0/mlflow-artifacts/mpu/part/$EXP/$RUN/artifacts/big.bin"},
		query: "upload_id=u1&part_number=1", raw: true, status: 501, allow: []int{501}},
	"GET " + mlflowPrefix + "/artifacts/list":  {body: `{"run_id":"$RUN","path":""}`},
	"POST " + mlflowPrefix + "/artifacts/list": {body: `{"run_id":"$RUN","path":""}`},

	// logged models
	"POST " + mlflowPrefix + "/logged-models": {body: `{"experiment_id":"$EXP","name":"lm","model_type":"t","source_run_id":"$RUN",
		"params":[{"key":"p","value":"v"}],"tags":[{"key":"t","value":"v"}]}`},
	"GET " + mlflowPrefix + "/logged-models/{model_id}":    {paths: []string{mlflowPrefix + "/logged-models/$MODEL"}, query: "allow_deleted=true"},
	"PATCH " + mlflowPrefix + "/logged-models/{model_id}":  {paths: []string{mlflowPrefix + "/logged-models/$MODEL"}, body: `{"status":"LOGGED_MODEL_READY"}`},
	"DELETE " + mlflowPrefix + "/logged-models/{model_id}": {paths: []string{mlflowPrefix + "/logged-models/$MODEL"}, fresh: true},
	"POST " + mlflowPrefix + "/logged-models/search": {body: `{"experiment_ids":["$EXP"],"filter":"metrics.m > 0",
		"datasets":[{"dataset_name":"d","dataset_digest":"dg"}],"max_results":5,
		"order_by":[{"field_name":"metrics.m","ascending":false,"dataset_name":"d","dataset_digest":"dg"}],"page_token":""}`},
	"PATCH " + mlflowPrefix + "/logged-models/{model_id}/tags": {paths: []string{mlflowPrefix + "/logged-models/$MODEL/tags"},
		body: `{"tags":[{"key":"k2","value":"v"}]}`},
	"DELETE " + mlflowPrefix + "/logged-models/{model_id}/tags/{tag_key...}": {paths: []string{mlflowPrefix + "/logged-models/$MODEL/tags/k"}, fresh: true},
	"POST " + mlflowPrefix + "/logged-models/{model_id}/params": {paths: []string{mlflowPrefix + "/logged-models/$MODEL/params"},
		body: `{"params":[{"key":"p2","value":"v"}]}`},
	"GET " + mlflowPrefix + "/logged-models/{model_id}/artifacts/directories": {paths: []string{mlflowPrefix + "/logged-models/$MODEL/artifacts/directories"},
		query: "artifact_directory_path=sub"},

	// registry
	"POST " + mlflowPrefix + "/registered-models/create":              {body: `{"name":"new-$RM","tags":[{"key":"k","value":"v"}],"description":"d"}`, fresh: true},
	"GET " + mlflowPrefix + "/registered-models/get":                  {body: `{"name":"$RM"}`},
	"POST " + mlflowPrefix + "/registered-models/get":                 {body: `{"name":"$RM"}`},
	"POST " + mlflowPrefix + "/registered-models/rename":              {body: `{"name":"$RM","new_name":"renamed-$RM"}`, fresh: true},
	"PATCH " + mlflowPrefix + "/registered-models/update":             {body: `{"name":"$RM","description":"d2"}`},
	"DELETE " + mlflowPrefix + "/registered-models/delete":            {body: `{"name":"$RM"}`, fresh: true},
	"GET " + mlflowPrefix + "/registered-models/search":               {body: `{"filter":"name LIKE '%'","max_results":5,"order_by":["name ASC"],"page_token":""}`},
	"POST " + mlflowPrefix + "/registered-models/search":              {body: `{"filter":"name LIKE '%'","max_results":5,"order_by":["name ASC"],"page_token":""}`},
	"GET " + mlflowPrefix + "/registered-models/get-latest-versions":  {body: `{"name":"$RM","stages":["None"]}`},
	"POST " + mlflowPrefix + "/registered-models/get-latest-versions": {body: `{"name":"$RM","stages":["None"]}`},
	"POST " + mlflowPrefix + "/registered-models/set-tag":             {body: `{"name":"$RM","key":"k2","value":"v"}`},
	"DELETE " + mlflowPrefix + "/registered-models/delete-tag":        {body: `{"name":"$RM","key":"k"}`},
	"POST " + mlflowPrefix + "/registered-models/alias":               {body: `{"name":"$RM","alias":"other","version":"$VER"}`},
	"DELETE " + mlflowPrefix + "/registered-models/alias":             {body: `{"name":"$RM","alias":"$ALIAS"}`, fresh: true},
	"GET " + mlflowPrefix + "/registered-models/alias":                {body: `{"name":"$RM","alias":"$ALIAS"}`},
	"POST " + mlflowPrefix + "/model-versions/create": {body: `{"name":"$RM","source":"runs:/$RUN/model","run_id":"$RUN",
		"tags":[{"key":"k","value":"v"}],"run_link":"","description":"d"}`},
	"GET " + mlflowPrefix + "/model-versions/get":               {body: `{"name":"$RM","version":"$VER"}`},
	"POST " + mlflowPrefix + "/model-versions/get":              {body: `{"name":"$RM","version":"$VER"}`},
	"PATCH " + mlflowPrefix + "/model-versions/update":          {body: `{"name":"$RM","version":"$VER","description":"d"}`},
	"DELETE " + mlflowPrefix + "/model-versions/delete":         {body: `{"name":"$RM","version":"$VER"}`, fresh: true},
	"GET " + mlflowPrefix + "/model-versions/search":            {body: `{"filter":"name = '$RM'","max_results":5,"order_by":["version_number DESC"],"page_token":""}`},
	"POST " + mlflowPrefix + "/model-versions/search":           {body: `{"filter":"name = '$RM'","max_results":5,"order_by":["version_number DESC"],"page_token":""}`},
	"GET " + mlflowPrefix + "/model-versions/get-download-uri":  {body: `{"name":"$RM","version":"$VER"}`},
	"POST " + mlflowPrefix + "/model-versions/get-download-uri": {body: `{"name":"$RM","version":"$VER"}`},
	"POST " + mlflowPrefix + "/model-versions/set-tag":          {body: `{"name":"$RM","version":"$VER","key":"k2","value":"v"}`},
	"DELETE " + mlflowPrefix + "/model-versions/delete-tag":     {body: `{"name":"$RM","version":"$VER","key":"k"}`},
	"POST " + mlflowPrefix + "/model-versions/transition-stage": {body: `{"name":"$RM","version":"$VER","stage":"Staging","archive_existing_versions":true}`},
	"GET /api/mlbox/v1/models/{name}/gates":                     {paths: []string{"/api/mlbox/v1/models/$RM/gates"}},
	"PUT /api/mlbox/v1/models/{name}/gates": {paths: []string{"/api/mlbox/v1/models/$RM/gates"},
		body: `{"gates":[{"name":"g","targets":["stage:Production"],"metric":"metrics.m >= 0.5","require_stage":"Staging","approvals":1}]}`},
	"GET /api/mlbox/v1/models/{name}/versions/{version}/approvals":  {paths: []string{"/api/mlbox/v1/models/$RM/versions/$VER/approvals"}},
	"POST /api/mlbox/v1/models/{name}/versions/{version}/approvals": {paths: []string{"/api/mlbox/v1/models/$RM/versions/$VER/approvals"}, body: `{"approver":"admin","comment":"ok"}`},
	"GET /api/mlbox/v1/models/{name}/audit":                         {paths: []string{"/api/mlbox/v1/models/$RM/audit"}, query: "after=0&limit=10"},

	// webhooks
	"POST " + mlflowPrefix + "/webhooks": {body: `{"name":"hook2","description":"d","url":"http://127.0.0.1:9/hook",
		"events":[{"entity":"model_version","action":"created"}],"secret":"s","status":"DISABLED"}`},
	"GET " + mlflowPrefix + "/webhooks":                 {body: `{"max_results":5,"page_token":""}`},
	"GET " + mlflowPrefix + "/webhooks/{webhook_id}":    {paths: []string{mlflowPrefix + "/webhooks/$WEBHOOK"}},
	"PATCH " + mlflowPrefix + "/webhooks/{webhook_id}":  {paths: []string{mlflowPrefix + "/webhooks/$WEBHOOK"}, body: `{"name":"hook3","description":"d","url":"http://127.0.0.1:9/x","events":[{"entity":"registered_model","action":"created"}],"secret":"s2","status":"DISABLED"}`},
	"DELETE " + mlflowPrefix + "/webhooks/{webhook_id}": {paths: []string{mlflowPrefix + "/webhooks/$WEBHOOK"}, fresh: true},
	"POST " + mlflowPrefix + "/webhooks/{webhook_id}/test": {paths: []string{mlflowPrefix + "/webhooks/$WEBHOOK/test"},
		body: `{"event":{"entity":"model_version","action":"created"}}`},
	"GET /api/mlbox/v1/webhooks/events":                           {},
	"GET /api/mlbox/v1/webhooks/{webhook_id}/deliveries":          {paths: []string{"/api/mlbox/v1/webhooks/$WEBHOOK/deliveries"}, body: `{"max_results":5,"page_token":""}`},
	"POST /api/mlbox/v1/webhooks/deliveries/{delivery_id}/replay": {paths: []string{"/api/mlbox/v1/webhooks/deliveries/$DELIVERY/replay"}, status: 400},

	// jobs and retention
	"GET /api/mlbox/v1/jobs": {},
	"POST /api/mlbox/v1/jobs": {body: `{"name":"new-$JOB","kind":"retention","description":"d","schedule":"@daily","timezone":"UTC",
		"overlap":"skip","paused":true,"dry_run":true,"retention":{"name":"p","experiments":["none-such"],"runs":{"keep_last":100}}}`, fresh: true},
	"GET /api/mlbox/v1/jobs/{name}":                   {paths: []string{"/api/mlbox/v1/jobs/$JOB"}},
	"PATCH /api/mlbox/v1/jobs/{name}":                 {paths: []string{"/api/mlbox/v1/jobs/$JOB"}, body: `{"description":"d2","schedule":"@weekly","paused":true}`},
	"DELETE /api/mlbox/v1/jobs/{name}":                {paths: []string{"/api/mlbox/v1/jobs/$JOB"}, fresh: true},
	"POST /api/mlbox/v1/jobs/{name}/pause":            {paths: []string{"/api/mlbox/v1/jobs/$JOB/pause"}},
	"POST /api/mlbox/v1/jobs/{name}/resume":           {paths: []string{"/api/mlbox/v1/jobs/$JOB/resume"}},
	"POST /api/mlbox/v1/jobs/{name}/run":              {paths: []string{"/api/mlbox/v1/jobs/$JOB/run"}, status: -1},
	"GET /api/mlbox/v1/jobs/{name}/runs":              {paths: []string{"/api/mlbox/v1/jobs/$JOB/runs"}, query: "limit=5&before=100"},
	"GET /api/mlbox/v1/jobs/{name}/runs/{number}":     {paths: []string{"/api/mlbox/v1/jobs/$JOB/runs/1"}, status: -1},
	"GET /api/mlbox/v1/jobs/{name}/runs/{number}/log": {paths: []string{"/api/mlbox/v1/jobs/$JOB/runs/1/log"}, status: 404},
	"POST /api/mlbox/v1/retention/plan":               {body: `{"policy":{"name":"p","experiments":["none-such"],"runs":{"keep_last":100}}}`, last: true},
	"POST /api/mlbox/v1/retention/apply":              {body: `{"policy":{"name":"p","experiments":["none-such"],"runs":{"keep_last":100}}}`, last: true},
	"GET /api/mlbox/v1/retention/log":                 {query: "limit=5&before=100&full=true"},
	"GET /api/mlbox/v1/retention/log/{seq}":           {paths: []string{"/api/mlbox/v1/retention/log/1"}, status: 404},

	// serving
	"/models/": {paths: []string{"/models/$RM", "/models/$RM/invocations", "/models/$RM@$ALIAS/predict", "/models/$RM/versions/$VER/predict"},
		body: `{"inputs":[[1,2]]}`, status: -1},
	"POST /predict":                                  {body: `{"inputs":[[1,2]]}`, status: -1},
	"GET /api/mlbox/v1/deployments":                  {},
	"GET /api/mlbox/v1/deployments/{name}":           {paths: []string{"/api/mlbox/v1/deployments/$RM"}},
	"PUT /api/mlbox/v1/deployments/{name}":           {paths: []string{"/api/mlbox/v1/deployments/$RM"}, body: `{"alias":"$ALIAS"}`, status: -1},
	"DELETE /api/mlbox/v1/deployments/{name}":        {paths: []string{"/api/mlbox/v1/deployments/$RM"}},
	"POST /api/mlbox/v1/deployments/{name}/rollback": {paths: []string{"/api/mlbox/v1/deployments/$RM/rollback"}, body: `{"alias":"$ALIAS"}`, status: -1},
	"GET /api/mlbox/v1/deployments/{name}/requests":  {paths: []string{"/api/mlbox/v1/deployments/$RM/requests"}, query: "n=5&limit=5"},
	"GET /api/mlbox/v1/deployments/{name}/drift":     {paths: []string{"/api/mlbox/v1/deployments/$RM/drift"}},
}

// specFor returns the spec of a mux pattern; ajax-api twins share the
// api spec.
func specFor(pattern string) (routeSpec, bool) {
	if sp, ok := badInputRoutes[pattern]; ok {
		return sp, true
	}
	pattern = strings.Replace(pattern, "/ajax-api/2.0/", "/api/2.0/", 1)
	pattern = strings.Replace(pattern, "/ajax-api/3.0/", "/api/3.0/", 1)
	sp, ok := badInputRoutes[pattern]
	return sp, ok
}

// badInputServer is an mlbox with webhooks allowed to loopback (the
// fixture webhook points at a closed port) and names resolved offline,
// with accounts on; the walk runs as its admin.
func badInputServer(t *testing.T, mutate ...func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Auth.Enabled = true
	cfg.Auth.AdminPassword = testAdminPassword
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	setWebhookConfig(a, fastHooks)
	s := serveTest(t, a, "127.0.0.1:0")
	adminCreds(t, s)
	return s
}

func TestBadInputRoutesComplete(t *testing.T) {
	s := badInputServer(t)
	var missing []string
	patterns := muxPatterns(t, s.App.mux)
	for _, p := range patterns {
		if _, ok := specFor(p); !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Errorf("routes without an entry in badInputRoutes (describe their fields there):\n  %s", strings.Join(missing, "\n  "))
	}
	for p := range badInputRoutes {
		if !slices.Contains(patterns, p) {
			t.Errorf("badInputRoutes has %q, which is not a registered route", p)
		}
	}
}

// usesAccounts reports whether a route's requests name a user, role or
// role permission of the fixtures (only those routes get them made).
func (sp routeSpec) usesAccounts() bool {
	all := sp.body + sp.query + strings.Join(sp.paths, " ")
	return strings.Contains(all, "$USER") || strings.Contains(all, "$ROLE") || strings.Contains(all, "$RPERM") || strings.Contains(all, "$TOKEN")
}

// fixtures are the entities a route's requests refer to.
type fixtures map[string]string

var fixtureSeq atomic.Int64

// makeFixtures creates a route's entities; the webhook (and its delivery)
// only for the routes that use them: every write that emits an event reads
// every webhook.
func makeFixtures(t *testing.T, s *testServer, hook, accounts bool) fixtures {
	t.Helper()
	n := fixtureSeq.Add(1)
	f := fixtures{"$EXPNAME": fmt.Sprintf("bi-exp-%d", n), "$RM": fmt.Sprintf("bi-rm-%d", n), "$JOB": fmt.Sprintf("bi-job-%d", n), "$ALIAS": "champ",
		"$USER": fmt.Sprintf("bi-user-%d", n)}
	f["$EXP"] = s.must(t, "POST", api+"/experiments/create", map[string]any{"name": f["$EXPNAME"], "tags": []any{map[string]any{"key": "k", "value": "v"}}})["experiment_id"].(string)
	if accounts {
		s.must(t, "POST", api+"/users/create", map[string]any{"username": f["$USER"], "password": "bi-password-123"})
		s.must(t, "POST", "/api/3.0/mlflow/users/permissions/grant", map[string]any{"username": f["$USER"], "resource_type": "experiment", "resource_id": f["$EXP"], "permission": "EDIT"})
		f["$ROLENAME"] = fmt.Sprintf("bi-role-%d", n)
		role := s.must(t, "POST", "/api/3.0/mlflow/roles/create", map[string]any{"workspace": "default", "name": f["$ROLENAME"]})
		f["$ROLE"] = fmt.Sprint(role["role"].(map[string]any)["id"])
		rp := s.must(t, "POST", "/api/3.0/mlflow/roles/permissions/add", map[string]any{"role_id": f["$ROLE"], "resource_type": "experiment", "resource_pattern": f["$EXP"], "permission": "READ"})
		f["$RPERM"] = fmt.Sprint(rp["role_permission"].(map[string]any)["id"])
		s.must(t, "POST", "/api/3.0/mlflow/roles/assign", map[string]any{"username": f["$USER"], "role_id": f["$ROLE"]})
		st, tok, raw := s.call(t, "POST", "/api/mlbox/v1/tokens", map[string]any{"name": fmt.Sprintf("bi-token-%d", n), "user": f["$USER"]})
		if st != 201 {
			t.Fatalf("token fixture: %d %s", st, raw)
		}
		f["$TOKEN"] = tok["token"].(map[string]any)["id"].(string)
	}
	f["$RUN"] = createRun(t, s, f["$EXP"])
	s.must(t, "POST", api+"/runs/log-batch", map[string]any{"run_id": f["$RUN"],
		"metrics": []any{map[string]any{"key": "m", "value": 1, "timestamp": 1, "step": 1}},
		"params":  []any{map[string]any{"key": "p", "value": "v"}}, "tags": []any{map[string]any{"key": "k", "value": "v"}}})
	m := s.must(t, "POST", api+"/logged-models", map[string]any{"experiment_id": f["$EXP"], "name": "lm", "source_run_id": f["$RUN"],
		"tags": []any{map[string]any{"key": "k", "value": "v"}}})
	f["$MODEL"] = m["model"].(map[string]any)["info"].(map[string]any)["model_id"].(string)
	if hook {
		wh := s.must(t, "POST", api+"/webhooks", map[string]any{"name": fmt.Sprintf("hook-%d", n), "url": "http://127.0.0.1:9/hook",
			"events": []any{map[string]any{"entity": "registered_model", "action": "created"}}})
		f["$WEBHOOK"] = wh["webhook"].(map[string]any)["webhook_id"].(string)
	}
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": f["$RM"], "tags": []any{map[string]any{"key": "k", "value": "v"}}})
	if hook {
		// The webhook has its delivery; disabled, it gets no more.
		s.must(t, "PATCH", api+"/webhooks/"+f["$WEBHOOK"], map[string]any{"status": "DISABLED"})
		ds, _, err := s.App.store.ListDeliveries(context.Background(), f["$WEBHOOK"], 10, "")
		if err != nil || len(ds) == 0 {
			t.Fatalf("no delivery for the fixture webhook: %v", err)
		}
		f["$DELIVERY"] = ds[0].DeliveryID
	}
	mv := s.must(t, "POST", api+"/model-versions/create", map[string]any{"name": f["$RM"], "source": "runs:/" + f["$RUN"] + "/model", "run_id": f["$RUN"],
		"tags": []any{map[string]any{"key": "k", "value": "v"}}})
	f["$VER"] = mv["model_version"].(map[string]any)["version"].(string)
	s.must(t, "POST", api+"/registered-models/alias", map[string]any{"name": f["$RM"], "alias": f["$ALIAS"], "version": f["$VER"]})
	req, _ := http.NewRequest("PUT", s.URL+"/api/2.0/mlflow-artifacts/artifacts/"+f["$EXP"]+"/"+f["$RUN"]+"/artifacts/a.txt", strings.NewReader("a"))
	if st, _, raw := doReq(t, req); st != 200 {
		t.Fatalf("artifact upload: %d %s", st, raw)
	}
	s.must(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": f["$JOB"], "kind": "retention", "dry_run": true, "paused": true,
		"retention": map[string]any{"experiments": []string{"none-such"}, "runs": map[string]any{"keep_last": 100}}})
	return f
}

func (f fixtures) fill(s string) string {
	// longest placeholders first: $EXPNAME before $EXP
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, f[k])
	}
	return s
}

// snapshot is everything the fixtures hold, read from the store.
func (f fixtures) snapshot(s *testServer) string {
	ctx := context.Background()
	st := s.App.store
	var b strings.Builder
	add := func(v any, err error) {
		if err != nil {
			fmt.Fprintf(&b, "err %v\n", err)
			return
		}
		j, _ := json.Marshal(v)
		b.Write(j)
		b.WriteByte('\n')
	}
	add(st.GetExperiment(ctx, f["$EXP"]))
	add(st.GetRun(ctx, f["$RUN"]))
	add(st.GetLoggedModel(ctx, f["$MODEL"], true))
	add(st.GetRegisteredModel(ctx, f["$RM"]))
	add(st.GetModelVersion(ctx, f["$RM"], f["$VER"]))
	if f["$WEBHOOK"] != "" {
		add(st.GetWebhook(ctx, f["$WEBHOOK"]))
	}
	add(st.GetJob(ctx, f["$JOB"]))
	return b.String()
}

// A mutation replaces one field's value.
const (
	big64K = 64 << 10
	big40K = 40000
)

var (
	badJSONValues = []string{
		`"` + strings.Repeat("a", big64K) + `"`,
		`"` + strings.Repeat("x", big40K) + `"`,
		`"` + strings.Repeat("€", 11000) + `"`, // 33,000 bytes in 11,000 characters
		`""`, `" "`, `12345`, `-1`, `-9223372036854775808`, `9223372036854775808`, `1e400`, `0.5`,
		`{"a":1}`, `[1,2]`, `["a","b"]`, `[]`, `{}`, `null`, `true`,
		`"NaN"`, `"-Infinity"`, `"-1"`, `"../../etc/passwd"`, `"a/b"`, `"\u0000"`, `"\ud800"`, `"%00"`, `"a\nb"`,
	}
	badStringValues = []string{
		strings.Repeat("a", big64K), strings.Repeat("x", big40K), strings.Repeat("€", 11000),
		"", " ", "12345", "-1", "-9223372036854775808", "9223372036854775808", "0.5",
		`{"a":1}`, "[1,2]", "null", "true", "NaN", "-Infinity", "../../etc/passwd", "a/b", "\x00", "\xff\xfe", "%00", "a\nb",
	}
	// extraFields are sent, oversized, to every route
	// in addition to its own fields: a field a route reads but its spec
	// forgot is still walked.
	extraFields = []string{"run_id", "run_uuid", "experiment_id", "experiment_ids", "experiment_name", "name", "new_name",
		"key", "value", "model_id", "version", "alias", "source", "run_link", "description", "tags", "params", "metrics",
		"datasets", "models", "page_token", "filter", "order_by", "max_results", "status", "stage", "stages", "path",
		"upload_id", "url", "secret", "events", "event", "metric_key", "run_ids", "approver", "comment", "gates", "policy",
		"policy_name", "artifact_location", "user_id", "run_name", "start_time", "end_time", "model_json", "model_type",
		"source_run_id", "step", "timestamp", "view_type", "run_view_type", "archive_existing_versions", "num_parts",
		"parts", "format", "allow_deleted", "artifact_directory_path", "inputs", "dataframe_split", "instances"}
	extraValues = []string{`"` + strings.Repeat("a", big64K) + `"`}
)

// walkReq is one request of the walk.
type walkReq struct {
	what, method, path, query, ct string
	body                          []byte
}

var walkClient = &http.Client{
	Timeout:       60 * time.Second,
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func TestBadInputWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("walks every route")
	}
	s := badInputServer(t)
	patterns := muxPatterns(t, s.App.mux)
	var first, last []string
	for _, p := range patterns {
		sp, ok := specFor(p)
		if !ok {
			continue // TestBadInputRoutesComplete reports it
		}
		// Webhook routes go last and one by one: the webhooks they create
		// are deleted after each (every event-emitting write reads them all).
		if sp.last || strings.Contains(p, "/webhooks") {
			last = append(last, p)
		} else {
			first = append(first, p)
		}
	}
	var total atomic.Int64
	t.Run("routes", func(t *testing.T) {
		for _, p := range first {
			t.Run(p, func(t *testing.T) {
				t.Parallel()
				total.Add(int64(walkRoute(t, s, p)))
			})
		}
	})
	for _, p := range last {
		t.Run(p, func(t *testing.T) { total.Add(int64(walkRoute(t, s, p))) })
		for {
			hooks, _, err := s.App.store.ListWebhooks(context.Background(), 1000, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(hooks) == 0 {
				break
			}
			for _, h := range hooks {
				if err := s.App.store.DeleteWebhook(context.Background(), h.WebhookID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("%d routes, %d requests", len(first)+len(last), total.Load())
}

// walkRoute sends every bad request of one route and returns how many.
func walkRoute(t *testing.T, s *testServer, pattern string) int {
	sp, _ := specFor(pattern)
	method, patPath, hasMethod := strings.Cut(pattern, " ")
	if !hasMethod {
		method, patPath = "", pattern
	}
	methods := []string{method}
	if method == "" {
		methods = []string{"GET", "POST"}
	}
	paths := sp.paths
	if len(paths) == 0 {
		paths = []string{patPath}
	}
	ajax := strings.HasPrefix(patPath, "/ajax-api/")
	hook := strings.Contains(pattern, "/webhooks")
	accts := sp.usesAccounts()
	f := makeFixtures(t, s, hook, accts)
	n := 0
	for _, m := range methods {
		for _, pth := range paths {
			if ajax {
				pth = strings.Replace(pth, "/api/2.0/", "/ajax-api/2.0/", 1)
			}
			reqs := buildWalk(t, sp, m, patPath, pth, ajax)
			// known fields and bodies first, then the base request, then extras
			for _, r := range reqs {
				n++
				status := sendWalk(t, s, pattern, sp, f, r)
				if status >= 200 && status < 300 && sp.fresh && r.what != "base" {
					f = makeFixtures(t, s, hook, accts)
				}
			}
		}
	}
	return n
}

// buildWalk returns the requests for one method and path: the mutations
// of every field, body and content type, the base request, and the extra
// fields.
func buildWalk(t *testing.T, sp routeSpec, method, patPath, pth string, ajax bool) []walkReq {
	t.Helper()
	isGet := method == "GET" || method == "HEAD"
	jsonBody := !sp.raw && !isGet && (sp.body != "" || method == "POST" || method == "PATCH" || method == "PUT" || method == "DELETE")
	var base any = map[string]any{}
	if sp.body != "" {
		dec := json.NewDecoder(strings.NewReader(sp.body))
		dec.UseNumber()
		if err := dec.Decode(&base); err != nil {
			t.Fatalf("bad body template %s: %v", sp.body, err)
		}
	}
	baseQuery, err := url.ParseQuery(sp.query)
	if err != nil {
		t.Fatalf("bad query template %q: %v", sp.query, err)
	}
	rawBody := []byte("hello")
	// The /ajax-api twin of an RPC runs the same handler: it gets the
	// oversized values only.
	jsonValues, stringValues := badJSONValues, badStringValues
	if ajax {
		jsonValues, stringValues = badJSONValues[:1], badStringValues[:1]
	}
	mk := func(what string, body any, q url.Values, p string) walkReq {
		r := walkReq{what: what, method: method, path: p}
		qq := url.Values{}
		for k, v := range baseQuery {
			qq[k] = v
		}
		for k, v := range q {
			qq[k] = v
		}
		switch {
		case sp.raw:
			r.body, r.ct = rawBody, "application/octet-stream"
		case isGet:
			if body != nil {
				for k, v := range body.(map[string]any) {
					qq[k] = queryValues(v)
				}
			}
		case jsonBody:
			r.body, _ = json.Marshal(body)
			r.ct = "application/json"
		}
		r.query = qq.Encode()
		return r
	}
	var out []walkReq
	// path wildcards
	patSegs := strings.Split(patPath, "/")
	segs := strings.Split(pth, "/")
	for i, ps := range patSegs {
		if !strings.HasPrefix(ps, "{") || i >= len(segs) {
			continue
		}
		for _, v := range stringValues {
			ns := slices.Clone(segs)
			if strings.HasSuffix(ps, "...}") {
				ns = append(ns[:i], url.PathEscape(v))
			} else {
				ns[i] = url.PathEscape(v)
			}
			out = append(out, mk("path "+ps+"="+abbrevValue(v), base, nil, strings.Join(ns, "/")))
		}
	}
	// query parameters read by the handler
	for k := range baseQuery {
		for _, v := range stringValues {
			out = append(out, mk("query "+k+"="+abbrevValue(v), base, url.Values{k: {v}}, pth))
		}
		out = append(out, mk("query "+k+" twice", base, url.Values{k: {"1", "2"}}, pth))
	}
	// every field of the body template: leaves and containers
	for _, fp := range fieldPaths(base, "") {
		if isGet {
			if strings.Contains(fp, ".") {
				continue // the query string is flat
			}
			for _, v := range stringValues {
				b := setPath(deepCopy(base), fp, v)
				out = append(out, mk("field "+fp+"="+abbrevValue(v), b, nil, pth))
			}
			b := deepCopy(base).(map[string]any)
			b[fp] = []any{"1", "2"}
			out = append(out, mk("field "+fp+" twice", b, nil, pth))
			continue
		}
		if !jsonBody {
			continue
		}
		for _, v := range jsonValues {
			b := setPath(deepCopy(base), fp, json.RawMessage(v))
			out = append(out, mk("field "+fp+"="+abbrevValue(v), b, nil, pth))
		}
	}
	// whole bodies and content types
	if jsonBody && !ajax {
		good, _ := json.Marshal(base)
		for _, b := range []string{"", "{", `{"a":`, "[]", `"x"`, `"{\"run_id\": 5"`, "null", "1", "{}", `{"a":1}{"b":2}`,
			"\xff\xfe{}", strings.Repeat("[", 100000), `{"` + strings.Repeat("k", big64K) + `":1}`} {
			out = append(out, walkReq{what: "body " + abbrevValue(b), method: method, path: pth, query: baseQuery.Encode(), ct: "application/json", body: []byte(b)})
		}
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "garbage;;;=", "application/json; charset=utf-8", ""} {
			out = append(out, walkReq{what: "content-type " + ct, method: method, path: pth, query: baseQuery.Encode(), ct: ct, body: good})
		}
	}
	if isGet && !ajax {
		out = append(out, walkReq{what: "malformed query", method: method, path: pth, query: "run_id=%zz&&=&a=%"})
	}
	base0 := mk("base", base, nil, pth)
	out = append(out, base0)
	if jsonBody && !ajax {
		for _, k := range extraFields {
			for _, v := range extraValues {
				b := deepCopy(base).(map[string]any)
				if _, ok := b[k]; ok {
					continue
				}
				b[k] = json.RawMessage(v)
				out = append(out, mk("extra "+k+"="+abbrevValue(v), b, nil, pth))
			}
		}
	}
	if isGet && !ajax {
		for _, k := range extraFields {
			if _, ok := baseQuery[k]; ok {
				continue
			}
			if b, ok := base.(map[string]any); ok {
				if _, ok := b[k]; ok {
					continue
				}
			}
			out = append(out, mk("extra "+k, base, url.Values{k: {strings.Repeat("a", big64K)}}, pth))
		}
	}
	return out
}

func abbrevValue(v string) string {
	if len(v) > 24 {
		return fmt.Sprintf("%.16q…(%d bytes)", v, len(v))
	}
	return strconv.Quote(v)
}

func queryValues(v any) []string {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, queryValues(e)...)
		}
		return out
	case string:
		return []string{x}
	case json.RawMessage:
		return []string{string(x)}
	default:
		b, _ := json.Marshal(x)
		return []string{string(b)}
	}
}

// fieldPaths lists the dotted paths of every value under v (array
// elements by index), containers included.
func fieldPaths(v any, prefix string) []string {
	var out []string
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, join(k))
			out = append(out, fieldPaths(x[k], join(k))...)
		}
	case []any:
		for i, e := range x {
			out = append(out, join(strconv.Itoa(i)))
			out = append(out, fieldPaths(e, join(strconv.Itoa(i)))...)
		}
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// setPath sets the value at a dotted path and returns root.
func setPath(root any, p string, val any) any {
	keys := strings.Split(p, ".")
	cur := root
	for i, k := range keys {
		lastKey := i == len(keys)-1
		switch x := cur.(type) {
		case map[string]any:
			if lastKey {
				x[k] = val
			} else {
				cur = x[k]
			}
		case []any:
			j, _ := strconv.Atoi(k)
			if lastKey {
				x[j] = val
			} else {
				cur = x[j]
			}
		}
	}
	return root
}

// sendWalk sends one request and checks the answer; it returns the status.
func sendWalk(t *testing.T, s *testServer, pattern string, sp routeSpec, f fixtures, r walkReq) int {
	t.Helper()
	target := s.URL + f.fill(r.path)
	if r.query != "" {
		target += "?" + fillQuery(f, r.query)
	}
	body := r.body
	if len(body) > 0 && !sp.raw {
		body = []byte(f.fill(string(body)))
	}
	req, err := http.NewRequest(r.method, target, bytes.NewReader(body))
	if err != nil {
		// a URL the client refuses to send (e.g. a malformed query) is no test of the server
		return 0
	}
	if r.ct != "" {
		req.Header.Set("Content-Type", r.ct)
	}
	// Metric points still in the metric log are folded into bbolt in the
	// background, which can change which of two equal points is the latest:
	// fold them now, so the snapshots compare what requests wrote.
	if s.App.store.PendingMetrics() > 0 {
		if err := s.App.store.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	before := f.snapshot(s)
	addTestCreds(req)
	resp, err := walkClient.Do(req)
	if err != nil {
		t.Errorf("%s %s [%s]: %v", r.method, r.path, r.what, err)
		return 0
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	st := resp.StatusCode
	desc := fmt.Sprintf("%s %s [%s]", r.method, r.path, r.what)
	if st >= 500 && !slices.Contains(sp.allow, st) {
		t.Errorf("%s: %d %.300s", desc, st, raw)
		return st
	}
	if bytes.Contains(raw, []byte(bboltBackstop)) {
		// toAPIError's backstop caught a bbolt error: a length check is missing.
		t.Errorf("%s: reached bbolt unchecked: %d %.300s", desc, st, raw)
	}
	if r.what == "base" {
		want := sp.status
		if want == 0 {
			want = 200
		}
		if want > 0 && st != want {
			t.Errorf("%s: the base request answered %d, want %d: %.300s", desc, st, want, raw)
		}
	}
	if st >= 400 {
		// The API answers MLflow error JSON; unknown routes (the mux's
		// plain-text 404/405, which the client maps to ENDPOINT_NOT_FOUND)
		// and the UI are the exceptions.
		_, matched := s.App.mux.mux.Handler(req)
		apiRoute := (strings.HasPrefix(pattern, "/api/") || strings.Contains(pattern, " /api/") || strings.Contains(pattern, " /ajax-api/") ||
			strings.HasPrefix(pattern, "/models/") || strings.Contains(pattern, "/predict")) && pattern != "/api/" && pattern != "/ajax-api/"
		// /invocations answers what `mlflow models serve` answers (plain text for a wrong content type).
		if apiRoute && matched == pattern && !strings.HasSuffix(r.path, "/invocations") {
			var e struct {
				Code *string `json:"error_code"`
				Msg  *string `json:"message"`
			}
			if json.Unmarshal(raw, &e) != nil || e.Code == nil || e.Msg == nil || *e.Code == "" {
				t.Errorf("%s: %d without MLflow error JSON: %.300s", desc, st, raw)
			}
		}
		if st < 500 && st != 403 && st != 429 {
			if after := f.snapshot(s); after != before {
				t.Errorf("%s: answered %d but changed the fixtures:\nbefore %s\nafter  %s", desc, st, before, after)
			}
		}
	}
	return st
}

// fillQuery substitutes placeholders inside an encoded query.
func fillQuery(f fixtures, q string) string {
	vs, err := url.ParseQuery(q)
	if err != nil {
		return q
	}
	out := url.Values{}
	for k, v := range vs {
		for _, x := range v {
			out[k] = append(out[k], f.fill(x))
		}
	}
	return out.Encode()
}

// TestModelReferencesMustExist: runs/log-inputs and runs/outputs refer to
// logged models that exist; one bad reference refuses the whole request.
func TestModelReferencesMustExist(t *testing.T) {
	s := startServer(t)
	exp := s.must(t, "POST", api+"/experiments/create", map[string]any{"name": "refs"})["experiment_id"].(string)
	run := createRun(t, s, exp)
	newModel := func() string {
		m := s.must(t, "POST", api+"/logged-models", map[string]any{"experiment_id": exp})
		return m["model"].(map[string]any)["info"].(map[string]any)["model_id"].(string)
	}
	model, deleted := newModel(), newModel()
	s.must(t, "DELETE", api+"/logged-models/"+deleted, nil)
	dataset := map[string]any{"dataset": map[string]any{"name": "ds", "digest": "abc", "source_type": "local", "source": "{}"}}
	getRun := func() string {
		_, _, raw := s.call(t, "GET", api+"/runs/get?run_id="+run, nil)
		return raw
	}
	before := getRun()
	long := strings.Repeat("m", 40000)
	cases := []struct {
		name   string
		ids    []string
		status int
		code   string
		msg    string
	}{
		{"unknown", []string{model, "m-nope"}, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID 'm-nope' not found."},
		{"deleted", []string{deleted}, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '" + deleted + "' not found."},
		{"empty", []string{model, ""}, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'models[1].model_id'."},
		{"oversized", []string{model, long}, 400, "INVALID_PARAMETER_VALUE", "'models[1].model_id' exceeds the maximum length of 256 characters"},
		{"just over", []string{strings.Repeat("é", 257)}, 400, "INVALID_PARAMETER_VALUE", "'models[0].model_id' exceeds the maximum length of 256 characters"},
		{"unknown at the bound", []string{strings.Repeat("é", 256)}, 404, "RESOURCE_DOES_NOT_EXIST", "not found."},
	}
	for _, c := range cases {
		var in, out []any
		for _, id := range c.ids {
			in = append(in, map[string]any{"model_id": id})
			out = append(out, map[string]any{"model_id": id, "step": 1})
		}
		for _, req := range []struct {
			path string
			body map[string]any
		}{
			{"/runs/log-inputs", map[string]any{"run_id": run, "datasets": []any{dataset}, "models": in}},
			{"/runs/outputs", map[string]any{"run_id": run, "models": out}},
		} {
			st, m, raw := s.call(t, "POST", api+req.path, req.body)
			if st != c.status || m["error_code"] != c.code || !strings.Contains(fmt.Sprint(m["message"]), c.msg) {
				t.Errorf("%s %s: %d %.200s, want %d %s %q", req.path, c.name, st, raw, c.status, c.code, c.msg)
			}
			if after := getRun(); after != before {
				t.Fatalf("%s %s: the run changed:\nbefore %s\nafter  %s", req.path, c.name, before, after)
			}
		}
	}
	s.must(t, "POST", api+"/runs/log-inputs", map[string]any{"run_id": run, "datasets": []any{dataset}, "models": []any{map[string]any{"model_id": model}}})
	s.must(t, "POST", api+"/runs/outputs", map[string]any{"run_id": run, "models": []any{map[string]any{"model_id": model, "step": 2}}})
	got := getRun()
	for _, want := range []string{`"model_inputs":[{"model_id":"` + model + `"}]`, `"model_outputs":[{"model_id":"` + model + `","step":2}]`, `"name":"ds"`} {
		if !strings.Contains(got, want) {
			t.Errorf("run %s lacks %s", got, want)
		}
	}
}

// TestOversizedIDs: ids and keys over their bound are a 400 naming the
// field, in bodies, queries and paths.
func TestOversizedIDs(t *testing.T) {
	s := startServer(t)
	long := strings.Repeat("a", 300)
	cases := []struct {
		method, path string
		body         any
		msg          string
	}{
		{"GET", api + "/runs/get?run_id=" + long, nil, "'run_id' exceeds the maximum length of 256 characters"},
		{"POST", api + "/runs/log-batch", map[string]any{"run_id": "r", "metrics": []any{map[string]any{"key": "m", "value": 1, "timestamp": 1, "model_id": long}}},
			"'metrics[0].model_id' exceeds the maximum length of 256 characters"},
		{"POST", api + "/runs/log-metric", map[string]any{"run_id": "r", "key": "m", "value": 1, "timestamp": 1, "dataset_digest": strings.Repeat("d", 37)},
			"'dataset_digest' exceeds the maximum length of 36 characters"},
		{"GET", api + "/metrics/get-history-bulk-interval?metric_key=m&run_ids=a&run_ids=" + long, nil, "'run_ids' exceeds the maximum length of 256 characters"},
		{"GET", api + "/logged-models/" + long, nil, "'model_id' exceeds the maximum length of 256 characters"},
		{"DELETE", api + "/logged-models/m-x/tags/" + long, nil, "'tag_key' exceeds the maximum length of 250 characters"},
		{"GET", api + "/registered-models/get?name=" + long, nil, "'name' exceeds the maximum length of 256 characters"},
		{"GET", api + "/registered-models/alias?name=m&alias=" + long, nil, "'alias' exceeds the maximum length of 255 characters"},
		{"GET", "/api/mlbox/v1/models/" + long + "/audit", nil, "'name' exceeds the maximum length of 256 characters"},
		{"GET", "/api/mlbox/v1/jobs/" + long, nil, "'name' exceeds the maximum length of 100 characters"},
	}
	for _, c := range cases {
		st, m, raw := s.call(t, c.method, c.path, c.body)
		if st != 400 || m["error_code"] != "INVALID_PARAMETER_VALUE" || m["message"] != c.msg {
			t.Errorf("%s %.80s: %d %.200s, want 400 %q", c.method, c.path, st, raw, c.msg)
		}
	}
	// At the bound, an unknown id is still just unknown.
	if st, m, _ := s.call(t, "GET", api+"/runs/get?run_id="+strings.Repeat("a", 256), nil); st != 404 || m["error_code"] != "RESOURCE_DOES_NOT_EXIST" {
		t.Errorf("256-character run id: %d %v", st, m)
	}
}

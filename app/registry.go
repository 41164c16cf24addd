package app

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"mlbox/store"
)

func (a *App) registryRoutes() {
	a.mlflow("POST", "/registered-models/create", a.createRegisteredModel)
	a.mlflowRead("/registered-models/get", a.getRegisteredModel)
	a.mlflow("POST", "/registered-models/rename", a.renameRegisteredModel)
	a.mlflow("PATCH", "/registered-models/update", a.updateRegisteredModel)
	a.mlflow("DELETE", "/registered-models/delete", a.deleteRegisteredModel)
	a.mlflowRead("/registered-models/search", a.searchRegisteredModels)
	a.mlflowRead("/registered-models/get-latest-versions", a.getLatestVersions)
	a.mlflow("POST", "/registered-models/set-tag", a.setRegisteredModelTag)
	a.mlflow("DELETE", "/registered-models/delete-tag", a.deleteRegisteredModelTag)
	a.mlflow("POST", "/registered-models/alias", a.setAlias)
	a.mlflow("DELETE", "/registered-models/alias", a.deleteAlias)
	a.mlflow("GET", "/registered-models/alias", a.getByAlias)
	a.mlflow("POST", "/model-versions/create", a.createModelVersion)
	a.mlflowRead("/model-versions/get", a.getModelVersion)
	a.mlflow("PATCH", "/model-versions/update", a.updateModelVersion)
	a.mlflow("DELETE", "/model-versions/delete", a.deleteModelVersion)
	a.mlflowRead("/model-versions/search", a.searchModelVersions)
	a.mlflowRead("/model-versions/get-download-uri", a.getDownloadURI)
	a.mlflow("POST", "/model-versions/set-tag", a.setModelVersionTag)
	a.mlflow("DELETE", "/model-versions/delete-tag", a.deleteModelVersionTag)
	a.mlflow("POST", "/model-versions/transition-stage", a.transitionStage)

	// mlbox extensions: gates, approvals, audit.
	m := a.mux
	m.HandleFunc("GET /api/mlbox/v1/models/{name}/gates", a.wrap(a.getGates))
	m.HandleFunc("PUT /api/mlbox/v1/models/{name}/gates", a.wrap(a.putGates))
	m.HandleFunc("GET /api/mlbox/v1/models/{name}/versions/{version}/approvals", a.wrap(a.listApprovals))
	m.HandleFunc("POST /api/mlbox/v1/models/{name}/versions/{version}/approvals", a.wrap(a.approve))
	m.HandleFunc("GET /api/mlbox/v1/models/{name}/audit", a.wrap(a.listAudit))
}

// actor names who made a change, for the audit trail: the basic-auth user
// name, else the X-Mlbox-Actor header, else "anonymous".
func actor(r *http.Request) string {
	if p := principalOf(r); p != nil {
		return p.name // authenticated: the account, never what the request claims
	}
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return u
	}
	if v := strings.TrimSpace(r.Header.Get("X-Mlbox-Actor")); v != "" {
		return v
	}
	return "anonymous"
}

// Registered model names are at most 256 characters
// (store.MaxRegisteredModelNameLength), aliases 255 (MLflow's
// MAX_REGISTERED_MODEL_ALIAS_LENGTH), tag keys 250, ids 256: the max tags
// refuse longer ones before the store (see checkMaxLen).
type nameReq struct {
	Name optString `json:"name" required:"true" max:"256"`
}

type versionReq struct {
	Name    optString `json:"name" required:"true" max:"256"`
	Version optString `json:"version" required:"true" max:"256"`
}

func (a *App) createRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name        optString `json:"name" required:"true" max:"256"`
		Tags        []tagJSON `json:"tags"`
		Description optString `json:"description"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	tags, err := toTags(req.Tags, "tags")
	if err != nil {
		return err
	}
	m, err := a.store.CreateRegisteredModel(r.Context(), req.Name.V, req.Description.V, tags, actor(r))
	if err != nil {
		return err
	}
	typ := "registered_model"
	for _, t := range tags {
		if t.Key == "mlflow.prompt.is_prompt" && t.Value == "true" {
			typ = "prompt"
		}
	}
	if err := a.granted(r, typ, m.Name); err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"registered_model": m})
}

func (a *App) getRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req nameReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	m, err := a.store.GetRegisteredModel(r.Context(), req.Name.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"registered_model": m})
}

func (a *App) renameRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name    optString `json:"name" required:"true" max:"256"`
		NewName optString `json:"new_name" required:"true" max:"256"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	m, err := a.store.RenameRegisteredModel(r.Context(), req.Name.V, req.NewName.V, actor(r))
	if err != nil {
		return err
	}
	if a.acct != nil { // the users' own grants follow the model
		if err := a.acct.moveModel(r.Context(), req.Name.V, req.NewName.V); err != nil {
			return err
		}
	}
	return writeJSON(w, map[string]any{"registered_model": m})
}

func (a *App) updateRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name        optString `json:"name" required:"true" max:"256"`
		Description optString `json:"description"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	m, err := a.store.UpdateRegisteredModel(r.Context(), req.Name.V, req.Description.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"registered_model": m})
}

func (a *App) deleteRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req nameReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.DeleteRegisteredModel(r.Context(), req.Name.V, actor(r)); err != nil {
		return err
	}
	if a.acct != nil { // a future model of that name starts clean
		if err := a.acct.moveModel(r.Context(), req.Name.V, ""); err != nil {
			return err
		}
	}
	return writeEmpty(w)
}

// registrySearchReq is the request of both registry searches.
type registrySearchReq struct {
	Filter     optString `json:"filter"`
	MaxResults optInt    `json:"max_results"`
	OrderBy    strList   `json:"order_by"`
	PageToken  optString `json:"page_token"`
}

func (a *App) searchRegisteredModels(w http.ResponseWriter, r *http.Request) error {
	var req registrySearchReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := atLeastOne(req.MaxResults); err != nil {
		return err
	}
	max := int(req.MaxResults.V)
	ms, next, err := a.store.SearchRegisteredModels(r.Context(), req.Filter.V, max, req.OrderBy, req.PageToken.V)
	if err == nil && a.filtering(r) && max > 0 {
		ms, next, err = refill(max, req.PageToken.V, func(n int, tok string) ([]*store.RegisteredModel, string, error) {
			if tok == req.PageToken.V && n == max {
				return ms, next, nil // the first page, fetched above
			}
			return a.store.SearchRegisteredModels(r.Context(), req.Filter.V, n, req.OrderBy, tok)
		}, func(m *store.RegisteredModel) bool { return a.canRead(r, modelType(m.Tags), m.Name) })
	}
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		RegisteredModels []*store.RegisteredModel `json:"registered_models,omitempty"`
		NextPageToken    string                   `json:"next_page_token,omitempty"`
	}{ms, next})
}

func (a *App) getLatestVersions(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name   optString `json:"name" required:"true" max:"256"`
		Stages strList   `json:"stages"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	vs, err := a.store.GetLatestVersions(r.Context(), req.Name.V, req.Stages)
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		ModelVersions []store.ModelVersion `json:"model_versions,omitempty"`
	}{vs})
}

func (a *App) setRegisteredModelTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name  optString `json:"name" required:"true" max:"256"`
		Key   optString `json:"key" required:"true"`
		Value optString `json:"value"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.SetRegisteredModelTag(r.Context(), req.Name.V, store.Tag{Key: req.Key.V, Value: req.Value.V}); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) deleteRegisteredModelTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name optString `json:"name" required:"true" max:"256"`
		Key  optString `json:"key" required:"true" max:"250"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.DeleteRegisteredModelTag(r.Context(), req.Name.V, req.Key.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) setAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name    optString `json:"name" max:"256"`
		Alias   optString `json:"alias" max:"255"`
		Version optString `json:"version" max:"256"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	for _, f := range []struct {
		n string
		v optString
	}{{"name", req.Name}, {"alias", req.Alias}, {"version", req.Version}} {
		if err := require(f.n, f.v); err != nil {
			return err
		}
	}
	if err := a.store.SetRegisteredModelAlias(r.Context(), req.Name.V, req.Alias.V, req.Version.V, actor(r)); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) deleteAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name  optString `json:"name" required:"true" max:"256"`
		Alias optString `json:"alias" required:"true" max:"255"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.DeleteRegisteredModelAlias(r.Context(), req.Name.V, req.Alias.V, actor(r)); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) getByAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name  optString `json:"name" required:"true" max:"256"`
		Alias optString `json:"alias" required:"true" max:"255"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	mv, err := a.store.GetModelVersionByAlias(r.Context(), req.Name.V, req.Alias.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model_version": mv})
}

func (a *App) createModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name        optString `json:"name" required:"true" max:"256"`
		Source      optString `json:"source" required:"true"`
		RunID       optString `json:"run_id" max:"256"`
		Tags        []tagJSON `json:"tags"`
		RunLink     optString `json:"run_link"`
		Description optString `json:"description"`
		ModelID     optString `json:"model_id" max:"256"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	tags, err := toTags(req.Tags, "tags")
	if err != nil {
		return err
	}
	mv, err := a.store.CreateModelVersion(r.Context(), store.CreateModelVersionRequest{
		Name: req.Name.V, Source: req.Source.V, RunID: req.RunID.V, RunLink: req.RunLink.V,
		Description: req.Description.V, ModelID: req.ModelID.V, Tags: tags,
	}, actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model_version": mv})
}

func (a *App) getModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req versionReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	mv, err := a.store.GetModelVersion(r.Context(), req.Name.V, req.Version.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model_version": mv})
}

func (a *App) updateModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionReq
		Description optString `json:"description"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	mv, err := a.store.UpdateModelVersion(r.Context(), req.Name.V, req.Version.V, req.Description.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model_version": mv})
}

func (a *App) deleteModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req versionReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.DeleteModelVersion(r.Context(), req.Name.V, req.Version.V, actor(r)); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) searchModelVersions(w http.ResponseWriter, r *http.Request) error {
	var req registrySearchReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := atLeastOne(req.MaxResults); err != nil {
		return err
	}
	vs, next, err := a.store.SearchModelVersions(r.Context(), req.Filter.V, int(req.MaxResults.V), req.OrderBy, req.PageToken.V)
	if err != nil {
		return err
	}
	if a.filtering(r) { // this page only, as MLflow's app does
		kept := vs[:0]
		for _, v := range vs {
			if a.canRead(r, "registered_model", v.Name) {
				kept = append(kept, v)
			}
		}
		vs = kept
	}
	return writeJSON(w, struct {
		ModelVersions []store.ModelVersion `json:"model_versions,omitempty"`
		NextPageToken string               `json:"next_page_token,omitempty"`
	}{vs, next})
}

func (a *App) getDownloadURI(w http.ResponseWriter, r *http.Request) error {
	var req versionReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	uri, err := a.store.GetModelVersionDownloadURI(r.Context(), req.Name.V, req.Version.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]string{"artifact_uri": uri})
}

func (a *App) setModelVersionTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionReq
		Key   optString `json:"key" required:"true"`
		Value optString `json:"value"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.SetModelVersionTag(r.Context(), req.Name.V, req.Version.V, store.Tag{Key: req.Key.V, Value: req.Value.V}); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) deleteModelVersionTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionReq
		Key optString `json:"key" required:"true" max:"250"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.DeleteModelVersionTag(r.Context(), req.Name.V, req.Version.V, req.Key.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) transitionStage(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionReq
		Stage                   optString `json:"stage" required:"true"`
		ArchiveExistingVersions optBool   `json:"archive_existing_versions"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	mv, err := a.store.TransitionModelVersionStage(r.Context(), req.Name.V, req.Version.V, req.Stage.V, req.ArchiveExistingVersions.V, actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model_version": mv})
}

// modelName is the {name} wildcard of the mlbox registry routes, at most
// store.MaxRegisteredModelNameLength characters.
func modelName(r *http.Request) (string, error) {
	return pathParam(r, "name", store.MaxRegisteredModelNameLength)
}

// modelVersion is the {name} and {version} wildcards.
func modelVersion(r *http.Request) (name, version string, err error) {
	if name, err = modelName(r); err != nil {
		return "", "", err
	}
	version, err = pathParam(r, "version", store.MaxIDLength)
	return name, version, err
}

func (a *App) getGates(w http.ResponseWriter, r *http.Request) error {
	name, err := modelName(r)
	if err != nil {
		return err
	}
	rules, err := a.store.GetGates(r.Context(), name)
	if err != nil {
		return err
	}
	if rules == nil {
		rules = []store.GateRule{}
	}
	cfgRules := a.store.ConfigGates(name)
	if cfgRules == nil {
		cfgRules = []store.GateRule{}
	}
	return writeJSON(w, map[string]any{"gates": rules, "config_gates": cfgRules})
}

func (a *App) putGates(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Gates []store.GateRule `json:"gates"`
	}
	name, err := modelName(r)
	if err != nil {
		return err
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.SetGates(r.Context(), name, req.Gates, actor(r)); err != nil {
		return err
	}
	return a.getGates(w, r)
}

func (a *App) approve(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Approver optString `json:"approver"`
		Comment  optString `json:"comment"`
	}
	name, version, err := modelVersion(r)
	if err != nil {
		return err
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	who := req.Approver.V
	if a.acct != nil {
		// With accounts the approver is who sent the request: the body
		// cannot name someone else, so N approvals are N people.
		who = actor(r)
		if req.Approver.V != "" && req.Approver.V != who {
			return invalidParam(fmt.Sprintf("approver %q is not the authenticated user %q: approvals are recorded for the caller", req.Approver.V, who))
		}
	} else if who == "" {
		who = actor(r)
		if who == "anonymous" {
			return missingParam("approver")
		}
	}
	ap, err := a.store.Approve(r.Context(), name, version, who, req.Comment.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"approval": ap})
}

func (a *App) listApprovals(w http.ResponseWriter, r *http.Request) error {
	name, version, err := modelVersion(r)
	if err != nil {
		return err
	}
	aps, err := a.store.ListApprovals(r.Context(), name, version)
	if err != nil {
		return err
	}
	if aps == nil {
		aps = []store.Approval{}
	}
	return writeJSON(w, map[string]any{"approvals": aps})
}

func (a *App) listAudit(w http.ResponseWriter, r *http.Request) error {
	name, err := modelName(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	after, _ := strconv.ParseUint(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	es, err := a.store.ListAudit(r.Context(), name, after, limit)
	if err != nil {
		return err
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	return writeJSON(w, map[string]any{"entries": es})
}

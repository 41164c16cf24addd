package app

import (
	"net/http"
	"strings"

	"mlbox/store"
)

func (a *App) loggedModelRoutes() {
	a.mlflow("POST", "/logged-models", a.createLoggedModel)
	a.mlflow("GET", "/logged-models/{model_id}", a.getLoggedModel)
	a.mlflow("PATCH", "/logged-models/{model_id}", a.finalizeLoggedModel)
	a.mlflow("DELETE", "/logged-models/{model_id}", a.deleteLoggedModel)
	a.mlflow("POST", "/logged-models/search", a.searchLoggedModels)
	a.mlflow("PATCH", "/logged-models/{model_id}/tags", a.setLoggedModelTags)
	a.mlflow("DELETE", "/logged-models/{model_id}/tags/{tag_key...}", a.deleteLoggedModelTag)
	a.mlflow("POST", "/logged-models/{model_id}/params", a.logLoggedModelParams)
	a.mlflow("GET", "/logged-models/{model_id}/artifacts/directories", a.listLoggedModelArtifacts)
}

func (a *App) createLoggedModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID optString `json:"experiment_id" required:"true"`
		Name         optString `json:"name"`
		ModelType    optString `json:"model_type"`
		SourceRunID  optString `json:"source_run_id" max:"256"`
		Params       []tagJSON `json:"params"`
		Tags         []tagJSON `json:"tags"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	params, err := toTags(req.Params, "params")
	if err != nil {
		return err
	}
	tags, err := toTags(req.Tags, "tags")
	if err != nil {
		return err
	}
	m, err := a.store.CreateLoggedModel(r.Context(), store.CreateLoggedModelRequest{
		ExperimentID: req.ExperimentID.V, Name: req.Name.V, ModelType: req.ModelType.V,
		SourceRunID: req.SourceRunID.V, Params: params, Tags: tags,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model": m})
}

// modelID is the {model_id} wildcard, at most store.MaxIDLength characters.
func modelID(r *http.Request) (string, error) { return pathParam(r, "model_id", store.MaxIDLength) }

func (a *App) getLoggedModel(w http.ResponseWriter, r *http.Request) error {
	id, err := modelID(r)
	if err != nil {
		return err
	}
	allow := strings.EqualFold(r.URL.Query().Get("allow_deleted"), "true")
	m, err := a.store.GetLoggedModel(r.Context(), id, allow)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model": m})
}

func (a *App) finalizeLoggedModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Status optString `json:"status" required:"true"`
	}
	id, err := modelID(r)
	if err != nil {
		return err
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	m, err := a.store.FinalizeLoggedModel(r.Context(), id, req.Status.V)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"model": m})
}

func (a *App) deleteLoggedModel(w http.ResponseWriter, r *http.Request) error {
	id, err := modelID(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteLoggedModel(r.Context(), id); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) setLoggedModelTags(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Tags []tagJSON `json:"tags"`
	}
	id, err := modelID(r)
	if err != nil {
		return err
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	tags, err := toTags(req.Tags, "tags")
	if err != nil {
		return err
	}
	if err := a.store.SetLoggedModelTags(r.Context(), id, tags); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) deleteLoggedModelTag(w http.ResponseWriter, r *http.Request) error {
	id, err := modelID(r)
	if err != nil {
		return err
	}
	key, err := pathParam(r, "tag_key", store.MaxEntityKeyLength)
	if err != nil {
		return err
	}
	if err := a.store.DeleteLoggedModelTag(r.Context(), id, key); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) logLoggedModelParams(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Params []tagJSON `json:"params"`
	}
	id, err := modelID(r)
	if err != nil {
		return err
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	params, err := toTags(req.Params, "params")
	if err != nil {
		return err
	}
	if err := a.store.LogLoggedModelParams(r.Context(), id, params); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) searchLoggedModels(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentIDs strList   `json:"experiment_ids"`
		Filter        optString `json:"filter"`
		Datasets      []struct {
			DatasetName   optString `json:"dataset_name"`
			DatasetDigest optString `json:"dataset_digest"`
		} `json:"datasets"`
		MaxResults optInt `json:"max_results"`
		OrderBy    []struct {
			FieldName     optString `json:"field_name"`
			Ascending     *optBool  `json:"ascending"`
			DatasetName   optString `json:"dataset_name"`
			DatasetDigest optString `json:"dataset_digest"`
		} `json:"order_by"`
		PageToken optString `json:"page_token"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	var ds []store.LoggedModelDataset
	for _, d := range req.Datasets {
		if !d.DatasetName.Set {
			return missingParam("datasets.dataset_name")
		}
		ds = append(ds, store.LoggedModelDataset{Name: d.DatasetName.V, Digest: d.DatasetDigest.V})
	}
	var orders []store.LoggedModelOrder
	for _, o := range req.OrderBy {
		if err := require("order_by.field_name", o.FieldName); err != nil {
			return err
		}
		asc := o.Ascending == nil || !o.Ascending.Set || o.Ascending.V
		orders = append(orders, store.LoggedModelOrder{FieldName: o.FieldName.V, Ascending: asc, DatasetName: o.DatasetName.V, DatasetDigest: o.DatasetDigest.V})
	}
	exps := a.readableExperiments(r, req.ExperimentIDs)
	if len(exps) == 0 && len(req.ExperimentIDs) > 0 {
		return writeJSON(w, map[string]any{})
	}
	models, next, err := a.store.SearchLoggedModels(r.Context(), exps, req.Filter.V, ds, int(req.MaxResults.V), orders, req.PageToken.V)
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		Models        []*store.LoggedModel `json:"models,omitempty"`
		NextPageToken string               `json:"next_page_token,omitempty"`
	}{models, next})
}

// listLoggedModelArtifacts is the UI's directory listing of a model's artifacts.
func (a *App) listLoggedModelArtifacts(w http.ResponseWriter, r *http.Request) error {
	id, err := modelID(r)
	if err != nil {
		return err
	}
	m, err := a.store.GetLoggedModel(r.Context(), id, false)
	if err != nil {
		return err
	}
	resp, err := a.listUnderRoot(r.Context(), m.Info.ArtifactURI, r.URL.Query().Get("artifact_directory_path"))
	if err != nil {
		return err
	}
	return writeJSON(w, resp)
}

package app

import (
	"net/http"

	"mlbox/store"
)

// mlbox's own read endpoints for the web UI, beside the MLflow API: what
// a runs table needs and MLflow's REST API does not say.
//
//	POST /api/mlbox/v1/runs/count                  {experiment_ids, filter, run_view_type} → {count}
//	GET  /api/mlbox/v1/experiments/{id}/columns    → {params, metrics, tags}: the keys its runs have
func (a *App) registerUIAPI(m *router) {
	m.HandleFunc("POST /api/mlbox/v1/runs/count", a.wrap(a.countRuns))
	m.HandleFunc("GET /api/mlbox/v1/experiments/{id}/columns", a.wrap(a.runColumns))
}

func (a *App) countRuns(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentIDs strList   `json:"experiment_ids"`
		Filter        optString `json:"filter"`
		RunViewType   optString `json:"run_view_type"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	view, err := parseViewType(req.RunViewType)
	if err != nil {
		return err
	}
	exps := a.readableExperiments(r, req.ExperimentIDs)
	if len(exps) == 0 && len(req.ExperimentIDs) > 0 {
		return writeJSON(w, map[string]int{"count": 0})
	}
	n, err := a.store.CountRuns(store.SearchRunsRequest{ExperimentIDs: exps, Filter: req.Filter.V, ViewType: view})
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		Count int `json:"count"`
	}{n})
}

func (a *App) runColumns(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := a.store.GetExperiment(r.Context(), id); err != nil {
		return err
	}
	params, metrics, tags := a.store.RunColumns(id)
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return writeJSON(w, struct {
		Params  []string `json:"params"`
		Metrics []string `json:"metrics"`
		Tags    []string `json:"tags"`
	}{nz(params), nz(metrics), nz(tags)})
}

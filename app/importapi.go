package app

import (
	"net/http"
	"strings"

	"mlbox/store"
)

// The import API (admins only): `mlbox import` writes another tracking
// server's records through it with the ids, times and states they had
// there, and `mlbox export` keeps its progress ledger here. Everything
// else an import needs (metrics, params, inputs, aliases, artifacts) goes
// through the ordinary MLflow API.
//
//	POST /api/mlbox/v1/import/experiments       {experiment}                → {experiment_id}
//	POST /api/mlbox/v1/import/runs              {experiment_id, run}        → {run_id, state}
//	POST /api/mlbox/v1/import/runs/finish       {run_id, status, end_time, lifecycle_stage}
//	POST /api/mlbox/v1/import/logged-models     {experiment_id, model}      → {model_id, state}
//	POST /api/mlbox/v1/import/finish            {kind, id}
//	POST /api/mlbox/v1/import/registered-models {registered_model}
//	POST /api/mlbox/v1/import/model-versions    {model_version}             → {created}
//	GET  /api/mlbox/v1/import/ledger?kind=K                                 → {entries}
//	POST /api/mlbox/v1/import/ledger            {kind, entries}
const importAPI = "/api/mlbox/v1/import"

func (a *App) importRoutes() {
	m := a.mux
	m.HandleFunc("POST "+importAPI+"/experiments", a.wrap(a.importExperiment))
	m.HandleFunc("POST "+importAPI+"/runs", a.wrap(a.importRun))
	m.HandleFunc("POST "+importAPI+"/runs/finish", a.wrap(a.importRunFinish))
	m.HandleFunc("POST "+importAPI+"/logged-models", a.wrap(a.importLoggedModel))
	m.HandleFunc("POST "+importAPI+"/finish", a.wrap(a.importFinish))
	m.HandleFunc("POST "+importAPI+"/registered-models", a.wrap(a.importRegisteredModel))
	m.HandleFunc("POST "+importAPI+"/model-versions", a.wrap(a.importModelVersion))
	m.HandleFunc("GET "+importAPI+"/ledger", a.wrap(a.importLedger))
	m.HandleFunc("POST "+importAPI+"/ledger", a.wrap(a.setImportLedger))
}

func (a *App) importExperiment(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Experiment *store.Experiment `json:"experiment"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if req.Experiment == nil {
		return missingParam("experiment")
	}
	id, err := a.store.ImportExperiment(r.Context(), *req.Experiment)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]string{"experiment_id": id})
}

func (a *App) importRun(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID optString `json:"experiment_id" required:"true" max:"32"`
		Run          *struct {
			Info store.RunInfo `json:"info"`
			Data struct {
				Tags []store.Tag `json:"tags"`
			} `json:"data"`
		} `json:"run"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if req.Run == nil {
		return missingParam("run")
	}
	if req.Run.Info.RunID == "" {
		req.Run.Info.RunID = req.Run.Info.RunUUID
	}
	ctx := r.Context()
	state, err := a.store.ImportRun(ctx, req.ExperimentID.V, req.Run.Info, req.Run.Data.Tags)
	if err != nil && state == store.ImportStarted {
		// Cut off the last time: drop what was copied and start over.
		id := req.Run.Info.RunID
		if err := a.store.DeleteRun(ctx, id); err != nil && store.KindOf(err) != store.KindInvalid {
			return err
		}
		if err := a.store.PurgeRun(ctx, a.arts, id); err != nil {
			return err
		}
		state, err = a.store.ImportRun(ctx, req.ExperimentID.V, req.Run.Info, req.Run.Data.Tags)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]string{"run_id": req.Run.Info.RunID, "state": state})
}

func (a *App) importRunFinish(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RunID          optString `json:"run_id" required:"true" max:"128"`
		Status         optString `json:"status" max:"32"`
		EndTime        *int64    `json:"end_time"`
		LifecycleStage optString `json:"lifecycle_stage" max:"32"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.FinishImportRun(r.Context(), req.RunID.V, req.Status.V, req.EndTime, req.LifecycleStage.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) importLoggedModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID optString `json:"experiment_id" required:"true" max:"32"`
		Model        *struct {
			Info store.LoggedModelInfo `json:"info"`
			Data struct {
				Params  []store.Param `json:"params"`
				Metrics []struct {
					Key           optString `json:"key" required:"true" max:"250"`
					Value         optFloat  `json:"value"`
					Timestamp     optInt    `json:"timestamp"`
					Step          optInt    `json:"step"`
					RunID         optString `json:"run_id" max:"128"`
					DatasetName   optString `json:"dataset_name" max:"500"`
					DatasetDigest optString `json:"dataset_digest" max:"36"`
				} `json:"metrics"`
			} `json:"data"`
		} `json:"model"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if req.Model == nil {
		return missingParam("model")
	}
	m := store.LoggedModel{Info: req.Model.Info, Data: store.LoggedModelData{Params: req.Model.Data.Params}}
	for _, x := range req.Model.Data.Metrics {
		m.Data.Metrics = append(m.Data.Metrics, store.Metric{Key: x.Key.V, Value: x.Value.V, Timestamp: x.Timestamp.V,
			Step: x.Step.V, RunID: x.RunID.V, DatasetName: x.DatasetName.V, DatasetDigest: x.DatasetDigest.V})
	}
	state, err := a.store.ImportLoggedModel(r.Context(), req.ExperimentID.V, m)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]string{"model_id": m.Info.ModelID, "state": state})
}

// importKinds are the ledger kinds the API may write: the import's own
// ("run", "logged_model"), and export ledgers ("export:<target>").
func validLedgerKind(kind string, write bool) error {
	switch {
	case kind == "run" || kind == "logged_model":
		if write {
			return invalidParam("Ledger kind '" + kind + "' is written by the import itself")
		}
		return nil
	case strings.HasPrefix(kind, "export:") && len(kind) <= 1024 && !strings.ContainsRune(kind, 0):
		return nil
	}
	return invalidParam("Invalid ledger kind '" + kind + "': expected run, logged_model or export:<target>")
}

func (a *App) importFinish(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Kind optString `json:"kind" required:"true" max:"32"`
		ID   optString `json:"id" required:"true" max:"128"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if req.Kind.V != "logged_model" {
		return invalidParam("Invalid kind '" + req.Kind.V + "': only logged_model imports are finished this way")
	}
	if err := a.store.FinishImport(r.Context(), req.Kind.V, req.ID.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) importRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model *store.RegisteredModel `json:"registered_model"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if req.Model == nil {
		return missingParam("registered_model")
	}
	if err := a.store.ImportRegisteredModel(r.Context(), *req.Model); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) importModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Version *store.ModelVersion `json:"model_version"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if req.Version == nil {
		return missingParam("model_version")
	}
	created, err := a.store.ImportModelVersion(r.Context(), *req.Version, actorOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]bool{"created": created})
}

func (a *App) importLedger(w http.ResponseWriter, r *http.Request) error {
	kind := r.URL.Query().Get("kind")
	if err := validLedgerKind(kind, false); err != nil {
		return err
	}
	entries, err := a.store.ImportLedger(r.Context(), kind)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"entries": entries})
}

func (a *App) setImportLedger(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Kind    optString         `json:"kind" required:"true" max:"1024"`
		Entries map[string]string `json:"entries"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := validLedgerKind(req.Kind.V, true); err != nil {
		return err
	}
	for id, v := range req.Entries {
		if id == "" || len(id) > 256 || len(v) > 4096 || strings.ContainsRune(id, 0) {
			return invalidParam("Invalid ledger entry '" + id + "'")
		}
	}
	if err := a.store.SetLedger(r.Context(), req.Kind.V, req.Entries); err != nil {
		return err
	}
	return writeEmpty(w)
}

package app

import (
	"encoding/json"
	"net/http"
	"strings"

	"mlbox/store"
)

func (a *App) trackingRoutes() {
	// experiments
	a.mlflow("POST", "/experiments/create", a.createExperiment)
	a.mlflowRead("/experiments/get", a.getExperiment)
	a.mlflowRead("/experiments/get-by-name", a.getExperimentByName)
	a.mlflowRead("/experiments/search", a.searchExperiments)
	a.mlflow("POST", "/experiments/delete", a.deleteExperiment)
	a.mlflow("POST", "/experiments/restore", a.restoreExperiment)
	a.mlflow("POST", "/experiments/update", a.updateExperiment)
	a.mlflow("POST", "/experiments/set-experiment-tag", a.setExperimentTag)
	a.mlflow("POST", "/experiments/delete-experiment-tag", a.deleteExperimentTag)
	// runs
	a.mlflow("POST", "/runs/create", a.createRun)
	a.mlflowRead("/runs/get", a.getRun)
	a.mlflow("POST", "/runs/update", a.updateRun)
	a.mlflow("POST", "/runs/delete", a.deleteRun)
	a.mlflow("POST", "/runs/restore", a.restoreRun)
	a.mlflowRead("/runs/search", a.searchRuns)
	a.mlflow("POST", "/runs/log-metric", a.logMetric)
	a.mlflow("POST", "/runs/log-parameter", a.logParam)
	a.mlflow("POST", "/runs/set-tag", a.setTag)
	a.mlflow("POST", "/runs/delete-tag", a.deleteTag)
	a.mlflow("POST", "/runs/log-batch", a.logBatch)
	a.mlflow("POST", "/runs/log-inputs", a.logInputs)
	a.mlflow("POST", "/runs/outputs", a.logOutputs)
	a.mlflow("POST", "/runs/log-model", a.logModel)
	a.mlflowRead("/metrics/get-history", a.getMetricHistory)
	a.mlflowRead("/metrics/get-history-bulk-interval", a.getMetricHistoryBulkInterval)
}

type tagJSON struct {
	Key   optString `json:"key"`
	Value optString `json:"value"`
}

func toTags(in []tagJSON, what string) ([]store.Tag, error) {
	out := make([]store.Tag, 0, len(in))
	for _, t := range in {
		if !t.Key.Set || t.Key.V == "" {
			return nil, missingParam(what + ".key")
		}
		out = append(out, store.Tag{Key: t.Key.V, Value: t.Value.V})
	}
	return out, nil
}

func require(name string, v optString) error {
	if !v.Set || v.V == "" {
		return missingParam(name)
	}
	return nil
}

// ---- experiments

func (a *App) createExperiment(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name             optString `json:"name" required:"true"`
		ArtifactLocation optString `json:"artifact_location"`
		Tags             []tagJSON `json:"tags"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	tags, err := toTags(req.Tags, "tags")
	if err != nil {
		return err
	}
	id, err := a.store.CreateExperiment(r.Context(), req.Name.V, req.ArtifactLocation.V, tags)
	if err != nil {
		return err
	}
	if err := a.granted(r, "experiment", id); err != nil {
		return err
	}
	return writeJSON(w, map[string]string{"experiment_id": id})
}

type expIDReq struct {
	ExperimentID optString `json:"experiment_id" required:"true"`
}

func (a *App) expID(r *http.Request) (string, error) {
	var req expIDReq
	if err := a.decodeRequest(r, &req); err != nil {
		return "", err
	}
	return req.ExperimentID.V, nil
}

func (a *App) getExperiment(w http.ResponseWriter, r *http.Request) error {
	id, err := a.expID(r)
	if err != nil {
		return err
	}
	e, err := a.store.GetExperiment(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"experiment": e})
}

func (a *App) getExperimentByName(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name optString `json:"experiment_name" required:"true" max:"500"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	e, err := a.store.GetExperimentByName(r.Context(), req.Name.V)
	if err == nil && !a.canRead(r, "experiment", e.ExperimentID) {
		return errPermissionDenied
	}
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"experiment": e})
}

// parseViewType accepts the enum by name or number.
func parseViewType(v optString) (int, error) {
	switch strings.ToUpper(v.V) {
	case "", "1", "ACTIVE_ONLY":
		return store.ViewActive, nil
	case "2", "DELETED_ONLY":
		return store.ViewDeleted, nil
	case "3", "ALL":
		return store.ViewAll, nil
	}
	return 0, invalidParam("Invalid value '" + v.V + "' for view type: expected ACTIVE_ONLY, DELETED_ONLY or ALL")
}

func (a *App) searchExperiments(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		MaxResults optInt    `json:"max_results"`
		PageToken  optString `json:"page_token"`
		Filter     optString `json:"filter"`
		OrderBy    strList   `json:"order_by"`
		ViewType   optString `json:"view_type"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	view, err := parseViewType(req.ViewType)
	if err != nil {
		return err
	}
	max := 1000
	if req.MaxResults.Set {
		max = int(req.MaxResults.V)
	}
	exps, next, err := a.store.SearchExperiments(r.Context(), view, req.Filter.V, req.OrderBy, max, req.PageToken.V)
	if err == nil && a.filtering(r) && max > 0 {
		exps, next, err = refill(max, req.PageToken.V, func(n int, tok string) ([]store.Experiment, string, error) {
			if tok == req.PageToken.V && n == max {
				return exps, next, nil // the first page, fetched above
			}
			return a.store.SearchExperiments(r.Context(), view, req.Filter.V, req.OrderBy, n, tok)
		}, func(e store.Experiment) bool { return a.canRead(r, "experiment", e.ExperimentID) })
	}
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		Experiments   []store.Experiment `json:"experiments,omitempty"`
		NextPageToken string             `json:"next_page_token,omitempty"`
	}{exps, next})
}

func (a *App) deleteExperiment(w http.ResponseWriter, r *http.Request) error {
	id, err := a.expID(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteExperiment(r.Context(), id); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) restoreExperiment(w http.ResponseWriter, r *http.Request) error {
	id, err := a.expID(r)
	if err != nil {
		return err
	}
	if err := a.store.RestoreExperiment(r.Context(), id); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) updateExperiment(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID optString `json:"experiment_id" required:"true"`
		NewName      optString `json:"new_name" required:"true"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.RenameExperiment(r.Context(), req.ExperimentID.V, req.NewName.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) setExperimentTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID optString `json:"experiment_id" required:"true"`
		Key          optString `json:"key" required:"true"`
		Value        optString `json:"value"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.SetExperimentTag(r.Context(), req.ExperimentID.V, store.Tag{Key: req.Key.V, Value: req.Value.V}); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) deleteExperimentTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID optString `json:"experiment_id" required:"true"`
		Key          optString `json:"key" required:"true" max:"250"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	if err := a.store.DeleteExperimentTag(r.Context(), req.ExperimentID.V, req.Key.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

// ---- runs

// Ids and keys that are bbolt keys (or look one up) carry a max:"N" tag:
// decodeRequest refuses longer values with INVALID_PARAMETER_VALUE (see
// checkMaxLen; the bounds are in store/validate.go). The literals are
// store.MaxIDLength (256), store.MaxEntityKeyLength (250),
// store.MaxExperimentNameLength (500) and MLflow's dataset limits.
type runIDReq struct {
	RunID   optString `json:"run_id" max:"256"`
	RunUUID optString `json:"run_uuid" max:"256"`
}

// id prefers run_id over the deprecated run_uuid.
func (q runIDReq) id() (string, error) {
	if q.RunID.V != "" {
		return q.RunID.V, nil
	}
	if q.RunUUID.V != "" {
		return q.RunUUID.V, nil
	}
	return "", missingParam("run_id")
}

func (a *App) createRun(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID optString `json:"experiment_id"`
		UserID       optString `json:"user_id"`
		RunName      optString `json:"run_name"`
		StartTime    optInt    `json:"start_time"`
		Tags         []tagJSON `json:"tags"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	tags, err := toTags(req.Tags, "tags")
	if err != nil {
		return err
	}
	run, err := a.store.CreateRun(r.Context(), store.CreateRunRequest{
		ExperimentID: req.ExperimentID.V, UserID: req.UserID.V, RunName: req.RunName.V, StartTime: req.StartTime.V, Tags: tags,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"run": run})
}

func (a *App) getRun(w http.ResponseWriter, r *http.Request) error {
	var req runIDReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	run, err := a.store.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"run": run})
}

func (a *App) updateRun(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Status  optString `json:"status"`
		EndTime optInt    `json:"end_time"`
		RunName optString `json:"run_name"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	var status, name *string
	var end *int64
	if req.Status.Set {
		s := runStatusName(req.Status.V)
		status = &s
	}
	if req.EndTime.Set {
		end = &req.EndTime.V
	}
	if req.RunName.Set {
		name = &req.RunName.V
	}
	info, err := a.store.UpdateRun(r.Context(), id, status, end, name)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"run_info": info})
}

// runStatusName maps the enum number to its name.
func runStatusName(s string) string {
	switch s {
	case "1":
		return "RUNNING"
	case "2":
		return "SCHEDULED"
	case "3":
		return "FINISHED"
	case "4":
		return "FAILED"
	case "5":
		return "KILLED"
	}
	return strings.ToUpper(s)
}

func (a *App) deleteRun(w http.ResponseWriter, r *http.Request) error {
	var req runIDReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if err := a.store.DeleteRun(r.Context(), id); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) restoreRun(w http.ResponseWriter, r *http.Request) error {
	var req runIDReq
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if err := a.store.RestoreRun(r.Context(), id); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) searchRuns(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentIDs strList   `json:"experiment_ids"`
		Filter        optString `json:"filter"`
		RunViewType   optString `json:"run_view_type"`
		MaxResults    optInt    `json:"max_results"`
		OrderBy       strList   `json:"order_by"`
		PageToken     optString `json:"page_token"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	view, err := parseViewType(req.RunViewType)
	if err != nil {
		return err
	}
	max := 1000
	if req.MaxResults.Set {
		max = int(req.MaxResults.V)
		if max == 0 {
			return invalidParam("Invalid value for request parameter max_results. It must be at least 1, but got value 0")
		}
	}
	exps := a.readableExperiments(r, req.ExperimentIDs)
	if len(exps) == 0 && len(req.ExperimentIDs) > 0 {
		return writeJSON(w, map[string]any{}) // none the caller may read
	}
	runs, next, err := a.store.SearchRuns(r.Context(), store.SearchRunsRequest{
		ExperimentIDs: exps, Filter: req.Filter.V, ViewType: view, MaxResults: max,
		OrderBy: req.OrderBy, PageToken: req.PageToken.V,
	})
	if err != nil {
		return err
	}
	// {"runs":[…],"next_page_token":"…"}, each run by its hand-written
	// encoder (the same bytes as encoding/json, several times faster).
	b := make([]byte, 0, 64+len(runs)*2048)
	b = append(b, '{')
	if len(runs) > 0 {
		b = append(b, `"runs":[`...)
		b = appendRunsJSON(b, runs)
		b = append(b, ']')
	}
	if next != "" {
		if len(runs) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"next_page_token":`...)
		b = store.AppendJSONString(b, next)
	}
	writeRaw(w, http.StatusOK, append(b, '}'))
	return nil
}

// appendRunsJSON appends runs separated by commas. (Splitting a page
// across the CPUs was measured no faster on 2 cores, so it is not done.)
func appendRunsJSON(b []byte, runs []*store.Run) []byte {
	for i, r := range runs {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.AppendJSON(b)
	}
	return b
}

type metricJSON struct {
	Key           optString `json:"key"`
	Value         optFloat  `json:"value"`
	Timestamp     optInt    `json:"timestamp"`
	Step          optInt    `json:"step"`
	ModelID       optString `json:"model_id" max:"256"`
	DatasetName   optString `json:"dataset_name" max:"500"`
	DatasetDigest optString `json:"dataset_digest" max:"36"`
}

func (m *metricJSON) toMetric() (store.Metric, error) {
	if !m.Key.Set {
		return store.Metric{}, missingParam("key")
	}
	if !m.Value.Set {
		return store.Metric{}, missingParam("value")
	}
	if !m.Timestamp.Set {
		return store.Metric{}, missingParam("timestamp")
	}
	return store.Metric{Key: m.Key.V, Value: m.Value.V, Timestamp: m.Timestamp.V, Step: m.Step.V,
		ModelID: m.ModelID.V, DatasetName: m.DatasetName.V, DatasetDigest: m.DatasetDigest.V}, nil
}

func (a *App) logMetric(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		metricJSON
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.runIDReq.id()
	if err != nil {
		return err
	}
	m, err := req.metricJSON.toMetric()
	if err != nil {
		return err
	}
	if err := a.store.LogBatch(r.Context(), id, []store.Metric{m}, nil, nil); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) logParam(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Key   optString `json:"key" required:"true"`
		Value optString `json:"value"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if err := a.store.LogBatch(r.Context(), id, nil, []store.Param{{Key: req.Key.V, Value: req.Value.V}}, nil); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) setTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Key   optString `json:"key" required:"true"`
		Value optString `json:"value"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if err := a.store.LogBatch(r.Context(), id, nil, nil, []store.Tag{{Key: req.Key.V, Value: req.Value.V}}); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) deleteTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Key optString `json:"key" required:"true" max:"250"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if err := a.store.DeleteTag(r.Context(), id, req.Key.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) logBatch(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Metrics []metricJSON `json:"metrics"`
		Params  []tagJSON    `json:"params"`
		Tags    []tagJSON    `json:"tags"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	metrics := make([]store.Metric, len(req.Metrics))
	for i := range req.Metrics {
		if metrics[i], err = req.Metrics[i].toMetric(); err != nil {
			return err
		}
	}
	params, err := toTags(req.Params, "params")
	if err != nil {
		return err
	}
	tags, err := toTags(req.Tags, "tags")
	if err != nil {
		return err
	}
	if err := a.store.LogBatch(r.Context(), id, metrics, params, tags); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) logInputs(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Datasets []struct {
			Tags    []tagJSON `json:"tags"`
			Dataset struct {
				Name       optString `json:"name"`
				Digest     optString `json:"digest"`
				SourceType optString `json:"source_type"`
				Source     optString `json:"source"`
				Schema     optString `json:"schema"`
				Profile    optString `json:"profile"`
			} `json:"dataset"`
		} `json:"datasets"`
		Models []struct {
			ModelID optString `json:"model_id" max:"256"`
		} `json:"models"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	var ds []store.DatasetInput
	for _, d := range req.Datasets {
		tags, err := toTags(d.Tags, "datasets.tags")
		if err != nil {
			return err
		}
		x := d.Dataset
		ds = append(ds, store.DatasetInput{Tags: tags, Dataset: store.Dataset{Name: x.Name.V, Digest: x.Digest.V,
			SourceType: x.SourceType.V, Source: x.Source.V, Schema: x.Schema.V, Profile: x.Profile.V}})
	}
	var models []store.ModelInput
	for _, m := range req.Models {
		models = append(models, store.ModelInput{ModelID: m.ModelID.V})
	}
	if err := a.store.LogInputs(r.Context(), id, ds, models); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) logOutputs(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Models []struct {
			ModelID optString `json:"model_id" max:"256"`
			Step    optInt    `json:"step"`
		} `json:"models"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if len(req.Models) == 0 {
		return missingParam("models")
	}
	var out []store.ModelOutput
	for _, m := range req.Models {
		out = append(out, store.ModelOutput{ModelID: m.ModelID.V, Step: m.Step.V})
	}
	if err := a.store.LogOutputs(r.Context(), id, out); err != nil {
		return err
	}
	return writeEmpty(w)
}

// logModel is the 2.x clients' runs/log-model: it appends the model's
// metadata to the run tag mlflow.log-model.history.
func (a *App) logModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		ModelJSON optString `json:"model_json" required:"true"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	var model map[string]any
	if err := json.Unmarshal([]byte(req.ModelJSON.V), &model); err != nil {
		return invalidParam("Malformed model info. \n " + req.ModelJSON.V)
	}
	for _, k := range []string{"artifact_path", "flavors", "utc_time_created", "run_id"} {
		if _, ok := model[k]; !ok {
			return invalidParam("Model json is missing mandatory fields: ['" + k + "']")
		}
	}
	if err := a.store.AppendModelHistory(r.Context(), id, model); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) getMetricHistory(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		MetricKey  optString `json:"metric_key" required:"true" max:"250"`
		MaxResults optInt    `json:"max_results"`
		PageToken  optString `json:"page_token"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	body, err := a.store.AppendMetricHistoryJSON(r.Context(), nil, id, req.MetricKey.V, int(req.MaxResults.V), req.PageToken.V)
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, body)
	return nil
}

func (a *App) getMetricHistoryBulkInterval(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RunIDs     strList   `json:"run_ids" max:"256"`
		MetricKey  optString `json:"metric_key" required:"true" max:"250"`
		StartStep  optInt    `json:"start_step"`
		EndStep    optInt    `json:"end_step"`
		MaxResults optInt    `json:"max_results"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	var start, end *int64
	if req.StartStep.Set {
		start = &req.StartStep.V
	}
	if req.EndStep.Set {
		end = &req.EndStep.V
	}
	if a.filtering(r) {
		for _, id := range req.RunIDs {
			exp, err := a.store.RunExperiment(r.Context(), id)
			if err != nil {
				return err
			}
			if !a.canRead(r, "experiment", exp) {
				return errPermissionDenied
			}
		}
	}
	ms, err := a.store.GetMetricHistoryBulkInterval(r.Context(), req.RunIDs, req.MetricKey.V, start, end, int(req.MaxResults.V))
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, store.AppendMetricsJSON(nil, ms, ""))
	return nil
}

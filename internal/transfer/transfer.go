// Package transfer copies a tracking server's history to another one over
// MLflow's REST API: `mlbox import` (an MLflow server into mlbox, keeping
// ids, through mlbox's import API) and `mlbox export` (mlbox into an MLflow
// server, through MLflow's own API). Both are idempotent and resumable:
// import keeps its ledger in the target mlbox, export in the source mlbox.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mlbox/internal/units"
)

// Options configure a transfer.
type Options struct {
	Source, Target *Client
	// Export: the target is an MLflow server (new ids, the ledger kept in
	// the source mlbox). Otherwise the target is mlbox (ids kept, the
	// ledger kept there).
	Export bool
	// Workers copy runs in parallel (default 4).
	Workers int
	// DryRun reads everything a copy would read (metric histories,
	// artifact listings, the registry) and writes nothing: what would be
	// copied, and how fast the source can be read.
	DryRun bool
	// Warn reports a record that could not be copied whole.
	Warn func(msg string)
}

// Stats count what a transfer did; they are updated while it runs.
type Stats struct {
	Experiments      atomic.Int64
	RunsTotal        atomic.Int64 // runs found in the source so far
	Runs             atomic.Int64 // copied
	RunsSkipped      atomic.Int64 // copied by an earlier transfer
	MetricPoints     atomic.Int64
	Params           atomic.Int64
	Files            atomic.Int64
	Bytes            atomic.Int64
	LoggedModels     atomic.Int64
	ModelsSkipped    atomic.Int64
	RegisteredModels atomic.Int64
	Versions         atomic.Int64
	VersionsSkipped  atomic.Int64
	Aliases          atomic.Int64
	Warnings         atomic.Int64
}

type copier struct {
	opt   Options
	src   *Client
	tgt   *Client
	stats *Stats
	kind  string      // export ledger kind
	bulk  atomic.Bool // the source answers get-history-bulk (until it says not)

	mu       sync.Mutex
	expMap   map[string]string // source experiment id -> target
	runMap   map[string]string // source run id -> target (export)
	modelMap map[string]string // source logged model id -> target (export)
	srcRunArt,
	srcModelArt map[string]string // source id -> its artifact_uri
	tgtArt map[string]string // target run/model id -> its artifact_uri (cache)
	// export: source run id -> "key\x00step\x00timestamp" -> logged model id,
	// the run's metric points that are also a logged model's metrics (MLflow
	// links them when the run logs them with the model's id).
	modelPoints map[string]map[string]string
	ledger      map[string]string // export ledger entries
}

// Copy copies everything from opt.Source to opt.Target.
func Copy(ctx context.Context, opt Options, stats *Stats) error {
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.Warn == nil {
		opt.Warn = func(string) {}
	}
	c := &copier{opt: opt, src: opt.Source, tgt: opt.Target, stats: stats,
		expMap: map[string]string{}, runMap: map[string]string{}, modelMap: map[string]string{},
		srcRunArt: map[string]string{}, srcModelArt: map[string]string{}, tgtArt: map[string]string{},
		ledger: map[string]string{}, modelPoints: map[string]map[string]string{}}
	c.bulk.Store(true)
	if opt.DryRun {
		return c.survey(ctx)
	}
	if opt.Export {
		c.kind = "export:" + opt.Target.Base
		var out struct {
			Entries map[string]string `json:"entries"`
		}
		if err := c.src.Call(ctx, "GET", "/api/mlbox/v1/import/ledger?kind="+url.QueryEscape(c.kind), nil, &out); err != nil {
			return fmt.Errorf("read the export ledger from %s (is it mlbox?): %w", c.src.Base, err)
		}
		if out.Entries != nil {
			c.ledger = out.Entries
		}
	} else {
		// Fail early, with a clear message, if the target is not mlbox.
		if err := c.tgt.Call(ctx, "GET", "/api/mlbox/v1/import/ledger?kind=run", nil, nil); err != nil {
			return fmt.Errorf("the import target %s must be mlbox, reachable as an admin: %w", c.tgt.Base, err)
		}
	}
	exps, err := c.experiments(ctx)
	if err != nil {
		return err
	}
	for _, e := range exps {
		if err := c.experiment(ctx, e); err != nil {
			return err
		}
	}
	return c.registry(ctx)
}

func (c *copier) warn(format string, args ...any) {
	c.stats.Warnings.Add(1)
	c.opt.Warn(fmt.Sprintf(format, args...))
}

func (c *copier) setLedger(ctx context.Context, key, val string) error {
	c.mu.Lock()
	c.ledger[key] = val
	c.mu.Unlock()
	return c.src.Call(ctx, "POST", "/api/mlbox/v1/import/ledger",
		map[string]any{"kind": c.kind, "entries": map[string]string{key: val}}, nil)
}

func (c *copier) getLedger(key string) (id, state string) {
	c.mu.Lock()
	v := c.ledger[key]
	c.mu.Unlock()
	id, state, _ = strings.Cut(v, " ")
	return id, state
}

// --- reading the source ---

func (c *copier) experiments(ctx context.Context) ([]Experiment, error) {
	var all []Experiment
	token := ""
	for {
		var out struct {
			Experiments   []Experiment `json:"experiments"`
			NextPageToken string       `json:"next_page_token"`
		}
		req := map[string]any{"max_results": 1000, "view_type": "ALL"}
		if token != "" {
			req["page_token"] = token
		}
		if err := c.src.Call(ctx, "POST", "/api/2.0/mlflow/experiments/search", req, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Experiments...)
		if token = out.NextPageToken; token == "" {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return lessID(all[i].ExperimentID, all[j].ExperimentID) })
	return all, nil
}

func lessID(a, b string) bool {
	x, e1 := strconv.ParseInt(a, 10, 64)
	y, e2 := strconv.ParseInt(b, 10, 64)
	if e1 == nil && e2 == nil {
		return x < y
	}
	return a < b
}

func (c *copier) runsOf(ctx context.Context, expID string, fn func([]Run) error) error {
	token := ""
	for {
		var out struct {
			Runs          []Run  `json:"runs"`
			NextPageToken string `json:"next_page_token"`
		}
		req := map[string]any{"experiment_ids": []string{expID}, "run_view_type": "ALL", "max_results": 1000,
			"order_by": []string{"attributes.start_time ASC"}}
		if token != "" {
			req["page_token"] = token
		}
		if err := c.src.Call(ctx, "POST", "/api/2.0/mlflow/runs/search", req, &out); err != nil {
			return err
		}
		if err := fn(out.Runs); err != nil {
			return err
		}
		if token = out.NextPageToken; token == "" {
			return nil
		}
	}
}

type loggedModelFull struct {
	LoggedModel
	Metrics []map[string]any
}

func (c *copier) loggedModelsOf(ctx context.Context, expID string) ([]loggedModelFull, error) {
	var all []loggedModelFull
	token := ""
	for {
		var out struct {
			Models []struct {
				LoggedModel
				Data struct {
					Params  []KV             `json:"params"`
					Metrics []map[string]any `json:"metrics"`
				} `json:"data"`
			} `json:"models"`
			NextPageToken string `json:"next_page_token"`
		}
		req := map[string]any{"experiment_ids": []string{expID}, "max_results": 100}
		if token != "" {
			req["page_token"] = token
		}
		if err := c.src.Call(ctx, "POST", "/api/2.0/mlflow/logged-models/search", req, &out); err != nil {
			if IsStatus(err, 404) || IsCode(err, "ENDPOINT_NOT_FOUND") {
				return nil, nil // an MLflow 2 server: no logged models
			}
			return nil, err
		}
		for _, m := range out.Models {
			lm := m.LoggedModel
			lm.Data.Params = m.Data.Params
			all = append(all, loggedModelFull{LoggedModel: lm, Metrics: m.Data.Metrics})
		}
		if token = out.NextPageToken; token == "" {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		return all[i].Info.CreationTimestampMs < all[j].Info.CreationTimestampMs
	})
	return all, nil
}

func (c *copier) history(ctx context.Context, runID, key string) ([]Metric, error) {
	var all []Metric
	token := ""
	for {
		var out struct {
			Metrics       []Metric `json:"metrics"`
			NextPageToken string   `json:"next_page_token"`
		}
		q := url.Values{"run_id": {runID}, "metric_key": {key}}
		if token != "" {
			q.Set("page_token", token)
		}
		if err := c.src.Call(ctx, "GET", "/api/2.0/mlflow/metrics/get-history?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Metrics...)
		if token = out.NextPageToken; token == "" {
			return all, nil
		}
	}
}

// survey is a dry run: it reads what a copy reads and counts it.
func (c *copier) survey(ctx context.Context) error {
	exps, err := c.experiments(ctx)
	if err != nil {
		return err
	}
	for _, e := range exps {
		c.stats.Experiments.Add(1)
		var runs []Run
		if err := c.runsOf(ctx, e.ExperimentID, func(page []Run) error {
			c.stats.RunsTotal.Add(int64(len(page)))
			runs = append(runs, page...)
			return nil
		}); err != nil {
			return err
		}
		if err := c.each(ctx, (len(runs)+bulkRuns-1)/bulkRuns, func(g int) error {
			var group []*Run
			for j := g * bulkRuns; j < min((g+1)*bulkRuns, len(runs)); j++ {
				group = append(group, &runs[j])
			}
			if err := c.groupHistories(ctx, group, func(_ string, hist []Metric) error {
				c.stats.MetricPoints.Add(int64(len(hist)))
				return nil
			}); err != nil {
				return err
			}
			for _, r := range group {
				c.stats.Params.Add(int64(len(r.Data.Params)))
				if err := c.listArtifacts(ctx, r.Info.ArtifactURI, r.Info.RunID, func(rel string, size int64) error {
					c.stats.Files.Add(1)
					c.stats.Bytes.Add(size)
					return nil
				}); err != nil {
					return err
				}
				c.stats.Runs.Add(1)
			}
			return nil
		}); err != nil {
			return err
		}
		models, err := c.loggedModelsOf(ctx, e.ExperimentID)
		if err != nil {
			return err
		}
		c.stats.LoggedModels.Add(int64(len(models)))
	}
	return c.registeredModels(ctx, func(m RegisteredModel) error {
		c.stats.RegisteredModels.Add(1)
		vs, err := c.versionsOf(ctx, m.Name)
		if err != nil {
			return err
		}
		c.stats.Versions.Add(int64(len(vs)))
		c.stats.Aliases.Add(int64(len(m.Aliases)))
		return nil
	})
}

// --- experiments and runs ---

func (c *copier) experiment(ctx context.Context, e Experiment) error {
	tgtID, err := c.targetExperiment(ctx, e)
	if err != nil {
		return fmt.Errorf("experiment %s (%q): %w", e.ExperimentID, e.Name, err)
	}
	c.mu.Lock()
	c.expMap[e.ExperimentID] = tgtID
	c.mu.Unlock()
	c.stats.Experiments.Add(1)

	var runs []Run
	if err := c.runsOf(ctx, e.ExperimentID, func(page []Run) error {
		c.stats.RunsTotal.Add(int64(len(page)))
		runs = append(runs, page...)
		return nil
	}); err != nil {
		return fmt.Errorf("experiment %s: list runs: %w", e.ExperimentID, err)
	}
	for i := range runs {
		c.srcRunArt[runs[i].Info.RunID] = runs[i].Info.ArtifactURI
	}
	models, err := c.loggedModelsOf(ctx, e.ExperimentID)
	if err != nil {
		return fmt.Errorf("experiment %s: list logged models: %w", e.ExperimentID, err)
	}
	for _, m := range models {
		c.srcModelArt[m.Info.ModelID] = m.Info.ArtifactURI
		if !c.opt.Export {
			continue
		}
		for _, x := range m.Metrics {
			run, _ := x["run_id"].(string)
			key, _ := x["key"].(string)
			if run == "" || key == "" {
				continue
			}
			if c.modelPoints[run] == nil {
				c.modelPoints[run] = map[string]string{}
			}
			c.modelPoints[run][pointKey(key, anyInt(x["step"]), anyInt(x["timestamp"]))] = m.Info.ModelID
		}
	}

	if c.opt.Export {
		// Runs first as shells, so logged models can name their source run.
		for i := range runs {
			if err := c.exportRunShell(ctx, tgtID, &runs[i]); err != nil {
				return err
			}
		}
	}
	for i := range models {
		if err := c.loggedModel(ctx, tgtID, &models[i]); err != nil {
			return err
		}
	}
	if c.opt.Export {
		if err := c.parallel(ctx, runs, func(r *Run) error { return c.run(ctx, tgtID, r) }); err != nil {
			return err
		}
	} else {
		var groups [][]*Run
		for i := 0; i < len(runs); i += bulkRuns {
			var g []*Run
			for j := i; j < min(i+bulkRuns, len(runs)); j++ {
				g = append(g, &runs[j])
			}
			groups = append(groups, g)
		}
		if err := c.each(ctx, len(groups), func(i int) error { return c.importGroup(ctx, tgtID, groups[i]) }); err != nil {
			return err
		}
	}
	if e.LifecycleStage == "deleted" && tgtID != "0" {
		var got struct {
			Experiment Experiment `json:"experiment"`
		}
		if err := c.tgt.Call(ctx, "GET", "/api/2.0/mlflow/experiments/get?experiment_id="+url.QueryEscape(tgtID), nil, &got); err != nil {
			return err
		}
		if got.Experiment.LifecycleStage != "deleted" {
			if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/experiments/delete", map[string]string{"experiment_id": tgtID}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *copier) targetExperiment(ctx context.Context, e Experiment) (string, error) {
	if !c.opt.Export {
		var out struct {
			ExperimentID string `json:"experiment_id"`
		}
		err := c.tgt.Call(ctx, "POST", "/api/mlbox/v1/import/experiments", map[string]any{"experiment": e}, &out)
		return out.ExperimentID, err
	}
	var got struct {
		Experiment Experiment `json:"experiment"`
	}
	err := c.tgt.Call(ctx, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+url.QueryEscape(e.Name), nil, &got)
	switch {
	case err == nil:
		have := map[string]string{}
		for _, t := range got.Experiment.Tags {
			have[t.Key] = t.Value
		}
		for _, t := range e.Tags {
			if v, ok := have[t.Key]; ok && v == t.Value {
				continue
			}
			if got.Experiment.LifecycleStage == "deleted" {
				break
			}
			if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/experiments/set-experiment-tag",
				map[string]string{"experiment_id": got.Experiment.ExperimentID, "key": t.Key, "value": t.Value}, nil); err != nil {
				return "", err
			}
		}
		return got.Experiment.ExperimentID, nil
	case IsCode(err, "RESOURCE_DOES_NOT_EXIST"):
		var out struct {
			ExperimentID string `json:"experiment_id"`
		}
		err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": e.Name, "tags": e.Tags}, &out)
		return out.ExperimentID, err
	}
	return "", err
}

// parallel runs fn over runs on the configured workers; the first error
// stops it.
func (c *copier) parallel(ctx context.Context, runs []Run, fn func(*Run) error) error {
	return c.each(ctx, len(runs), func(i int) error {
		if err := fn(&runs[i]); err != nil {
			return fmt.Errorf("run %s: %w", runs[i].Info.RunID, err)
		}
		return nil
	})
}

// each calls fn(0..n-1) on the configured workers; the first error stops it.
func (c *copier) each(ctx context.Context, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		firstErr error
		once     sync.Once
	)
	for range c.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

func (c *copier) run(ctx context.Context, tgtExp string, r *Run) error {
	if c.opt.Export {
		return c.exportRun(ctx, r)
	}
	return c.importGroup(ctx, tgtExp, []*Run{r})
}

func pointKey(key string, step, ts int64) string {
	return key + "\x00" + strconv.FormatInt(step, 10) + "\x00" + strconv.FormatInt(ts, 10)
}

// anyInt reads a JSON number or numeric string.
func anyInt(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func tagOf(tags []KV, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// exportRunShell creates the target run of a source run that has none yet.
func (c *copier) exportRunShell(ctx context.Context, tgtExp string, r *Run) error {
	key := "run/" + r.Info.RunID
	if id, _ := c.getLedger(key); id != "" {
		c.mu.Lock()
		c.runMap[r.Info.RunID] = id
		c.mu.Unlock()
		return nil
	}
	var out struct {
		Run Run `json:"run"`
	}
	req := map[string]any{"experiment_id": tgtExp, "start_time": int64(r.Info.StartTime), "tags": r.Data.Tags}
	if r.Info.UserID != "" {
		req["user_id"] = r.Info.UserID
	}
	if name := r.Info.RunName; name != "" {
		req["run_name"] = name
	}
	if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/runs/create", req, &out); err != nil {
		return fmt.Errorf("run %s: %w", r.Info.RunID, err)
	}
	id := out.Run.Info.RunID
	c.mu.Lock()
	c.runMap[r.Info.RunID] = id
	c.tgtArt[id] = out.Run.Info.ArtifactURI
	c.mu.Unlock()
	return c.setLedger(ctx, key, id+" started")
}

func (c *copier) exportRun(ctx context.Context, r *Run) error {
	key := "run/" + r.Info.RunID
	id, state := c.getLedger(key)
	if state == "done" {
		c.stats.RunsSkipped.Add(1)
		return nil
	}
	if err := c.fillRun(ctx, r, id, true); err != nil {
		return err
	}
	upd := map[string]any{"run_id": id, "status": r.Info.Status}
	if r.Info.EndTime != nil {
		upd["end_time"] = int64(*r.Info.EndTime)
	}
	if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/runs/update", upd, nil); err != nil {
		return err
	}
	if r.Info.LifecycleStage == "deleted" {
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/runs/delete", map[string]string{"run_id": id}, nil); err != nil &&
			!IsCode(err, "INVALID_PARAMETER_VALUE") {
			return err
		}
	}
	if err := c.setLedger(ctx, key, id+" done"); err != nil {
		return err
	}
	c.stats.Runs.Add(1)
	return nil
}

func (c *copier) mapModel(id string) string {
	if !c.opt.Export || id == "" {
		return id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.modelMap[id]; ok {
		return m
	}
	return ""
}

func (c *copier) mapRun(id string) string {
	if !c.opt.Export || id == "" {
		return id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runMap[id]
}

// fillRun copies a run's params, metric histories, inputs, outputs and
// artifacts into target run tgtID.
func runKeys(r *Run) []string {
	var keys []string
	for _, m := range r.Data.Metrics {
		if !slices.Contains(keys, m.Key) {
			keys = append(keys, m.Key)
		}
	}
	return keys
}

// logHistory logs a source run's metric points into target run tgtID, a
// thousand a request, with their logged model ids mapped.
func (c *copier) logHistory(ctx context.Context, srcRunID, tgtID string, hist []Metric) error {
	c.mu.Lock()
	points := c.modelPoints[srcRunID]
	c.mu.Unlock()
	for len(hist) > 0 {
		n := min(len(hist), 1000)
		batch := hist[:n]
		for i := range batch {
			m := &batch[i]
			if m.ModelID == "" && points != nil {
				m.ModelID = points[pointKey(m.Key, int64(m.Step), int64(m.Timestamp))]
			}
			m.ModelID = c.mapModel(m.ModelID)
		}
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/runs/log-batch",
			map[string]any{"run_id": tgtID, "metrics": batch}, nil); err != nil {
			return err
		}
		c.stats.MetricPoints.Add(int64(n))
		hist = hist[n:]
	}
	return nil
}

// fillRun copies a run's params, metric histories (unless the caller
// copies them), inputs, outputs and artifacts into target run tgtID.
func (c *copier) fillRun(ctx context.Context, r *Run, tgtID string, metrics bool) error {
	params := r.Data.Params
	for len(params) > 0 {
		n := min(len(params), 100)
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/runs/log-batch",
			map[string]any{"run_id": tgtID, "params": params[:n]}, nil); err != nil {
			return err
		}
		c.stats.Params.Add(int64(n))
		params = params[n:]
	}
	if metrics {
		for _, k := range runKeys(r) {
			hist, err := c.history(ctx, r.Info.RunID, k)
			if err != nil {
				return err
			}
			if err := c.logHistory(ctx, r.Info.RunID, tgtID, hist); err != nil {
				return err
			}
		}
	}
	var models []map[string]string
	for _, m := range r.Inputs.ModelInputs {
		if id := c.mapModel(m.ModelID); id != "" {
			models = append(models, map[string]string{"model_id": id})
		}
	}
	if len(r.Inputs.DatasetInputs) > 0 || len(models) > 0 {
		req := map[string]any{"run_id": tgtID, "datasets": r.Inputs.DatasetInputs}
		if len(models) > 0 {
			req["models"] = models
		}
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/runs/log-inputs", req, nil); err != nil {
			return err
		}
	}
	var outs []map[string]any
	for _, m := range r.Outputs.ModelOutputs {
		if id := c.mapModel(m.ModelID); id != "" {
			o := map[string]any{"model_id": id, "step": 0}
			if m.Step != nil {
				o["step"] = int64(*m.Step)
			}
			outs = append(outs, o)
		}
	}
	if len(outs) > 0 {
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/runs/outputs", map[string]any{"run_id": tgtID, "models": outs}, nil); err != nil {
			return err
		}
	}
	dst, err := c.targetRunArtifacts(ctx, tgtID)
	if err != nil {
		return err
	}
	return c.copyArtifacts(ctx, r.Info.ArtifactURI, r.Info.RunID, dst)
}

// bulkRuns is how many runs' histories of one metric one bulk request
// reads, and bulkMax the most points it returns a run (MLflow's cap).
const (
	bulkRuns = 25
	bulkMax  = 25000
)

// bulkHistory reads one metric's history for several runs in one request
// (MLflow's get-history-bulk, which orders each run's points as
// get-history does). ok is false if the source has no such endpoint.
func (c *copier) bulkHistory(ctx context.Context, runIDs []string, key string) (map[string][]Metric, bool, error) {
	q := url.Values{"run_id": runIDs, "metric_key": {key}, "max_results": {strconv.Itoa(bulkMax)}}
	var out struct {
		Metrics []struct {
			Metric
			RunID string `json:"run_id"`
		} `json:"metrics"`
	}
	if err := c.src.Call(ctx, "GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk?"+q.Encode(), nil, &out); err != nil {
		if IsStatus(err, 404) || IsStatus(err, 405) || IsCode(err, "ENDPOINT_NOT_FOUND") {
			return nil, false, nil
		}
		return nil, false, err
	}
	byRun := make(map[string][]Metric, len(runIDs))
	for _, m := range out.Metrics {
		byRun[m.RunID] = append(byRun[m.RunID], m.Metric)
	}
	return byRun, true, nil
}

// importGroup imports a few runs together: their histories are read a
// metric at a time for all of them (bulkHistory), far fewer requests to
// the source than one per run and metric.
func (c *copier) importGroup(ctx context.Context, tgtExp string, group []*Run) error {
	var pending []*Run
	for _, r := range group {
		var out struct {
			State string `json:"state"`
		}
		info := r.Info
		if info.RunName == "" {
			info.RunName = tagOf(r.Data.Tags, "mlflow.runName")
		}
		req := map[string]any{"experiment_id": tgtExp, "run": map[string]any{"info": info, "data": map[string]any{"tags": r.Data.Tags}}}
		if err := c.tgt.Call(ctx, "POST", "/api/mlbox/v1/import/runs", req, &out); err != nil {
			return fmt.Errorf("run %s: %w", r.Info.RunID, err)
		}
		if out.State == "done" {
			c.stats.RunsSkipped.Add(1)
			continue
		}
		pending = append(pending, r)
	}
	if err := c.groupHistories(ctx, pending, func(id string, hist []Metric) error {
		return c.logHistory(ctx, id, id, hist)
	}); err != nil {
		return err
	}
	for _, r := range pending {
		if err := c.fillRun(ctx, r, r.Info.RunID, false); err != nil {
			return fmt.Errorf("run %s: %w", r.Info.RunID, err)
		}
		if err := c.finishImportRun(ctx, r); err != nil {
			return fmt.Errorf("run %s: %w", r.Info.RunID, err)
		}
	}
	return nil
}

// groupHistories reads every metric history of some runs, a metric at a
// time for all of them (bulkHistory) while the source answers that, and
// calls fn with each run's history of each metric.
func (c *copier) groupHistories(ctx context.Context, runs []*Run, fn func(runID string, hist []Metric) error) error {
	var keys []string
	for _, r := range runs {
		for _, k := range runKeys(r) {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range keys {
		var ids []string
		for _, r := range runs {
			if slices.Contains(runKeys(r), k) {
				ids = append(ids, r.Info.RunID)
			}
		}
		var byRun map[string][]Metric
		if c.bulk.Load() {
			m, ok, err := c.bulkHistory(ctx, ids, k)
			if err != nil {
				return err
			}
			if !ok {
				c.bulk.Store(false)
			}
			byRun = m
		}
		for _, id := range ids {
			hist, ok := byRun[id]
			if !ok || len(hist) >= bulkMax {
				var err error
				if hist, err = c.history(ctx, id, k); err != nil {
					return fmt.Errorf("run %s: %w", id, err)
				}
			}
			if err := fn(id, hist); err != nil {
				return fmt.Errorf("run %s: %w", id, err)
			}
		}
	}
	return nil
}

func (c *copier) finishImportRun(ctx context.Context, r *Run) error {
	fin := map[string]any{"run_id": r.Info.RunID, "status": r.Info.Status, "lifecycle_stage": r.Info.LifecycleStage}
	if r.Info.EndTime != nil {
		fin["end_time"] = int64(*r.Info.EndTime)
	}
	if err := c.tgt.Call(ctx, "POST", "/api/mlbox/v1/import/runs/finish", fin, nil); err != nil {
		return err
	}
	c.stats.Runs.Add(1)
	return nil
}

func (c *copier) targetRunArtifacts(ctx context.Context, id string) (string, error) {
	return c.targetArtifacts(id, func() (string, error) {
		var out struct {
			Run Run `json:"run"`
		}
		err := c.tgt.Call(ctx, "GET", "/api/2.0/mlflow/runs/get?run_id="+url.QueryEscape(id), nil, &out)
		return out.Run.Info.ArtifactURI, err
	})
}

func (c *copier) targetModelArtifacts(ctx context.Context, id string) (string, error) {
	return c.targetArtifacts(id, func() (string, error) {
		var out struct {
			Model LoggedModel `json:"model"`
		}
		err := c.tgt.Call(ctx, "GET", "/api/2.0/mlflow/logged-models/"+url.PathEscape(id), nil, &out)
		return out.Model.Info.ArtifactURI, err
	})
}

// targetArtifacts is a target run's or logged model's artifact_uri, asked
// of the target (fetch) once and then cached.
func (c *copier) targetArtifacts(id string, fetch func() (string, error)) (string, error) {
	c.mu.Lock()
	uri := c.tgtArt[id]
	c.mu.Unlock()
	if uri != "" {
		return uri, nil
	}
	uri, err := fetch()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.tgtArt[id] = uri
	c.mu.Unlock()
	return uri, nil
}

// --- logged models ---

func (c *copier) loggedModel(ctx context.Context, tgtExp string, m *loggedModelFull) error {
	srcID := m.Info.ModelID
	if !c.opt.Export {
		var out struct {
			State string `json:"state"`
		}
		info := m.Info
		info.ExperimentID = tgtExp
		var metrics []map[string]any
		for _, x := range m.Metrics {
			x2 := map[string]any{}
			for k, v := range x {
				if k != "model_id" {
					x2[k] = v
				}
			}
			metrics = append(metrics, x2)
		}
		req := map[string]any{"experiment_id": tgtExp, "model": map[string]any{"info": info,
			"data": map[string]any{"params": m.Data.Params, "metrics": metrics}}}
		if err := c.tgt.Call(ctx, "POST", "/api/mlbox/v1/import/logged-models", req, &out); err != nil {
			return fmt.Errorf("logged model %s: %w", srcID, err)
		}
		if out.State == "done" {
			c.stats.ModelsSkipped.Add(1)
			return nil
		}
		dst, err := c.targetModelArtifacts(ctx, srcID)
		if err != nil {
			return err
		}
		if err := c.copyArtifacts(ctx, m.Info.ArtifactURI, "", dst); err != nil {
			return fmt.Errorf("logged model %s: %w", srcID, err)
		}
		if err := c.tgt.Call(ctx, "POST", "/api/mlbox/v1/import/finish", map[string]string{"kind": "logged_model", "id": srcID}, nil); err != nil {
			return err
		}
		c.stats.LoggedModels.Add(1)
		return nil
	}
	key := "model/" + srcID
	id, state := c.getLedger(key)
	if state == "done" {
		c.mu.Lock()
		c.modelMap[srcID] = id
		c.mu.Unlock()
		c.stats.ModelsSkipped.Add(1)
		return nil
	}
	if id == "" {
		req := map[string]any{"experiment_id": tgtExp, "name": m.Info.Name, "params": m.Data.Params, "tags": m.Info.Tags}
		if m.Info.ModelType != "" {
			req["model_type"] = m.Info.ModelType
		}
		if run := c.mapRun(m.Info.SourceRunID); run != "" {
			req["source_run_id"] = run
		}
		var out struct {
			Model LoggedModel `json:"model"`
		}
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/logged-models", req, &out); err != nil {
			return fmt.Errorf("logged model %s: %w", srcID, err)
		}
		id = out.Model.Info.ModelID
		c.mu.Lock()
		c.tgtArt[id] = out.Model.Info.ArtifactURI
		c.mu.Unlock()
		if err := c.setLedger(ctx, key, id+" started"); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.modelMap[srcID] = id
	c.mu.Unlock()
	dst, err := c.targetModelArtifacts(ctx, id)
	if err != nil {
		return err
	}
	if err := c.copyArtifacts(ctx, m.Info.ArtifactURI, "", dst); err != nil {
		return fmt.Errorf("logged model %s: %w", srcID, err)
	}
	status := m.Info.Status
	if status == "" {
		status = "LOGGED_MODEL_READY"
	}
	if status != "LOGGED_MODEL_PENDING" {
		if err := c.tgt.Call(ctx, "PATCH", "/api/2.0/mlflow/logged-models/"+url.PathEscape(id),
			map[string]string{"model_id": id, "status": status}, nil); err != nil {
			return err
		}
	}
	if err := c.setLedger(ctx, key, id+" done"); err != nil {
		return err
	}
	c.stats.LoggedModels.Add(1)
	return nil
}

// --- artifacts ---

// proxyPath is the path of an mlflow-artifacts: URI under the server's
// artifact proxy, if it is one.
func proxyPath(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "mlflow-artifacts:")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(rest, "//") { // mlflow-artifacts://host:port/path
		rest = rest[2:]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", true
		}
		rest = rest[i:]
	}
	return strings.Trim(rest, "/"), true
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// listArtifacts walks the artifact tree at srcURI (through the source's
// artifact proxy, or its run artifact API for run runID), calling fn for
// each file with its path relative to srcURI.
func (c *copier) listArtifacts(ctx context.Context, srcURI, runID string, fn func(rel string, size int64) error) error {
	src, proxied := proxyPath(srcURI)
	if !proxied && runID == "" {
		c.warn("artifacts at %s were not copied: only mlflow-artifacts: locations are read through the server", srcURI)
		return nil
	}
	list := func(rel string) ([]FileInfo, error) {
		var out struct {
			Files []FileInfo `json:"files"`
		}
		var p string
		if proxied {
			p = "/api/2.0/mlflow-artifacts/artifacts?path=" + url.QueryEscape(strings.Trim(src+"/"+rel, "/"))
		} else {
			q := url.Values{"run_id": {runID}}
			if rel != "" {
				q.Set("path", rel)
			}
			p = "/api/2.0/mlflow/artifacts/list?" + q.Encode()
		}
		err := c.src.Call(ctx, "GET", p, nil, &out)
		return out.Files, err
	}
	var walk func(rel string) error
	walk = func(rel string) error {
		files, err := list(rel)
		if err != nil {
			if rel == "" && (IsCode(err, "RESOURCE_DOES_NOT_EXIST") || IsStatus(err, 404)) {
				return nil // nothing logged
			}
			return err
		}
		for _, f := range files {
			name := path.Base(f.Path)
			if name == "." || name == "/" || name == ".." || name == "" {
				continue
			}
			child := strings.TrimPrefix(rel+"/"+name, "/")
			if f.IsDir {
				if err := walk(child); err != nil {
					return err
				}
				continue
			}
			if err := fn(child, int64(f.FileSize)); err != nil {
				return fmt.Errorf("artifact %s: %w", child, err)
			}
		}
		return nil
	}
	return walk("")
}

// copyArtifacts copies the tree at srcURI (see listArtifacts) to dstURI
// (written through the target's artifact proxy).
func (c *copier) copyArtifacts(ctx context.Context, srcURI, runID, dstURI string) error {
	dst, ok := proxyPath(dstURI)
	if !ok {
		return fmt.Errorf("the target stores artifacts at %s, which mlbox cannot write through the server: "+
			"run the MLflow server with artifact proxying (--serve-artifacts, the default since MLflow 2)", dstURI)
	}
	src, proxied := proxyPath(srcURI)
	return c.listArtifacts(ctx, srcURI, runID, func(rel string, _ int64) error {
		return c.copyFile(ctx, proxied, src, runID, rel, dst)
	})
}

func (c *copier) copyFile(ctx context.Context, proxied bool, src, runID, rel, dst string) error {
	var p string
	if proxied {
		p = "/api/2.0/mlflow-artifacts/artifacts/" + escapePath(strings.Trim(src+"/"+rel, "/"))
	} else {
		p = "/get-artifact?" + url.Values{"run_id": {runID}, "path": {rel}}.Encode()
	}
	body, size, err := c.src.Download(ctx, p)
	if err != nil {
		return err
	}
	defer body.Close()
	cr := &countReader{r: body, n: &c.stats.Bytes}
	if size < 0 {
		// Unknown length: read it into memory up to 64 MiB, else stream chunked.
		buf, err := io.ReadAll(io.LimitReader(cr, 64<<20+1))
		if err != nil {
			return err
		}
		if len(buf) <= 64<<20 {
			err = c.tgt.Upload(ctx, "/api/2.0/mlflow-artifacts/artifacts/"+escapePath(strings.Trim(dst+"/"+rel, "/")),
				strings.NewReader(string(buf)), int64(len(buf)))
			if err == nil {
				c.stats.Files.Add(1)
			}
			return err
		}
		return errors.New("artifact of unknown length over 64 MiB")
	}
	if err := c.tgt.Upload(ctx, "/api/2.0/mlflow-artifacts/artifacts/"+escapePath(strings.Trim(dst+"/"+rel, "/")), cr, size); err != nil {
		return err
	}
	c.stats.Files.Add(1)
	return nil
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// --- the registry ---

func (c *copier) registry(ctx context.Context) error {
	return c.registeredModels(ctx, func(m RegisteredModel) error {
		if err := c.registeredModel(ctx, m.Name); err != nil {
			return fmt.Errorf("registered model %q: %w", m.Name, err)
		}
		return nil
	})
}

// registeredModels calls fn with each registered model of the source.
func (c *copier) registeredModels(ctx context.Context, fn func(RegisteredModel) error) error {
	token := ""
	for {
		var out struct {
			Models        []RegisteredModel `json:"registered_models"`
			NextPageToken string            `json:"next_page_token"`
		}
		q := url.Values{"max_results": {"1000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		if err := c.src.Call(ctx, "GET", "/api/2.0/mlflow/registered-models/search?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		for _, m := range out.Models {
			if err := fn(m); err != nil {
				return err
			}
		}
		if token = out.NextPageToken; token == "" {
			return nil
		}
	}
}

func (c *copier) registeredModel(ctx context.Context, name string) error {
	var got struct {
		Model RegisteredModel `json:"registered_model"`
	}
	if err := c.src.Call(ctx, "GET", "/api/2.0/mlflow/registered-models/get?name="+url.QueryEscape(name), nil, &got); err != nil {
		return err
	}
	m := got.Model
	if !c.opt.Export {
		if err := c.tgt.Call(ctx, "POST", "/api/mlbox/v1/import/registered-models", map[string]any{"registered_model": m}, nil); err != nil {
			return err
		}
	} else {
		err := c.tgt.Call(ctx, "GET", "/api/2.0/mlflow/registered-models/get?name="+url.QueryEscape(name), nil, nil)
		if IsCode(err, "RESOURCE_DOES_NOT_EXIST") {
			req := map[string]any{"name": name, "tags": m.Tags}
			if m.Description != "" {
				req["description"] = m.Description
			}
			err = c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/registered-models/create", req, nil)
		}
		if err != nil {
			return err
		}
	}
	c.stats.RegisteredModels.Add(1)
	versions, err := c.versionsOf(ctx, name)
	if err != nil {
		return err
	}
	vmap := map[string]string{}
	for _, v := range versions {
		tv, err := c.version(ctx, v)
		if IsCode(err, "INVALID_PARAMETER_VALUE") {
			c.warn("registered model %q version %s was not copied: %v", name, v.Version, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("version %s: %w", v.Version, err)
		}
		vmap[v.Version] = tv
	}
	for _, a := range m.Aliases {
		v := vmap[a.Version]
		if v == "" {
			continue
		}
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/registered-models/alias",
			map[string]string{"name": name, "alias": a.Alias, "version": v}, nil); err != nil {
			return err
		}
		c.stats.Aliases.Add(1)
	}
	return nil
}

func (c *copier) versionsOf(ctx context.Context, name string) ([]ModelVersion, error) {
	quoted := "'" + name + "'"
	if strings.Contains(name, "'") {
		quoted = `"` + name + `"`
	}
	var all []ModelVersion
	token := ""
	for {
		var out struct {
			Versions      []ModelVersion `json:"model_versions"`
			NextPageToken string         `json:"next_page_token"`
		}
		q := url.Values{"filter": {"name=" + quoted}, "max_results": {"1000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		if err := c.src.Call(ctx, "GET", "/api/2.0/mlflow/model-versions/search?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Versions...)
		if token = out.NextPageToken; token == "" {
			break
		}
	}
	sort.Slice(all, func(i, j int) bool { return lessID(all[i].Version, all[j].Version) })
	// Search answers leave fields out (MLflow: model_id); get has them all.
	for i, v := range all {
		var got struct {
			Version ModelVersion `json:"model_version"`
		}
		q := url.Values{"name": {v.Name}, "version": {v.Version}}
		if err := c.src.Call(ctx, "GET", "/api/2.0/mlflow/model-versions/get?"+q.Encode(), nil, &got); err != nil {
			return nil, err
		}
		all[i] = got.Version
		if all[i].ModelID == "" {
			if id, ok := strings.CutPrefix(all[i].Source, "models:/"); ok && strings.HasPrefix(id, "m-") && !strings.Contains(id, "/") {
				all[i].ModelID = id
			}
		}
	}
	return all, nil
}

// mapSource rewrites a version's source to where its artifacts are in the
// target: runs:/ and models:/ URIs by id, artifact locations by prefix.
func (c *copier) mapSource(ctx context.Context, v ModelVersion) (string, error) {
	src := v.Source
	switch {
	case strings.HasPrefix(src, "runs:/"):
		id, rest, _ := strings.Cut(strings.TrimPrefix(src, "runs:/"), "/")
		if t := c.mapRun(id); t != "" {
			return "runs:/" + t + "/" + rest, nil
		}
		return src, nil
	case strings.HasPrefix(src, "models:/m-") && !strings.Contains(strings.TrimPrefix(src, "models:/"), "/"):
		if t := c.mapModel(strings.TrimPrefix(src, "models:/")); t != "" {
			return "models:/" + t, nil
		}
		return src, nil
	}
	c.mu.Lock()
	runArt, modelArt := c.srcRunArt[v.RunID], c.srcModelArt[v.ModelID]
	c.mu.Unlock()
	if v.ModelID != "" && modelArt != "" && hasPathPrefix(src, modelArt) {
		if t := c.mapModel(v.ModelID); t != "" {
			dst, err := c.targetModelArtifacts(ctx, t)
			if err != nil {
				return "", err
			}
			return dst + strings.TrimPrefix(src, modelArt), nil
		}
	}
	if v.RunID != "" && runArt != "" && hasPathPrefix(src, runArt) {
		if t := c.mapRun(v.RunID); t != "" {
			dst, err := c.targetRunArtifacts(ctx, t)
			if err != nil {
				return "", err
			}
			return dst + strings.TrimPrefix(src, runArt), nil
		}
	}
	return src, nil
}

func hasPathPrefix(s, prefix string) bool {
	return s == prefix || strings.HasPrefix(s, strings.TrimSuffix(prefix, "/")+"/")
}

// version copies one model version and returns its number in the target.
func (c *copier) version(ctx context.Context, v ModelVersion) (string, error) {
	src, err := c.mapSource(ctx, v)
	if err != nil {
		return "", err
	}
	if !c.opt.Export {
		w := v
		w.Source = src
		var out struct {
			Created bool `json:"created"`
		}
		if err := c.tgt.Call(ctx, "POST", "/api/mlbox/v1/import/model-versions", map[string]any{"model_version": w}, &out); err != nil {
			return "", err
		}
		if out.Created {
			c.stats.Versions.Add(1)
		} else {
			c.stats.VersionsSkipped.Add(1)
		}
		return v.Version, nil
	}
	key := "version/" + v.Name + "/" + v.Version
	if id, _ := c.getLedger(key); id != "" {
		c.stats.VersionsSkipped.Add(1)
		return id, nil
	}
	var tags []KV
	for _, t := range v.Tags {
		if !strings.HasPrefix(t.Key, "mlbox.") { // mlbox's own notes (mlbox.compile)
			tags = append(tags, t)
		}
	}
	req := map[string]any{"name": v.Name, "source": src, "tags": tags}
	if run := c.mapRun(v.RunID); run != "" {
		req["run_id"] = run
	}
	if id := c.mapModel(v.ModelID); id != "" {
		req["model_id"] = id
	}
	if v.Description != "" {
		req["description"] = v.Description
	}
	if v.RunLink != "" {
		req["run_link"] = v.RunLink
	}
	// A cut-off export may have created this version without recording it:
	// take that one rather than make a second.
	run, _ := req["run_id"].(string)
	tv, err := c.unrecordedVersion(ctx, v.Name, run, src)
	if err != nil {
		return "", err
	}
	if tv == "" {
		var out struct {
			Version ModelVersion `json:"model_version"`
		}
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/model-versions/create", req, &out); err != nil {
			return "", err
		}
		tv = out.Version.Version
	}
	if v.CurrentStage != "" && v.CurrentStage != "None" {
		if err := c.tgt.Call(ctx, "POST", "/api/2.0/mlflow/model-versions/transition-stage",
			map[string]any{"name": v.Name, "version": tv, "stage": v.CurrentStage, "archive_existing_versions": false}, nil); err != nil {
			return "", err
		}
	}
	// Recorded last: a version in the ledger is complete.
	if err := c.setLedger(ctx, key, tv); err != nil {
		return "", err
	}
	c.stats.Versions.Add(1)
	return tv, nil
}

// unrecordedVersion returns the target's version of model name for run
// and source that no ledger entry claims: one an export created and was
// cut off before recording. The run is one this export created in the
// target, so no one else's version points at it. "" when there is none
// (or no run to tell by).
func (c *copier) unrecordedVersion(ctx context.Context, name, run, source string) (string, error) {
	if run == "" || strings.ContainsAny(name, `'\`) {
		return "", nil
	}
	claimed := map[string]bool{}
	prefix := "version/" + name + "/"
	c.mu.Lock()
	for k, v := range c.ledger {
		if strings.HasPrefix(k, prefix) {
			id, _, _ := strings.Cut(v, " ")
			claimed[id] = true
		}
	}
	c.mu.Unlock()
	q := url.Values{"filter": {fmt.Sprintf("name='%s' and run_id='%s'", name, run)}, "max_results": {"1000"}}
	var out struct {
		ModelVersions []ModelVersion `json:"model_versions"`
	}
	if err := c.tgt.Call(ctx, "GET", "/api/2.0/mlflow/model-versions/search?"+q.Encode(), nil, &out); err != nil {
		return "", err
	}
	best := ""
	for _, mv := range out.ModelVersions {
		if mv.Name != name || mv.RunID != run || mv.Source != source || claimed[mv.Version] {
			continue
		}
		if n, err := strconv.Atoi(mv.Version); err == nil {
			if b, _ := strconv.Atoi(best); best == "" || n < b {
				best = mv.Version
			}
		}
	}
	return best, nil
}

// Summary is a one-paragraph account of a transfer.
func (s *Stats) Summary(elapsed time.Duration) string {
	secs := elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d experiments; runs: %d copied, %d already there; %d metric points (%.0f/s), %d params; ",
		s.Experiments.Load(), s.Runs.Load(), s.RunsSkipped.Load(), s.MetricPoints.Load(), float64(s.MetricPoints.Load())/secs, s.Params.Load())
	fmt.Fprintf(&b, "artifacts: %d files, %s; logged models: %d copied, %d already there; ",
		s.Files.Load(), units.Bytes(s.Bytes.Load()), s.LoggedModels.Load(), s.ModelsSkipped.Load())
	fmt.Fprintf(&b, "registered models: %d, versions: %d copied, %d already there, aliases: %d; in %s",
		s.RegisteredModels.Load(), s.Versions.Load(), s.VersionsSkipped.Load(), s.Aliases.Load(), elapsed.Round(10*time.Millisecond))
	if w := s.Warnings.Load(); w > 0 {
		fmt.Fprintf(&b, "; %d warnings", w)
	}
	return b.String()
}

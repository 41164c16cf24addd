package main

// `mlbox models log` (a wasm module → an MLflow run with a wasm-flavor
// model, optionally registered and aliased) and `mlbox models profile` (a
// CSV → a training-data profile for drift). See docs/serving.md.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"mlbox/serve"
)

func init() {
	extraModelCommands["log"] = cmdModelsLog
	extraModelCommands["profile"] = cmdModelsProfile
}

const modelsLogUsage = `Usage:
  mlbox models log [--tracking-uri URL] --experiment NAME [--register MODEL]
                   [--alias ALIAS] [--profile profile.json] [--run-name NAME] FILE.wasm

Validates FILE.wasm against the mlbox model ABI (docs/wasm-abi.md) locally,
then, over the MLflow REST API: gets or creates the experiment, creates a
run, uploads model/MLmodel (the wasm flavor, with the module's signature and
sha256), model/model.wasm and model/profile.json through the artifact proxy,
logs the module's metadata as params, records the model on the run and
finishes it. --register MODEL creates a version of MODEL from runs:/RUN/model
(creating MODEL if needed); --alias ALIAS (needs --register) points the
alias at the new version. Prints the run id and the version.

--tracking-uri defaults to $MLFLOW_TRACKING_URI, else http://127.0.0.1:5000.
`

const modelsProfileUsage = `Usage:
  mlbox models profile [--bins 10] [--method width|quantile] [--label COL]
                       [--features A,B,...] [--model FILE.wasm] [--out profile.json] DATA.csv

Writes the training-data profile (docs/wasm-abi.md §10) of a CSV file with a
header line: one histogram per feature. The features are the numeric
columns in file order, less --label (comma-separated names); or --features
in that order; or, with --model, the module's feature_names. --model also
adds one histogram per model output, computed by running the module on the
rows, and checks the profile against the module. Empty cells and NA/NaN/null
count as missing. --method width (the default) cuts [min, max] into --bins
equal bins; quantile puts about the same number of rows in each bin.
`

func cmdModelsLog(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlbox models log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o logOptions
	fs.StringVar(&o.trackingURI, "tracking-uri", "", "tracking server URL")
	fs.StringVar(&o.experiment, "experiment", "", "experiment name (created if missing)")
	fs.StringVar(&o.register, "register", "", "registered model to create a version of")
	fs.StringVar(&o.alias, "alias", "", "alias to point at the new version (needs --register)")
	fs.StringVar(&o.profile, "profile", "", "training-data profile (profile.json) to store with the model")
	fs.StringVar(&o.runName, "run-name", "", "run name (default: the module's name)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	fs.Usage = func() { fmt.Fprint(stderr, modelsLogUsage) }
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || o.experiment == "" || (o.alias != "" && o.register == "") {
		fs.Usage()
		return 2
	}
	o.file = pos[0]
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if _, err := logWasmModel(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "mlbox models log:", err)
		return 1
	}
	return 0
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type logOptions struct {
	trackingURI, experiment, register, alias, profile, runName, file string
}

type logResult struct {
	ExperimentID, RunID, Version string
}

func isRESTCode(err error, code string) bool {
	var re *restError
	return errors.As(err, &re) && re.Code == code
}

// restCall is restClient.call naming only the path (no query) in errors.
func restCall(ctx context.Context, c *restClient, method, p string, in, out any) error {
	return c.callAs(ctx, method+" "+strings.SplitN(p, "?", 2)[0], method, p, in, out)
}

// logWasmModel does `mlbox models log`.
func logWasmModel(ctx context.Context, o logOptions, stdout io.Writer) (*logResult, error) {
	wasm, err := os.ReadFile(o.file)
	if err != nil {
		return nil, err
	}
	// Validate locally first: nothing is uploaded for a bad module.
	meta, err := inspectModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.file, err)
	}
	var profile []byte
	if o.profile != "" {
		if profile, err = os.ReadFile(o.profile); err != nil {
			return nil, err
		}
		if _, err := serve.ParseProfile(profile, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", o.profile, err)
		}
	}
	sum := sha256.Sum256(wasm)
	sha := hex.EncodeToString(sum[:])
	fmt.Fprintf(stdout, "validated %s: %s, %d %s features -> %d %s outputs, sha256 %s\n",
		o.file, orStr(meta.Name, "unnamed"), meta.NFeatures, meta.DType, meta.NOutputs, meta.Task, sha[:16])

	c, err := newRESTClient(o.trackingURI)
	if err != nil {
		return nil, err
	}
	res := &logResult{}
	// The experiment.
	var exp struct {
		Experiment struct {
			ID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	q := url.Values{"experiment_name": {o.experiment}}
	err = restCall(ctx, c, "GET", "/api/2.0/mlflow/experiments/get-by-name?"+q.Encode(), nil, &exp)
	if isRESTCode(err, "RESOURCE_DOES_NOT_EXIST") {
		var created struct {
			ID string `json:"experiment_id"`
		}
		err = restCall(ctx, c, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": o.experiment}, &created)
		exp.Experiment.ID = created.ID
		if isRESTCode(err, "RESOURCE_ALREADY_EXISTS") { // created concurrently
			err = restCall(ctx, c, "GET", "/api/2.0/mlflow/experiments/get-by-name?"+q.Encode(), nil, &exp)
		}
	}
	if err != nil {
		return nil, err
	}
	res.ExperimentID = exp.Experiment.ID

	// The run.
	runName := o.runName
	if runName == "" {
		runName = orStr(meta.Name, strings.TrimSuffix(filepath.Base(o.file), ".wasm"))
	}
	tags := []map[string]string{
		{"key": "mlflow.source.name", "value": filepath.Base(o.file)},
		{"key": "mlflow.source.type", "value": "LOCAL"},
		{"key": "mlbox.model.sha256", "value": sha},
	}
	if u := os.Getenv("USER"); u != "" {
		tags = append(tags, map[string]string{"key": "mlflow.user", "value": u})
	}
	var run struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	now := time.Now()
	if err := restCall(ctx, c, "POST", "/api/2.0/mlflow/runs/create", map[string]any{
		"experiment_id": res.ExperimentID, "run_name": runName, "start_time": now.UnixMilli(), "tags": tags,
	}, &run); err != nil {
		return nil, err
	}
	res.RunID = run.Run.Info.RunID
	fmt.Fprintf(stdout, "experiment: %s (id %s)\nrun_id: %s\n", o.experiment, res.ExperimentID, res.RunID)
	finish := func(status string) error {
		return restCall(context.WithoutCancel(ctx), c, "POST", "/api/2.0/mlflow/runs/update", map[string]any{
			"run_id": res.RunID, "status": status, "end_time": time.Now().UnixMilli(),
		}, nil)
	}
	if err := fillRun(ctx, c, res.RunID, run.Run.Info.ArtifactURI, meta, wasm, sha, profile, now, stdout); err != nil {
		_ = finish("FAILED")
		return nil, err
	}
	if err := finish("FINISHED"); err != nil {
		return nil, err
	}

	if o.register == "" {
		return res, nil
	}
	err = restCall(ctx, c, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": o.register}, nil)
	if err != nil && !isRESTCode(err, "RESOURCE_ALREADY_EXISTS") {
		return nil, err
	}
	var mv struct {
		MV struct {
			Version string `json:"version"`
		} `json:"model_version"`
	}
	if err := restCall(ctx, c, "POST", "/api/2.0/mlflow/model-versions/create", map[string]any{
		"name": o.register, "source": "runs:/" + res.RunID + "/model", "run_id": res.RunID,
		"tags": []map[string]string{{"key": "mlbox.model.sha256", "value": sha}},
	}, &mv); err != nil {
		return nil, err
	}
	res.Version = mv.MV.Version
	fmt.Fprintf(stdout, "registered: %s version %s\n", o.register, res.Version)
	if o.alias != "" {
		if err := restCall(ctx, c, "POST", "/api/2.0/mlflow/registered-models/alias", map[string]any{
			"name": o.register, "alias": o.alias, "version": res.Version,
		}, nil); err != nil {
			return res, fmt.Errorf("version %s was registered, but setting the alias failed: %w", res.Version, err)
		}
		fmt.Fprintf(stdout, "alias: %s@%s -> version %s\n", o.register, o.alias, res.Version)
	}
	return res, nil
}

// inspectModule validates wasm with an in-memory runtime.
func inspectModule(ctx context.Context, wasm []byte) (serve.Metadata, error) {
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		return serve.Metadata{}, err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	return rt.Inspect(ctx, wasm)
}

// fillRun uploads the model directory and logs the params and the model.
func fillRun(ctx context.Context, c *restClient, runID, artifactURI string, meta serve.Metadata, wasm []byte, sha string, profile []byte, created time.Time, stdout io.Writer) error {
	root, ok := strings.CutPrefix(artifactURI, "mlflow-artifacts:")
	if !ok {
		return fmt.Errorf("the run's artifact location %q is not served by the artifact proxy (mlflow-artifacts:); mlbox models log uploads through the proxy only", artifactURI)
	}
	if after, ok := strings.CutPrefix(root, "//"); ok { // mlflow-artifacts://host/path
		root = ""
		if i := strings.Index(after, "/"); i >= 0 {
			root = after[i:]
		}
	}
	root = strings.Trim(root, "/")
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	created = created.UTC()
	mlmodel, modelJSON := wasmMLmodel(meta, runID, sha, int64(len(wasm)), profile != nil, hex.EncodeToString(uuid), created)
	files := []struct {
		name string
		body []byte
	}{{"MLmodel", mlmodel}, {"model.wasm", wasm}}
	if profile != nil {
		files = append(files, struct {
			name string
			body []byte
		}{"profile.json", profile})
	}
	var names []string
	for _, f := range files {
		p := "/api/2.0/mlflow-artifacts/artifacts/" + escapeSegments(root+"/model/"+f.name)
		resp, err := c.do(ctx, "PUT", p, bytes.NewReader(f.body), "application/octet-stream")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("uploading model/%s: HTTP %d: %s", f.name, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		names = append(names, f.name)
	}
	fmt.Fprintf(stdout, "artifacts: %s/model (%s)\n", artifactURI, strings.Join(names, ", "))

	params := []map[string]string{
		{"key": "abi_version", "value": strconv.Itoa(meta.ABIVersion)},
		{"key": "task", "value": string(meta.Task)},
		{"key": "dtype", "value": string(meta.DType)},
		{"key": "output_dtype", "value": string(meta.OutputDType)},
		{"key": "n_features", "value": strconv.Itoa(meta.NFeatures)},
		{"key": "n_outputs", "value": strconv.Itoa(meta.NOutputs)},
		{"key": "max_batch_rows", "value": strconv.Itoa(meta.MaxBatchRows)},
		{"key": "module_sha256", "value": sha},
		{"key": "module_bytes", "value": strconv.Itoa(len(wasm))},
	}
	if meta.Name != "" {
		params = append(params, map[string]string{"key": "module_name", "value": trimTo(meta.Name, 500)})
	}
	if meta.Producer != "" {
		params = append(params, map[string]string{"key": "producer", "value": trimTo(meta.Producer, 500)})
	}
	if err := restCall(ctx, c, "POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": runID, "params": params}, nil); err != nil {
		return err
	}
	return restCall(ctx, c, "POST", "/api/2.0/mlflow/runs/log-model", map[string]any{"run_id": runID, "model_json": string(modelJSON)}, nil)
}

// wasmMLmodel returns the MLmodel file (docs/wasm-abi.md §9) and the same
// model as the JSON that runs/log-model records.
func wasmMLmodel(meta serve.Metadata, runID, sha string, size int64, withProfile bool, uuid string, created time.Time) ([]byte, []byte) {
	in, out := meta.Signature()
	ts := created.Format("2006-01-02 15:04:05.000000")
	flavor := []struct {
		k string
		v any
	}{
		{"module", "model.wasm"}, {"sha256", sha}, {"abi_version", meta.ABIVersion}, {"task", string(meta.Task)},
		{"dtype", string(meta.DType)}, {"output_dtype", string(meta.OutputDType)}, {"n_features", meta.NFeatures},
		{"n_outputs", meta.NOutputs}, {"max_batch_rows", meta.MaxBatchRows},
	}
	if withProfile {
		flavor = append(flavor, struct {
			k string
			v any
		}{"profile", "profile.json"})
	}
	var y strings.Builder
	y.WriteString("artifact_path: model\nflavors:\n  wasm:\n")
	fj := map[string]any{}
	for _, f := range flavor {
		switch v := f.v.(type) {
		case string:
			fmt.Fprintf(&y, "    %s: %s\n", f.k, yamlString(v))
		default:
			fmt.Fprintf(&y, "    %s: %v\n", f.k, v)
		}
		fj[f.k] = f.v
	}
	fmt.Fprintf(&y, "model_size_bytes: %d\nmodel_uuid: %s\nrun_id: %s\nutc_time_created: %s\n", size, yamlString(uuid), yamlString(runID), yamlString(ts))
	fmt.Fprintf(&y, "signature:\n  inputs: %s\n  outputs: %s\n  params: null\n", yamlString(in), yamlString(out))
	j, _ := json.Marshal(map[string]any{
		"artifact_path": "model", "flavors": map[string]any{"wasm": fj}, "run_id": runID,
		"utc_time_created": ts, "model_uuid": uuid, "model_size_bytes": size,
		"signature": map[string]any{"inputs": in, "outputs": out, "params": nil},
	})
	return []byte(y.String()), j
}

// yamlString quotes s as a YAML single-quoted scalar.
func yamlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func trimTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// --- mlbox models profile ---

func cmdModelsProfile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlbox models profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o profileOptions
	fs.IntVar(&o.bins, "bins", 10, "bins per histogram")
	fs.StringVar(&o.method, "method", "width", "binning: width (equal-width) or quantile")
	fs.StringVar(&o.label, "label", "", "column(s) to leave out, comma-separated (the target)")
	fs.StringVar(&o.features, "features", "", "the feature columns, comma-separated, in model order")
	fs.StringVar(&o.model, "model", "", "model.wasm: take the features from it, check the profile, and profile its outputs")
	out := fs.String("out", "", "output file (default stdout)")
	fs.Usage = func() { fmt.Fprint(stderr, modelsProfileUsage) }
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 || o.bins < 1 || o.bins > 10000 || (o.method != "width" && o.method != "quantile") {
		fs.Usage()
		return 2
	}
	f, err := os.Open(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "mlbox models profile:", err)
		return 1
	}
	defer f.Close()
	p, notes, err := buildProfile(context.Background(), f, o)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox models profile:", err)
		return 1
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, "mlbox models profile:", n)
	}
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		fmt.Fprintln(stderr, "mlbox models profile:", err)
		return 1
	}
	b = append(b, '\n')
	if *out == "" {
		stdout.Write(b)
		return 0
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(stderr, "mlbox models profile:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s: %d rows, %d features, %d outputs\n", *out, p.Rows, len(p.Features), len(p.Outputs))
	return 0
}

type profileOptions struct {
	bins                           int
	method, label, features, model string
}

// column is one CSV column read as numbers (NaN for missing).
type column struct {
	name    string
	vals    []float64
	numeric bool
}

func isMissing(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "na", "nan", "null", "none", "n/a":
		return true
	}
	return false
}

// buildProfile reads the CSV and computes the profile; notes are warnings.
func buildProfile(ctx context.Context, r io.Reader, o profileOptions) (*serve.Profile, []string, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the header: %w", err)
	}
	cols := make([]*column, len(head))
	byName := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		cols[i] = &column{name: h, numeric: true}
		byName[h] = i
	}
	rows := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		rows++
		for i, s := range rec {
			c := cols[i]
			v := math.NaN()
			if !isMissing(s) {
				x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if err != nil || math.IsInf(x, 0) {
					c.numeric = false
				}
				v = x
			}
			c.vals = append(c.vals, v)
		}
	}
	if rows == 0 {
		return nil, nil, errors.New("the file has no data rows")
	}

	var meta *serve.Metadata
	var model *serve.Model
	if o.model != "" {
		wasm, err := os.ReadFile(o.model)
		if err != nil {
			return nil, nil, err
		}
		rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
		if err != nil {
			return nil, nil, err
		}
		defer rt.Close(context.WithoutCancel(ctx))
		if model, err = rt.Load(ctx, wasm); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.model, err)
		}
		m := model.Meta()
		meta = &m
	}

	// Choose the feature columns.
	var notes []string
	var names []string
	switch {
	case o.features != "":
		names = splitList(o.features)
	case meta != nil && len(meta.FeatureNames) > 0:
		names = meta.FeatureNames
	default:
		skip := map[string]bool{}
		for _, l := range splitList(o.label) {
			if _, ok := byName[l]; !ok {
				return nil, nil, fmt.Errorf("--label %q is not a column (columns: %s)", l, strings.Join(head, ", "))
			}
			skip[l] = true
		}
		for _, c := range cols {
			switch {
			case skip[c.name]:
			case !c.numeric:
				notes = append(notes, fmt.Sprintf("column %q is not numeric: left out", c.name))
			default:
				names = append(names, c.name)
			}
		}
	}
	var feats []*column
	for _, n := range names {
		i, ok := byName[n]
		if !ok {
			return nil, nil, fmt.Errorf("feature %q is not a column of the file (columns: %s)", n, strings.Join(head, ", "))
		}
		if !cols[i].numeric {
			return nil, nil, fmt.Errorf("feature %q has non-numeric values", n)
		}
		feats = append(feats, cols[i])
	}
	if len(feats) == 0 {
		return nil, nil, errors.New("no numeric feature columns")
	}

	p := &serve.Profile{Format: serve.ProfileFormat, Rows: int64(rows)}
	for _, c := range feats {
		p.Features = append(p.Features, histogram(c.name, c.vals, o.bins, o.method))
	}
	if model != nil {
		if len(feats) != meta.NFeatures {
			return nil, nil, fmt.Errorf("%d feature columns for a model with %d features", len(feats), meta.NFeatures)
		}
		outs, err := predictColumns(ctx, model, feats, rows)
		if err != nil {
			return nil, nil, err
		}
		for k, name := range meta.OutputColumns() {
			p.Outputs = append(p.Outputs, histogram(name, outs[k], o.bins, o.method))
		}
	}
	if err := p.Validate(meta); err != nil {
		return nil, nil, err
	}
	return p, notes, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// predictColumns runs the model on every complete row and returns its
// outputs by column; rows with a missing feature give NaN (missing).
func predictColumns(ctx context.Context, m *serve.Model, feats []*column, rows int) ([][]float64, error) {
	meta := m.Meta()
	nf, no := meta.NFeatures, meta.NOutputs
	outs := make([][]float64, no)
	for k := range outs {
		outs[k] = make([]float64, rows)
		for i := range outs[k] {
			outs[k][i] = math.NaN()
		}
	}
	batch := max(1, meta.MaxBatchRows)
	in := make([]float64, 0, batch*nf)
	idx := make([]int, 0, batch)
	flush := func() error {
		if len(idx) == 0 {
			return nil
		}
		res, err := m.Predict(ctx, in, len(idx))
		if err != nil {
			return fmt.Errorf("running the model on the rows: %w", err)
		}
		for r, i := range idx {
			for k := range no {
				outs[k][i] = res[r*no+k]
			}
		}
		in, idx = in[:0], idx[:0]
		return nil
	}
	for i := range rows {
		complete := true
		for _, c := range feats {
			complete = complete && !math.IsNaN(c.vals[i])
		}
		if !complete {
			continue
		}
		for _, c := range feats {
			in = append(in, c.vals[i])
		}
		idx = append(idx, i)
		if len(idx) == batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return outs, flush()
}

// histogram profiles one column (NaN = missing).
//
// width: n equal bins between the minimum and the maximum; inner edges are
// rounded to 6 decimals (unless that would merge two). quantile: edges at
// the i/n quantiles (linear interpolation), duplicates merged, so there
// may be fewer bins. A constant column gets one bin [v-0.5, v+0.5]; a
// column with no values one empty bin [0, 1]. Counts follow
// serve.Histogram.Bin, the rule drift uses for served values.
func histogram(name string, col []float64, n int, method string) serve.Histogram {
	vals := make([]float64, 0, len(col))
	for _, v := range col {
		if !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	h := serve.Histogram{Name: name, Missing: int64(len(col) - len(vals))}
	if len(vals) == 0 {
		h.Edges, h.Counts = []float64{0, 1}, []int64{0}
		return h
	}
	sort.Float64s(vals)
	lo, hi := vals[0], vals[len(vals)-1]
	switch {
	case lo == hi:
		h.Edges = []float64{lo - 0.5, lo + 0.5}
	case method == "quantile":
		h.Edges = []float64{lo}
		for i := 1; i < n; i++ {
			q := quantile(vals, float64(i)/float64(n))
			if q > h.Edges[len(h.Edges)-1] && q < hi {
				h.Edges = append(h.Edges, q)
			}
		}
		h.Edges = append(h.Edges, hi)
	default:
		h.Edges = equalEdges(lo, hi, n, true)
		if !increasing(h.Edges) {
			h.Edges = equalEdges(lo, hi, n, false)
		}
		if !increasing(h.Edges) {
			h.Edges = slices.Compact(h.Edges)
		}
	}
	h.Counts = make([]int64, len(h.Edges)-1)
	var sum float64
	for _, v := range vals {
		h.Counts[h.Bin(v)]++
		sum += v
	}
	mean := sum / float64(len(vals))
	var ss float64
	for _, v := range vals {
		ss += (v - mean) * (v - mean)
	}
	h.Mean = round6(mean)
	h.Std = round6(math.Sqrt(ss / float64(len(vals))))
	return h
}

func equalEdges(lo, hi float64, n int, round bool) []float64 {
	e := make([]float64, n+1)
	for i := range e {
		e[i] = lo + (hi-lo)*float64(i)/float64(n)
		if round {
			e[i] = round6(e[i])
		}
	}
	e[0], e[n] = lo, hi
	return e
}

func increasing(e []float64) bool {
	for i := 1; i < len(e); i++ {
		if !(e[i] > e[i-1]) {
			return false
		}
	}
	return true
}

// quantile of sorted values, linear interpolation between closest ranks.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i] + f*(sorted[i+1]-sorted[i])
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

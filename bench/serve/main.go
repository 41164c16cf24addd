//go:build unix

// Command serve is the serving benchmark behind `make bench`
// (go run ./bench/serve; see docs/serving.md and docs/performance.md).
//
// It starts bin/mlbox on a temporary data directory, logs, registers and
// aliases (champion) the iris-go and forest-rust examples with
// `mlbox models log`, waits until /models/{name}/predict answers, and
// measures over HTTP with JSON bodies of one row:
//
//   - closed loop: req/s, p50 and p99 at fixed concurrencies (8 and 16);
//   - open loop: the latency at 70% of each endpoint's measured peak, with
//     requests sent on a fixed schedule (latency counts from the scheduled
//     time, so queueing is not hidden);
//   - in process: `go test -bench PredictRow ./serve/` (µs per row);
//   - the baseline: `mlflow models serve` of the equivalent scikit-learn
//     model (LogisticRegression on iris), /invocations, same loads.
//
// Each measurement is the median of --repeat runs.
//
//	go run ./bench/serve [--mlbox bin/mlbox | --url URL] [--concurrency 8,16]
//	                     [--duration 5s] [--repeat 3] [--skip-mlflow] [--json FILE]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type config struct {
	url, mlbox, cli     string
	duration, warmup    time.Duration
	conc                []int
	repeat              int
	openFrac            float64
	skipMLflow          bool
	skipInProcess       bool
	skipCompiled        bool
	skipLog             bool
	netHTTP             bool
	openConns           int
	mlflow, python      string
	mlflowWorkers       int
	examples            string
	keep, verbose       bool
	jsonPath            string
	benchtime           string
	irisTarget          float64
	irisP99Target       float64
	forestRowTargetNsec float64
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench/serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/serve [flags]\n\nServing benchmark for mlbox, with mlflow models serve as the baseline. See docs/serving.md.\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "", "`URL` of a running mlbox (models are logged into it); default: start --mlbox")
	fs.StringVar(&c.mlbox, "mlbox", "bin/mlbox", "`PATH` of the mlbox binary to start (server --listen 127.0.0.1:<free> --data-dir <temp>)")
	fs.StringVar(&c.cli, "cli", "", "`PATH` of the mlbox binary whose `models log` registers the examples (default: --mlbox)")
	fs.BoolVar(&c.skipLog, "skip-log", false, "with --url: the models iris and forest are already served; log nothing")
	fs.BoolVar(&c.netHTTP, "net-http", false, "drive the load with net/http's client instead of the lighter raw HTTP/1.1 one")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured time per run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before each run")
	conc := fs.String("concurrency", "8,16", "closed-loop concurrencies, comma-separated")
	fs.IntVar(&c.repeat, "repeat", 3, "runs per measurement; the median is reported")
	fs.Float64Var(&c.openFrac, "open-load", 0.7, "open-loop rate as a fraction of the measured peak (0: skip the open loop)")
	fs.IntVar(&c.openConns, "open-conns", 16, "connections carrying the open-loop load")
	fs.BoolVar(&c.skipMLflow, "skip-mlflow", false, "do not measure the mlflow models serve baseline")
	fs.BoolVar(&c.skipInProcess, "skip-inprocess", false, "do not run go test -bench PredictRow ./serve/")
	fs.BoolVar(&c.skipCompiled, "skip-compiled", false, "do not benchmark the scikit-learn models mlbox compiles (random forest, scaler + logistic regression)")
	fs.StringVar(&c.benchtime, "benchtime", "1s", "-benchtime of the in-process benchmark")
	fs.StringVar(&c.mlflow, "mlflow", ".venv/bin/mlflow", "`PATH` of the mlflow CLI (make venv)")
	fs.StringVar(&c.python, "python", ".venv/bin/python", "`PATH` of the Python with mlflow and scikit-learn")
	fs.IntVar(&c.mlflowWorkers, "mlflow-workers", runtime.NumCPU(), "uvicorn workers of mlflow models serve (-w)")
	fs.StringVar(&c.examples, "examples", "examples", "`DIR` holding iris-go/ and forest-rust/")
	fs.BoolVar(&c.keep, "keep-data", false, "keep the temporary directory (data, logs, the sklearn model)")
	fs.BoolVar(&c.verbose, "v", false, "show the output of mlbox models log")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to `FILE`")
	fs.Float64Var(&c.irisTarget, "target-rps", 25000, "target: iris req/s over JSON")
	fs.Float64Var(&c.irisP99Target, "target-p99-ms", 2, "target: iris p99 (ms) at the open-loop load")
	fs.Float64Var(&c.forestRowTargetNsec, "target-row-ns", 5000, "target: forest ns/row in process")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad --concurrency %q", *conc)
		}
		c.conc = append(c.conc, n)
	}
	if c.cli == "" {
		c.cli = c.mlbox
	}
	if c.repeat < 1 || c.duration <= 0 || c.openFrac < 0 || c.openFrac > 1 {
		return nil, fmt.Errorf("bad --repeat, --duration or --open-load")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if rep != nil {
		rep.print(os.Stdout, cfg)
		if cfg.jsonPath != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(cfg.jsonPath, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "bench/serve:", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

// report is everything measured.
type report struct {
	Machine   string            `json:"machine"`
	Settings  map[string]string `json:"settings"`
	Closed    []loadResult      `json:"closed"`
	Open      []loadResult      `json:"open"`
	InProcess []inProcResult    `json:"in_process,omitempty"`
	Compiled  *compiledReport   `json:"compiled,omitempty"`
	Targets   []targetCheck     `json:"targets"`
	Notes     []string          `json:"notes,omitempty"`
}

type inProcResult struct {
	Name     string  `json:"name"`
	NsPerRow float64 `json:"ns_per_row"`
}

type targetCheck struct {
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Limit string  `json:"limit"`
	Met   bool    `json:"met"`
}

const (
	irisRow   = `[5.1, 3.5, 1.4, 0.2]`
	forestRow = `[0.25, -1.5, 0.75, 1.125, -0.5, 2.0, -0.25, 0.5]`
)

func checkPredictions(status int, body []byte) error {
	if status != 200 {
		return fmt.Errorf("HTTP %d: %.300s", status, body)
	}
	var out struct {
		Predictions json.RawMessage `json:"predictions"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Predictions) == 0 {
		return fmt.Errorf("no predictions in %.300s", body)
	}
	return nil
}

func run(ctx context.Context, cfg *config) (*report, error) {
	rep := &report{
		Machine:  fmt.Sprintf("%d CPUs, %s/%s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel()),
		Settings: map[string]string{"duration": cfg.duration.String(), "warmup": cfg.warmup.String(), "repeat": strconv.Itoa(cfg.repeat), "open_load": fmt.Sprint(cfg.openFrac), "concurrency": fmt.Sprint(cfg.conc), "client": clientName(cfg)},
	}
	tmp, err := os.MkdirTemp("", "mlbox-bench-serve-")
	if err != nil {
		return nil, err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "bench/serve: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	// The scikit-learn models mlbox compiles, trained first (their
	// baselines are timed on a quiet machine).
	skDir := filepath.Join(tmp, "sklearn")
	if !cfg.skipCompiled {
		fmt.Fprintln(os.Stderr, "bench/serve: training the scikit-learn models and timing scikit-learn and onnxruntime")
		bl, err := trainSklearn(ctx, cfg, skDir)
		if err != nil {
			return nil, err
		}
		rep.Compiled = &compiledReport{Baselines: bl, CompileState: map[string]string{}}
	}

	// mlbox.
	base := strings.TrimSuffix(cfg.url, "/")
	var srv *proc
	if base == "" {
		fmt.Fprintln(os.Stderr, "bench/serve: starting", cfg.mlbox)
		if srv, err = startMlbox(ctx, cfg, tmp); err != nil {
			return nil, err
		}
		defer srv.stop()
		base = srv.url
	}
	if !cfg.skipLog {
		for _, m := range []struct{ name, dir, profile string }{{"iris", "iris-go", "profile.json"}, {"forest", "forest-rust", ""}} {
			profile := ""
			if m.profile != "" {
				profile = filepath.Join(cfg.examples, m.dir, m.profile)
			}
			fmt.Fprintf(os.Stderr, "bench/serve: mlbox models log %s as %s@champion\n", m.dir, m.name)
			if err := logModel(ctx, cfg, base, m.name, filepath.Join(cfg.examples, m.dir, "model.wasm"), profile); err != nil {
				return nil, err
			}
		}
	}
	targets := []*target{
		{Name: "mlbox iris /predict", URL: base + "/models/iris/predict", body: []byte(`{"data": ` + irisRow + `}`)},
		{Name: "mlbox iris /invocations", URL: base + "/models/iris/invocations", body: []byte(`{"inputs": [` + irisRow + `]}`)},
		{Name: "mlbox forest /predict", URL: base + "/models/forest/predict", body: []byte(`{"data": ` + forestRow + `}`)},
	}
	if rep.Compiled != nil {
		for _, name := range compiledModels {
			fmt.Fprintf(os.Stderr, "bench/serve: registering the %s (MLflow model directory) as sk-%s@champion\n", name, name)
			v, err := registerModelDir(ctx, base, "sk-"+name, filepath.Join(skDir, name))
			if err != nil {
				return nil, err
			}
			state, err := compileState(ctx, base, "sk-"+name, v)
			if err != nil {
				return nil, err
			}
			rep.Compiled.CompileState[name] = state
			if state != "compiled" {
				return nil, fmt.Errorf("sk-%s: %s", name, state)
			}
		}
		body, err := oneRowBody(skDir)
		if err != nil {
			return nil, err
		}
		targets = append(targets,
			&target{Name: "mlbox sklearn forest /invocations", URL: base + "/models/sk-forest/invocations", body: body},
			&target{Name: "mlbox pipeline /invocations", URL: base + "/models/sk-pipeline/invocations", body: body})
	}
	waiter := srv
	if waiter == nil {
		waiter = &proc{name: "mlbox", exited: make(chan struct{})}
	}
	for _, t := range targets {
		t.check, t.netHTTP = checkPredictions, cfg.netHTTP
		if srv != nil {
			t.cpu = srv.cpu
		}
		if err := waiter.waitOK(ctx, t.URL, t.body, 120*time.Second); err != nil {
			if srv != nil {
				fmt.Fprint(os.Stderr, srv.logTail())
			}
			return nil, fmt.Errorf("the endpoint does not answer: %w", err)
		}
	}
	fmt.Fprintln(os.Stderr, "bench/serve: endpoints answer; measuring mlbox")
	closed, open := measure(ctx, cfg, targets)
	rep.Closed, rep.Open = append(rep.Closed, closed...), append(rep.Open, open...)
	srv.stop() // free the CPU for what follows
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	// A restart on the same data: the compiled modules come from the cache.
	if rep.Compiled != nil && srv != nil {
		start := time.Now()
		srv2, err := startMlbox(ctx, cfg, tmp)
		if err != nil {
			return rep, err
		}
		url := srv2.url + "/models/sk-forest/invocations"
		if err := srv2.waitOK(ctx, url, targets[len(targets)-2].body, 120*time.Second); err != nil {
			srv2.stop()
			return rep, err
		}
		rep.Compiled.RestartToServeMs = float64(time.Since(start).Microseconds()) / 1000
		rep.Compiled.RestartCompiled = metricValue(ctx, srv2.url, `mlbox_compile_total{result="compiled"}`)
		rep.Compiled.RestartCached = metricValue(ctx, srv2.url, `mlbox_compile_total{result="cached"}`)
		srv2.stop()
	}

	// The baseline.
	if !cfg.skipMLflow {
		fmt.Fprintln(os.Stderr, "bench/serve: training the scikit-learn baseline and starting mlflow models serve")
		ml, err := startMLflow(ctx, cfg, tmp, "")
		if err != nil {
			rep.Notes = append(rep.Notes, "mlflow baseline failed: "+err.Error())
			fmt.Fprintln(os.Stderr, "bench/serve: mlflow baseline:", err)
		} else {
			t := &target{Name: "mlflow iris /invocations", URL: ml.url + "/invocations", body: []byte(`{"inputs": [` + irisRow + `]}`),
				check: checkPredictions, cpu: ml.cpu, netHTTP: cfg.netHTTP}
			// uvicorn writes a response in two segments without
			// TCP_NODELAY, so a keep-alive client waits ~40 ms for the
			// delayed ACK; a connection per request (what curl does)
			// avoids that. Both are measured; the comparison uses the
			// better one.
			t2 := *t
			t2.Name, t2.newConn = "mlflow iris /invocations new-conn", true
			if err := ml.waitOK(ctx, t.URL, t.body, 60*time.Second); err != nil {
				rep.Notes = append(rep.Notes, "mlflow baseline does not answer: "+err.Error())
			} else {
				fmt.Fprintln(os.Stderr, "bench/serve: measuring mlflow models serve")
				closed, open := measure(ctx, cfg, []*target{t, &t2})
				rep.Closed, rep.Open = append(rep.Closed, closed...), append(rep.Open, open...)
			}
			ml.stop()
		}
		if rep.Compiled != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "bench/serve: mlflow models serve on the pipeline")
			ml, err := startMLflow(ctx, cfg, tmp, filepath.Join(skDir, "pipeline"))
			if err != nil {
				rep.Notes = append(rep.Notes, "mlflow pipeline baseline failed: "+err.Error())
			} else {
				body := targets[len(targets)-1].body
				t := &target{Name: "mlflow pipeline /invocations", URL: ml.url + "/invocations", body: body, check: checkPredictions, cpu: ml.cpu, netHTTP: cfg.netHTTP}
				t2 := *t
				t2.Name, t2.newConn = "mlflow pipeline /invocations new-conn", true
				if err := ml.waitOK(ctx, t.URL, t.body, 60*time.Second); err != nil {
					rep.Notes = append(rep.Notes, "mlflow pipeline baseline does not answer: "+err.Error())
				} else {
					closed, open := measure(ctx, cfg, []*target{t, &t2})
					rep.Closed, rep.Open = append(rep.Closed, closed...), append(rep.Open, open...)
				}
				ml.stop()
			}
		}
	}

	if rep.Compiled != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "bench/serve: go test -run '^$' -bench 'Compile|CompiledLoad|CompiledPredict' ./serve/compile/")
		res, err := compiledInProcess(ctx, cfg, skDir)
		if err != nil {
			rep.Notes = append(rep.Notes, "compiled-model benchmark failed: "+err.Error())
		}
		rep.Compiled.InProcess = res
	}

	if !cfg.skipInProcess && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "bench/serve: go test -run '^$' -bench PredictRow -benchtime", cfg.benchtime, "./serve/")
		res, err := inProcess(ctx, cfg)
		if err != nil {
			rep.Notes = append(rep.Notes, "in-process benchmark failed: "+err.Error())
		}
		rep.InProcess = res
	}
	rep.check(cfg)
	return rep, ctx.Err()
}

// measure runs the closed loops (every target × concurrency, repeated)
// and then the open loops at cfg.openFrac × each target's peak.
func measure(ctx context.Context, cfg *config, targets []*target) (closed, open []loadResult) {
	runs := map[string][]loadResult{}
	key := func(t *target, c int) string { return t.Name + "\x00" + strconv.Itoa(c) }
	for rep := 0; rep < cfg.repeat && ctx.Err() == nil; rep++ {
		for _, t := range targets {
			for _, c := range cfg.conc {
				r := closedLoop(ctx, t, c, cfg.warmup, cfg.duration)
				fmt.Fprintf(os.Stderr, "  run %d  %-26s conc %-3d %8.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d\n", rep+1, t.Name, c, r.RPS, r.P50Ms, r.P99Ms, r.Errors)
				runs[key(t, c)] = append(runs[key(t, c)], r)
			}
		}
	}
	peak := map[*target]float64{}
	for _, t := range targets {
		for _, c := range cfg.conc {
			m := median(runs[key(t, c)])
			closed = append(closed, m)
			peak[t] = max(peak[t], m.RPS)
		}
	}
	if cfg.openFrac == 0 {
		return closed, nil
	}
	for _, t := range targets {
		if peak[t] <= 0 {
			continue
		}
		var rs []loadResult
		for rep := 0; rep < cfg.repeat && ctx.Err() == nil; rep++ {
			r := openLoop(ctx, t, cfg.openFrac*peak[t], cfg.warmup, cfg.duration, cfg.openConns)
			fmt.Fprintf(os.Stderr, "  run %d  %-26s open %7.0f/s  achieved %7.0f/s  p50 %.2f ms  p99 %.2f ms\n", rep+1, t.Name, r.Rate, r.RPS, r.P50Ms, r.P99Ms)
			rs = append(rs, r)
		}
		if len(rs) > 0 {
			open = append(open, median(rs))
		}
	}
	return closed, open
}

var reBench = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+.*?([\d.]+) ns/row`)

// inProcess runs the serve package's PredictRow benchmarks.
func inProcess(ctx context.Context, cfg *config) ([]inProcResult, error) {
	var res []inProcResult
	err := goBench(ctx, cfg, "./serve/", "PredictRow", nil, func(line string) {
		if m := reBench.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			res = append(res, inProcResult{Name: m[1], NsPerRow: v})
		}
	})
	return res, err
}

// goBench runs `go test -bench pattern pkg` (with env added) and hands
// each line of its output to each.
func goBench(ctx context.Context, cfg *config, pkg, pattern string, env []string, each func(line string)) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pattern, "-benchtime", cfg.benchtime, pkg)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		each(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("go test -bench %s: %w", pkg, err)
	}
	return nil
}

func (r *report) find(list []loadResult, name string, conc int) *loadResult {
	for i := range list {
		if list[i].Target == name && (conc == 0 || list[i].Concurrency == conc) {
			return &list[i]
		}
	}
	return nil
}

// bestMLflow names the mlflow variant with the higher peak req/s.
func (r *report) bestMLflow() string {
	best, name := 0.0, ""
	for _, c := range r.Closed {
		if strings.HasPrefix(c.Target, "mlflow ") && c.RPS > best {
			best, name = c.RPS, c.Target
		}
	}
	return name
}

func (r *report) check(cfg *config) {
	best := 0.0
	for _, c := range r.Closed {
		if c.Target == "mlbox iris /predict" {
			best = max(best, c.RPS)
		}
	}
	if best > 0 {
		r.Targets = append(r.Targets, targetCheck{"iris req/s over JSON (/predict, best concurrency)", best, "req/s", fmt.Sprintf(">= %.0f", cfg.irisTarget), best >= cfg.irisTarget})
	}
	if o := r.find(r.Open, "mlbox iris /predict", 0); o != nil {
		r.Targets = append(r.Targets, targetCheck{fmt.Sprintf("iris p99 at %.0f%% of peak (%.0f req/s; svc p99 %.2f ms)", cfg.openFrac*100, o.Rate, o.SvcP99Ms), o.P99Ms, "ms", fmt.Sprintf("< %g", cfg.irisP99Target), o.P99Ms < cfg.irisP99Target && o.Errors == 0})
	}
	r.checkCompiled(cfg)
	for _, p := range r.InProcess {
		if p.Name == "BenchmarkForestPredictRow/serial/batch=1" {
			r.Targets = append(r.Targets, targetCheck{"forest in process (serial, batch=1)", p.NsPerRow / 1000, "µs/row", fmt.Sprintf("<= %g", cfg.forestRowTargetNsec/1000), p.NsPerRow <= cfg.forestRowTargetNsec})
		}
	}
}

func (r *report) print(w io.Writer, cfg *config) {
	fmt.Fprintf(w, "\nmlbox serving benchmark: %s\n", r.Machine)
	fmt.Fprintf(w, "%s per run after %s of warm-up, median of %d; JSON bodies of one row; client: %s.\n", cfg.duration, cfg.warmup, cfg.repeat, clientName(cfg))
	fmt.Fprintf(w, "The driver shares the machine with the server: ")
	fmt.Fprintf(w, "srv/drv cores are the CPU the server (process group) and the driver used per wall second.\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "closed loop\tconc\treq/s\tp50 ms\tp99 ms\tp99.9 ms\tsrv cores\tdrv cores\terrors\t")
	for _, c := range r.Closed {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%d\t\n", c.Target, c.Concurrency, c.RPS, c.P50Ms, c.P99Ms, c.P999Ms, c.ServerCores, c.DriverCores, c.Errors)
	}
	tw.Flush()
	if len(r.Open) > 0 {
		fmt.Fprintf(w, "\nopen loop at %.0f%% of each endpoint's peak, on a fixed schedule over %d connections (latency from the due time; svc p99 from the actual send)\n", cfg.openFrac*100, cfg.openConns)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "open loop\toffered/s\tachieved/s\tp50 ms\tp99 ms\tp99.9 ms\tsvc p99 ms\tlag p99 ms\tsrv cores\terrors\t")
		for _, o := range r.Open {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%d\t\n", o.Target, o.Rate, o.RPS, o.P50Ms, o.P99Ms, o.P999Ms, o.SvcP99Ms, o.LagP99Ms, o.ServerCores, o.Errors)
		}
		tw.Flush()
		fmt.Fprintln(w, "(lag p99: how late requests went out; when it is near p99, the driver, not the server, was behind: short of CPU on a shared machine)")
	}
	for _, c := range append(append([]loadResult{}, r.Closed...), r.Open...) {
		if c.FirstError != "" {
			fmt.Fprintf(w, "first error of %s: %s\n", c.Target, c.FirstError)
		}
	}
	if mlName := r.bestMLflow(); mlName != "" {
		fmt.Fprintf(w, "\nmlbox vs mlflow models serve (scikit-learn LogisticRegression, %d uvicorn workers), iris, req/s\n", cfg.mlflowWorkers)
		fmt.Fprintf(w, "(mlflow: %q, the better of keep-alive and a connection per request):\n", mlName)
		for _, c := range cfg.conc {
			ml := r.find(r.Closed, mlName, c)
			inv := r.find(r.Closed, "mlbox iris /invocations", c)
			pr := r.find(r.Closed, "mlbox iris /predict", c)
			if ml == nil || inv == nil || pr == nil || ml.RPS == 0 {
				continue
			}
			fmt.Fprintf(w, "  conc %-3d  mlflow /invocations %7.0f   mlbox /invocations %7.0f (%.1fx)   mlbox /predict %7.0f (%.1fx)\n",
				c, ml.RPS, inv.RPS, inv.RPS/ml.RPS, pr.RPS, pr.RPS/ml.RPS)
		}
		mo, bo := r.find(r.Open, mlName, 0), r.find(r.Open, "mlbox iris /invocations", 0)
		if mo != nil && bo != nil && bo.P99Ms > 0 {
			fmt.Fprintf(w, "  p99 at %.0f%% of peak: mlflow %.2f ms at %.0f/s, mlbox /invocations %.3f ms at %.0f/s\n", cfg.openFrac*100, mo.P99Ms, mo.Rate, bo.P99Ms, bo.Rate)
		}
	}
	if len(r.InProcess) > 0 {
		fmt.Fprintf(w, "\nin process (go test -run '^$' -bench PredictRow -benchtime %s ./serve/):\n", cfg.benchtime)
		for _, p := range r.InProcess {
			fmt.Fprintf(w, "  %-52s %8.3f µs/row\n", p.Name, p.NsPerRow/1000)
		}
	} else if !cfg.skipInProcess {
		fmt.Fprintf(w, "\nin process: run go test -run '^$' -bench PredictRow ./serve/\n")
	}
	if r.Compiled != nil {
		r.Compiled.print(w)
		if mlName := r.bestMLflowOf("pipeline"); mlName != "" {
			for _, c := range cfg.conc {
				ml, mb := r.find(r.Closed, mlName, c), r.find(r.Closed, "mlbox pipeline /invocations", c)
				if ml != nil && mb != nil && ml.RPS > 0 {
					how := "keep-alive"
					if strings.HasSuffix(mlName, "new-conn") {
						how = "a connection per request"
					}
					fmt.Fprintf(w, "  pipeline /invocations, conc %-3d  mlflow %7.0f req/s (%s)   mlbox %7.0f req/s (%.1fx)\n", c, ml.RPS, how, mb.RPS, mb.RPS/ml.RPS)
				}
			}
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, t := range r.Targets {
			verdict := "MET"
			if !t.Met {
				verdict = "NOT MET"
			}
			fmt.Fprintf(w, "  %-58s %10.3f %-6s (%s)  %s\n", t.What, t.Value, t.Unit, t.Limit, verdict)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func clientName(cfg *config) string {
	if cfg.netHTTP {
		return "net/http"
	}
	return "raw HTTP/1.1 keep-alive"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

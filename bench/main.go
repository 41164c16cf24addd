// Command bench is the load driver behind `make bench`.
//
// It speaks only the MLflow REST API over HTTP and measures four workloads
// (see docs/performance.md):
//
//	a  runs/log-batch ingest, 1000 metrics per request, 8 concurrent clients
//	b  single runs/log-metric requests, 16 concurrent clients
//	c  runs/search over 100k seeded runs (first page, and following pages)
//	d  metrics/get-history of one metric with 100k steps (one response, and
//	   paged the way the Python client does it)
//
// By default it starts `bin/mlbox server` on a free loopback port with a
// temporary data directory and removes both at the end; --url targets an
// already running server instead.
//
//	go run ./bench [--url URL | --mlbox PATH] [--workloads a,b,c,d]
//	               [--duration 10s] [--runs 100000] [--steps 100000]
//	               [--repeat 3] [--json FILE]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

type config struct {
	url      string
	mlbox    string
	keepData bool

	workloads []string
	duration  time.Duration
	warmup    time.Duration
	runs      int
	steps     int
	repeat    int
	jsonPath  string

	batchClients  int
	batchSize     int
	metricClients int
	seedClients   int

	searchRequests int
	searchChains   int
	searchPages    int

	historyRequests int
	historyPage     int

	maxErrors  int
	timeout    time.Duration
	cpuProfile string
	client     string

	settings map[string]string // every flag's effective value, for --json
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench [flags]\n\nLoad driver for mlbox (MLflow REST API). See docs/performance.md.\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "", "`URL` of an already running server (e.g. http://127.0.0.1:5000); default: start --mlbox")
	fs.StringVar(&c.mlbox, "mlbox", "bin/mlbox", "`PATH` of the mlbox binary, started as: PATH server --listen 127.0.0.1:<free port> --data-dir <temp dir> (ignored with --url)")
	fs.BoolVar(&c.keepData, "keep-data", false, "keep the started server's temporary data dir and log (for debugging)")
	wl := fs.String("workloads", "a,b,c,d", "comma-separated workloads to run: a (log-batch), b (log-metric), c (search), d (get-history)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured duration of each throughput run (workloads a, b)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured warm-up before the first run of workloads a and b (0 disables)")
	fs.IntVar(&c.runs, "runs", 100000, "runs seeded for workload c")
	fs.IntVar(&c.steps, "steps", 100000, "steps of the metric seeded for workload d")
	fs.IntVar(&c.repeat, "repeat", 3, "measure each workload N times; the median is the headline")
	fs.StringVar(&c.jsonPath, "json", "", "also write machine-readable results to `FILE`")
	fs.IntVar(&c.batchClients, "batch-clients", 8, "concurrent clients for workload a (each logs to its own run)")
	fs.IntVar(&c.batchSize, "batch-size", 1000, "metrics per log-batch request (workload a and the seeding of d)")
	fs.IntVar(&c.metricClients, "metric-clients", 16, "concurrent clients for workload b (each logs to its own run)")
	fs.IntVar(&c.seedClients, "seed-clients", 8, "concurrent clients used for seeding c and d (not measured)")
	fs.IntVar(&c.searchRequests, "search-requests", 100, "sequential first-page searches per run of workload c")
	fs.IntVar(&c.searchChains, "search-chains", 10, "page chains per run of workload c: a first page (not timed) then --search-pages timed next pages")
	fs.IntVar(&c.searchPages, "search-pages", 4, "next_page_tokens followed per chain in workload c")
	fs.IntVar(&c.historyRequests, "history-requests", 20, "sequential full-history fetches per run and variant of workload d")
	fs.IntVar(&c.historyPage, "history-page", 25000, "max_results of the paged get-history variant (the Python client uses 25000)")
	fs.IntVar(&c.maxErrors, "max-errors", 10, "abort when a workload sees more failed requests than this")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "per-request timeout")
	fs.StringVar(&c.client, "client", "raw", "HTTP client of the throughput workloads a and b: raw (a minimal HTTP/1.1 keep-alive client, one goroutine per connection, so the driver takes less CPU from the server it shares the machine with) or net/http (Go's http.Client)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the driver itself to `FILE` (to check it is not the bottleneck)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	seen := map[string]bool{}
	for _, w := range strings.Split(*wl, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		if w != "a" && w != "b" && w != "c" && w != "d" {
			return nil, fmt.Errorf("--workloads: unknown workload %q (want a subset of a,b,c,d)", w)
		}
		if !seen[w] {
			seen[w] = true
			c.workloads = append(c.workloads, w)
		}
	}
	if len(c.workloads) == 0 {
		return nil, errors.New("--workloads: nothing to run")
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"runs", c.runs}, {"steps", c.steps}, {"repeat", c.repeat}, {"batch-clients", c.batchClients},
		{"batch-size", c.batchSize}, {"metric-clients", c.metricClients}, {"seed-clients", c.seedClients},
		{"search-requests", c.searchRequests}, {"history-requests", c.historyRequests}, {"history-page", c.historyPage}} {
		if p.v < 1 {
			return nil, fmt.Errorf("--%s must be ≥ 1", p.name)
		}
	}
	if c.duration <= 0 {
		return nil, errors.New("--duration must be > 0")
	}
	if c.client != "raw" && c.client != "net/http" {
		return nil, fmt.Errorf("--client: want raw or net/http, got %q", c.client)
	}
	c.url = strings.TrimRight(c.url, "/")
	c.settings = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { c.settings[f.Name] = f.Value.String() })
	return c, nil
}

// report is everything printed at the end and written with --json.
type report struct {
	Command       string            `json:"command"`
	GoVersion     string            `json:"go_version"`
	OS            string            `json:"os"`
	Arch          string            `json:"arch"`
	CPUModel      string            `json:"cpu_model,omitempty"`
	NumCPU        int               `json:"num_cpu"`
	GOMAXPROCS    int               `json:"gomaxprocs"`
	URL           string            `json:"url"`
	ServerBinary  string            `json:"server_binary,omitempty"`
	ServerVersion string            `json:"server_version,omitempty"`
	Started       time.Time         `json:"started"`
	Finished      time.Time         `json:"finished"`
	Settings      map[string]string `json:"settings"`
	Seeding       []*seedResult     `json:"seeding,omitempty"`
	Results       []*result         `json:"results"`
	Error         string            `json:"error,omitempty"`
}

type seedResult struct {
	Workload  string  `json:"workload"`
	What      string  `json:"what"`
	Items     int     `json:"items"`
	Requests  int     `json:"requests"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"items_per_second"`
	Unit      string  `json:"unit"`
}

func main() { os.Exit(run()) }

func run() int {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Output piped into e.g. `head` must not kill the driver before it has
	// stopped the server and removed the temp dir: writes just fail instead.
	signal.Ignore(syscall.SIGPIPE)
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: --cpuprofile:", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	rep := &report{
		Command:    commandLine(),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		CPUModel:   cpuModel(),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Started:    time.Now(),
		Settings:   cfg.settings,
	}
	fmt.Printf("mlbox bench — MLflow REST API load driver\n")
	fmt.Printf("command:    %s\n", rep.Command)
	fmt.Printf("go:         %s %s/%s\n", rep.GoVersion, rep.OS, rep.Arch)
	if rep.CPUModel != "" {
		fmt.Printf("cpu:        %s\n", rep.CPUModel)
	}
	fmt.Printf("cores:      NumCPU=%d GOMAXPROCS=%d (driver and server share the machine)\n", rep.NumCPU, rep.GOMAXPROCS)
	fmt.Printf("settings:   workloads=%s duration=%s warmup=%s repeat=%d runs(c)=%d steps(d)=%d client(a,b)=%s\n",
		strings.Join(cfg.workloads, ","), cfg.duration, cfg.warmup, cfg.repeat, cfg.runs, cfg.steps, cfg.client)

	var srv *server
	base := cfg.url
	if base == "" {
		srv, err = startServer(ctx, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer srv.stop()
		base = srv.url
		rep.ServerBinary = cfg.mlbox
		fmt.Printf("server:     started %s (pid %d), data dir %s\n", cfg.mlbox, srv.cmd.Process.Pid, srv.dataDir)
	}
	rep.URL = base
	b := &bench{cfg: cfg, rep: rep, srv: srv, c: newClient(base, max(cfg.batchClients, cfg.metricClients, cfg.seedClients), cfg.timeout)}
	defer b.c.close()
	if v := b.serverVersion(ctx); v != "" {
		rep.ServerVersion = v
	}
	fmt.Printf("target:     %s", base)
	if rep.ServerVersion != "" {
		fmt.Printf(" (GET /version: %s)", rep.ServerVersion)
	}
	fmt.Printf("\n\n")

	var runErr error
	for _, w := range cfg.workloads {
		if runErr = b.runWorkload(ctx, w); runErr != nil {
			break
		}
	}
	if runErr == nil && ctx.Err() != nil {
		runErr = errors.New("interrupted")
	}
	rep.Finished = time.Now()
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	printSummary(os.Stdout, rep, cfg)
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "\nbench: ABORTED: %v\n", runErr)
	}
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "bench: writing --json:", err)
			return 1
		}
		fmt.Printf("\nresults written to %s\n", cfg.jsonPath)
	}
	if runErr != nil {
		return 1
	}
	return 0
}

func writeJSON(path string, rep *report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (b *bench) serverVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := b.c.get(ctx, "/version")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode != 200 {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// commandLine is the exact argument vector, shell-quoted; argv[0] is reduced
// to its base name because `go run` puts it in a temporary build directory.
func commandLine() string {
	parts := []string{filepath.Base(os.Args[0])}
	for _, a := range os.Args[1:] {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Command startup measures how long mlbox takes to start on a store of a
// given size: the time from exec to the first 200 of /livez (the port is
// bound) and of /readyz (the store is ready: the run index is built).
//
// It seeds one data directory through the MLflow REST API, growing it to
// each --sizes in turn (every run with --params params and --metrics
// metrics), and after each size restarts the server --repeat times, after
// a clean stop (SIGTERM) and after a crash (SIGKILL). With --baseline, the
// same is measured for another mlbox binary on a copy of the directory, in
// the same run, and the table gives the ratio. See docs/performance.md.
//
//	go run ./bench/startup --mlbox bin/mlbox [--baseline PATH]
//	                       [--sizes 1000,10000,100000] [--repeat 5]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mlbox/bench/internal/benchutil"
)

var (
	mlboxBin = flag.String("mlbox", "bin/mlbox", "`PATH` of the mlbox binary measured")
	baseline = flag.String("baseline", "", "`PATH` of a second mlbox binary measured on a copy of the same data (e.g. the last release); empty: none")
	sizesArg = flag.String("sizes", "1000,10000,100000", "comma-separated store sizes in runs, measured in increasing order")
	params   = flag.Int("params", 20, "params per seeded run")
	metrics  = flag.Int("metrics", 50, "metrics per seeded run (one value each)")
	repeat   = flag.Int("repeat", 5, "restarts measured per size, binary and kind; the median is the headline")
	clients  = flag.Int("clients", 8, "concurrent clients seeding runs")
	workDir  = flag.String("dir", "", "`DIR` for the data directories (default: a temporary directory, removed at the end)")
	jsonPath = flag.String("json", "", "also write the results to `FILE`")
	limit    = flag.Duration("timeout", 5*time.Minute, "give up on a start that is not ready within this time")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench/startup [flags]\n\nStart-up time of mlbox by store size. See docs/performance.md.\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

type sample struct {
	Live  time.Duration `json:"live_ns"`
	Ready time.Duration `json:"ready_ns"`
}

type row struct {
	Runs    int      `json:"runs"`
	Binary  string   `json:"binary"`
	Kind    string   `json:"kind"` // "restart" or "after kill -9"
	Samples []sample `json:"samples"`
	DBBytes int64    `json:"db_bytes"`
}

func (r *row) median(f func(sample) time.Duration) time.Duration {
	ds := make([]time.Duration, len(r.Samples))
	for i, s := range r.Samples {
		ds[i] = f(s)
	}
	slices.Sort(ds)
	if len(ds) == 0 {
		return 0
	}
	return ds[len(ds)/2]
}

func run() error {
	var sizes []int
	for _, f := range strings.Split(*sizesArg, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--sizes: bad size %q", f)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	if *repeat < 1 || *clients < 1 || *params < 0 || *metrics < 0 {
		return errors.New("--repeat and --clients must be ≥ 1, --params and --metrics ≥ 0")
	}
	bins := []string{*mlboxBin}
	if *baseline != "" {
		bins = append(bins, *baseline)
	}
	for _, b := range bins {
		if st, err := os.Stat(b); err != nil || st.IsDir() {
			return fmt.Errorf("mlbox binary %q not found (build it first, e.g. `make build`)", b)
		}
	}
	dir := *workDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mlbox-startup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	data := filepath.Join(dir, "data")
	fmt.Printf("mlbox start-up: %s, %d cores, GOMAXPROCS=%d; runs with %d params and %d metrics; median of %d\n",
		runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), *params, *metrics, *repeat)
	fmt.Printf("measured: %s", *mlboxBin)
	if *baseline != "" {
		fmt.Printf("; baseline: %s (on a copy of the same data)", *baseline)
	}
	fmt.Print("\n\n")

	var rows []*row
	seeded := 0
	for _, n := range sizes {
		t0 := time.Now()
		if err := seed(data, seeded, n); err != nil {
			return fmt.Errorf("seeding %d runs: %w", n, err)
		}
		fmt.Printf("seeded %d → %d runs in %.1fs\n", seeded, n, time.Since(t0).Seconds())
		seeded = n
		for i, bin := range bins {
			d := data
			if i > 0 {
				// The baseline gets its own copy: a binary may leave the file
				// in a state the other would pay for at its next open.
				d = filepath.Join(dir, "baseline")
				os.RemoveAll(d)
				if out, err := exec.Command("cp", "-a", data, d).CombinedOutput(); err != nil {
					return fmt.Errorf("copying the data dir: %v: %s", err, out)
				}
			}
			for _, kind := range []string{"restart", "after kill -9"} {
				r := &row{Runs: n, Binary: bin, Kind: kind}
				for range *repeat {
					if kind != "restart" {
						p, _, err := startAndWait(bin, d)
						if err != nil {
							return err
						}
						p.kill()
					}
					p, s, err := startAndWait(bin, d)
					if err != nil {
						return err
					}
					if err := p.stop(); err != nil {
						return err
					}
					r.Samples = append(r.Samples, s)
				}
				if st, err := os.Stat(filepath.Join(d, "mlbox.db")); err == nil {
					r.DBBytes = st.Size()
				}
				name := "mlbox"
				if i > 0 {
					name = "baseline"
				}
				fmt.Printf("  %7d runs  %-8s  %-14s live %7.3fs  ready %7.3fs\n", n, name, kind,
					r.median(func(s sample) time.Duration { return s.Live }).Seconds(), r.median(func(s sample) time.Duration { return s.Ready }).Seconds())
				rows = append(rows, r)
			}
			if i > 0 {
				os.RemoveAll(d)
			}
		}
	}

	fmt.Printf("\n%-8s %-14s %10s %10s", "runs", "start", "live", "ready")
	if *baseline != "" {
		fmt.Printf(" %14s %10s", "baseline ready", "ratio")
	}
	fmt.Println()
	for _, r := range rows {
		if r.Binary != *mlboxBin {
			continue
		}
		ready := r.median(func(s sample) time.Duration { return s.Ready })
		fmt.Printf("%-8d %-14s %9.3fs %9.3fs", r.Runs, r.Kind, r.median(func(s sample) time.Duration { return s.Live }).Seconds(), ready.Seconds())
		for _, b := range rows {
			if b.Binary == *baseline && b.Runs == r.Runs && b.Kind == r.Kind {
				bready := b.median(func(s sample) time.Duration { return s.Ready })
				fmt.Printf(" %13.3fs %9.2f×", bready.Seconds(), ready.Seconds()/bready.Seconds())
			}
		}
		fmt.Println()
	}
	if *jsonPath != "" {
		out, _ := json.MarshalIndent(map[string]any{"cores": runtime.NumCPU(), "params": *params, "metrics": *metrics, "rows": rows}, "", "  ")
		return os.WriteFile(*jsonPath, out, 0o644)
	}
	return nil
}

// proc is a started server.
type proc struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
	log    *bytes.Buffer
}

func start(bin, data string) (*proc, time.Time, error) {
	port, err := benchutil.Port()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !strings.ContainsRune(bin, filepath.Separator) {
		bin = "./" + bin
	}
	p := &proc{url: "http://127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}), log: &bytes.Buffer{}}
	p.cmd = exec.Command(bin, "server", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", data)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, t0, err
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	return p, t0, nil
}

// startAndWait starts the server and polls /livez and /readyz every
// millisecond until both have answered 200.
func startAndWait(bin, data string) (*proc, sample, error) {
	var s sample
	p, t0, err := start(bin, data)
	if err != nil {
		return nil, s, err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2}}
	defer hc.CloseIdleConnections()
	ok := func(path string) bool {
		resp, err := hc.Get(p.url + path)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for s.Ready == 0 {
		select {
		case <-p.exited:
			return nil, s, fmt.Errorf("%s exited while starting: %s", bin, tail(p.log.String()))
		default:
		}
		if time.Since(t0) > *limit {
			p.kill()
			return nil, s, fmt.Errorf("%s not ready within %s", bin, *limit)
		}
		if s.Live == 0 && ok("/livez") {
			s.Live = time.Since(t0)
		}
		if s.Live != 0 && ok("/readyz") {
			s.Ready = time.Since(t0)
			break
		}
		time.Sleep(time.Millisecond)
	}
	return p, s, nil
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

func (p *proc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(60 * time.Second):
		p.kill()
		return fmt.Errorf("server did not stop within 60s of SIGTERM: %s", tail(p.log.String()))
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// seed grows the store in data from have to want runs, through the API of
// the measured binary.
func seed(data string, have, want int) error {
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	p, _, err := startAndWait(*mlboxBin, data)
	if err != nil {
		return err
	}
	defer p.stop()
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: *clients}}
	defer hc.CloseIdleConnections()
	post := func(path string, body any, out any) error {
		b, _ := json.Marshal(body)
		resp, err := hc.Post(p.url+"/api/2.0/mlflow/"+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, raw)
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}
	exp := "startup"
	var got struct {
		ExperimentID string `json:"experiment_id"`
		Experiment   struct {
			ExperimentID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	if have == 0 {
		err = post("experiments/create", map[string]any{"name": exp}, &got)
	} else {
		resp, gerr := hc.Get(p.url + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=" + exp)
		if gerr != nil {
			return gerr
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		got.ExperimentID = got.Experiment.ExperimentID
	}
	if err != nil {
		return err
	}
	if got.ExperimentID == "" {
		return errors.New("no experiment id")
	}
	type kv struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	type metric struct {
		Key       string  `json:"key"`
		Value     float64 `json:"value"`
		Timestamp int64   `json:"timestamp"`
		Step      int64   `json:"step"`
	}
	var next atomic.Int64
	next.Store(int64(have))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(want) {
					return
				}
				var run struct {
					Run struct {
						Info struct {
							RunID string `json:"run_id"`
						} `json:"info"`
					} `json:"run"`
				}
				err := post("runs/create", map[string]any{"experiment_id": got.ExperimentID, "start_time": 1_700_000_000_000 + i, "run_name": "r" + strconv.FormatInt(i, 10)}, &run)
				if err == nil {
					ps := make([]kv, *params)
					for j := range ps {
						ps[j] = kv{"p" + strconv.Itoa(j), strconv.FormatInt((i*31+int64(j))%97, 10)}
					}
					ms := make([]metric, *metrics)
					for j := range ms {
						ms[j] = metric{"m" + strconv.Itoa(j), float64((i*7+int64(j))%1000) / 1000, 1_700_000_000_000 + i, 0}
					}
					err = post("runs/log-batch", map[string]any{"run_id": run.Run.Info.RunID, "params": ps, "metrics": ms}, nil)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mlbox/bench/internal/benchutil"
)

// proc is a server process the driver started, in its own process group
// (so that MLflow's uvicorn workers are stopped with it).
type proc struct {
	name    string
	cmd     *exec.Cmd
	url     string
	logPath string
	exited  chan struct{}
	waitErr error
}

func startProc(name string, cmd *exec.Cmd, url, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, url: url, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitOK polls url until it answers 200 (with body, if not nil, POSTed).
func (p *proc) waitOK(ctx context.Context, url string, body []byte, limit time.Duration) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited: %v", p.name, p.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		var resp *http.Response
		var err error
		if body == nil {
			resp, err = hc.Get(url)
		} else {
			resp, err = hc.Post(url, "application/json", strings.NewReader(string(body)))
		}
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		select {
		case <-time.After(200 * time.Millisecond):
		case <-p.exited:
		case <-ctx.Done():
		}
	}
	return fmt.Errorf("%s: no 200 from %s within %s (last: %v)", p.name, url, limit, last)
}

// stop sends SIGTERM to the process group, then SIGKILL after 15 s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	pid := p.cmd.Process.Pid // also the process group's id
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			fmt.Fprintf(os.Stderr, "bench: %s did not exit within 15s of SIGTERM; killing it\n", p.name)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	// Whatever is left of the group (uvicorn workers outlive their parent
	// for a moment).
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// cpu is the CPU time of the process group so far.
func (p *proc) cpu() (time.Duration, bool) { return groupCPUTime(p.cmd.Process.Pid) }

func (p *proc) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return "--- " + p.name + " log (tail) ---\n" + string(data) + "\n"
}

// binPath makes a relative path executable by exec (which would search
// $PATH for a bare name).
func binPath(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil || st.IsDir() {
		return "", fmt.Errorf("%q not found", p)
	}
	// Absolute, since some children run in another directory.
	return filepath.Abs(p)
}

func startMlbox(ctx context.Context, cfg *config, tmp string) (*proc, error) {
	bin, err := binPath(cfg.mlbox)
	if err != nil {
		return nil, fmt.Errorf("mlbox binary: %w (build it with `make build`, or pass --mlbox PATH or --url URL)", err)
	}
	port, err := benchutil.Port()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(tmp, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", data, "--log-level", "warn")
	p, err := startProc("mlbox", cmd, "http://"+addr, filepath.Join(tmp, "mlbox.log"))
	if err != nil {
		return nil, err
	}
	if err := p.waitOK(ctx, p.url+"/health", nil, 60*time.Second); err != nil {
		fmt.Fprint(os.Stderr, p.logTail())
		p.stop()
		return nil, err
	}
	return p, nil
}

// logModel runs `mlbox models log` (the CLI code path) against url.
func logModel(ctx context.Context, cfg *config, url, name, wasm, profile string) error {
	bin, err := binPath(cfg.cli)
	if err != nil {
		return fmt.Errorf("mlbox CLI: %w", err)
	}
	args := []string{"models", "log", "--tracking-uri", url, "--experiment", "bench-serve", "--register", name, "--alias", "champion"}
	if profile != "" {
		args = append(args, "--profile", profile)
	}
	out, err := exec.CommandContext(ctx, bin, append(args, wasm)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mlbox models log %s: %v\n%s", wasm, err, out)
	}
	if cfg.verbose {
		fmt.Fprintf(os.Stderr, "%s", out)
	}
	return nil
}

// mlflowTrain is the baseline model: scikit-learn's LogisticRegression on
// iris (the data set ships with scikit-learn), saved as an MLflow model.
const mlflowTrain = `import sys, warnings
warnings.filterwarnings("ignore")
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(X, y)
print("training accuracy", model.score(X, y))
mlflow.sklearn.save_model(model, sys.argv[1])
`

// startMLflow starts `mlflow models serve` on modelDir, or when it is ""
// on the iris baseline model, which it trains and saves first.
func startMLflow(ctx context.Context, cfg *config, tmp, modelDir string) (*proc, error) {
	py, err := binPath(cfg.python)
	if err != nil {
		return nil, fmt.Errorf("python: %w (make venv, or pass --python, or --skip-mlflow)", err)
	}
	mlflow, err := binPath(cfg.mlflow)
	if err != nil {
		return nil, fmt.Errorf("mlflow: %w (make venv, or pass --mlflow, or --skip-mlflow)", err)
	}
	if modelDir == "" {
		script := filepath.Join(tmp, "train.py")
		if err := os.WriteFile(script, []byte(mlflowTrain), 0o644); err != nil {
			return nil, err
		}
		modelDir = filepath.Join(tmp, "sklearn-iris")
		train := exec.CommandContext(ctx, py, script, modelDir)
		train.Dir = tmp
		train.Env = append(os.Environ(), "MLFLOW_TRACKING_URI=file://"+filepath.Join(tmp, "mlruns"))
		if out, err := train.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("training the baseline: %v\n%s", err, out)
		}
	}
	port, err := benchutil.Port()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(mlflow, "models", "serve", "-m", modelDir, "--env-manager", "local",
		"-p", strconv.Itoa(port), "--host", "127.0.0.1", "-w", strconv.Itoa(cfg.mlflowWorkers))
	cmd.Dir = tmp
	// mlflow execs uvicorn by name: the venv's bin must be on PATH.
	cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI=file://"+filepath.Join(tmp, "mlruns"),
		"PATH="+filepath.Dir(mlflow)+string(os.PathListSeparator)+os.Getenv("PATH"))
	p, err := startProc("mlflow", cmd, "http://127.0.0.1:"+strconv.Itoa(port), filepath.Join(tmp, "mlflow.log"))
	if err != nil {
		return nil, err
	}
	if err := p.waitOK(ctx, p.url+"/ping", nil, 180*time.Second); err != nil {
		fmt.Fprint(os.Stderr, p.logTail())
		p.stop()
		return nil, err
	}
	return p, nil
}

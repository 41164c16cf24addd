package main

import (
	"context"
	"errors"
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

// server is an mlbox process started by the driver.
type server struct {
	cmd     *exec.Cmd
	url     string
	tmpDir  string
	dataDir string
	logPath string
	keep    bool
	exited  chan struct{}
	waitErr error
}

func startServer(ctx context.Context, cfg *config) (*server, error) {
	bin := cfg.mlbox
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return nil, fmt.Errorf("mlbox binary %q not found (build it first, e.g. `make build`, or pass --mlbox PATH or --url URL)", bin)
	}
	if !strings.ContainsRune(bin, filepath.Separator) {
		bin = "." + string(filepath.Separator) + bin // exec would search $PATH otherwise
	}
	port, err := benchutil.Port()
	if err != nil {
		return nil, fmt.Errorf("finding a free port: %w", err)
	}
	tmp, err := os.MkdirTemp("", "mlbox-bench-")
	if err != nil {
		return nil, err
	}
	s := &server{
		tmpDir:  tmp,
		dataDir: filepath.Join(tmp, "data"),
		logPath: filepath.Join(tmp, "server.log"),
		keep:    cfg.keepData,
		url:     "http://127.0.0.1:" + strconv.Itoa(port),
		exited:  make(chan struct{}),
	}
	if err := os.Mkdir(s.dataDir, 0o755); err != nil {
		s.cleanup()
		return nil, err
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		s.cleanup()
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	s.cmd = exec.Command(bin, "server", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", s.dataDir)
	s.cmd.Stdout = logf
	s.cmd.SysProcAttr = childAttrs() // Linux: the server gets SIGTERM if the driver dies
	s.cmd.Stderr = logf
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "bench: server did not become healthy: %v\n%s", err, s.logTail())
		s.stop()
		return nil, errors.New("server start failed")
	}
	return s, nil
}

func (s *server) waitHealthy(ctx context.Context, limit time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited: %v", s.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := hc.Get(s.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /health: HTTP %d", resp.StatusCode)
		}
		last = err
		select {
		case <-time.After(100 * time.Millisecond):
		case <-s.exited:
		case <-ctx.Done():
		}
	}
	return fmt.Errorf("no healthy answer within %s (last: %v)", limit, last)
}

// stop terminates the server (SIGTERM, then SIGKILL after 15 s) and removes
// the temporary directory unless --keep-data was given.
func (s *server) stop() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			fmt.Fprintln(os.Stderr, "bench: server did not exit within 15s of SIGTERM; killing it")
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	s.cleanup()
}

func (s *server) cleanup() {
	if s.keep {
		fmt.Fprintf(os.Stderr, "bench: kept server data dir %s and log %s\n", s.dataDir, s.logPath)
		return
	}
	_ = os.RemoveAll(s.tmpDir)
}

func (s *server) logTail() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return "--- server log (tail) ---\n" + string(data) + "\n-------------------------\n"
}

// cpuTime returns the server's consumed user+system CPU time, if known.
func (s *server) cpuTime() (time.Duration, bool) {
	if s == nil {
		return 0, false
	}
	return procCPUTime(s.cmd.Process.Pid)
}

// procCPUTime reads utime+stime of a process from /proc (Linux only).
func procCPUTime(pid int) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 { // f[0] is field 3 (state); utime is field 14, stime 15
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clkTck = 100 // USER_HZ; 100 on every mainstream Linux
	return time.Duration(ut+st) * time.Second / clkTck, true
}

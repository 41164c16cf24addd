package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the mlbox binary (the Prometheus
// trick): with MLBOX_TEST_MAIN=1 it runs main() with the given arguments.
func TestMain(m *testing.M) {
	if os.Getenv("MLBOX_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	log  *syncBuf
	done chan struct{}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var addrRe = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)

// startMlbox runs `mlbox server` as a child process on a free port and
// waits for the "listening" log line with the bound address.
func startMlbox(t *testing.T, dataDir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MLBOX_TEST_MAIN=1")
	pr, pw := io.Pipe()
	p := &proc{cmd: cmd, log: &syncBuf{}, done: make(chan struct{})}
	cmd.Stderr = pw
	cmd.Stdout = p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.log.Write([]byte(line + "\n"))
			if m := addrRe.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-found:
	case <-p.done:
		t.Fatalf("mlbox exited: %s", p.log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("mlbox did not start: %s", p.log.String())
	}
	return p
}

func post(addr, path string, body any) (int, []byte, error) {
	raw, _ := json.Marshal(body)
	resp, err := http.Post("http://"+addr+"/api/2.0/mlflow"+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// TestAcknowledgedWritesSurviveKill9 writes from many clients, kills the
// server with SIGKILL mid-stream, restarts it and checks that every write
// that was answered 200 is there.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	p := startMlbox(t, dir)
	st, body, err := post(p.addr, "/runs/create", map[string]any{"experiment_id": "0"})
	if err != nil || st != 200 {
		t.Fatalf("create run: %d %s %v", st, body, err)
	}
	var cr struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	json.Unmarshal(body, &cr)
	runID := cr.Run.Info.RunID

	var acked sync.Map // "key/step" -> true
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("c%d", c)
				st, _, err := post(p.addr, "/runs/log-metric", map[string]any{"run_id": runID, "key": key, "value": i, "timestamp": i, "step": i})
				if err != nil {
					return // server gone
				}
				if st == 200 {
					acked.Store(fmt.Sprintf("%s/%d", key, i), true)
					n.Add(1)
				}
			}
		}()
	}
	for n.Load() < 300 {
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	close(stop)
	wg.Wait()

	p2 := startMlbox(t, dir)
	have := map[string]bool{}
	for c := 0; c < 8; c++ {
		key := fmt.Sprintf("c%d", c)
		resp, err := http.Get("http://" + p2.addr + "/api/2.0/mlflow/metrics/get-history?run_id=" + runID + "&metric_key=" + key)
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Metrics []struct{ Step int64 } `json:"metrics"`
		}
		json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		for _, m := range h.Metrics {
			have[fmt.Sprintf("%s/%d", key, m.Step)] = true
		}
	}
	missing := 0
	maxAcked := map[string]int64{}
	acked.Range(func(k, _ any) bool {
		if !have[k.(string)] {
			missing++
		}
		key, step, _ := strings.Cut(k.(string), "/")
		st, _ := strconv.ParseInt(step, 10, 64)
		maxAcked[key] = max(maxAcked[key], st)
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost after kill -9", missing, n.Load())
	}
	// The latest values (get-run, and search through the run index) are
	// at least the last acknowledged step of each key.
	resp, err := http.Get("http://" + p2.addr + "/api/2.0/mlflow/runs/get?run_id=" + runID)
	if err != nil {
		t.Fatal(err)
	}
	var gr struct {
		Run struct {
			Data struct {
				Metrics []struct {
					Key  string
					Step int64
				} `json:"metrics"`
			} `json:"data"`
		} `json:"run"`
	}
	json.NewDecoder(resp.Body).Decode(&gr)
	resp.Body.Close()
	latest := map[string]int64{}
	for _, m := range gr.Run.Data.Metrics {
		latest[m.Key] = m.Step
	}
	for key, step := range maxAcked {
		if latest[key] < step {
			t.Errorf("latest %s is step %d after restart; step %d was acknowledged", key, latest[key], step)
		}
		st, body, err := post(p2.addr, "/runs/search", map[string]any{"experiment_ids": []string{"0"}, "filter": fmt.Sprintf("metrics.%s >= %d", key, step)})
		if err != nil || st != 200 || !strings.Contains(string(body), runID) {
			t.Errorf("search metrics.%s >= %d after restart: %d %s %v", key, step, st, body, err)
		}
	}
	t.Logf("%d acknowledged writes all survived kill -9", n.Load())
}

func TestSecondProcessFailsFast(t *testing.T) {
	dir := t.TempDir()
	startMlbox(t, dir)
	cmd := exec.Command(os.Args[0], "server", "--listen", "127.0.0.1:0", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "MLBOX_TEST_MAIN=1", "MLBOX_STORE_OPEN_TIMEOUT=1s")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("second process started: %s", out)
	}
	if !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("unclear error: %s", out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestGracefulShutdown(t *testing.T) {
	p := startMlbox(t, t.TempDir())
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d: %s", code, p.log.String())
	}
	if !strings.Contains(p.log.String(), "msg=stopped") {
		t.Fatalf("no stop log: %s", p.log.String())
	}
}

func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/good.toml"
	os.WriteFile(good, []byte("listen = \"127.0.0.1:6000\"\n[artifacts.s3]\nsecret_key = \"hunter2hunter2\"\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"config", "check", "--config", good}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `127.0.0.1:6000`) || strings.Contains(out.String(), "hunter2") {
		t.Fatalf("output: %s", out.String())
	}
	bad := dir + "/bad.toml"
	os.WriteFile(bad, []byte("listen = \"127.0.0.1:6000\"\nlistn = 1\n"), 0o600)
	out.Reset()
	errb.Reset()
	if code := run([]string{"config", "check", "--config", bad}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "listn") {
		t.Fatalf("bad config: exit %d, %s", code, errb.String())
	}
}

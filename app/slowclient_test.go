package app

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// metricValue reads one series from the app's metrics set (not over HTTP:
// the connection limit may be exhausted on purpose).
func metricValue(t *testing.T, a *App, series string) string {
	t.Helper()
	var b bytes.Buffer
	a.metrics.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// stall opens a connection and sends the start of a request, then nothing.
func stall(t *testing.T, addr, partial string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if partial != "" {
		if _, err := c.Write([]byte(partial)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// readAll reads what the server sends until it closes the connection, or
// fails the test if it has not closed it by the deadline.
func readUntilClosed(c net.Conn, deadline time.Time) (string, error) {
	_ = c.SetReadDeadline(deadline)
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && strings.Contains(err.Error(), "reset") {
		err = nil // closed at accept with data unread: an RST is a close too
	}
	return string(b), err
}

// TestStalledBodiesAreDropped: many connections that send headers and part
// of a body and then stop are dropped after http.read_body_timeout, whether
// the handler reads the body or not, and so are stalled headers.
func TestStalledBodiesAreDropped(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.HTTP.ReadBodyTimeout = 300 * time.Millisecond
		c.HTTP.ReadHeaderTimeout = 300 * time.Millisecond
	})
	addr := strings.TrimPrefix(s.URL, "http://")
	const n = 200
	kinds := []struct {
		name, partial, wantStatus string
	}{
		// The handler reads the body: its read times out.
		{"read body", "POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":", "HTTP/1.1 400"},
		// The handler never reads it (unknown route): net/http's own read
		// of the rest, to reuse the connection, times out.
		{"unread body", "POST /api/2.0/mlflow/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc", "HTTP/1.1 404"},
		// Headers never finish.
		{"headers", "POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\nContent-Ty", ""},
	}
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = stall(t, addr, kinds[i%len(kinds)].partial)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			k := kinds[i%len(kinds)]
			got, err := readUntilClosed(c, time.Now().Add(10*time.Second))
			if err != nil {
				errs <- k.name + ": not dropped: " + err.Error()
			} else if !strings.HasPrefix(got, k.wantStatus) {
				errs <- k.name + ": answer " + strings.SplitN(got, "\r\n", 2)[0]
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dropping %d stalled clients took %v", n, d)
	}
	// The bodies handlers were reading (a third of the connections).
	if got := metricValue(t, s.App, "mlbox_http_body_timeouts_total"); got != "67" {
		t.Errorf("mlbox_http_body_timeouts_total = %q, want 67", got)
	}
	// The server still answers.
	s.must(t, "POST", api+"/experiments/create", map[string]any{"name": "after-stall"})
}

// TestConnectionLimitPerClient: past http.max_conns_per_client open
// connections from one address, more are closed at accept and counted; a
// slot freed by a closed connection is usable again.
func TestConnectionLimitPerClient(t *testing.T) {
	const limit, n = 50, 80
	s := startServer(t, func(c *Config) { c.HTTP.MaxConnsPerClient = limit })
	addr := strings.TrimPrefix(s.URL, "http://")
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = stall(t, addr, "")
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var refused atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				refused.Add(1) // closed by the server at once
			}
		}()
	}
	wg.Wait()
	if refused.Load() != n-limit {
		t.Fatalf("%d of %d connections refused, want %d", refused.Load(), n, n-limit)
	}
	if got := metricValue(t, s.App, "mlbox_http_connections_refused_total"); got != "30" {
		t.Errorf("mlbox_http_connections_refused_total = %q", got)
	}
	if got := metricValue(t, s.App, "mlbox_http_connections_open"); got != "50" {
		t.Errorf("mlbox_http_connections_open = %q", got)
	}
	// Closing connections gives their slots back.
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after the others closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trickle is a request body that sends left bytes in chunks with a pause
// before each, recording what it sent.
type trickle struct {
	left, chunk int
	pause       time.Duration
	sent        bytes.Buffer
	inChunk     int // bytes of the current chunk not yet sent
}

func (tr *trickle) Read(p []byte) (int, error) {
	if tr.left == 0 {
		return 0, io.EOF
	}
	if tr.inChunk == 0 {
		time.Sleep(tr.pause)
		tr.inChunk = tr.chunk
	}
	n := min(len(p), tr.inChunk, tr.left)
	tr.inChunk -= n
	_, _ = rand.Read(p[:n])
	tr.sent.Write(p[:n])
	tr.left -= n
	return n, nil
}

// TestUploadsOutlastTheBodyTimeout: the body timeout is an idle timeout.
// An artifact upload that trickles for several times the timeout, and a
// large one, both succeed; one that stops sending is cut off.
func TestUploadsOutlastTheBodyTimeout(t *testing.T) {
	// Six times the pause between chunks: this test's own client shares a
	// loaded machine (make test runs -race, packages in parallel, on 2
	// cores) with the server, and a client that is not run does not send.
	const timeout = 600 * time.Millisecond
	s := startServer(t, func(c *Config) { c.HTTP.ReadBodyTimeout = timeout })
	put := func(path string, body io.Reader, size int64) (int, string) {
		req, _ := http.NewRequest("PUT", s.URL+"/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/"+path, body)
		req.ContentLength = size
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(path string) []byte {
		resp, err := http.Get(s.URL + "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}

	// 25 chunks 100 ms apart: 2.4 s in all, 4 times the timeout.
	tr := &trickle{left: 25 << 10, chunk: 1 << 10, pause: 100 * time.Millisecond}
	start := time.Now()
	if st, body := put("slow.bin", tr, -1); st != 200 {
		t.Fatalf("trickled upload: %d %s", st, body)
	}
	if d := time.Since(start); d < 3*timeout {
		t.Fatalf("the upload took %v: not longer than the timeout, the test proves nothing", d)
	}
	if !bytes.Equal(get("slow.bin"), tr.sent.Bytes()) {
		t.Fatal("trickled upload stored wrong content")
	}

	// A large upload with a Content-Length goes from the socket to the file
	// with splice(2) (uploadSpliced): trickled, it must go on as well.
	tr = &trickle{left: spliceMin + 3<<20, chunk: 512 << 10, pause: 100 * time.Millisecond}
	start = time.Now()
	if st, body := put("slow-spliced.bin", tr, int64(tr.left)); st != 200 {
		t.Fatalf("trickled spliced upload: %d %s", st, body)
	}
	if d := time.Since(start); d < 3*timeout {
		t.Fatalf("the spliced upload took %v: not longer than the timeout", d)
	} else {
		t.Logf("trickled spliced upload: %v", d)
	}
	if !bytes.Equal(get("slow-spliced.bin"), tr.sent.Bytes()) {
		t.Fatal("trickled spliced upload stored wrong content")
	}

	// A large upload, as fast as loopback goes.
	big := make([]byte, 64<<20)
	_, _ = rand.Read(big)
	start = time.Now()
	if st, body := put("big.bin", bytes.NewReader(big), int64(len(big))); st != 200 {
		t.Fatalf("64 MiB upload: %d %s", st, body)
	}
	t.Logf("64 MiB upload with a %v body timeout: %v", timeout, time.Since(start))
	if !bytes.Equal(get("big.bin"), big) {
		t.Fatal("large upload stored wrong content")
	}

	// An upload that stops halfway is cut off after the timeout, a small
	// one and one announcing 100 GB (spliced).
	addr := strings.TrimPrefix(s.URL, "http://")
	for name, size := range map[string]string{"stuck.bin": "1000000", "stuck-spliced.bin": "100000000000"} {
		c := stall(t, addr, "PUT /api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/"+name+" HTTP/1.1\r\nHost: x\r\nContent-Length: "+size+"\r\n\r\n"+strings.Repeat("x", 5000))
		defer c.Close()
		start = time.Now()
		got, err := readUntilClosed(c, time.Now().Add(10*time.Second))
		if err != nil || !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Fatalf("stalled upload %s: %q %v", name, got, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("stalled upload %s dropped after %v", name, d)
		} else {
			t.Logf("stalled upload %s dropped after %v", name, d)
		}
		if _, err := os.Stat(s.App.cfg.DataDir + "/artifacts/0/r/artifacts/" + name); err == nil {
			t.Fatalf("a cut-off upload left %s", name)
		}
	}
}

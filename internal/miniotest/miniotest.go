// Package miniotest starts a throwaway MinIO server for tests.
//
// The binary is taken from $MLBOX_MINIO_BIN, else from the cache path that
// scripts/minio.sh builds into (${MLBOX_CACHE:-$HOME/.cache/mlbox}/minio/
// <Version>/minio). When it is missing the test is skipped, unless
// $MLBOX_REQUIRE_MINIO is set (make test / CI), in which case it fails.
package miniotest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Version is the pinned MinIO module version (keep in sync with
// scripts/minio.sh).
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Server is a running MinIO instance.
type Server struct {
	Endpoint  string // "127.0.0.1:port"
	AccessKey string
	SecretKey string
	DataDir   string
}

// URL returns "http://" + Endpoint.
func (s *Server) URL() string { return "http://" + s.Endpoint }

// BinaryPath returns the MinIO binary location (which may not exist).
func BinaryPath() string {
	if p := os.Getenv("MLBOX_MINIO_BIN"); p != "" {
		return p
	}
	cache := os.Getenv("MLBOX_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache", "mlbox")
	}
	return filepath.Join(cache, "minio", Version, "minio")
}

const startTimeout = 60 * time.Second

// Start runs a MinIO server on free loopback ports with data in a temp dir
// and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := BinaryPath()
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		msg := fmt.Sprintf("minio binary not found at %q (run scripts/minio.sh or set MLBOX_MINIO_BIN)", bin)
		if os.Getenv("MLBOX_REQUIRE_MINIO") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // free-port races: retry
		s, stop, err := start(bin, dir, attempt)
		if err == nil {
			t.Cleanup(stop)
			return s
		}
		lastErr = err
	}
	t.Fatalf("miniotest: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer keeps the tail of the server output for error reports.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 {
		tail := append([]byte(nil), s.b.Bytes()[s.b.Len()-32<<10:]...)
		s.b.Reset()
		s.b.Write(tail)
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(bin, base string, attempt int) (*Server, func(), error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	data := filepath.Join(base, "data"+strconv.Itoa(attempt))
	certs := filepath.Join(base, "certs"+strconv.Itoa(attempt))
	for _, d := range []string{data, certs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, err
		}
	}
	s := &Server{
		Endpoint:  "127.0.0.1:" + strconv.Itoa(port),
		AccessKey: "mlboxtest",
		SecretKey: "mlboxtest-secret",
		DataDir:   data,
	}
	cmd := exec.Command(bin, "server", data,
		"--address", s.Endpoint,
		"--console-address", "127.0.0.1:"+strconv.Itoa(cport),
		"--certs-dir", certs, // keep it out of ~/.minio
		"--quiet",
	)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
		"MINIO_CI_CD=1", // allow a data dir on the root disk, no interactive checks
		"MINIO_REGION=us-east-1",
		"HOME="+base,
	)
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-exited
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	ok := func(path string) bool {
		resp, err := client.Get("http://" + s.Endpoint + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return nil, nil, fmt.Errorf("minio exited during startup (%v):\n%s", err, out.String())
		case <-ctx.Done():
			stop()
			return nil, nil, fmt.Errorf("minio not healthy after %s:\n%s", startTimeout, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		// live: the process serves HTTP. cluster: object layer, bucket
		// metadata and IAM are initialised (live and ready answer 200 before
		// that, while S3 calls still fail with XMinioServerNotInitialized).
		if ok("/minio/health/live") && ok("/minio/health/cluster") {
			return s, stop, nil
		}
	}
}

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// testServer is a real mlbox API on 127.0.0.1:<free port>.
type testServer struct {
	URL string
	App *App
}

func startServer(t testing.TB, mutate ...func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return serveTest(t, a, cfg.Listen)
}

// serveTest serves a on listen until the test ends, then shuts it down and
// closes it, failing the test on errors from either.
func serveTest(t testing.TB, a *App, listen string) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &testServer{URL: "http://" + ln.Addr().String(), App: a}
}

// call sends a request and returns status and decoded JSON body (nil when
// the body is not JSON).
func (s *testServer) call(t testing.TB, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	var rdr io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rdr = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			rdr = bytes.NewReader(raw)
		}
	}
	req, _ := http.NewRequest(method, s.URL+path, rdr)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return doReq(t, req)
}

// must calls and fails the test unless the status is 200.
func (s *testServer) must(t testing.TB, method, path string, body any) map[string]any {
	t.Helper()
	st, m, raw := s.call(t, method, path, body)
	if st != 200 {
		t.Fatalf("%s %s: %d %s", method, path, st, raw)
	}
	return m
}

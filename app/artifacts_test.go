package app

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestS3UnreachableIs503: an S3 endpoint nobody listens on fails readiness
// and answers artifact calls with 503 TEMPORARILY_UNAVAILABLE quickly, while
// tracking keeps working.
func TestS3UnreachableIs503(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	s := startServer(t, func(c *Config) {
		c.Artifacts.Backend = "s3"
		c.Artifacts.S3 = S3Config{Endpoint: dead, Bucket: "mlbox", AccessKey: "k", SecretKey: "secretsecret", Timeout: 2 * time.Second}
	})
	start := time.Now()
	st, _, raw := s.call(t, "GET", "/readyz", nil)
	if st != 503 {
		t.Fatalf("readyz: %d %s", st, raw)
	}
	for _, c := range []struct{ method, path string }{
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/x.txt"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/x.txt"},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/r"},
	} {
		body := any(nil)
		if c.method == "PUT" {
			body = "hello"
		}
		st, m, raw := s.call(t, c.method, c.path, body)
		if st != 503 || m["error_code"] != "TEMPORARILY_UNAVAILABLE" {
			t.Fatalf("%s %s: %d %s", c.method, c.path, st, raw)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %v: calls must not hang", d)
	}
	s.must(t, "POST", api+"/runs/create", map[string]any{"experiment_id": "0"})
}

// TestLargeLocalUploadSpliced: uploads of spliceMin bytes and more take the
// splice path; the bytes must arrive intact, and a body cut short must
// leave no file behind.
func TestLargeLocalUploadSpliced(t *testing.T) {
	s := startServer(t)
	data := make([]byte, spliceMin+12345)
	rand.Read(data)
	url := "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/big.bin"
	req, _ := http.NewRequest("PUT", s.URL+url, bytes.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "{}" {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(s.URL + url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, not what was uploaded (%d)", len(got), len(data))
	}

	// A client that promises more than it sends: nothing becomes visible.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", spliceMin*2)
	conn.Write(data[:spliceMin/2])
	conn.(*net.TCPConn).CloseWrite()
	io.ReadAll(conn)
	conn.Close()
	st, m, raw := s.call(t, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/r/artifacts", nil)
	if st != 200 || strings.Contains(raw, "cut.bin") || strings.Contains(raw, ".mlbox-tmp") {
		t.Fatalf("after a cut upload: %d %v %s", st, m, raw)
	}
}

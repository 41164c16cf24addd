package app

import (
	"net"
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

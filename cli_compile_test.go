package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mlbox/serve"
)

func TestModelsCompile(t *testing.T) {
	dir := "serve/compile/sklearn/testdata/zoo/ct_pipelines_passthrough-skops"
	out := filepath.Join(t.TempDir(), "m.wasm")
	var stdout, stderr bytes.Buffer
	// Flags after the directory, as the usage allows.
	if rc := run([]string{"models", "compile", dir, "-o", out}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), "inputs: color (string, optional, 5 categories)") || !strings.Contains(stdout.String(), "labels: 0, 1") {
		t.Fatalf("summary: %s", stdout.String())
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	meta, err := rt.Inspect(ctx, wasm)
	if err != nil || meta.Task != serve.Classification || len(meta.Columns) != 6 {
		t.Fatalf("%+v %v", meta, err)
	}

	// A model file that calls os.system: refused, named, status 3, nothing written.
	bad := t.TempDir()
	mlm, _ := os.ReadFile(filepath.Join("serve/compile/sklearn/testdata/zoo/ridge_reg-pickle", "MLmodel"))
	os.WriteFile(filepath.Join(bad, "MLmodel"), mlm, 0o644)
	evil := []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.")
	os.WriteFile(filepath.Join(bad, "model.pkl"), evil, 0o644)
	stdout.Reset()
	stderr.Reset()
	out2 := filepath.Join(t.TempDir(), "bad.wasm")
	if rc := run([]string{"models", "compile", "-o", out2, bad}, &stdout, &stderr); rc != 3 || !strings.Contains(stderr.String(), "unsupported: model.pkl references os.system") {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	if _, err := os.Stat(out2); err == nil {
		t.Fatal("a module was written")
	}
	// Truncated: invalid, status 1.
	os.WriteFile(filepath.Join(bad, "model.pkl"), []byte("\x80\x04\x95"), 0o644)
	stderr.Reset()
	if rc := run([]string{"models", "compile", "-o", out2, bad}, &stdout, &stderr); rc != 1 || !strings.Contains(stderr.String(), "invalid: model.pkl") {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
}

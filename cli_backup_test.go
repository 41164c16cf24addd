package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlbox/store"
)

// mlbox backup copies a running server's metadata, metric points that are
// still only in the metric log included, into a file a server can open.
func TestBackupCommand(t *testing.T) {
	url := startInProcess(t)
	run := mustJSON(t, "POST", url+"/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	for i := 0; i < 5; i++ {
		mustJSON(t, "POST", url+"/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": run, "key": "loss", "value": i, "timestamp": i, "step": i})
	}
	dst := filepath.Join(t.TempDir(), "mlbox-backup.db")
	var out, errb bytes.Buffer
	if code := run_(t, []string{"backup", "--tracking-uri", url, dst}, &out, &errb); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "checked") {
		t.Fatalf("output %q", out.String())
	}
	if code := run_(t, []string{"backup", "--tracking-uri", url, dst}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--force") {
		t.Fatalf("second backup without --force: exit %d: %s", code, errb.String())
	}
	if code := run_(t, []string{"backup", "--tracking-uri", url, "--force", dst}, &out, &errb); code != 0 {
		t.Fatalf("backup --force: exit %d: %s", code, errb.String())
	}
	// restore: the file as a data dir's mlbox.db
	dir := t.TempDir()
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, store.DBFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, store.Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, _, err := st.GetMetricHistory(context.Background(), run, "loss", 0, "")
	if err != nil || len(ms) != 5 {
		t.Fatalf("restored history: %d points, %v", len(ms), err)
	}
	// a file that is not a bbolt file fails the check
	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, []byte(strings.Repeat("x", 8192)), 0o600)
	if store.VerifyFile(bad) == nil {
		t.Fatal("garbage passed the check")
	}
}

func run_(t *testing.T, args []string, out, errb *bytes.Buffer) int {
	t.Helper()
	out.Reset()
	errb.Reset()
	return run(args, out, errb)
}

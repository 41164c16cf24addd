package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mlbox/store"
	"mlbox/store/archive"
)

// A backup job writes checked archives into its directory, keeps the
// newest N, and fails (leaving nothing behind, firing job.failed) when it
// cannot write.
func TestBackupJob(t *testing.T) {
	s := startJobsServer(t, nil)
	run := createRun(t, s, "0")
	s.put(t, "0/"+run+"/artifacts/model/weights.bin", []byte(strings.Repeat("w", 5000)))
	dir := filepath.Join(t.TempDir(), "backups")
	s.must(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": "nightly", "kind": "backup", "schedule": "@daily",
		"backup": map[string]any{"dir": dir, "keep": 2}})
	for n := 1; n <= 3; n++ {
		s.must(t, "POST", "/api/mlbox/v1/jobs/nightly/run", nil)
		r := waitJobRun(t, s, "nightly", n, 30*time.Second)
		if r["status"] != store.JobSucceeded {
			t.Fatalf("run %d: %v", n, r)
		}
		time.Sleep(1100 * time.Millisecond) // the names carry the second
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 || !strings.HasSuffix(ents[1].Name(), "-3.tar") || !strings.HasSuffix(ents[0].Name(), "-2.tar") {
		t.Fatalf("kept %v", ents)
	}
	f, err := os.Open(filepath.Join(dir, ents[1].Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	_, man, err := archive.Read(f, func(_ archive.Header, e archive.Entry) error {
		found = found || e.ArtifactPath() == "0/"+run+"/artifacts/model/weights.bin"
		return nil
	})
	if err != nil || !found || man.Artifacts < 1 {
		t.Fatalf("the archive: %v, weights found %v, %+v", err, found, man)
	}
	// The log says what it wrote and removed.
	_, _, logRaw := s.call(t, "GET", "/api/mlbox/v1/jobs/nightly/runs/3/log", nil)
	if !strings.Contains(logRaw, "wrote "+dir) || !strings.Contains(logRaw, "removed") {
		t.Fatalf("log: %s", logRaw)
	}

	// A directory that cannot be made: the run fails, nothing is deleted.
	blocker := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(blocker, []byte("x"), 0o600)
	s.must(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": "broken", "kind": "backup", "backup": map[string]any{"dir": filepath.Join(blocker, "sub")}})
	s.must(t, "POST", "/api/mlbox/v1/jobs/broken/run", nil)
	if r := waitJobRun(t, s, "broken", 1, 30*time.Second); r["status"] != store.JobFailed || !strings.Contains(r["error"].(string), "not a directory") {
		t.Fatalf("broken run: %v", r)
	}
	// Bad specs are refused.
	for _, bad := range []map[string]any{{"dir": "relative/dir"}, {"dir": "/abs", "keep": -1}, {}} {
		if st, _, raw := s.call(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": "bad", "kind": "backup", "backup": bad}); st != 400 {
			t.Errorf("backup %v: %d %s", bad, st, raw)
		}
	}
	if st, _, raw := s.call(t, "POST", "/api/mlbox/v1/jobs", map[string]any{"name": "bad", "kind": "backup"}); st != 400 || !strings.Contains(raw, "needs 'backup'") {
		t.Errorf("no spec: %d %s", st, raw)
	}
}

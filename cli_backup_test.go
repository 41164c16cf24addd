package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mlbox/app"
	"mlbox/internal/miniotest"
	"mlbox/store"
)

// mlbox backup --metadata-only copies a running server's metadata, metric
// points that are still only in the metric log included, into a file a
// server can open.
func TestBackupMetadataOnly(t *testing.T) {
	url := startInProcess(t)
	run := mustJSON(t, "POST", url+"/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	for i := 0; i < 5; i++ {
		mustJSON(t, "POST", url+"/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": run, "key": "loss", "value": i, "timestamp": i, "step": i})
	}
	dst := filepath.Join(t.TempDir(), "mlbox-backup.db")
	var out, errb bytes.Buffer
	if code := run_(t, []string{"backup", "--metadata-only", "--tracking-uri", url, dst}, &out, &errb); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "checked") {
		t.Fatalf("output %q", out.String())
	}
	if code := run_(t, []string{"backup", "--metadata-only", "--tracking-uri", url, dst}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--force") {
		t.Fatalf("second backup without --force: exit %d: %s", code, errb.String())
	}
	if code := run_(t, []string{"backup", "--metadata-only", "--tracking-uri", url, "--force", dst}, &out, &errb); code != 0 {
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

// putArtifact uploads through the artifact proxy.
func putArtifact(t *testing.T, url, p string, b []byte) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url+"/api/2.0/mlflow-artifacts/artifacts/"+p, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %d", p, resp.StatusCode)
	}
}

func getBytes(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mlbox backup makes one archive of a running server (metadata and
// artifacts) while it is written to; verify checks it; restore puts it
// into a fresh data dir, whose server answers the same; a damaged archive
// is refused by both, naming what is wrong.
func TestBackupArchiveRestore(t *testing.T) {
	url := startInProcess(t)
	newRun := func() string {
		return mustJSON(t, "POST", url+"/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	}
	run := newRun()
	for i := range 200 {
		mustJSON(t, "POST", url+"/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": run, "key": "loss", "value": 1.0 / float64(i+1), "timestamp": i, "step": i})
	}
	files := map[string][]byte{}
	for i := range 20 {
		p := fmt.Sprintf("0/%s/artifacts/model/part-%02d.bin", run, i)
		b := bytes.Repeat([]byte{byte(i), 0xAB}, 1000*(i+1))
		putArtifact(t, url, p, b)
		files[p] = b
	}
	mustJSON(t, "POST", url+"/api/2.0/mlflow/registered-models/create", map[string]any{"name": "bk"})
	mustJSON(t, "POST", url+"/api/2.0/mlflow/model-versions/create", map[string]any{"name": "bk", "source": "runs:/" + run + "/model", "run_id": run})

	// Writes go on during the backup: a run, then its artifact, then a
	// metric (no t.Fatal off the test's goroutine: errors are counted).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		post := func(path, body string) map[string]any {
			resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
			if err != nil {
				writeErrs.Add(1)
				return nil
			}
			defer resp.Body.Close()
			var m map[string]any
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&m) != nil {
				writeErrs.Add(1)
			}
			return m
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := post("/api/2.0/mlflow/runs/create", `{"experiment_id": "0"}`)
			if m == nil {
				continue
			}
			r := m["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
			req, _ := http.NewRequest("PUT", url+"/api/2.0/mlflow-artifacts/artifacts/0/"+r+"/artifacts/during.txt", strings.NewReader(r))
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
				writeErrs.Add(1)
				continue
			} else {
				resp.Body.Close()
			}
			post("/api/2.0/mlflow/runs/log-metric", fmt.Sprintf(`{"run_id": %q, "key": "m", "value": %d, "timestamp": %d, "step": 0}`, r, i, i))
		}
	}()
	dst := filepath.Join(t.TempDir(), "mlbox.tar")
	var out, errb bytes.Buffer
	code := run_(t, []string{"backup", "--tracking-uri", url, dst}, &out, &errb)
	close(stop)
	wg.Wait()
	if n := writeErrs.Load(); n > 0 {
		t.Fatalf("%d writes failed during the backup", n)
	}
	if code != 0 || !strings.Contains(out.String(), "checked") {
		t.Fatalf("backup: exit %d: %s %s", code, out.String(), errb.String())
	}
	if code := run_(t, []string{"verify", dst}, &out, &errb); code != 0 || !strings.Contains(out.String(), "is sound") {
		t.Fatalf("verify: exit %d: %s %s", code, out.String(), errb.String())
	}

	// Restore into a fresh dir and serve it.
	dir := filepath.Join(t.TempDir(), "restored")
	if code := run_(t, []string{"restore", "--data-dir", dir, dst}, &out, &errb); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errb.String())
	}
	if code := run_(t, []string{"restore", "--data-dir", dir, dst}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not empty") {
		t.Fatalf("restore into a non-empty dir: exit %d: %s", code, errb.String())
	}
	url2 := startOn(t, dir)
	h := mustJSON(t, "GET", url2+"/api/2.0/mlflow/metrics/get-history?run_id="+run+"&metric_key=loss", nil)
	if n := len(h["metrics"].([]any)); n != 200 {
		t.Fatalf("restored history: %d points", n)
	}
	for p, b := range files {
		st, got := getBytes(t, url2+"/api/2.0/mlflow-artifacts/artifacts/"+p)
		if st != 200 || !bytes.Equal(got, b) {
			t.Fatalf("restored %s: %d, %d bytes", p, st, len(got))
		}
	}
	mv := mustJSON(t, "GET", url2+"/api/2.0/mlflow/model-versions/get?name=bk&version=1", nil)
	if mv["model_version"].(map[string]any)["run_id"] != run {
		t.Fatalf("restored version: %v", mv)
	}
	// Every run of the snapshot made during the backup has its artifact.
	runs := mustJSON(t, "POST", url2+"/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{"0"}, "max_results": 1000})["runs"].([]any)
	for _, r := range runs {
		id := r.(map[string]any)["info"].(map[string]any)["run_id"].(string)
		if id == run {
			continue
		}
		if st, got := getBytes(t, url2+"/api/2.0/mlflow-artifacts/artifacts/0/"+id+"/artifacts/during.txt"); st != 200 || string(got) != id {
			// A run created after its artifact's upload began may lack it only
			// if the upload came after the snapshot: then the run has no
			// metric either.
			m := mustJSON(t, "GET", url2+"/api/2.0/mlflow/runs/get?run_id="+id, nil)
			if ms, _ := m["run"].(map[string]any)["data"].(map[string]any)["metrics"].([]any); len(ms) != 0 {
				t.Fatalf("run %s of the snapshot lacks its artifact: %d", id, st)
			}
		}
	}

	// Damage: a flipped byte in an artifact.
	raw, _ := os.ReadFile(dst)
	i := bytes.Index(raw, files[fmt.Sprintf("0/%s/artifacts/model/part-%02d.bin", run, 7)])
	raw[i+100] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(bad, raw, 0o600)
	if code := run_(t, []string{"verify", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "part-07.bin does not match its SHA-256") {
		t.Fatalf("verify a damaged archive: exit %d: %s", code, errb.String())
	}
	dir3 := filepath.Join(t.TempDir(), "never")
	if code := run_(t, []string{"restore", "--data-dir", dir3, bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "nothing was restored") {
		t.Fatalf("restore a damaged archive: exit %d: %s", code, errb.String())
	}
	if ents, _ := os.ReadDir(dir3); len(ents) != 0 {
		t.Fatalf("a failed restore left %d entries", len(ents))
	}
	// Truncated.
	os.WriteFile(bad, raw[:len(raw)/3], 0o600)
	if code := run_(t, []string{"verify", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "damaged") {
		t.Fatalf("verify a truncated archive: exit %d: %s", code, errb.String())
	}
}

// With the S3 backend (a real MinIO): the archive lists the bucket's
// objects, or with --include-s3 holds them; restored, the objects become
// the local artifacts of the new data dir.
func TestBackupArchiveS3(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := app.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Artifacts.Backend = "s3"
	cfg.Artifacts.S3 = app.S3Config{Endpoint: srv.Endpoint, Bucket: "backups", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Secure: false, CreateBucket: true, Timeout: 10 * time.Second}
	url := startWith(t, cfg)
	run := mustJSON(t, "POST", url+"/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	files := map[string][]byte{}
	for i := range 5 {
		p := fmt.Sprintf("0/%s/artifacts/obj-%d.bin", run, i)
		files[p] = bytes.Repeat([]byte{byte('a' + i)}, 3000+i)
		putArtifact(t, url, p, files[p])
	}
	var out, errb bytes.Buffer
	listed := filepath.Join(t.TempDir(), "listed.tar")
	if code := run_(t, []string{"backup", "--tracking-uri", url, listed}, &out, &errb); code != 0 || !strings.Contains(out.String(), "5 S3 objects listed") {
		t.Fatalf("backup: exit %d: %s %s", code, out.String(), errb.String())
	}
	if code := run_(t, []string{"verify", listed}, &out, &errb); code != 0 || !strings.Contains(out.String(), "5 S3 objects listed") {
		t.Fatalf("verify: exit %d: %s %s", code, out.String(), errb.String())
	}
	full := filepath.Join(t.TempDir(), "full.tar")
	if code := run_(t, []string{"backup", "--include-s3", "--tracking-uri", url, full}, &out, &errb); code != 0 || !strings.Contains(out.String(), "5 artifacts") {
		t.Fatalf("backup --include-s3: exit %d: %s %s", code, out.String(), errb.String())
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if code := run_(t, []string{"restore", "--data-dir", dir, full}, &out, &errb); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errb.String())
	}
	url2 := startOn(t, dir)
	for p, b := range files {
		if st, got := getBytes(t, url2+"/api/2.0/mlflow-artifacts/artifacts/"+p); st != 200 || !bytes.Equal(got, b) {
			t.Fatalf("restored %s: %d, %d bytes", p, st, len(got))
		}
	}
}

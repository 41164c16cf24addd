package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"mlbox/internal/miniotest"
	"mlbox/store/artifact"
)

// artPath is where a run's or logged model's artifact file lives.
func artPath(t testing.TB, uri, rel string) string {
	t.Helper()
	p, ok := storagePath(uri)
	if !ok {
		t.Fatalf("not an mlbox artifact URI: %s", uri)
	}
	return p + "/" + rel
}

func putArt(t testing.TB, arts artifact.Store, p, body string) {
	t.Helper()
	if err := arts.Put(context.Background(), p, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
}

func artExists(t testing.TB, arts artifact.Store, p string) bool {
	t.Helper()
	o, err := arts.Open(context.Background(), p)
	if err != nil {
		return false
	}
	o.Close()
	return true
}

func newLocalArts(t testing.TB) artifact.Store {
	t.Helper()
	l, err := artifact.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newRun(t testing.TB, s *Store, arts artifact.Store, exp string, start time.Time) *Run {
	t.Helper()
	r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: exp, StartTime: start.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	if arts != nil {
		putArt(t, arts, artPath(t, r.Info.ArtifactURI, "model/model.wasm"), "wasm of "+r.Info.RunID)
		putArt(t, arts, artPath(t, r.Info.ArtifactURI, "log.txt"), "log")
	}
	return r
}

// purgeScenario exercises the purges against one artifact backend.
func purgeScenario(t *testing.T, arts artifact.Store) {
	s, _ := openTest(t)
	exp, err := s.CreateExperiment(ctx, "purge-me", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	keep := newRun(t, s, arts, exp, time.Now())
	gone := newRun(t, s, arts, exp, time.Now())
	lm, err := s.CreateLoggedModel(ctx, CreateLoggedModelRequest{ExperimentID: exp, Name: "lm", SourceRunID: gone.Info.RunID})
	if err != nil {
		t.Fatal(err)
	}
	lmFile := artPath(t, lm.Info.ArtifactURI, "MLmodel")
	putArt(t, arts, lmFile, "flavors: {}")
	goneFile := artPath(t, gone.Info.ArtifactURI, "model/model.wasm")
	keepFile := artPath(t, keep.Info.ArtifactURI, "model/model.wasm")

	// Refused while active.
	if err := s.PurgeRun(ctx, arts, gone.Info.RunID); KindOf(err) != KindInvalid {
		t.Fatalf("purge of an active run: %v", err)
	}
	if err := s.PurgeLoggedModel(ctx, arts, lm.Info.ModelID); KindOf(err) != KindInvalid {
		t.Fatalf("purge of an active logged model: %v", err)
	}
	if err := s.PurgeExperiment(ctx, arts, exp); KindOf(err) != KindInvalid {
		t.Fatalf("purge of an active experiment: %v", err)
	}
	if err := s.PurgeExperiment(ctx, arts, "0"); KindOf(err) != KindInvalid {
		t.Fatalf("purge of the default experiment: %v", err)
	}

	// A run behind a live model version is refused even when deleted.
	if _, err := s.CreateRegisteredModel(ctx, "m", "", nil, "t"); err != nil {
		t.Fatal(err)
	}
	mv, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "m", Source: "runs:/" + gone.Info.RunID + "/model", RunID: gone.Info.RunID}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRun(ctx, gone.Info.RunID); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeRun(ctx, arts, gone.Info.RunID); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "model m version 1") {
		t.Fatalf("purge of a referenced run: %v", err)
	}
	if !artExists(t, arts, goneFile) {
		t.Fatal("refused purge deleted artifacts")
	}
	if err := s.DeleteModelVersion(ctx, "m", mv.Version, "t"); err != nil {
		t.Fatal(err)
	}

	if err := s.PurgeRun(ctx, arts, gone.Info.RunID); err != nil {
		t.Fatal(err)
	}
	if artExists(t, arts, goneFile) {
		t.Fatal("purged run's artifacts remain")
	}
	if _, err := s.GetRun(ctx, gone.Info.RunID); KindOf(err) != KindNotFound {
		t.Fatalf("purged run: %v", err)
	}
	if runs, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{exp}, ViewType: ViewAll, MaxResults: 100}); err != nil || len(runs) != 1 {
		t.Fatalf("search after purge: %d %v", len(runs), err)
	}
	if !artExists(t, arts, keepFile) {
		t.Fatal("the other run's artifacts went too")
	}
	if err := s.PurgeRun(ctx, arts, gone.Info.RunID); KindOf(err) != KindNotFound {
		t.Fatalf("second purge: %v", err)
	}

	// Logged model.
	if err := s.DeleteLoggedModel(ctx, lm.Info.ModelID); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeLoggedModel(ctx, arts, lm.Info.ModelID); err != nil {
		t.Fatal(err)
	}
	if artExists(t, arts, lmFile) {
		t.Fatal("purged logged model's artifacts remain")
	}
	if _, err := s.GetLoggedModel(ctx, lm.Info.ModelID, true); KindOf(err) != KindNotFound {
		t.Fatalf("purged logged model: %v", err)
	}

	// Experiment, with a stray file in its directory and a second logged model.
	lm2, err := s.CreateLoggedModel(ctx, CreateLoggedModelRequest{ExperimentID: exp, Name: "lm2"})
	if err != nil {
		t.Fatal(err)
	}
	lm2File := artPath(t, lm2.Info.ArtifactURI, "MLmodel")
	putArt(t, arts, lm2File, "x")
	stray := exp + "/stray.txt"
	putArt(t, arts, stray, "x")
	other := newRun(t, s, arts, "0", time.Now())
	otherFile := artPath(t, other.Info.ArtifactURI, "model/model.wasm")
	if err := s.DeleteExperiment(ctx, exp); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeExperiment(ctx, arts, exp); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{keepFile, lm2File, stray} {
		if artExists(t, arts, p) {
			t.Fatalf("%s remains after the experiment purge", p)
		}
	}
	if !artExists(t, arts, otherFile) {
		t.Fatal("another experiment's artifacts went too")
	}
	if _, err := s.GetExperiment(ctx, exp); KindOf(err) != KindNotFound {
		t.Fatalf("purged experiment: %v", err)
	}
	if _, err := s.GetRun(ctx, keep.Info.RunID); KindOf(err) != KindNotFound {
		t.Fatalf("run of the purged experiment: %v", err)
	}
	// The name is free again.
	if _, err := s.CreateExperiment(ctx, "purge-me", "", nil); err != nil {
		t.Fatalf("reuse of a purged experiment's name: %v", err)
	}
}

func TestPurgeLocal(t *testing.T) {
	purgeScenario(t, newLocalArts(t))
}

func newS3Arts(t *testing.T) artifact.Store {
	srv := miniotest.Start(t)
	st, err := artifact.NewS3(artifact.S3Config{
		Endpoint: srv.Endpoint, Bucket: fmt.Sprintf("mlbox-purge-%d", rand.IntN(1e9)), Prefix: "pre",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, CreateBucket: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPurgeS3(t *testing.T) {
	purgeScenario(t, newS3Arts(t))
}

func TestOwnedDir(t *testing.T) {
	id := strings.Repeat("a", 32)
	for uri, want := range map[string]string{
		"mlflow-artifacts:/1/" + id + "/artifacts":              "1/" + id,
		"mlflow-artifacts:/team/x/" + id + "/artifacts":         "team/x/" + id,
		"mlflow-artifacts:/" + id + "/artifacts":                "",
		"mlflow-artifacts:/1/" + id + "/other":                  "",
		"mlflow-artifacts:/1/bbbb/artifacts":                    "",
		"mlflow-artifacts://host:5000/1/" + id + "/artifacts":   "",
		"s3://bucket/1/" + id + "/artifacts":                    "",
		"mlflow-artifacts:/1/../" + id + "/artifacts":           "",
		"mlflow-artifacts:/1/" + id + "/artifacts/../artifacts": "",
	} {
		got, ok := ownedDir(uri, id)
		if got != want || ok != (want != "") {
			t.Errorf("ownedDir(%q) = %q %v, want %q", uri, got, ok, want)
		}
	}
}

package store

import (
	"testing"
	"time"
)

func TestImportExperimentKeepsIDs(t *testing.T) {
	s, dir := openTest(t)
	id, err := s.ImportExperiment(ctx, Experiment{ExperimentID: "7", Name: "moved", CreationTime: 1000, LastUpdateTime: 2000,
		Tags: []Tag{{Key: "team", Value: "a"}}})
	if err != nil || id != "7" {
		t.Fatalf("import: %q %v", id, err)
	}
	e, _ := s.GetExperiment(ctx, "7")
	if e.CreationTime != 1000 || e.LastUpdateTime != 2000 || e.ArtifactLocation != "mlflow-artifacts:/7" || len(e.Tags) != 1 {
		t.Fatalf("imported experiment: %+v", e)
	}
	// The same name again is the same experiment, with tags merged.
	if id, err := s.ImportExperiment(ctx, Experiment{ExperimentID: "9", Name: "moved", Tags: []Tag{{Key: "x", Value: "y"}}}); err != nil || id != "7" {
		t.Fatalf("re-import: %q %v", id, err)
	}
	if e, _ := s.GetExperiment(ctx, "7"); len(e.Tags) != 2 {
		t.Fatalf("tags not merged: %+v", e.Tags)
	}
	// A taken id gets a new one; new experiments never reuse an imported id.
	if id, err := s.ImportExperiment(ctx, Experiment{ExperimentID: "7", Name: "other"}); err != nil || id == "7" || id == "0" {
		t.Fatalf("colliding id: %q %v", id, err)
	}
	next, err := s.CreateExperiment(ctx, "native", "", nil)
	if err != nil || next == "7" {
		t.Fatalf("native after import: %q %v", next, err)
	}
	if _, err := s.ImportExperiment(ctx, Experiment{Name: ""}); KindOf(err) != KindInvalid {
		t.Fatalf("empty name: %v", err)
	}
	// Survives a reopen.
	s.Close()
	s2, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if e, err := s2.GetExperimentByName(ctx, "moved"); err != nil || e.ExperimentID != "7" {
		t.Fatalf("after reopen: %+v %v", e, err)
	}
}

func TestImportRunLedger(t *testing.T) {
	s, _ := openTest(t)
	const id = "0123456789abcdef0123456789abcdef"
	info := RunInfo{RunID: id, RunName: "r", UserID: "u", StartTime: 111}
	st, err := s.ImportRun(ctx, "0", info, []Tag{{Key: "k", Value: "v"}})
	if err != nil || st != ImportStarted {
		t.Fatalf("import: %q %v", st, err)
	}
	if err := s.LogBatch(ctx, id, []Metric{{Key: "m", Value: 1, Timestamp: 5, Step: 1}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Again before it finished: the caller must start it over.
	if st, err := s.ImportRun(ctx, "0", info, nil); KindOf(err) != KindExists || st != ImportStarted {
		t.Fatalf("unfinished: %q %v", st, err)
	}
	end := int64(999)
	if err := s.FinishImportRun(ctx, id, "FAILED", &end, StageDeleted); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Info.Status != "FAILED" || r.Info.EndTime == nil || *r.Info.EndTime != 999 || r.Info.StartTime != 111 ||
		r.Info.LifecycleStage != StageDeleted || r.Info.UserID != "u" || r.Info.ArtifactURI != "mlflow-artifacts:/0/"+id+"/artifacts" {
		t.Fatalf("finished run: %+v", r.Info)
	}
	// Done: a later import leaves it alone.
	if st, err := s.ImportRun(ctx, "0", info, nil); err != nil || st != ImportDone {
		t.Fatalf("done: %q %v", st, err)
	}
	if err := s.FinishImportRun(ctx, id, "FINISHED", nil, ""); KindOf(err) != KindInvalid {
		t.Fatalf("finish twice: %v", err)
	}
	// A run that was not imported is never overwritten.
	native, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRun(ctx, "0", RunInfo{RunID: native.Info.RunID}, nil); KindOf(err) != KindExists {
		t.Fatalf("native run: %v", err)
	}
	for _, bad := range []string{"", "../x", "a/b", string(make([]byte, 200))} {
		if _, err := s.ImportRun(ctx, "0", RunInfo{RunID: bad}, nil); KindOf(err) != KindInvalid {
			t.Fatalf("id %q: %v", bad, err)
		}
	}
	if _, err := s.ImportRun(ctx, "404", RunInfo{RunID: "abc"}, nil); KindOf(err) != KindNotFound {
		t.Fatalf("missing experiment: %v", err)
	}
	led, err := s.ImportLedger(ctx, "run")
	if err != nil || led[id] != ImportDone {
		t.Fatalf("ledger: %v %v", led, err)
	}
}

func TestImportRegistry(t *testing.T) {
	s, _ := openTest(t)
	const run = "0123456789abcdef0123456789abcdef"
	if _, err := s.ImportRun(ctx, "0", RunInfo{RunID: run}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishImportRun(ctx, run, "FINISHED", nil, ""); err != nil {
		t.Fatal(err)
	}
	lm := LoggedModel{Info: LoggedModelInfo{ModelID: "m-0123456789abcdef0123456789abcdef", Name: "clf", Status: LoggedModelReady,
		SourceRunID: run, CreationTimestampMs: 10}, Data: LoggedModelData{Metrics: []Metric{{Key: "acc", Value: 0.9, RunID: run}}}}
	if st, err := s.ImportLoggedModel(ctx, "0", lm); err != nil || st != ImportStarted {
		t.Fatalf("logged model: %q %v", st, err)
	}
	if err := s.FinishImport(ctx, "logged_model", lm.Info.ModelID); err != nil {
		t.Fatal(err)
	}
	if st, err := s.ImportLoggedModel(ctx, "0", lm); err != nil || st != ImportDone {
		t.Fatalf("logged model again: %q %v", st, err)
	}
	got, err := s.GetLoggedModel(ctx, lm.Info.ModelID, false)
	if err != nil || got.Info.CreationTimestampMs != 10 || len(got.Data.Metrics) != 1 || got.Info.ArtifactURI != "mlflow-artifacts:/0/models/"+lm.Info.ModelID+"/artifacts" {
		t.Fatalf("logged model: %+v %v", got, err)
	}
	if err := s.ImportRegisteredModel(ctx, RegisteredModel{Name: "rm", CreationTimestamp: 5, Description: "d"}); err != nil {
		t.Fatal(err)
	}
	v := ModelVersion{Name: "rm", Version: "3", Source: "models:/" + lm.Info.ModelID, ModelID: lm.Info.ModelID, RunID: run,
		CurrentStage: "production", CreationTimestamp: 7}
	if created, err := s.ImportModelVersion(ctx, v, "admin"); err != nil || !created {
		t.Fatalf("version: %v %v", created, err)
	}
	if created, err := s.ImportModelVersion(ctx, v, "admin"); err != nil || created {
		t.Fatalf("version again: %v %v", created, err)
	}
	mv, err := s.GetModelVersion(ctx, "rm", "3")
	if err != nil || mv.CurrentStage != StageProduction || mv.CreationTimestamp != 7 {
		t.Fatalf("version: %+v %v", mv, err)
	}
	if loc, err := s.GetModelVersionDownloadURI(ctx, "rm", "3"); err != nil || loc != got.Info.ArtifactURI {
		t.Fatalf("download uri: %q %v", loc, err)
	}
	// The next version a client registers comes after the imported ones.
	next, err := s.CreateModelVersion(ctx, CreateModelVersionRequest{Name: "rm", Source: "runs:/" + run + "/model", RunID: run}, "u")
	if err != nil || next.Version != "4" {
		t.Fatalf("next version: %+v %v", next, err)
	}
	if _, err := s.ImportModelVersion(ctx, ModelVersion{Name: "rm", Version: "x"}, ""); KindOf(err) != KindInvalid {
		t.Fatalf("bad version: %v", err)
	}
	if _, err := s.ImportModelVersion(ctx, ModelVersion{Name: "nope", Version: "1", Source: "s3://b/k"}, ""); KindOf(err) != KindNotFound {
		t.Fatalf("missing model: %v", err)
	}
}

func TestImportModelVersionChecksSource(t *testing.T) {
	s, _ := openTest(t)
	if err := s.ImportRegisteredModel(ctx, RegisteredModel{Name: "rm"}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"/etc/passwd", "file:///etc/passwd", "http://x/y", "mlflow-artifacts:/0/../../x"} {
		if _, err := s.ImportModelVersion(ctx, ModelVersion{Name: "rm", Version: "1", Source: src}, ""); KindOf(err) != KindInvalid {
			t.Errorf("%s: %v", src, err)
		}
	}
}

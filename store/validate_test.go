package store

import (
	"strings"
	"testing"
)

// TestModelRefs: LogInputs and LogOutputs write nothing unless every model
// they name is a logged model that exists, and refuse ids no logged model
// can have before reading anything.
func TestModelRefs(t *testing.T) {
	s, _ := openTest(t)
	run, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	id := run.Info.RunID
	m, err := s.CreateLoggedModel(ctx, CreateLoggedModelRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	good := m.Info.ModelID
	ds := []DatasetInput{{Dataset: Dataset{Name: "d", Digest: "x", SourceType: "local", Source: "{}"}}}
	for _, c := range []struct {
		ids  []string
		kind Kind
		msg  string
	}{
		{[]string{good, "m-missing"}, KindNotFound, "Logged model with ID 'm-missing' not found."},
		{[]string{good, ""}, KindInvalid, "Missing value for required parameter 'models[1].model_id'."},
		{[]string{strings.Repeat("x", 40000)}, KindInvalid, "'models[0].model_id' exceeds the maximum length of 256 characters"},
	} {
		var in []ModelInput
		var out []ModelOutput
		for _, m := range c.ids {
			in = append(in, ModelInput{ModelID: m})
			out = append(out, ModelOutput{ModelID: m, Step: 1})
		}
		for name, err := range map[string]error{
			"inputs":  s.LogInputs(ctx, id, ds, in),
			"outputs": s.LogOutputs(ctx, id, out),
		} {
			if KindOf(err) != c.kind || err.Error() != c.msg {
				t.Errorf("%s %q: %v, want kind %d %q", name, c.ids, err, c.kind, c.msg)
			}
		}
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Inputs.DatasetInputs) != 0 || len(r.Inputs.ModelInputs) != 0 || r.Outputs != nil {
			t.Fatalf("%q: a refused request wrote to the run: %+v %+v", c.ids, r.Inputs, r.Outputs)
		}
	}
	if err := s.LogInputs(ctx, id, ds, []ModelInput{{ModelID: good}}); err != nil {
		t.Fatal(err)
	}
	if err := s.LogOutputs(ctx, id, []ModelOutput{{ModelID: good, Step: 3}}); err != nil {
		t.Fatal(err)
	}
	r, _ := s.GetRun(ctx, id)
	if len(r.Inputs.DatasetInputs) != 1 || len(r.Inputs.ModelInputs) != 1 || r.Outputs == nil || r.Outputs.ModelOutputs[0].Step != 3 {
		t.Fatalf("inputs %+v outputs %+v", r.Inputs, r.Outputs)
	}
}

// TestMetricRefs: a metric's model and dataset references are bounded.
func TestMetricRefs(t *testing.T) {
	s, _ := openTest(t)
	run, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Metric{
		{Key: "a", Timestamp: 1, ModelID: strings.Repeat("m", 257)},
		{Key: "a", Timestamp: 1, DatasetName: strings.Repeat("n", MaxDatasetNameLength+1)},
		{Key: "a", Timestamp: 1, DatasetDigest: strings.Repeat("d", MaxDatasetDigestLength+1)},
	} {
		if err := s.LogBatch(ctx, run.Info.RunID, []Metric{m}, nil, nil); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "exceeds the maximum length") {
			t.Errorf("%+v: %v", m, err)
		}
	}
}

// TestExperimentTagLimits: MLflow 3.17.2's experiment tag limits (key 250,
// value 20,000 characters).
func TestExperimentTagLimits(t *testing.T) {
	s, _ := openTest(t)
	if err := s.SetExperimentTag(ctx, "0", Tag{Key: "k", Value: strings.Repeat("v", MaxExperimentTagValue)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetExperimentTag(ctx, "0", Tag{Key: "k", Value: strings.Repeat("v", MaxExperimentTagValue+1)}); KindOf(err) != KindInvalid {
		t.Errorf("value over the limit: %v", err)
	}
	if err := s.SetExperimentTag(ctx, "0", Tag{Key: strings.Repeat("k", MaxEntityKeyLength+1), Value: "v"}); KindOf(err) != KindInvalid {
		t.Errorf("key over the limit: %v", err)
	}
}

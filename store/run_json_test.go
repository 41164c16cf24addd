package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func randString(rng *rand.Rand) string {
	pieces := []string{"a", "Z", "0", " ", `"`, `\`, "<", ">", "&", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"é", "日本", "\u2028", "\u2029", "😀", "\xff", "\xc3", "'", "/", "\ufffd"}
	n := rng.IntN(8)
	var s string
	for range n {
		s += pieces[rng.IntN(len(pieces))]
	}
	return s
}

// Runs encode the same with AppendJSON as with encoding/json, byte for byte.
func TestRunAppendJSONMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	floats := []float64{0, 1, -2.5, 1e300, 1e-300, math.NaN(), math.Inf(1), math.Inf(-1), 0.1, 123456789012345678}
	for iter := range 3000 {
		r := &Run{Info: RunInfo{RunID: randString(rng), RunUUID: randString(rng), RunName: randString(rng),
			ExperimentID: randString(rng), UserID: randString(rng), Status: randString(rng), StartTime: rng.Int64N(1<<50) - 1<<49,
			ArtifactURI: randString(rng), LifecycleStage: randString(rng)}}
		if rng.IntN(2) == 0 {
			e := rng.Int64()
			r.Info.EndTime = &e
		}
		if rng.IntN(3) == 0 {
			r.Info.DeletedTime = rng.Int64N(100)
		}
		for range rng.IntN(4) {
			r.Data.Metrics = append(r.Data.Metrics, Metric{Key: "k" + randString(rng)[:0] + "m", Value: floats[rng.IntN(len(floats))],
				Timestamp: rng.Int64N(1e12), Step: rng.Int64N(100)})
		}
		for range rng.IntN(4) {
			r.Data.Params = append(r.Data.Params, Param{Key: randString(rng), Value: randString(rng)})
		}
		for range rng.IntN(4) {
			r.Data.Tags = append(r.Data.Tags, Tag{Key: randString(rng), Value: randString(rng)})
		}
		switch rng.IntN(4) {
		case 0:
			r.Inputs.DatasetInputs = []DatasetInput{{Tags: []Tag{{"mlflow.data.context", randString(rng)}},
				Dataset: Dataset{Name: randString(rng), Digest: "d", SourceType: "local", Source: randString(rng)}}}
		case 1:
			r.Inputs.ModelInputs = []ModelInput{{ModelID: randString(rng)}}
		}
		if rng.IntN(3) == 0 {
			r.Outputs = &RunOutputs{ModelOutputs: []ModelOutput{{ModelID: randString(rng), Step: 3}}}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got := r.AppendJSON(nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("iteration %d:\n got %s\nwant %s", iter, got, want)
		}
	}
}

// The RunInfo scanner reads what encoding/json reads, or leaves it to it.
func TestDecodeRunInfoMatchesUnmarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	inputs := [][]byte{[]byte(`{}`), []byte(` { "run_id" : "a" , "start_time" : -5 } `), []byte(`{"end_time":null}`),
		[]byte(`{"run_id":"a\u00e9"}`), []byte(`{"run_id":"a","extra":{"x":1}}`), []byte(`{"start_time":1.5}`),
		[]byte(`{"run_id":"a"`), []byte(`{"run_id":"a"}x`), []byte(`{"start_time":99999999999999999999}`)}
	for range 2000 {
		info := RunInfo{RunID: randString(rng), RunUUID: randString(rng), RunName: randString(rng), ExperimentID: randString(rng),
			UserID: randString(rng), Status: randString(rng), StartTime: rng.Int64() - 1<<62, ArtifactURI: randString(rng),
			LifecycleStage: randString(rng), DeletedTime: rng.Int64N(3)}
		if rng.IntN(2) == 0 {
			e := -rng.Int64()
			info.EndTime = &e
		}
		raw, _ := json.Marshal(info)
		inputs = append(inputs, raw)
	}
	for _, raw := range inputs {
		var want RunInfo
		wantErr := json.Unmarshal(raw, &want)
		var got RunInfo
		gotErr := decodeRunInfo(raw, &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%s: error %v, encoding/json %v", raw, gotErr, wantErr)
		}
		if wantErr != nil {
			continue
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Fatalf("%s:\n got %s\nwant %s", raw, g, w)
		}
	}
}

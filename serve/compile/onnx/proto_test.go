package onnx

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// facts.json is what the onnx package itself reads from the models
// testdata/gen.py made with skl2onnx and onnx.
type facts struct {
	IRVersion    int64                `json:"ir_version"`
	Opsets       map[string]int64     `json:"opsets"`
	Ops          []string             `json:"ops"`
	Inputs       []string             `json:"inputs"`
	Outputs      []string             `json:"outputs"`
	Initializers map[string][]float64 `json:"initializers"`
	Coefficients []float64            `json:"coefficients"`
	FeatureIDs   []int64              `json:"nodes_featureids"`
	NNodes       int                  `json:"n_nodes"`
	External     []string             `json:"external"`
}

func loadFacts(t *testing.T) map[string]facts {
	t.Helper()
	b, err := os.ReadFile("testdata/facts.json")
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]facts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func values(t *testing.T, ten *Tensor) []float64 {
	t.Helper()
	var out []float64
	switch ten.DataType {
	case Float:
		v, err := ten.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range v {
			out = append(out, float64(x))
		}
	case Double:
		v, err := ten.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		out = v
	default:
		v, err := ten.Ints()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range v {
			out = append(out, float64(x))
		}
	}
	return out
}

func TestModelsAsTheOnnxPackageReadsThem(t *testing.T) {
	for name, want := range loadFacts(t) {
		t.Run(name, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", name), "model.onnx", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if m.IRVersion != want.IRVersion || !maps(m.Opsets, want.Opsets) {
				t.Errorf("ir %d opsets %v, want %d %v", m.IRVersion, m.Opsets, want.IRVersion, want.Opsets)
			}
			var ops, ins, outs []string
			for _, n := range m.Graph.Nodes {
				ops = append(ops, n.OpType)
			}
			for _, v := range m.Graph.Inputs {
				ins = append(ins, v.Name)
			}
			for _, v := range m.Graph.Outputs {
				outs = append(outs, v.Name)
			}
			if !slices.Equal(ops, want.Ops) || !slices.Equal(ins, want.Inputs) || !slices.Equal(outs, want.Outputs) {
				t.Errorf("ops %v inputs %v outputs %v", ops, ins, outs)
			}
			got := map[string][]float64{}
			for _, ten := range m.Graph.Initializers {
				v := values(t, ten)
				got[ten.Name] = v[:min(8, len(v))]
			}
			for k, v := range want.Initializers {
				if !slices.Equal(got[k], v) {
					t.Errorf("initializer %s: %v, want %v", k, got[k], v)
				}
			}
			if want.Coefficients != nil {
				n := m.Graph.Nodes[slices.Index(ops, "LinearClassifier")]
				c := n.Attr("coefficients")
				if c == nil || c.Type != AttrFloats {
					t.Fatalf("coefficients: %+v", c)
				}
				for i, w := range want.Coefficients {
					if float64(c.Floats[i]) != w {
						t.Errorf("coefficients[%d] = %v, want %v", i, c.Floats[i], w)
					}
				}
			}
			if want.FeatureIDs != nil {
				te := m.Graph.Nodes[0]
				if a := te.Attr("nodes_featureids"); a == nil || !slices.Equal(a.Ints[:len(want.FeatureIDs)], want.FeatureIDs) {
					t.Errorf("nodes_featureids: %+v", a)
				}
				if a := te.Attr("nodes_nodeids"); a == nil || len(a.Ints) != want.NNodes {
					t.Errorf("nodes_nodeids: %d, want %d", len(a.Ints), want.NNodes)
				}
				if a := te.Attr("post_transform"); a == nil || a.Type != AttrString || string(a.S) != "NONE" {
					t.Errorf("post_transform: %+v", a)
				}
			}
		})
	}
}

func maps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTypes(t *testing.T) {
	m, err := Load("testdata/logreg", "model.onnx", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	in := m.Graph.Inputs[0].Type
	if in.Kind != KindTensor || in.Elem != Float || len(in.Shape) != 2 || in.Shape[0].Known || !in.Shape[1].Known || in.Shape[1].Value != 4 {
		t.Errorf("input type %+v", in)
	}
	// output_probability: seq(map(int64, tensor(float)))
	p := m.Graph.Outputs[1].Type
	if p.Kind != KindSequence || p.Inner == nil || p.Inner.Kind != KindMap || p.Inner.Key != Int64 ||
		p.Inner.Value == nil || p.Inner.Value.Elem != Float {
		t.Errorf("output_probability type %+v", p)
	}
}

func TestExternalData(t *testing.T) {
	want := loadFacts(t)["external"]
	b, err := os.ReadFile("testdata/external/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var ext []string
	for _, ten := range m.Graph.Initializers {
		if ten.DataLocation == 1 {
			ext = append(ext, ten.Name)
			if _, err := ten.Float32s(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("external tensor read without Load: %v", err)
			}
		}
	}
	if !slices.Equal(ext, want.External) || len(ext) == 0 {
		t.Fatalf("external tensors %v, want %v", ext, want.External)
	}
}

// --- hand-built hostile models ---

func msg(fields ...[]byte) []byte {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
	}
	return b
}

func bytesF(num protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func varintF(num protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func entry(k, v string) []byte { return bytesF(13, msg(bytesF(1, []byte(k)), bytesF(2, []byte(v)))) }

// externalModel is a model with one float tensor of 2 elements whose data
// is in the file loc.
func externalModel(loc string, extra ...[]byte) []byte {
	ten := msg(varintF(1, 2), varintF(2, uint64(Float)), bytesF(8, []byte("w")), varintF(14, 1), entry("location", loc))
	for _, e := range extra {
		ten = append(ten, e...)
	}
	graph := bytesF(5, ten)
	return msg(varintF(1, 8), bytesF(7, graph))
}

func TestExternalDataConfined(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "model")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8)
	for _, p := range []string{filepath.Join(parent, "outside.bin"), filepath.Join(dir, "inside.bin")} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(parent, "outside.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	load := func(loc string, extra ...[]byte) error {
		if err := os.WriteFile(filepath.Join(dir, "model.onnx"), externalModel(loc, extra...), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(dir, "model.onnx", Limits{})
		if err == nil {
			if v, err := m.Graph.Initializers[0].Float32s(); err != nil || len(v) != 2 {
				t.Errorf("%s: %v %v", loc, v, err)
			}
		}
		return err
	}
	if err := load("inside.bin"); err != nil {
		t.Fatalf("inside: %v", err)
	}
	for _, loc := range []string{"../outside.bin", "/etc/passwd", "a/../../outside.bin", `..\outside.bin`, "C:/x.bin"} {
		if err := load(loc); !errors.Is(err, ErrEscape) {
			t.Errorf("%s: %v, want ErrEscape", loc, err)
		}
	}
	if err := load("link.bin"); err == nil {
		t.Error("a symlink out of the model directory was followed")
	}
	if err := load("inside.bin", entry("offset", "4"), entry("length", "8")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("past the end: %v", err)
	}
	if err := load("inside.bin", entry("offset", "-1")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("negative offset: %v", err)
	}
	if err := load("missing.bin"); err == nil || errors.Is(err, ErrEscape) {
		t.Errorf("missing file: %v", err)
	}
	if err := load("inside.bin", entry("length", "4")); !errors.Is(err, ErrCorrupt) { // 1 float for dims [2]
		t.Errorf("short data: %v", err)
	}
	if _, err := Load(dir, "model.onnx", Limits{MaxModelBytes: 10}); err == nil {
		t.Error("the model size limit was not applied")
	}
}

func TestCorruptAndTruncated(t *testing.T) {
	b, err := os.ReadFile("testdata/forest/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n++ {
		m, err := Parse(b[:n])
		if err == nil {
			touch(m)
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v is not ErrCorrupt", n, err)
		}
	}
	if _, err := Parse([]byte("not a model at all, just text")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("text: %v", err)
	}
	// Dims whose product overflows are an error, not an allocation.
	huge := msg(varintF(1, 8), bytesF(7, bytesF(5, msg(varintF(1, 1<<40), varintF(1, 1<<40), varintF(2, uint64(Float))))))
	m, err := Parse(huge)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Graph.Initializers[0].Float32s(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge dims: %v", err)
	}
	// Graphs nested in attributes without end.
	g := bytesF(2, []byte("g"))
	for range 20 {
		g = bytesF(1, msg(bytesF(4, []byte("If")), bytesF(5, msg(bytesF(1, []byte("then_branch")), bytesF(6, g)))))
	}
	if _, err := Parse(msg(bytesF(7, g))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("deep nesting: %v", err)
	}
}

// touch reads every tensor of a parsed model as the compiler would.
func touch(m *Model) {
	_ = m.Graph.eachTensor(func(t *Tensor) error {
		_, _ = t.Elements()
		_, _ = t.Float32s()
		_, _ = t.Float64s()
		_, _ = t.Ints()
		_, _ = t.StringValues()
		return nil
	})
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"logreg", "forest", "external"} {
		b, err := os.ReadFile(filepath.Join("testdata", name, "model.onnx"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(externalModel("x.bin"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v is not ErrCorrupt", err)
			}
			return
		}
		touch(m)
		for _, n := range m.Graph.Nodes {
			for _, a := range n.Attrs {
				_ = math.Float32bits(a.F)
			}
		}
	})
}

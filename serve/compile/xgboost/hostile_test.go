package xgboost

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mlbox/serve/compile/ir"
	"mlbox/serve/internal/zootest"
	"mlbox/serve/mlmodel"
)

func fixture(t testing.TB, name string) (*mlmodel.MLmodel, []byte, string) {
	t.Helper()
	mm, file, data := zootest.ModelFile(t, filepath.Join("testdata/zoo", name), Files)
	return mm, data, file
}

func buildBytes(mm *mlmodel.MLmodel, name string, data []byte) (*ir.Model, error) {
	return Build(mm, zootest.File(name, data))
}

// The same model saved as UBJSON and as JSON decodes to the same document
// and describes the same model.
func TestUBJSONEqualsJSON(t *testing.T) {
	_, ubj, _ := fixture(t, "xgb_clf_binary_nan")
	_, js, _ := fixture(t, "xgb_clf_binary_nan_json")
	du, err := decode(ubj, "ubj")
	if err != nil {
		t.Fatal(err)
	}
	dj, err := decode(js, "json")
	if err != nil {
		t.Fatal(err)
	}
	bu, err := parse(du)
	if err != nil {
		t.Fatal(err)
	}
	bj, err := parse(dj)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bu, bj) {
		t.Fatal("the UBJSON and the JSON file of one model read differently")
	}
	if len(bu.trees) != 25 || bu.objective != "binary:logistic" || len(bu.featureNames) != 8 {
		t.Fatalf("read %d trees, objective %s, %d features", len(bu.trees), bu.objective, len(bu.featureNames))
	}
}

func TestUBJSONValues(t *testing.T) {
	doc := []byte("{L\x00\x00\x00\x00\x00\x00\x00\x01aSi\x02hiU\x01b[$d#i\x02\x3f\x80\x00\x00\xc0\x00\x00\x00U\x01c[#U\x03i\xffI\x01\x00Z" +
		"U\x01d[TFD\x3f\xf0\x00\x00\x00\x00\x00\x00]U\x01eNl\x00\x00\x00\x07}")
	v, err := decodeUBJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "hi", "b": []float32{1, -2}, "c": []any{int64(-1), int64(256), nil},
		"d": []any{true, false, 1.0}, "e": int64(7)}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded %#v", v)
	}
}

// A truncated file, at any length, is a clean invalid state; so is a
// file with any one byte changed (never a panic, never a huge
// allocation).
func TestTruncatedAndCorrupt(t *testing.T) {
	for _, name := range []string{"xgb_clf_categorical", "xgb_booster_reg_json"} {
		mm, data, file := fixture(t, name)
		step := max(1, len(data)/400)
		for n := 0; n < len(data); n += step {
			_, err := buildBytes(mm, file, data[:n])
			var ie *ir.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("%s cut to %d bytes: %v", name, n, err)
			}
		}
		for i := 0; i < len(data); i += step {
			for _, c := range []byte{0x00, 0xff, '[', '{', '#', '$', 'L'} {
				b := append([]byte(nil), data...)
				b[i] = c
				_, err := buildBytes(mm, file, b)
				var ie *ir.InvalidError
				var ue *ir.UnsupportedError
				if err != nil && !errors.As(err, &ie) && !errors.As(err, &ue) {
					t.Fatalf("%s byte %d = %q: %v", name, i, c, err)
				}
			}
		}
	}
}

// Lengths and counts larger than the file are refused before anything
// is allocated.
func TestHugeCounts(t *testing.T) {
	for _, doc := range []string{
		"[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff",
		"[#L\x00\x00\x10\x00\x00\x00\x00\x00Z",
		"SL\x00\x00\x00\x00\xff\x00\x00\x00ab",
		"{L\xff\xff\xff\xff\xff\xff\xff\xffa",
		"[$L#l\x10\x00\x00\x00",
		strings.Repeat("[", 100000),
	} {
		if _, err := decodeUBJSON([]byte(doc)); err == nil {
			t.Errorf("%q decoded", doc[:min(len(doc), 12)])
		}
	}
}

// What the compiler refuses, it refuses as unsupported with a reason.
func TestUnsupported(t *testing.T) {
	mm, data, file := fixture(t, "xgb_booster_reg_json")
	for _, c := range []struct{ from, to, want string }{
		{`"reg:squarederror"`, `"binary:hinge"`, "objective binary:hinge"},
		{`]},"name":"gbtree"}`, `]},"name":"gblinear"}`, "gblinear"},
		{`"size_leaf_vector":"1"`, `"size_leaf_vector":"3"`, "multi-output trees"},
	} {
		s := string(data)
		if !strings.Contains(s, c.from) {
			t.Fatalf("the fixture has no %s", c.from)
		}
		_, err := buildBytes(mm, file, []byte(strings.Replace(s, c.from, c.to, 1)))
		var ue *ir.UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.to, err)
		}
	}
}

// A tree whose children point back up is refused, not walked forever.
func TestCyclicTree(t *testing.T) {
	mm, data, file := fixture(t, "xgb_booster_reg_json")
	s := strings.Replace(string(data), `"left_children":[1,`, `"left_children":[0,`, 1)
	if s == string(data) {
		t.Fatal("no left_children in the fixture")
	}
	_, err := buildBytes(mm, file, []byte(s))
	var ie *ir.InvalidError
	if !errors.As(err, &ie) {
		t.Fatal(err)
	}
}

// FuzzModel feeds mutated model files (UBJSON and JSON) to Build: every
// error must be a clean invalid or unsupported state. The seeds are large,
// so run it without long minimization:
//
//	go test -run '^$' -fuzz FuzzModel -fuzzminimizetime 1x ./serve/compile/xgboost/
func FuzzModel(f *testing.F) {
	for _, name := range []string{"xgb_clf_categorical", "xgb_reg_dart", "xgb_booster_multi"} {
		_, data, _ := fixture(f, name)
		f.Add(data)
	}
	_, js, _ := fixture(f, "xgb_booster_reg_json")
	f.Add(js)
	mm, _, _ := fixture(f, "xgb_clf_categorical")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := buildBytes(mm, "model.ubj", data)
		var ie *ir.InvalidError
		var ue *ir.UnsupportedError
		if err != nil && !errors.As(err, &ie) && !errors.As(err, &ue) {
			t.Fatalf("error %v is neither invalid nor unsupported", err)
		}
	})
}

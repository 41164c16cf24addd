package lightgbm

import (
	"errors"
	"path/filepath"
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

func clean(err error) bool {
	var ie *ir.InvalidError
	var ue *ir.UnsupportedError
	return err == nil || errors.As(err, &ie) || errors.As(err, &ue)
}

// A model file cut anywhere, or with bytes changed, is a clean invalid or
// unsupported state, never a panic.
func TestTruncatedAndCorrupt(t *testing.T) {
	for _, name := range []string{"lgb_booster_categorical", "lgb_clf_str_labels", "lgb_clf_binary_nan_pickle"} {
		mm, data, file := fixture(t, name)
		step := max(1, len(data)/300)
		// A text cut after its trees still holds the whole model.
		end := strings.Index(string(data), "end of trees")
		if end < 0 {
			end = len(data)
		}
		for n := 0; n < len(data); n += step {
			if _, err := buildBytes(mm, file, data[:n]); n < end && err == nil || !clean(err) {
				t.Fatalf("%s cut to %d bytes: %v", name, n, err)
			}
		}
		for i := 0; i < len(data); i += step {
			for _, c := range []byte{0, '9', '-', ' ', '\n', '='} {
				b := append([]byte(nil), data...)
				b[i] = c
				if _, err := buildBytes(mm, file, b); !clean(err) {
					t.Fatalf("%s byte %d = %q: %v", name, i, c, err)
				}
			}
		}
	}
}

// Edits of the text that stay well-formed but make no tree: counts that
// disagree, children out of range or shared, category sets out of range.
func TestMalformedTrees(t *testing.T) {
	mm, data, file := fixture(t, "lgb_booster_categorical")
	s := string(data)
	for _, c := range []struct{ from, to string }{
		{"num_leaves=", "num_leaves=9999"},
		{"left_child=", "left_child=0 "},
		{"left_child=", "left_child=-99 "},
		{"cat_boundaries=0", "cat_boundaries=7"},
		{"decision_type=", "decision_type=13 "},
		{"max_feature_idx=3", "max_feature_idx=1"},
		{"num_tree_per_iteration=1", "num_tree_per_iteration=5"},
		{"Tree=1", "Tree=7"},
		{"end of trees", "end of tree"},
	} {
		if !strings.Contains(s, c.from) {
			t.Fatalf("the fixture has no %q", c.from)
		}
		_, err := buildBytes(mm, file, []byte(strings.Replace(s, c.from, c.to, 1)))
		var ie *ir.InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%q: %v", c.to, err)
		}
	}
}

func TestUnsupported(t *testing.T) {
	mm, data, file := fixture(t, "lgb_booster_binary")
	s := string(data)
	for _, c := range []struct{ from, to, want string }{
		{"objective=binary sigmoid:1", "objective=custom", "objective"},
		{"objective=binary sigmoid:1", "objective=regression sqrt", "reg_sqrt"},
		{"is_linear=0", "is_linear=1", "linear trees"},
	} {
		_, err := buildBytes(mm, file, []byte(strings.Replace(s, c.from, c.to, 1)))
		var ue *ir.UnsupportedError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.to, err)
		}
	}
	// A wrapper's file that names a class outside the allow-list.
	mm, data, file = fixture(t, "lgb_clf_binary_nan_pickle")
	b := []byte(strings.Replace(string(data), "lightgbm.sklearn", "lightgbm.sklearz", 1))
	if _, err := buildBytes(mm, file, b); err == nil || !clean(err) {
		t.Errorf("a renamed class: %v", err)
	}
}

// FuzzText feeds mutated model texts to the reader and the front end.
//
//	go test -run '^$' -fuzz FuzzText -fuzzminimizetime 1x ./serve/compile/lightgbm/
func FuzzText(f *testing.F) {
	mm, data, file := fixture(f, "lgb_booster_categorical")
	f.Add(data)
	_, multi, _ := fixture(f, "lgb_booster_multi")
	f.Add(multi)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := buildBytes(mm, file, b); !clean(err) {
			t.Fatalf("error %v is neither invalid nor unsupported", err)
		}
	})
}

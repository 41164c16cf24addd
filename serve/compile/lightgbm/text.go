package lightgbm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A reader of LightGBM's text model format (Booster.save_model, and the
// model string inside the sklearn wrappers' files): "key=value" lines, a
// header, one block per tree from "Tree=<i>" on, "end of trees", then
// feature importances, the parameters and pandas_categorical
// (../shared/reference/gbm-onnx-formats.md §3.2). The text is hostile
// input: every count is checked against the arrays actually present, and
// arrays are at most as long as the text.

// model is what predict uses of a LightGBM model.
type model struct {
	numClass     int
	perIteration int // num_tree_per_iteration
	maxFeature   int // max_feature_idx
	objective    []string
	average      bool // average_output (rf)
	featureNames []string
	trees        []tree
	// catFeatures lists the categorical features (the parameters'
	// categorical_feature), and pandasCats their pandas categories (one
	// list per categorical feature, nil for none).
	catFeatures []int
	pandasCats  []json.RawMessage
	// valueCats are the numeric pandas categories of each feature (set
	// by inputs): the input is the value, the splits test codes.
	valueCats [][]float64
}

type tree struct {
	numLeaves   int
	feature     []int
	threshold   []float64
	decision    []int
	left, right []int
	leafValue   []float64
	catBounds   []int
	catWords    []uint32
	linear      bool
}

type textError struct{ msg string }

func (e *textError) Error() string { return e.msg }

func errf(format string, a ...any) error { return &textError{fmt.Sprintf(format, a...)} }

// parseText reads a model text.
func parseText(s string) (*model, error) {
	if !strings.HasPrefix(s, "tree\n") && !strings.HasPrefix(s, "tree\r\n") {
		return nil, errors.New("not a LightGBM model text (it does not start with \"tree\")")
	}
	m := &model{numClass: 1, perIteration: 1}
	lines := strings.Split(s, "\n")
	i := 1
	header := map[string]string{}
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r")
		if strings.HasPrefix(l, "Tree=") || l == "end of trees" {
			break
		}
		if l == "average_output" {
			m.average = true
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			header[k] = v
		}
	}
	if v := header["version"]; v != "v4" && v != "v3" && v != "v2" {
		return nil, errf("model text version %q (mlbox reads v2 to v4)", v)
	}
	var err error
	if m.numClass, err = headerInt(header, "num_class", 1, 1<<16); err != nil {
		return nil, err
	}
	if m.perIteration, err = headerInt(header, "num_tree_per_iteration", 1, 1<<16); err != nil {
		return nil, err
	}
	if m.maxFeature, err = headerInt(header, "max_feature_idx", 0, 1<<16-1); err != nil {
		return nil, err
	}
	m.objective = strings.Fields(header["objective"])
	if len(m.objective) == 0 {
		return nil, errors.New("the model text has no objective")
	}
	if fn := header["feature_names"]; fn != "" {
		m.featureNames = strings.Fields(fn)
		if len(m.featureNames) != m.maxFeature+1 {
			return nil, errf("%d feature names for %d features", len(m.featureNames), m.maxFeature+1)
		}
	}
	// Tree blocks.
	for i < len(lines) {
		l := strings.TrimRight(lines[i], "\r")
		if l == "end of trees" {
			break
		}
		if !strings.HasPrefix(l, "Tree=") {
			i++
			continue
		}
		if n, err := strconv.Atoi(l[len("Tree="):]); err != nil || n != len(m.trees) {
			return nil, errf("tree block %q where Tree=%d was expected", l, len(m.trees))
		}
		block := map[string]string{}
		for i++; i < len(lines); i++ {
			l := strings.TrimRight(lines[i], "\r")
			if l == "" || strings.HasPrefix(l, "Tree=") || l == "end of trees" {
				break
			}
			if k, v, ok := strings.Cut(l, "="); ok {
				block[k] = v
			}
		}
		t, err := parseTree(block, m.maxFeature)
		if err != nil {
			return nil, fmt.Errorf("tree %d: %w", len(m.trees), err)
		}
		m.trees = append(m.trees, t)
	}
	if i >= len(lines) {
		return nil, errors.New("the model text has no \"end of trees\"")
	}
	if len(m.trees) == 0 {
		return nil, errors.New("the model has no trees")
	}
	// After the trees: the parameters and pandas_categorical.
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r")
		switch {
		case strings.HasPrefix(l, "[categorical_feature: ") && strings.HasSuffix(l, "]"):
			v := strings.TrimSpace(l[len("[categorical_feature: ") : len(l)-1])
			if v == "" {
				continue
			}
			for _, f := range strings.Split(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 0 || n > m.maxFeature {
					return nil, errf("categorical_feature %q", v)
				}
				m.catFeatures = append(m.catFeatures, n)
			}
		case strings.HasPrefix(l, "pandas_categorical:"):
			v := strings.TrimSpace(l[len("pandas_categorical:"):])
			if v == "null" || v == "" {
				continue
			}
			if err := json.Unmarshal([]byte(v), &m.pandasCats); err != nil {
				return nil, errf("pandas_categorical: %v", err)
			}
		}
	}
	return m, nil
}

func headerInt(h map[string]string, key string, lo, hi int) (int, error) {
	v, ok := h[key]
	if !ok {
		return 0, errf("the model text has no %s", key)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, errf("%s=%q", key, v)
	}
	return n, nil
}

func fields(block map[string]string, key string, n int) ([]string, error) {
	f := strings.Fields(block[key])
	if len(f) != n {
		return nil, errf("%s has %d values, want %d", key, len(f), n)
	}
	return f, nil
}

func intsOf(block map[string]string, key string, n int) ([]int, error) {
	f, err := fields(block, key, n)
	if err != nil {
		return nil, err
	}
	out := make([]int, n)
	for i, s := range f {
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, errf("%s: %q is not an integer", key, s)
		}
		out[i] = int(v)
	}
	return out, nil
}

func floatsOf(block map[string]string, key string, n int) ([]float64, error) {
	f, err := fields(block, key, n)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for i, s := range f {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			// LightGBM writes infinities as "inf" / "-inf"; ParseFloat
			// takes those. Anything else is malformed.
			return nil, errf("%s: %q is not a number", key, s)
		}
		out[i] = v
	}
	return out, nil
}

func parseTree(b map[string]string, maxFeature int) (tree, error) {
	var t tree
	nl, err := strconv.Atoi(strings.TrimSpace(b["num_leaves"]))
	// Each leaf takes at least two bytes of leaf_value, so a count
	// beyond the block's text is malformed.
	if err != nil || nl < 1 || nl > len(b["leaf_value"])/2+1 {
		return t, errf("num_leaves=%q", b["num_leaves"])
	}
	t.numLeaves = nl
	if t.leafValue, err = floatsOf(b, "leaf_value", nl); err != nil {
		return t, err
	}
	if b["is_linear"] != "" && strings.TrimSpace(b["is_linear"]) != "0" {
		t.linear = true
		return t, nil
	}
	ni := nl - 1
	if ni == 0 {
		return t, nil
	}
	if t.feature, err = intsOf(b, "split_feature", ni); err != nil {
		return t, err
	}
	if t.threshold, err = floatsOf(b, "threshold", ni); err != nil {
		return t, err
	}
	if t.decision, err = intsOf(b, "decision_type", ni); err != nil {
		return t, err
	}
	if t.left, err = intsOf(b, "left_child", ni); err != nil {
		return t, err
	}
	if t.right, err = intsOf(b, "right_child", ni); err != nil {
		return t, err
	}
	for j, f := range t.feature {
		if f < 0 || f > maxFeature {
			return t, errf("node %d splits on feature %d of %d", j, f, maxFeature+1)
		}
	}
	nc, err := strconv.Atoi(strings.TrimSpace(b["num_cat"]))
	if err != nil || nc < 0 || nc > ni {
		return t, errf("num_cat=%q", b["num_cat"])
	}
	if nc > 0 {
		if t.catBounds, err = intsOf(b, "cat_boundaries", nc+1); err != nil {
			return t, err
		}
		words := strings.Fields(b["cat_threshold"])
		for k, c := range t.catBounds {
			if c < 0 || c > len(words) || k > 0 && c < t.catBounds[k-1] {
				return t, errf("cat_boundaries %v for %d words", t.catBounds, len(words))
			}
		}
		t.catWords = make([]uint32, len(words))
		for k, w := range words {
			v, err := strconv.ParseUint(w, 10, 32)
			if err != nil {
				return t, errf("cat_threshold: %q", w)
			}
			t.catWords[k] = uint32(v)
		}
	}
	return t, nil
}

// Package xgboost is the model compiler's front end for models logged
// with mlflow.xgboost: it reads XGBoost's model file (UBJSON, MLflow's
// default, or JSON) and describes the model for the code generator.
//
// What predicts is reproduced exactly as XGBoost computes it
// (../shared/reference/gbm-onnx-formats.md §2): inputs rounded to
// float32, a numeric split goes left when x < threshold, NaN follows
// default_left, a categorical split sends the codes in its set right, the
// margin starts at the base score (in margin space) and adds every leaf in
// file order in float32, dart's weight_drop scales the leaves, and the
// sklearn wrappers stop at best_iteration after early stopping (a Booster
// uses every tree). What /invocations answers is what mlflow.xgboost's
// pyfunc predict returns: an XGBClassifier's class index, an
// XGBRegressor's value, a Booster's transformed output.
package xgboost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"mlbox/serve/compile/frontend"
	"mlbox/serve/compile/ir"
	"mlbox/serve/mlmodel"
)

// Producer names the front end in compiled models.
const Producer = "mlbox xgboost front end"

// MaxModelBytes bounds the model file read. A decoded document takes up to
// about 16 times its file's size.
const MaxModelBytes = 128 << 20

// ReadFile returns a file of the model directory, at most limit bytes.
type ReadFile = func(name string, limit int64) ([]byte, error)

// Handles says whether the MLmodel is for this front end.
func Handles(mm *mlmodel.MLmodel) bool { return mm.Flavor("xgboost") != nil }

// Files lists the files of the model directory that Build reads.
func Files(mm *mlmodel.MLmodel) ([]string, error) {
	file, err := frontend.DataFile(mm, "xgboost", "data")
	if err != nil {
		return nil, err
	}
	return []string{file}, nil
}

// Build reads the model and returns its description. The errors are
// *ir.UnsupportedError, *ir.InvalidError or read's.
func Build(mm *mlmodel.MLmodel, read ReadFile) (*ir.Model, error) {
	files, err := Files(mm)
	if err != nil {
		return nil, err
	}
	fl := mm.Flavor("xgboost")
	if code := fl.Fields["code"]; code != nil {
		return nil, ir.Unsupportedf("the model was logged with code_paths (%v); mlbox only compiles plain XGBoost models", code)
	}
	class := fl.String("model_class")
	if class == "" {
		class = "xgboost.core.Booster" // what MLflow's loader assumes
	}
	pf := mm.Flavor("python_function")
	if pf == nil {
		return nil, ir.Unsupportedf("the model has no python_function flavor")
	}
	if p := pf.String("predict_fn"); p != "" && p != ir.PredictLabel {
		return nil, ir.Unsupportedf("predict_fn %s (mlflow.xgboost serves predict)", p)
	}
	data, err := read(files[0], MaxModelBytes)
	if err != nil {
		return nil, err
	}
	doc, err := decode(data, fl.String("model_format"))
	if err != nil {
		return nil, ir.Invalidf("%s: %v", files[0], err)
	}
	b, err := parse(doc)
	if err != nil {
		var ue *ir.UnsupportedError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, ir.Invalidf("%s: %v", files[0], err)
	}
	return b.describe(class, mm.Signature)
}

// decode reads the document: JSON when it looks like JSON, else UBJSON
// (MLflow writes UBJSON for the formats ubj, xgb and deprecated).
func decode(data []byte, format string) (any, error) {
	t := bytes.TrimLeft(data, " \t\r\n")
	isJSON := len(t) > 1 && t[0] == '{' && (t[1] == '"' || t[1] == ' ' || t[1] == '\n' || t[1] == '\r' || t[1] == '\t')
	if !isJSON {
		return decodeUBJSON(data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("json: %v", err)
	}
	if dec.More() {
		return nil, errors.New("json: data after the document")
	}
	return v, nil
}

// booster is what predict uses of a model file.
type booster struct {
	version      string
	objective    string
	base         []float32 // base_score as stored
	groups       int       // outputs: max(num_class, num_target, 1)
	numClass     int
	numFeature   int
	featureNames []string
	featureTypes []string
	best         int64 // best_iteration, -1 when absent
	parallel     int64 // num_parallel_tree
	trees        []rawTree
	treeInfo     []int64
	indptr       []int64
	weightDrop   []float32 // dart; nil for gbtree
	cats         []catEnc  // per feature; nil when the file has none
}

type rawTree struct {
	left, right, feat, defLeft, splitType []int64
	cond                                  []float32
	// sets maps a categorical node to its category codes.
	sets map[int64][]int64
}

// catEnc is a categorical feature's category table: code i is strs[i]
// or nums[i].
type catEnc struct {
	strs []string
	nums []float64
}

func parse(doc any) (*booster, error) {
	b := &booster{best: -1, parallel: 1}
	if v, err := ints(opt(doc, "version"), "version"); err == nil {
		parts := make([]string, len(v))
		for i, n := range v {
			parts[i] = strconv.FormatInt(n, 10)
		}
		b.version = strings.Join(parts, ".")
	}
	learner, err := get(doc, "learner")
	if err != nil {
		return nil, err
	}
	if b.objective, err = str(opt(learner, "objective", "name"), "learner.objective.name"); err != nil {
		return nil, err
	}
	mp, err := get(learner, "learner_model_param")
	if err != nil {
		return nil, err
	}
	bs, err := str(opt(mp, "base_score"), "base_score")
	if err != nil {
		return nil, err
	}
	if b.base, err = vector32(bs, "base_score"); err != nil {
		return nil, err
	}
	var nc, nt, nf int64
	if nc, err = intParam(opt(mp, "num_class"), "num_class"); err != nil {
		return nil, err
	}
	nt = 1
	if v := opt(mp, "num_target"); v != nil {
		if nt, err = intParam(v, "num_target"); err != nil {
			return nil, err
		}
	}
	if nf, err = intParam(opt(mp, "num_feature"), "num_feature"); err != nil {
		return nil, err
	}
	if nc < 0 || nc > ir.MaxOutputs || nt < 1 || nt > ir.MaxOutputs || nf < 1 || nf > ir.MaxInputs {
		return nil, fmt.Errorf("num_class %d, num_target %d, num_feature %d", nc, nt, nf)
	}
	b.numClass, b.numFeature = int(nc), int(nf)
	b.groups = max(int(nc), int(nt), 1)
	if len(b.base) != 1 && len(b.base) != b.groups {
		return nil, fmt.Errorf("base_score has %d values for %d outputs", len(b.base), b.groups)
	}
	if b.featureNames, err = strs(opt(learner, "feature_names"), "feature_names"); err != nil {
		return nil, err
	}
	if b.featureTypes, err = strs(opt(learner, "feature_types"), "feature_types"); err != nil {
		return nil, err
	}
	if len(b.featureNames) > 0 && len(b.featureNames) != b.numFeature || len(b.featureTypes) > 0 && len(b.featureTypes) != b.numFeature {
		return nil, fmt.Errorf("%d feature names and %d types for %d features", len(b.featureNames), len(b.featureTypes), b.numFeature)
	}
	if v := opt(learner, "attributes", "best_iteration"); v != nil {
		if b.best, err = intParam(v, "best_iteration"); err != nil {
			return nil, err
		}
	}
	gb, err := get(learner, "gradient_booster")
	if err != nil {
		return nil, err
	}
	name, err := str(opt(gb, "name"), "gradient_booster.name")
	if err != nil {
		return nil, err
	}
	var model any
	switch name {
	case "gbtree":
		model = opt(gb, "model")
	case "dart":
		model = opt(gb, "gbtree", "model")
		if b.weightDrop, err = floats32(opt(gb, "weight_drop"), "weight_drop"); err != nil {
			return nil, err
		}
	case "gblinear":
		return nil, ir.Unsupportedf("XGBoost's linear booster (gblinear); mlbox compiles the tree boosters gbtree and dart")
	default:
		return nil, ir.Unsupportedf("XGBoost booster %q (mlbox compiles gbtree and dart)", name)
	}
	if err := b.parseModel(model); err != nil {
		return nil, err
	}
	if b.weightDrop != nil && len(b.weightDrop) != len(b.trees) {
		return nil, fmt.Errorf("dart: %d weights for %d trees", len(b.weightDrop), len(b.trees))
	}
	return b, nil
}

func (b *booster) parseModel(model any) error {
	if _, err := object(model, "gradient_booster.model"); err != nil {
		return err
	}
	if v := opt(model, "gbtree_model_param", "num_parallel_tree"); v != nil {
		n, err := intParam(v, "num_parallel_tree")
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("num_parallel_tree %d", n)
		}
		b.parallel = n
	}
	trees, ok := opt(model, "trees").([]any)
	if !ok {
		return errors.New("gradient_booster.model.trees is not an array")
	}
	var err error
	if b.treeInfo, err = ints(opt(model, "tree_info"), "tree_info"); err != nil {
		return err
	}
	if len(b.treeInfo) != len(trees) {
		return fmt.Errorf("tree_info has %d entries for %d trees", len(b.treeInfo), len(trees))
	}
	for i, g := range b.treeInfo {
		if g < 0 || g >= int64(b.groups) {
			return fmt.Errorf("tree %d adds to output %d of %d", i, g, b.groups)
		}
	}
	if v := opt(model, "iteration_indptr"); v != nil {
		if b.indptr, err = ints(v, "iteration_indptr"); err != nil {
			return err
		}
	}
	b.trees = make([]rawTree, len(trees))
	for i, t := range trees {
		if err := b.trees[i].parse(t); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	if c := opt(model, "cats"); c != nil {
		if err := b.parseCats(c); err != nil {
			return fmt.Errorf("cats: %w", err)
		}
	}
	return nil
}

func (t *rawTree) parse(v any) error {
	if _, err := object(v, "the tree"); err != nil {
		return err
	}
	if s := opt(v, "tree_param", "size_leaf_vector"); s != nil {
		n, err := intParam(s, "size_leaf_vector")
		if err != nil {
			return err
		}
		if n > 1 {
			return ir.Unsupportedf("multi-output trees (multi_strategy=\"multi_output_tree\"); mlbox compiles one output per tree")
		}
	}
	var err error
	for _, f := range []struct {
		key string
		dst *[]int64
	}{{"left_children", &t.left}, {"right_children", &t.right}, {"split_indices", &t.feat}, {"default_left", &t.defLeft}} {
		if *f.dst, err = ints(opt(v, f.key), f.key); err != nil {
			return err
		}
	}
	if t.cond, err = floats32(opt(v, "split_conditions"), "split_conditions"); err != nil {
		return err
	}
	n := len(t.left)
	if n == 0 {
		return errors.New("no nodes")
	}
	if st := opt(v, "split_type"); st != nil {
		if t.splitType, err = ints(st, "split_type"); err != nil {
			return err
		}
	} else {
		t.splitType = make([]int64, n)
	}
	if len(t.right) != n || len(t.feat) != n || len(t.defLeft) != n || len(t.cond) != n || len(t.splitType) != n {
		return errors.New("node arrays differ in length")
	}
	nodes, err := ints(orEmpty(opt(v, "categories_nodes")), "categories_nodes")
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return nil
	}
	cats, err := ints(orEmpty(opt(v, "categories")), "categories")
	if err != nil {
		return err
	}
	segs, err := ints(orEmpty(opt(v, "categories_segments")), "categories_segments")
	if err != nil {
		return err
	}
	sizes, err := ints(orEmpty(opt(v, "categories_sizes")), "categories_sizes")
	if err != nil {
		return err
	}
	if len(segs) != len(nodes) || len(sizes) != len(nodes) {
		return errors.New("categories_nodes, _segments and _sizes differ in length")
	}
	t.sets = make(map[int64][]int64, len(nodes))
	for k, node := range nodes {
		s, z := segs[k], sizes[k]
		if node < 0 || node >= int64(n) || s < 0 || z < 0 || s > int64(len(cats)) || z > int64(len(cats))-s {
			return fmt.Errorf("category set %d (node %d, %d+%d of %d)", k, node, s, z, len(cats))
		}
		t.sets[node] = cats[s : s+z]
	}
	return nil
}

func orEmpty(v any) any {
	if v == nil {
		return []any{}
	}
	return v
}

func (b *booster) parseCats(v any) error {
	enc, ok := opt(v, "enc").([]any)
	if !ok || len(enc) == 0 {
		return nil
	}
	if len(enc) != b.numFeature {
		return fmt.Errorf("%d category tables for %d features", len(enc), b.numFeature)
	}
	b.cats = make([]catEnc, len(enc))
	for f, e := range enc {
		if off := opt(e, "offsets"); off != nil {
			offs, err := ints(off, "offsets")
			if err != nil {
				return err
			}
			vals, err := ints(orEmpty(opt(e, "values")), "values")
			if err != nil {
				return err
			}
			if len(offs) == 0 {
				continue
			}
			if len(offs)-1 > ir.MaxCategories {
				return fmt.Errorf("feature %d has %d categories (at most %d)", f, len(offs)-1, ir.MaxCategories)
			}
			raw := make([]byte, len(vals))
			for i, c := range vals {
				if c < -128 || c > 255 {
					return fmt.Errorf("feature %d: category bytes out of range", f)
				}
				raw[i] = byte(c)
			}
			for i := 1; i < len(offs); i++ {
				a, z := offs[i-1], offs[i]
				if a < 0 || z < a || z > int64(len(raw)) {
					return fmt.Errorf("feature %d: category offsets %d..%d of %d bytes", f, a, z, len(raw))
				}
				b.cats[f].strs = append(b.cats[f].strs, string(raw[a:z]))
			}
			continue
		}
		vals, err := numbers(opt(e, "values"))
		if err != nil {
			return fmt.Errorf("feature %d: %w", f, err)
		}
		if len(vals) > ir.MaxCategories {
			return fmt.Errorf("feature %d has %d categories (at most %d)", f, len(vals), ir.MaxCategories)
		}
		b.cats[f].nums = vals
	}
	return nil
}

// numbers reads an array of numbers as float64 (nil for nil).
func numbers(v any) ([]float64, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []float64:
		return v, nil
	case []float32:
		out := make([]float64, len(v))
		for i, f := range v {
			out[i] = float64(f)
		}
		return out, nil
	case []int64:
		out := make([]float64, len(v))
		for i, n := range v {
			out[i] = float64(n)
		}
		return out, nil
	case []any:
		out := make([]float64, len(v))
		for i, e := range v {
			switch e := e.(type) {
			case json.Number:
				f, err := strconv.ParseFloat(string(e), 64)
				if err != nil {
					return nil, err
				}
				out[i] = f
			case int64:
				out[i] = float64(e)
			case float64:
				out[i] = e
			default:
				return nil, errors.New("category values are not numbers")
			}
		}
		return out, nil
	}
	return nil, errors.New("category values are not an array")
}

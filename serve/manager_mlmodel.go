package serve

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"mlbox/serve/mlmodel"
)

// wasmFlavor is the `wasm` flavor of an MLmodel file (docs/wasm-abi.md §9).
type wasmFlavor struct {
	Module  string
	SHA256  string
	Profile string
	// Fields repeats the module metadata the flavor states (abi_version,
	// task, dtype, output_dtype, n_features, n_outputs, max_batch_rows),
	// as written, for the agreement check.
	Fields map[string]string
	// compiled: the module was compiled by mlbox from another flavor.
	compiled bool
}

// errNoWasmFlavor: the MLmodel has flavors, none of them wasm.
var errNoWasmFlavor = errors.New("no wasm flavor")

// wasmFlavorOf returns the wasm flavor of a parsed MLmodel, or
// errNoWasmFlavor.
func wasmFlavorOf(mm *mlmodel.MLmodel) (*wasmFlavor, error) {
	f := mm.Flavor("wasm")
	if f == nil {
		return nil, errNoWasmFlavor
	}
	w := &wasmFlavor{Module: f.String("module"), SHA256: strings.ToLower(f.String("sha256")), Profile: f.String("profile"), Fields: map[string]string{}}
	for _, k := range flavorFields {
		if _, ok := f.Fields[k]; ok {
			w.Fields[k] = f.String(k)
		}
	}
	if w.Module == "" {
		return nil, errors.New("the wasm flavor has no module field")
	}
	return w, nil
}

// flavorFields are the module metadata fields the wasm flavor repeats.
var flavorFields = []string{"abi_version", "task", "dtype", "output_dtype", "n_features", "n_outputs", "max_batch_rows"}

// checkFlavor reports where the flavor's copy of the metadata disagrees
// with the module's own (the module is the source of truth, and a
// disagreement refuses the deploy).
func checkFlavor(f *wasmFlavor, m *Metadata) error {
	want := map[string]string{
		"abi_version":    strconv.Itoa(m.ABIVersion),
		"task":           string(m.Task),
		"dtype":          string(m.DType),
		"output_dtype":   string(m.OutputDType),
		"n_features":     strconv.Itoa(m.NFeatures),
		"n_outputs":      strconv.Itoa(m.NOutputs),
		"max_batch_rows": strconv.Itoa(m.MaxBatchRows),
	}
	var bad []string
	for _, k := range flavorFields {
		if got, ok := f.Fields[k]; ok && got != "" && got != "null" && got != want[k] {
			bad = append(bad, fmt.Sprintf("%s is %s in MLmodel, %s in the module", k, got, want[k]))
		}
	}
	if len(bad) > 0 {
		return errors.New("the wasm flavor disagrees with the module's metadata: " + strings.Join(bad, "; "))
	}
	return nil
}

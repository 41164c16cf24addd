// Package frontend holds what the model compiler's front ends (sklearn,
// xgboost, lightgbm) share: reading the model's inputs from its MLmodel
// signature.
package frontend

import (
	"strconv"
	"strings"

	"mlbox/serve/compile/ir"
	"mlbox/serve/mlmodel"
)

// SignatureInputs returns the inputs of a column-based signature, in its
// order (an unnamed column i is "f<i>"); nil when the signature has no
// columns. A column of another type is unsupported.
func SignatureInputs(sig *mlmodel.Signature) ([]ir.Input, error) {
	if sig == nil || len(sig.Inputs.Columns) == 0 {
		return nil, nil
	}
	var out []ir.Input
	for i, c := range sig.Inputs.Columns {
		name := c.Name
		if name == "" {
			name = "f" + strconv.Itoa(i)
		}
		switch c.Type {
		case "double", "float", "long", "integer", "boolean", "string":
		default:
			return nil, ir.Unsupportedf("input column %q has type %s (mlbox takes double, float, long, integer, boolean and string columns)", name, c.Type)
		}
		out = append(out, ir.Input{Name: name, Type: c.Type, Required: c.Required})
	}
	if len(out) > ir.MaxInputs {
		return nil, ir.Unsupportedf("%d input columns (at most %d)", len(out), ir.MaxInputs)
	}
	return out, nil
}

// CheckTensor checks that a signature with one 2-d tensor input (a numpy
// array) has n columns, when it says.
func CheckTensor(sig *mlmodel.Signature, n int) error {
	if sig != nil && len(sig.Inputs.Tensors) == 1 {
		if sh := sig.Inputs.Tensors[0].Shape; len(sh) == 2 && sh[1] > 0 && sh[1] != n {
			return ir.Invalidf("the signature's tensor has %d columns, the model takes %d", sh[1], n)
		}
	}
	return nil
}

// DataFile returns the model file a flavor names under key: a plain file
// name of the model directory (no path, not "." or "..").
func DataFile(mm *mlmodel.MLmodel, flavor, key string) (string, error) {
	fl := mm.Flavor(flavor)
	if fl == nil {
		return "", ir.Unsupportedf("the MLmodel has no %s flavor", flavor)
	}
	file := fl.String(key)
	if file == "" {
		return "", ir.Invalidf("the %s flavor names no %s", flavor, key)
	}
	if strings.ContainsAny(file, `/\`) || file == ".." || file == "." {
		return "", ir.Invalidf("the %s flavor's %s %q is not a file name", flavor, key, file)
	}
	return file, nil
}

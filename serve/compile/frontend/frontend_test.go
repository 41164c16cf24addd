package frontend

import (
	"errors"
	"testing"

	"mlbox/serve/compile/ir"
	"mlbox/serve/mlmodel"
)

func TestSignatureInputs(t *testing.T) {
	sig := &mlmodel.Signature{Inputs: mlmodel.Schema{Columns: []mlmodel.ColSpec{
		{Name: "a", Type: "double", Required: true}, {Type: "string"}, {Name: "c", Type: "long"}}}}
	in, err := SignatureInputs(sig)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 || in[0].Name != "a" || in[0].Type != "double" || !in[0].Required || in[1].Name != "f1" || in[1].Type != "string" || in[2].Required {
		t.Fatalf("inputs %+v", in)
	}
	if in, err := SignatureInputs(nil); in != nil || err != nil {
		t.Fatalf("no signature: %v %v", in, err)
	}
	sig.Inputs.Columns[2].Type = "binary"
	var ue *ir.UnsupportedError
	if _, err := SignatureInputs(sig); !errors.As(err, &ue) {
		t.Fatalf("a binary column: %v", err)
	}
}

func TestCheckTensor(t *testing.T) {
	sig := &mlmodel.Signature{Inputs: mlmodel.Schema{Tensors: []mlmodel.TensorSpec{{DType: "float64", Shape: []int{-1, 4}}}}}
	if err := CheckTensor(sig, 4); err != nil {
		t.Fatal(err)
	}
	var ie *ir.InvalidError
	if err := CheckTensor(sig, 5); !errors.As(err, &ie) {
		t.Fatalf("4 columns for 5 features: %v", err)
	}
	if err := CheckTensor(nil, 5); err != nil {
		t.Fatal(err)
	}
}

package onnx

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"mlbox/serve/compile/frontend"
	"mlbox/serve/compile/ir"
	"mlbox/serve/mlmodel"
)

// MaxModelBytes bounds each file the front end reads (model.onnx and its
// external data files).
const MaxModelBytes = 1 << 30

// ReadFile reads a file of the model directory, at most limit bytes.
type ReadFile = func(name string, limit int64) ([]byte, error)

// Handles says whether the MLmodel is an ONNX model (mlflow.onnx).
func Handles(mm *mlmodel.MLmodel) bool { return mm.Flavor("onnx") != nil }

// Files lists the model file the onnx flavor names.
func Files(mm *mlmodel.MLmodel) ([]string, error) {
	file, err := frontend.DataFile(mm, "onnx", "data")
	if err != nil {
		return nil, err
	}
	return []string{file}, nil
}

// ExternalFiles lists the external data files the model file refers to
// (MLflow saves tensors of 1 KB or more in one), each a path inside the
// model directory.
func ExternalFiles(mm *mlmodel.MLmodel, files map[string][]byte) ([]string, error) {
	names, err := Files(mm)
	if err != nil {
		return nil, err
	}
	m, err := Parse(files[names[0]])
	if err != nil {
		return nil, ir.Invalidf("%s: %v", names[0], err)
	}
	seen := map[string]bool{}
	var out []string
	err = m.Graph.eachTensor(func(t *Tensor) error {
		if t.DataLocation != 1 {
			return nil
		}
		loc, err := location(t)
		if err != nil {
			return err
		}
		if !seen[loc] {
			seen[loc] = true
			out = append(out, loc)
		}
		return nil
	})
	if err != nil {
		return nil, ir.Invalidf("%s: %v", names[0], err)
	}
	return out, nil
}

// location is a tensor's external data file: a relative path that stays
// inside the model directory.
func location(t *Tensor) (string, error) {
	loc := t.External["location"]
	if loc == "" {
		return "", bad("tensor "+t.Name, "external data without a location")
	}
	clean := path.Clean(strings.ReplaceAll(loc, `\`, "/"))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsRune(loc, 0) ||
		(len(clean) > 1 && clean[1] == ':') || clean == "." {
		return "", fmt.Errorf("%w: tensor %s: %q", ErrEscape, t.Name, loc)
	}
	return clean, nil
}

// span is a tensor's [offset, offset+length) in its external file of size n.
func span(t *Tensor, n int64) (int64, int64, error) {
	var off, length int64 = 0, -1
	var err error
	if s, ok := t.External["offset"]; ok {
		if off, err = strconv.ParseInt(s, 10, 64); err != nil || off < 0 {
			return 0, 0, bad("tensor "+t.Name, "external data offset %q", s)
		}
	}
	if s, ok := t.External["length"]; ok {
		if length, err = strconv.ParseInt(s, 10, 64); err != nil || length < 0 {
			return 0, 0, bad("tensor "+t.Name, "external data length %q", s)
		}
	}
	if length < 0 {
		length = n - off
	}
	if off > n || length > n-off {
		return 0, 0, bad("tensor "+t.Name, "external data [%d, +%d) is past the end of its file (%d bytes)", off, length, n)
	}
	return off, length, nil
}

// Build reads the model and its external data and returns its description.
func Build(mm *mlmodel.MLmodel, read ReadFile) (*ir.Model, error) {
	names, err := Files(mm)
	if err != nil {
		return nil, err
	}
	if fl := mm.Flavor("onnx"); fl != nil && fl.Fields["code"] != nil {
		return nil, ir.Unsupportedf("the model was logged with code_paths; mlbox only compiles plain ONNX models")
	}
	data, err := read(names[0], MaxModelBytes)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, ir.Invalidf("%s: %v", names[0], err)
	}
	ext := map[string][]byte{}
	err = m.Graph.eachTensor(func(t *Tensor) error {
		if t.DataLocation != 1 {
			return nil
		}
		loc, err := location(t)
		if err != nil {
			return err
		}
		b, ok := ext[loc]
		if !ok {
			if b, err = read(loc, MaxModelBytes); err != nil {
				return err
			}
			ext[loc] = b
		}
		off, length, err := span(t, int64(len(b)))
		if err != nil {
			return err
		}
		t.Raw, t.DataLocation = b[off:off+length:off+length], 0
		_, _, err = t.raw()
		return err
	})
	if err != nil {
		var ue *ir.UnsupportedError
		var ie *ir.InvalidError
		if errors.As(err, &ue) || errors.As(err, &ie) {
			return nil, err
		}
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrEscape) {
			return nil, ir.Invalidf("%s: %v", names[0], err)
		}
		return nil, err
	}
	low, err := Lower(m)
	if err != nil {
		return nil, err
	}
	model := low.Model
	if err := frontend.CheckTensor(mm.Signature, len(model.Inputs)); err != nil {
		return nil, err
	}
	// A column signature (a DataFrame input example) names the columns,
	// which MLflow feeds to the graph's one input in order.
	// (A graph of several inputs takes each column by its input's name.)
	if cols, err := frontend.SignatureInputs(mm.Signature); err == nil && len(cols) == len(model.Inputs) && low.Inputs == 1 {
		for i, c := range cols {
			in := &model.Inputs[i]
			if (c.Type == "string") != (in.Type == "string") {
				return nil, ir.Unsupportedf("input column %q is a %s; the graph takes a %s", c.Name, c.Type, in.Type)
			}
			in.Name, in.Required = c.Name, c.Required
			if in.Type != "string" {
				in.Type = c.Type
			}
		}
	}
	if err := model.Validate(); err != nil {
		return nil, ir.Invalidf("%s: %v", names[0], err)
	}
	return model, nil
}

// Package compile is mlbox's model compiler: it turns a model logged with
// a standard MLflow flavor into a WebAssembly module of mlbox's model ABI
// (docs/wasm-abi.md), with Go code only.
//
//	model dir ─► MLmodel ─► front end ─► model description ─► code generator ─► module
//	                        (sklearn)     (package ir)         (package wasmgen)
//
// Front ends read one format each and know nothing of wasm; the code
// generator knows nothing of formats. Compile is pure (bytes in, bytes
// out); Cache keeps modules on disk by the content hash of the files they
// were made from, so a restart does not compile again.
package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasmgen"
	"mlbox/serve/mlmodel"
)

// Version identifies the compiler's output: it is part of every cache
// key, so a compiler that generates different code recompiles.
const Version = "mlbox-compile/1"

// States of a registered version, as its mlbox.compile tag shows them.
// A failed compile is "unsupported: <reason>" or "invalid: <reason>".
const (
	StatePending  = "pending"
	StateCompiled = "compiled"
)

// ReadFile returns a file of the model directory (a name relative to it),
// at most limit bytes.
type ReadFile = func(name string, limit int64) ([]byte, error)

// FrontEnd is one model format's reader.
type FrontEnd struct {
	// Name names it (the flavor it reads).
	Name string
	// Handles says whether the MLmodel is for it.
	Handles func(mm *mlmodel.MLmodel) bool
	// Files lists the files of the model directory Build reads.
	Files func(mm *mlmodel.MLmodel) ([]string, error)
	// More, when set, lists further files Build reads, found in the
	// files Files named (ONNX external data); they are read and hashed too.
	More func(mm *mlmodel.MLmodel, files map[string][]byte) ([]string, error)
	// Build reads the model and returns its description; the errors are
	// *ir.UnsupportedError, *ir.InvalidError or read's.
	Build func(mm *mlmodel.MLmodel, read ReadFile) (*ir.Model, error)
	// MaxBytes bounds each file read.
	MaxBytes int64
}

// frontEnds are tried in order; the first that handles a model reads it.
// Each front end registers itself from a frontend_<name>.go file.
var frontEnds []FrontEnd

func register(fe FrontEnd) { frontEnds = append(frontEnds, fe) }

func frontEnd(mm *mlmodel.MLmodel) *FrontEnd {
	for i := range frontEnds {
		if frontEnds[i].Handles(mm) {
			return &frontEnds[i]
		}
	}
	return nil
}

// Compilable reports whether a front end handles the model's flavors.
func Compilable(mm *mlmodel.MLmodel) bool { return frontEnd(mm) != nil }

// Module is a compiled model.
type Module struct {
	Wasm []byte
	// Model is the description it was generated from.
	Model *ir.Model
	// Key is the content hash it is cached under.
	Key string
}

// Source is a model directory read once: the MLmodel and the files the
// front end needs, with the content hash of all of them.
type Source struct {
	MLmodel *mlmodel.MLmodel
	files   map[string][]byte
	fe      *FrontEnd
	// Key is the hash of the compiler version, the MLmodel and the files.
	Key string
}

// Read reads what compiling the model needs. The error is an
// *ir.UnsupportedError for a model no front end handles.
func Read(mlmodelBytes []byte, read ReadFile) (*Source, error) {
	mm, err := mlmodel.Parse(mlmodelBytes)
	if err != nil {
		return nil, ir.Invalidf("%v", err)
	}
	fe := frontEnd(mm)
	if fe == nil {
		return nil, ir.Unsupportedf("no flavor mlbox compiles (flavors: %s)", flavorList(mm))
	}
	names, err := fe.Files(mm)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(Version + "\x00"))
	h.Write(mlmodelBytes)
	src := &Source{MLmodel: mm, files: map[string][]byte{}, fe: fe}
	// add reads a file once into the source and the key.
	add := func(names []string) error {
		for _, n := range names {
			if _, done := src.files[n]; done {
				continue
			}
			b, err := read(n, fe.MaxBytes)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "\x00%s\x00%d\x00", n, len(b))
			h.Write(b)
			src.files[n] = b
		}
		return nil
	}
	if err := add(names); err != nil {
		return nil, err
	}
	if fe.More != nil {
		more, err := fe.More(mm, src.files)
		if err != nil {
			return nil, err
		}
		if err := add(more); err != nil {
			return nil, err
		}
	}
	src.Key = hex.EncodeToString(h.Sum(nil))
	return src, nil
}

// Describe runs the front end.
func (s *Source) Describe() (*ir.Model, error) {
	return s.fe.Build(s.MLmodel, func(name string, limit int64) ([]byte, error) {
		b, ok := s.files[name]
		if !ok {
			return nil, fmt.Errorf("compile: %s was not read", name)
		}
		return b, nil
	})
}

// Compile describes the model and generates its module.
func (s *Source) Compile(opts wasmgen.Options) (*Module, error) {
	m, err := s.Describe()
	if err != nil {
		return nil, err
	}
	wasm, err := wasmgen.Generate(m, opts)
	if err != nil {
		return nil, err
	}
	return &Module{Wasm: wasm, Model: m, Key: s.Key}, nil
}

// State returns the version state for a compile error.
func State(err error) string {
	var ue *ir.UnsupportedError
	var ie *ir.InvalidError
	switch {
	case err == nil:
		return StateCompiled
	case errors.As(err, &ue):
		return ue.Error()
	case errors.As(err, &ie):
		return ie.Error()
	}
	return "failed: " + err.Error()
}

func flavorList(mm *mlmodel.MLmodel) string {
	if len(mm.Flavors) == 0 {
		return "none"
	}
	return strings.Join(mm.FlavorNames(), ", ")
}

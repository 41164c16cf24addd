// Package wasmgen lowers a model description (package ir) to a
// WebAssembly module of mlbox's model ABI (docs/wasm-abi.md).
//
// The generated module is straight-line code inside one loop over rows:
// wazero puts an interrupt check at every loop header, which costs tens
// of nanoseconds, so there is no other loop, and cheap row bodies are
// unrolled several rows per iteration. Slots live in wasm locals (the
// compiler keeps them in registers); constants of element-wise steps and
// dense layers are immediates; trees and other tables are data. Memory:
//
//	metadata | error messages | tables (trees) | row scratch | input buffer | output buffer
//
// A model that passed ir.Validate cannot make the module read or write
// outside its memory: every address is a constant or an index that the
// validated tables bound.
package wasmgen

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"mlbox/serve/compile/ir"
	"mlbox/serve/compile/wasm"
)

// Options tune the generated module. Zero fields take defaults.
type Options struct {
	// MaxBatchRows is the capacity of the input and output buffers in
	// rows. 0 means 1024 (fewer for wide models: the buffers are kept
	// under 8 MiB).
	MaxBatchRows int
	// Name goes into the metadata.
	Name string
	// CompleteDepth is the deepest tree laid out as a complete tree
	// (walked with implicit child indices); deeper trees use node arrays.
	// 0 means 10.
	CompleteDepth int
	// TreeLayout forces one tree layout ("complete", "deep" or
	// "branchy") where the tree allows it; "" chooses per tree. For
	// measurements and tests.
	TreeLayout string
	// RunMin is the fewest consecutive complete trees walked by a loop
	// rather than by straight-line code; 0 means 32.
	RunMin int
	// RunGroup is how many trees a run's loop walks interleaved; 0 means
	// 8. For measurements.
	RunGroup int
	// UnsortedRuns walks a deep run's trees in tree order rather than
	// by depth. For measurements.
	UnsortedRuns bool
	// HeadLevels is how many levels a sorted deep run's trees are walked
	// together before the ones not at a leaf are finished one by one; 0
	// means 8, -1 walks every tree to its group's depth. For
	// measurements.
	HeadLevels int
}

// Limits of the generated module.
const (
	defaultMaxRows = 1024
	maxBufferBytes = 8 << 20
	// maxMemory bounds the module's linear memory (the runtime may cap it
	// lower: serve.memory_limit_mb).
	maxMemory = 4 << 30
	// maxRowCost bounds the instructions of one row's code (about 10
	// bytes each).
	maxRowCost = 4 << 20
)

// Generate returns the module for m, which must pass m.Validate.
func Generate(m *ir.Model, opts Options) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, ir.Invalidf("%v", err)
	}
	if opts.CompleteDepth == 0 {
		opts.CompleteDepth = 10
	}
	if opts.RunMin == 0 {
		opts.RunMin = 32
	}
	g := &gen{m: m, opts: opts, mod: wasm.NewModule(), steps: fuseMaps(foldScales(m), m.Out), exact32: map[int]bool{}}
	for _, s := range g.steps {
		if mp, ok := s.(*ir.Map); ok && len(mp.Ops) > 0 && mp.Ops[len(mp.Ops)-1].Kind == ir.OpRound32 {
			for _, o := range mp.Out {
				g.exact32[o] = true
			}
		}
		if nz, ok := s.(*ir.Normalize); ok && nz.Norm != ir.NormSum {
			for _, o := range nz.Out {
				g.exact32[o] = true
			}
		}
	}
	return g.generate()
}

// gen holds the state of one generation.
type gen struct {
	m    *ir.Model
	opts Options
	mod  *wasm.Module
	f    *wasm.Func // mlbox_predict
	// steps are the model's steps as lowered (see foldScales)
	steps []ir.Step

	// data is the memory image from base: metadata, messages, tables and
	// scratch, laid out before any code is emitted (after the math
	// functions' tables, below the buffers).
	data []byte
	base uint32
	// row buffers, after data
	inputAddr, outputAddr uint32
	maxRows               int
	// per step, what the layout pass placed in memory
	plans []any
	// the message of a bad row count
	rowsMsg    uint32
	rowsMsgLen int32

	errPtr, errLen uint32 // globals

	// locals of mlbox_predict
	in, out, remain uint32
	slot            []uint32 // slot → f64 local
	math            map[string]uint32
	inlineMath      bool
	// exact32 are the slots a Map rounds to float32 last or a float32
	// Normalize writes: their values are float32s (see mapStep).
	exact32 map[int]bool
	// expfTab is the address of ir.ExpfTable in memory (needsExpf).
	expfTab uint32
}

// alloc reserves n bytes of initialised data aligned to align (at most
// 16) and returns its address.
func (g *gen) alloc(n, align int) uint32 {
	for len(g.data)%align != 0 {
		g.data = append(g.data, 0)
	}
	a := g.base + uint32(len(g.data))
	g.data = append(g.data, make([]byte, n)...)
	return a
}

// mem returns the data from address a on.
func (g *gen) mem(a uint32) []byte { return g.data[a-g.base:] }

// put stores bytes as data and returns their address.
func (g *gen) put(b []byte, align int) uint32 {
	a := g.alloc(len(b), align)
	copy(g.mem(a), b)
	return a
}

func (g *gen) generate() ([]byte, error) {
	m := g.m
	nf, no := len(m.Inputs), len(m.Out)
	g.maxRows = g.opts.MaxBatchRows
	if g.maxRows <= 0 {
		g.maxRows = defaultMaxRows
		for g.maxRows > 1 && g.maxRows*max(nf, no)*8 > maxBufferBytes {
			g.maxRows /= 2
		}
	}
	// The math functions keep tables in memory: add the ones the model
	// needs first, then lay the data out after them.
	g.math = map[string]uint32{}
	for _, name := range g.mathNeeded() {
		g.mathFunc(name)
	}
	g.base = (g.mod.StaticEnd() + 15) &^ 15
	meta, err := g.metadata()
	if err != nil {
		return nil, err
	}
	metaAddr := g.put(meta, 8)
	if needsExpf(g.steps) {
		tab := make([]byte, 0, 32*8)
		for _, t := range ir.ExpfTable {
			tab = binary.LittleEndian.AppendUint64(tab, t)
		}
		g.expfTab = g.put(tab, 8)
	}

	// Straight-line code grows with the model: bound it, so that a crafted
	// model cannot make compiling (here and in wazero) take the server
	// down.
	if c := g.rowCost(); c > maxRowCost {
		return nil, ir.Unsupportedf("the model is too large to compile: about %d instructions per row (at most %d)", c, maxRowCost)
	}
	g.rowsMsg, g.rowsMsgLen = g.message(fmt.Sprintf("rows must be between 1 and %d", g.maxRows))
	if err := g.layout(); err != nil {
		return nil, err
	}
	// The buffers go after the data.
	inBytes := uint64(g.maxRows) * uint64(nf) * 8
	outBytes := uint64(g.maxRows) * uint64(no) * 8
	if total := uint64(g.base) + uint64(len(g.data)) + inBytes + outBytes + 64; total > maxMemory {
		return nil, ir.Unsupportedf("the model needs %d MiB of memory", total>>20)
	}
	mod := g.mod
	if a := mod.StaticData(g.data, 16); a != g.base {
		return nil, fmt.Errorf("wasmgen: data placed at %d, laid out for %d", a, g.base)
	}
	g.inputAddr = mod.Reserve(uint32(inBytes), 8)
	g.outputAddr = mod.Reserve(uint32(outBytes), 8)
	total := uint64(mod.StaticEnd())
	g.errPtr = mod.GlobalI32(true, 0)
	g.errLen = mod.GlobalI32(true, 0)
	// mlbox_predict(rows i32) i32
	g.f = mod.AddFunc([]wasm.ValType{wasm.I32}, []wasm.ValType{wasm.I32})
	if err := g.predict(); err != nil {
		return nil, err
	}
	pages := uint32((total + wasm.PageSize - 1) / wasm.PageSize)
	mod.SetMemory(wasm.Memory{Min: pages})
	mod.ExportMemory("memory")

	constFn := func(name string, v int32) {
		f := mod.AddFunc(nil, []wasm.ValType{wasm.I32})
		f.I32Const(v)
		mod.ExportFunc(name, f.Index())
	}
	constFn("mlbox_abi_version", 1)
	constFn("mlbox_metadata_ptr", int32(metaAddr))
	constFn("mlbox_metadata_len", int32(len(meta)))
	constFn("mlbox_input_ptr", int32(g.inputAddr))
	constFn("mlbox_output_ptr", int32(g.outputAddr))
	for _, e := range []struct {
		name string
		g    uint32
	}{{"mlbox_error_ptr", g.errPtr}, {"mlbox_error_len", g.errLen}} {
		f := mod.AddFunc(nil, []wasm.ValType{wasm.I32})
		f.GlobalGet(e.g)
		mod.ExportFunc(e.name, f.Index())
	}
	mod.ExportFunc("mlbox_predict", g.f.Index())
	return mod.Bytes()
}

// metadata renders the ABI metadata (docs/wasm-abi.md §3).
func (g *gen) metadata() ([]byte, error) {
	m := g.m
	type column struct {
		Name       string   `json:"name"`
		Type       string   `json:"type"`
		Optional   bool     `json:"optional,omitempty"`
		Categories []string `json:"categories,omitempty"`
	}
	md := struct {
		ABIVersion   int               `json:"abi_version"`
		Name         string            `json:"name,omitempty"`
		Task         ir.Task           `json:"task"`
		DType        string            `json:"dtype"`
		OutputDType  string            `json:"output_dtype"`
		NFeatures    int               `json:"n_features"`
		FeatureNames []string          `json:"feature_names"`
		NOutputs     int               `json:"n_outputs"`
		OutputNames  []string          `json:"output_names,omitempty"`
		MaxBatchRows int               `json:"max_batch_rows"`
		Producer     string            `json:"producer,omitempty"`
		Columns      []column          `json:"columns"`
		Labels       []json.RawMessage `json:"labels,omitempty"`
		PredictFn    string            `json:"predict_fn,omitempty"`
		NamedOutputs *ir.NamedOutputs  `json:"named_outputs,omitempty"`
	}{ABIVersion: 1, Name: g.opts.Name, Task: m.Task, DType: "f64", OutputDType: "f64",
		NFeatures: len(m.Inputs), NOutputs: len(m.Out), MaxBatchRows: g.maxRows,
		Producer: m.Producer, Labels: m.Labels, PredictFn: m.PredictFn, NamedOutputs: m.Named}
	for _, in := range m.Inputs {
		md.FeatureNames = append(md.FeatureNames, in.Name)
		c := column{Name: in.Name, Type: in.Type, Optional: !in.Required}
		if in.Type == "string" {
			c.Categories = in.Categories
			if c.Categories == nil {
				c.Categories = []string{}
			}
		}
		md.Columns = append(md.Columns, c)
	}
	switch m.Task {
	case ir.Classification:
		for _, l := range m.Labels {
			var s string
			if json.Unmarshal(l, &s) != nil {
				s = string(l)
			}
			md.OutputNames = append(md.OutputNames, s)
		}
		if dup := duplicateName(md.OutputNames); dup {
			md.OutputNames = nil
			for i := range m.Labels {
				md.OutputNames = append(md.OutputNames, fmt.Sprintf("class_%d", i))
			}
		}
		if n := m.Named; n != nil && n.LabelIndex { // the last column: the label's index
			name := "label_index"
			for slices.Contains(md.OutputNames, name) {
				name += "_"
			}
			md.OutputNames = append(md.OutputNames, name)
		}
	case ir.Regression:
		md.OutputNames = m.OutputNames
	}
	b, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	if len(b) > 16<<20 {
		return nil, ir.Unsupportedf("the model's metadata (category tables) is %d MiB, over 16 MiB", len(b)>>20)
	}
	return b, nil
}

func duplicateName(names []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return true
		}
		seen[n] = true
	}
	return false
}

// message stores an error message and returns its address and length.
func (g *gen) message(s string) (uint32, int32) {
	return g.put([]byte(s), 1), int32(len(s))
}

// fail emits: set the error message, return -1.
func (g *gen) fail(addr uint32, n int32) {
	f := g.f
	f.I32Const(int32(addr))
	f.GlobalSet(g.errPtr)
	f.I32Const(n)
	f.GlobalSet(g.errLen)
	f.I32Const(-1)
	f.Op(wasm.Return)
}

// rowCost estimates the instructions of one row's body, to choose how
// many rows one loop iteration handles.
func (g *gen) rowCost() int {
	n := len(g.m.Inputs) + len(g.m.Out)
	for _, s := range g.steps {
		switch s := s.(type) {
		case *ir.Map:
			n += len(s.In) * (2 + 3*len(s.Ops))
		case *ir.Linear:
			n += len(s.W) * 4
		case *ir.Softmax, *ir.Normalize:
			n += len(s.Reads()) * 12
		case *ir.Binary:
			n += len(s.Out) * 4
		case *ir.RBF:
			n += len(s.Out) * (6*len(s.In) + 40)
		case *ir.ArgMax:
			n += len(s.In) * 20
		case *ir.Select:
			n += len(s.Out) * 7
		case *ir.Coupling:
			n += len(s.Out) * len(s.Out) * 30
		case *ir.OneHot:
			n += len(s.Cats) * 6
		case *ir.Neighbors: // loops: the body of each
			n += 10*len(s.In) + 80 + 4*len(s.Out)
		case *ir.Trees:
			for i := range s.Trees {
				if s.Trees[i].Special() {
					n += 16 * len(s.Trees[i].Feature) * 2
				} else {
					n += 12 * s.Trees[i].Depth() * 2
				}
			}
		}
	}
	return n
}

// f32Below returns the largest float32 not above v: for float32 x,
// x <= v exactly when x <= f32Below(v).
func f32Below(v float64) float32 {
	f := float32(v)
	if float64(f) > v {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

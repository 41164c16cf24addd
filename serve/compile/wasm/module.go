// Package wasm writes WebAssembly modules (core spec 2.0, binary format).
//
// A Module collects function types, imported and defined functions, one
// memory, globals, exports and active data segments; Bytes encodes it. A
// Func's body is written with the methods of its embedded Code, one
// instruction per call: Op for the instructions without immediates,
// dedicated methods for the others. The package also provides exp, log,
// expit and tanh written as WebAssembly (math.go), to inline (EmitExp) or
// to call (AddExp).
//
// The writer checks what it can see locally (block nesting, label depths,
// memory bounds of data segments and reservations, duplicate exports);
// the runtime's validator checks the rest, operand types included. Tests
// should run every module through Validate.
//
// Things to know when generating code:
//
//   - Function indices are fixed when a function is added (imports first),
//     so a function can be called before its body is written.
//   - Static memory is handed out by Module.Reserve and StaticData from
//     StaticBase up; the math functions keep a table there. Size the
//     memory with PagesFor(m.StaticEnd()) once everything is reserved.
//   - Branch labels are relative: remember d := f.Depth() after opening a
//     block and branch with f.Br(uint32(f.Depth() - d)).
//   - mlbox runs modules with interrupt checks at every loop header
//     (about 40 ns each); calls and forward branches cost none. Prefer
//     straight-line code and one loop over rows.
package wasm

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// PageSize is the size of a WebAssembly memory page in bytes.
const PageSize = 65536

// MaxPages is the largest number of pages of a 32-bit memory.
const MaxPages = 65536

// funcType is a function signature.
type funcType struct {
	Params, Results []ValType
}

func (t funcType) equal(u funcType) bool {
	return slices.Equal(t.Params, u.Params) && slices.Equal(t.Results, u.Results)
}

// Memory describes the module's linear memory.
type Memory struct {
	Min    uint32 // initial size in pages
	Max    uint32 // maximum size in pages; only when HasMax
	HasMax bool
}

// Module is a WebAssembly module being built. The zero value is not
// usable: call NewModule.
type Module struct {
	types   []funcType
	imports []funcImport
	funcs   []*Func
	mem     *Memory
	globals []global
	exports []export
	data    []dataSegment

	helpers map[string]uint32 // math functions and tables already added, by name

	staticEnd uint32 // end of the memory handed out by Reserve
}

type funcImport struct {
	module, name string
	typ          uint32
}

type global struct {
	t       ValType
	mutable bool
	init    []byte // constant expression without its end
}

type exportKind byte

const (
	exportFunc   exportKind = 0
	exportMemory exportKind = 2
	exportGlobal exportKind = 3
)

type export struct {
	name  string
	kind  exportKind
	index uint32
}

type dataSegment struct {
	offset uint32
	bytes  []byte
	static bool // written by StaticData, inside a reservation
}

// NewModule returns an empty module.
func NewModule() *Module {
	return &Module{helpers: map[string]uint32{}, staticEnd: StaticBase}
}

// Type returns the index of the function type (params) -> (results),
// adding it if the module does not have it yet.
func (m *Module) Type(params, results []ValType) uint32 {
	t := funcType{Params: slices.Clone(params), Results: slices.Clone(results)}
	for i, u := range m.types {
		if u.equal(t) {
			return uint32(i)
		}
	}
	m.types = append(m.types, t)
	return uint32(len(m.types) - 1)
}

// ImportFunc imports a function and returns its function index. Imports
// take the first function indices, so all imports must be added before
// the first AddFunc; ImportFunc panics otherwise.
func (m *Module) ImportFunc(module, name string, params, results []ValType) uint32 {
	if len(m.funcs) > 0 {
		panic("wasm: ImportFunc after AddFunc would renumber the functions")
	}
	m.imports = append(m.imports, funcImport{module, name, m.Type(params, results)})
	return uint32(len(m.imports) - 1)
}

// AddFunc adds a function with the given signature and returns it; write
// its body through its Code methods. Its index is f.Index().
func (m *Module) AddFunc(params, results []ValType) *Func {
	f := &Func{
		m:       m,
		index:   uint32(len(m.imports) + len(m.funcs)),
		typ:     m.Type(params, results),
		params:  slices.Clone(params),
		results: slices.Clone(results),
	}
	m.funcs = append(m.funcs, f)
	return f
}

// NumFuncs returns the number of functions, imported and defined.
func (m *Module) NumFuncs() uint32 { return uint32(len(m.imports) + len(m.funcs)) }

// SetMemory defines the module's memory (memory 0).
func (m *Module) SetMemory(mem Memory) { m.mem = &mem }

// GlobalI32 adds an i32 global with initial value v and returns its index.
func (m *Module) GlobalI32(mutable bool, v int32) uint32 {
	var c Code
	c.I32Const(v)
	return m.addGlobal(I32, mutable, c.b)
}

// GlobalI64 adds an i64 global with initial value v and returns its index.
func (m *Module) GlobalI64(mutable bool, v int64) uint32 {
	var c Code
	c.I64Const(v)
	return m.addGlobal(I64, mutable, c.b)
}

// GlobalF32 adds an f32 global with initial value v and returns its index.
func (m *Module) GlobalF32(mutable bool, v float32) uint32 {
	var c Code
	c.F32Const(v)
	return m.addGlobal(F32, mutable, c.b)
}

// GlobalF64 adds an f64 global with initial value v and returns its index.
func (m *Module) GlobalF64(mutable bool, v float64) uint32 {
	var c Code
	c.F64Const(v)
	return m.addGlobal(F64, mutable, c.b)
}

func (m *Module) addGlobal(t ValType, mutable bool, init []byte) uint32 {
	m.globals = append(m.globals, global{t, mutable, init})
	return uint32(len(m.globals) - 1)
}

// ExportFunc exports function fn under name.
func (m *Module) ExportFunc(name string, fn uint32) {
	m.exports = append(m.exports, export{name, exportFunc, fn})
}

// ExportMemory exports memory 0 under name (the mlbox ABI wants "memory").
func (m *Module) ExportMemory(name string) {
	m.exports = append(m.exports, export{name, exportMemory, 0})
}

// ExportGlobal exports global g under name.
func (m *Module) ExportGlobal(name string, g uint32) {
	m.exports = append(m.exports, export{name, exportGlobal, g})
}

// Data adds an active data segment that copies b into memory 0 at offset
// when the module is instantiated. b is copied. Segments are applied in
// the order they were added. Data is for memory laid out by hand, outside
// [StaticBase, StaticEnd()); use StaticData for memory handed out by
// Reserve.
func (m *Module) Data(offset uint32, b []byte) {
	m.data = append(m.data, dataSegment{offset, slices.Clone(b), false})
}

// StaticBase is the first address Reserve hands out. The bytes below it
// are left unused, so that a stray null pointer does not hit live data.
const StaticBase = 16

// Reserve sets aside size bytes of memory 0 aligned to align (a power of
// two, 1 if 0) and returns their address. Reservations are laid out one
// after the other from StaticBase; the memory's initial size must cover
// StaticEnd() (Bytes checks it). The math functions keep their tables in
// reserved memory, so a module that uses them should place all its static
// data (input and output buffers, metadata, weights) with Reserve or
// StaticData too.
func (m *Module) Reserve(size, align uint32) uint32 {
	if align == 0 {
		align = 1
	}
	if align&(align-1) != 0 {
		panic(fmt.Sprintf("wasm: Reserve: alignment %d is not a power of two", align))
	}
	start := (uint64(m.staticEnd) + uint64(align) - 1) &^ (uint64(align) - 1)
	if start+uint64(size) > MaxPages*PageSize-1 {
		panic(fmt.Sprintf("wasm: Reserve(%d): out of 32-bit memory", size))
	}
	m.staticEnd = uint32(start + uint64(size))
	return uint32(start)
}

// StaticData reserves len(b) bytes aligned to align, has them initialized
// to b by a data segment, and returns their address. b is copied.
func (m *Module) StaticData(b []byte, align uint32) uint32 {
	addr := m.Reserve(uint32(len(b)), align)
	m.data = append(m.data, dataSegment{addr, slices.Clone(b), true})
	return addr
}

// StaticEnd returns the end of the memory handed out by Reserve and
// StaticData. PagesFor(m.StaticEnd()) is the smallest memory that holds it.
func (m *Module) StaticEnd() uint32 { return m.staticEnd }

// PagesFor returns the number of pages needed to hold n bytes.
func PagesFor(n uint64) uint32 { return uint32((n + PageSize - 1) / PageSize) }

// Func is a function being defined. Write its body with the embedded Code
// methods; allocate its locals with Local.
type Func struct {
	Code
	m       *Module
	index   uint32
	typ     uint32
	params  []ValType
	results []ValType
	locals  []ValType            // declared locals, after the parameters
	free    map[ValType][]uint32 // released locals, for reuse
}

// Index returns the function's index, for Call and ExportFunc.
func (f *Func) Index() uint32 { return f.index }

// Params returns the parameter types. Parameter i is local i.
func (f *Func) Params() []ValType { return f.params }

// Results returns the result types.
func (f *Func) Results() []ValType { return f.results }

// Local returns the index of a local of type t: a released one if there
// is one, else a new one. Locals start at zero on each call.
func (f *Func) Local(t ValType) uint32 {
	if s := f.free[t]; len(s) > 0 {
		i := s[len(s)-1]
		f.free[t] = s[:len(s)-1]
		return i
	}
	f.locals = append(f.locals, t)
	return uint32(len(f.params) + len(f.locals) - 1)
}

// Release hands local i back for reuse by a later Local of the same
// type. The caller must not use it any more, and the next owner must not
// assume that it is zero. Releasing a parameter does nothing; releasing a
// local twice panics.
func (f *Func) Release(i uint32) {
	if int(i) < len(f.params) {
		return // parameters are not reused
	}
	if f.free == nil {
		f.free = map[ValType][]uint32{}
	}
	t := f.LocalType(i)
	if slices.Contains(f.free[t], i) {
		panic(fmt.Sprintf("wasm: local %d released twice", i))
	}
	f.free[t] = append(f.free[t], i)
}

// LocalType returns the type of local i (parameters included).
func (f *Func) LocalType(i uint32) ValType {
	if int(i) < len(f.params) {
		return f.params[i]
	}
	return f.locals[int(i)-len(f.params)]
}

// NumLocals returns the number of locals, parameters included.
func (f *Func) NumLocals() uint32 { return uint32(len(f.params) + len(f.locals)) }

// Bytes encodes the module.
func (m *Module) Bytes() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	out := []byte{0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00}
	var s []byte // the section being written

	if len(m.types) > 0 {
		s = appendU32(s[:0], uint32(len(m.types)))
		for _, t := range m.types {
			s = append(s, 0x60)
			s = appendValTypes(s, t.Params)
			s = appendValTypes(s, t.Results)
		}
		out = appendSection(out, 1, s)
	}
	if len(m.imports) > 0 {
		s = appendU32(s[:0], uint32(len(m.imports)))
		for _, im := range m.imports {
			s = appendName(s, im.module)
			s = appendName(s, im.name)
			s = append(s, 0x00) // a function
			s = appendU32(s, im.typ)
		}
		out = appendSection(out, 2, s)
	}
	if len(m.funcs) > 0 {
		s = appendU32(s[:0], uint32(len(m.funcs)))
		for _, f := range m.funcs {
			s = appendU32(s, f.typ)
		}
		out = appendSection(out, 3, s)
	}
	if m.mem != nil {
		s = appendU32(s[:0], 1)
		if m.mem.HasMax {
			s = append(s, 0x01)
			s = appendU32(s, m.mem.Min)
			s = appendU32(s, m.mem.Max)
		} else {
			s = append(s, 0x00)
			s = appendU32(s, m.mem.Min)
		}
		out = appendSection(out, 5, s)
	}
	if len(m.globals) > 0 {
		s = appendU32(s[:0], uint32(len(m.globals)))
		for _, g := range m.globals {
			s = append(s, byte(g.t))
			if g.mutable {
				s = append(s, 0x01)
			} else {
				s = append(s, 0x00)
			}
			s = append(s, g.init...)
			s = append(s, 0x0B)
		}
		out = appendSection(out, 6, s)
	}
	if len(m.exports) > 0 {
		s = appendU32(s[:0], uint32(len(m.exports)))
		for _, e := range m.exports {
			s = appendName(s, e.name)
			s = append(s, byte(e.kind))
			s = appendU32(s, e.index)
		}
		out = appendSection(out, 7, s)
	}
	if len(m.data) > 0 {
		// The data count section lets validators check memory.init and
		// data.drop in one pass; bulk memory requires it before the code.
		s = appendU32(s[:0], uint32(len(m.data)))
		out = appendSection(out, 12, s)
	}
	if len(m.funcs) > 0 {
		s = appendU32(s[:0], uint32(len(m.funcs)))
		var body []byte
		for _, f := range m.funcs {
			body = appendLocals(body[:0], f.locals)
			body = append(body, f.b...)
			body = append(body, 0x0B)
			s = appendU32(s, uint32(len(body)))
			s = append(s, body...)
		}
		out = appendSection(out, 10, s)
	}
	if len(m.data) > 0 {
		s = appendU32(s[:0], uint32(len(m.data)))
		for _, d := range m.data {
			s = append(s, 0x00) // active, memory 0
			s = append(s, 0x41) // i32.const offset
			s = appendS64(s, int64(int32(d.offset)))
			s = append(s, 0x0B)
			s = appendU32(s, uint32(len(d.bytes)))
			s = append(s, d.bytes...)
		}
		out = appendSection(out, 11, s)
	}
	return out, nil
}

// check reports the mistakes the encoder can see.
func (m *Module) check() error {
	var errs []error
	nfunc := m.NumFuncs()
	for _, f := range m.funcs {
		switch {
		case f.err != nil:
			errs = append(errs, fmt.Errorf("function %d: %w", f.index, f.err))
		case f.depth != 0:
			errs = append(errs, fmt.Errorf("function %d: %d blocks not closed", f.index, f.depth))
		}
	}
	if m.mem != nil {
		if m.mem.Min > MaxPages || (m.mem.HasMax && (m.mem.Max > MaxPages || m.mem.Max < m.mem.Min)) {
			errs = append(errs, fmt.Errorf("memory: invalid limits %+v", *m.mem))
		}
	}
	seen := map[string]bool{}
	for _, e := range m.exports {
		if seen[e.name] {
			errs = append(errs, fmt.Errorf("export %q: duplicate name", e.name))
		}
		seen[e.name] = true
		if !utf8.ValidString(e.name) {
			errs = append(errs, fmt.Errorf("export %q: not UTF-8", e.name))
		}
		switch {
		case e.kind == exportFunc && e.index >= nfunc:
			errs = append(errs, fmt.Errorf("export %q: no function %d", e.name, e.index))
		case e.kind == exportGlobal && e.index >= uint32(len(m.globals)):
			errs = append(errs, fmt.Errorf("export %q: no global %d", e.name, e.index))
		case e.kind == exportMemory && m.mem == nil:
			errs = append(errs, fmt.Errorf("export %q: the module has no memory", e.name))
		}
	}
	for _, im := range m.imports {
		if !utf8.ValidString(im.module) || !utf8.ValidString(im.name) {
			errs = append(errs, fmt.Errorf("import %q %q: not UTF-8", im.module, im.name))
		}
	}
	for i, d := range m.data {
		switch {
		case m.mem == nil:
			errs = append(errs, fmt.Errorf("data segment %d: the module has no memory", i))
		case uint64(d.offset)+uint64(len(d.bytes)) > uint64(m.mem.Min)*PageSize:
			errs = append(errs, fmt.Errorf("data segment %d: bytes [%d, %d) are beyond the initial memory (%d pages)",
				i, d.offset, uint64(d.offset)+uint64(len(d.bytes)), m.mem.Min))
		case !d.static && len(d.bytes) > 0 && m.staticEnd > StaticBase &&
			d.offset < m.staticEnd && uint64(d.offset)+uint64(len(d.bytes)) > StaticBase:
			errs = append(errs, fmt.Errorf("data segment %d: bytes [%d, %d) overlap the reserved memory [%d, %d)",
				i, d.offset, uint64(d.offset)+uint64(len(d.bytes)), StaticBase, m.staticEnd))
		}
	}
	if m.staticEnd > StaticBase {
		switch {
		case m.mem == nil:
			errs = append(errs, fmt.Errorf("memory is reserved up to %d but the module has no memory", m.staticEnd))
		case uint64(m.staticEnd) > uint64(m.mem.Min)*PageSize:
			errs = append(errs, fmt.Errorf("memory is reserved up to %d, beyond the initial memory (%d pages; %d needed)",
				m.staticEnd, m.mem.Min, PagesFor(uint64(m.staticEnd))))
		}
	}
	return errors.Join(errs...)
}

func appendSection(out []byte, id byte, content []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(content)))
	return append(out, content...)
}

func appendValTypes(b []byte, ts []ValType) []byte {
	b = appendU32(b, uint32(len(ts)))
	for _, t := range ts {
		b = append(b, byte(t))
	}
	return b
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

// appendLocals appends the local declarations: runs of equal types.
func appendLocals(b []byte, locals []ValType) []byte {
	groups := 0
	for i := range locals {
		if i == 0 || locals[i] != locals[i-1] {
			groups++
		}
	}
	b = appendU32(b, uint32(groups))
	for i := 0; i < len(locals); {
		j := i
		for j < len(locals) && locals[j] == locals[i] {
			j++
		}
		b = appendU32(b, uint32(j-i))
		b = append(b, byte(locals[i]))
		i = j
	}
	return b
}

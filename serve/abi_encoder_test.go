package serve

// A minimal WebAssembly binary encoder, enough to hand-assemble the test
// modules of the ABI conformance tests (wazero has no WAT parser).

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Value types and opcodes used below.
const (
	tI32 byte = 0x7f
	tI64 byte = 0x7e
	tF64 byte = 0x7c

	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opReturn      = 0x0f
	opCall        = 0x10
	opDrop        = 0x1a
	opLocalGet    = 0x20
	opLocalSet    = 0x21
	opI32Load     = 0x28
	opF64Load     = 0x2b
	opI32Store    = 0x36
	opF64Store    = 0x39
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opF64Const    = 0x44
	opI32Eq       = 0x46
	opI32GeS      = 0x4e
	opI32Add      = 0x6a
	opI32Mul      = 0x6c
	opF64Add      = 0xa0
	opF64Mul      = 0xa2
	blockEmpty    = 0x40
)

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func name(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }

// code is a function body under construction.
type code []byte

func (c code) op(ops ...byte) code       { return append(c, ops...) }
func (c code) i32(v int32) code          { return sleb(append(c, opI32Const), int64(v)) }
func (c code) get(i uint32) code         { return uleb(append(c, opLocalGet), uint64(i)) }
func (c code) set(i uint32) code         { return uleb(append(c, opLocalSet), uint64(i)) }
func (c code) call(f uint32) code        { return uleb(append(c, opCall), uint64(f)) }
func (c code) br(op byte, d uint32) code { return uleb(append(c, op), uint64(d)) }
func (c code) f64(v float64) code {
	return binary.LittleEndian.AppendUint64(append(c, opF64Const), math.Float64bits(v))
}

// mem appends a load or store with alignment log2 align and offset off.
func (c code) mem(op byte, align, off uint32) code {
	return uleb(uleb(append(c, op), uint64(align)), uint64(off))
}

type wasmFunc struct {
	typ    int
	locals []byte
	body   code
}

type wasmModule struct {
	types   []string // "params:results", deduplicated
	imports []struct {
		mod, name string
		typ       int
	}
	funcs   []wasmFunc
	memMin  uint32
	memMax  int64 // -1: none
	exports []struct {
		name string
		kind byte
		idx  uint32
	}
	data []struct {
		off uint32
		b   []byte
	}
}

func (m *wasmModule) typ(params, results []byte) int {
	key := string(params) + ":" + string(results)
	for i, t := range m.types {
		if t == key {
			return i
		}
	}
	m.types = append(m.types, key)
	return len(m.types) - 1
}

func (m *wasmModule) importFunc(mod, fn string, params, results []byte) uint32 {
	m.imports = append(m.imports, struct {
		mod, name string
		typ       int
	}{mod, fn, m.typ(params, results)})
	return uint32(len(m.imports) - 1)
}

// fn adds a function and exports it as exportName unless that is empty.
func (m *wasmModule) fn(exportName string, params, results, locals []byte, body code) uint32 {
	m.funcs = append(m.funcs, wasmFunc{m.typ(params, results), locals, append(body, opEnd)})
	idx := uint32(len(m.imports) + len(m.funcs) - 1)
	if exportName != "" {
		m.export(exportName, 0, idx)
	}
	return idx
}

func (m *wasmModule) export(n string, kind byte, idx uint32) {
	m.exports = append(m.exports, struct {
		name string
		kind byte
		idx  uint32
	}{n, kind, idx})
}

func (m *wasmModule) dataAt(off uint32, b []byte) {
	m.data = append(m.data, struct {
		off uint32
		b   []byte
	}{off, b})
}

func (m *wasmModule) encode() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, count int, body []byte) {
		if count == 0 {
			return
		}
		payload := append(uleb(nil, uint64(count)), body...)
		out = append(out, id)
		out = uleb(out, uint64(len(payload)))
		out = append(out, payload...)
	}
	var b []byte
	for _, t := range m.types {
		p, r, _ := strings.Cut(t, ":")
		b = append(b, 0x60)
		b = append(uleb(b, uint64(len(p))), p...)
		b = append(uleb(b, uint64(len(r))), r...)
	}
	section(1, len(m.types), b)
	b = nil
	for _, im := range m.imports {
		b = name(name(b, im.mod), im.name)
		b = uleb(append(b, 0x00), uint64(im.typ))
	}
	section(2, len(m.imports), b)
	b = nil
	for _, f := range m.funcs {
		b = uleb(b, uint64(f.typ))
	}
	section(3, len(m.funcs), b)
	if m.memMax >= 0 {
		section(5, 1, uleb(uleb([]byte{0x01}, uint64(m.memMin)), uint64(m.memMax)))
	} else {
		section(5, 1, uleb([]byte{0x00}, uint64(m.memMin)))
	}
	b = nil
	for _, e := range m.exports {
		b = uleb(append(name(b, e.name), e.kind), uint64(e.idx))
	}
	section(7, len(m.exports), b)
	b = nil
	for _, f := range m.funcs {
		var fb []byte
		fb = uleb(fb, uint64(len(f.locals)))
		for _, l := range f.locals {
			fb = append(uleb(fb, 1), l)
		}
		fb = append(fb, f.body...)
		b = append(uleb(b, uint64(len(fb))), fb...)
	}
	section(10, len(m.funcs), b)
	b = nil
	for _, d := range m.data {
		b = append(b, 0x00)
		b = append(sleb(append(b, opI32Const), int64(int32(d.off))), opEnd)
		b = append(uleb(b, uint64(len(d.b))), d.b...)
	}
	section(11, len(m.data), b)
	return out
}

// Behaviours of the mock model's mlbox_predict, chosen by the first input
// value of the batch (truncated to an integer; anything else predicts).
const (
	modePredict     = 0
	modeUnreachable = 1 // traps
	modeLoop        = 2 // loops forever
	modeHog         = 3 // grows memory until memory.grow fails, then traps
	modeWrongCount  = 4 // claims rows*n_outputs+1 values
	modeReport      = 5 // returns -7 with an error message
	modeExit        = 6 // writes to stderr and calls proc_exit(2), like a Go panic
	modeOOB         = 7 // loads out of bounds
)

// mockSpec describes a mock model. Its prediction is
// out[i][k] = (k+1) * sum_j in[i][j], in f64.
type mockSpec struct {
	NF, NO, MaxRows int
	Meta            string // metadata JSON; empty = derived from the fields
	ABIVersion      int32  // returned by mlbox_abi_version; 0 = 1
	Omit            string // leave this export out
	WrongSig        string // give this export the signature func(i64) i32
	Import          [2]string
	Init            bool   // metadata length only valid after _initialize
	InitLoops       bool   // _initialize loops forever
	Start           bool   // export _start (a WASI command)
	InputPtr        int64  // override mlbox_input_ptr; 0 = default
	MemMin          uint32 // pages; 0 = 1
	MemMax          int64  // pages; 0 = no maximum
	Always          int32  // when not 0, the mode of every call, whatever the input
}

const (
	mockFlag   = 256
	mockIOV    = 512
	mockPanic  = 600
	mockMeta   = 1024
	mockErr    = 4096
	mockInput  = 8192
	mockErrMsg = "mode 5 says no"
	mockStderr = "panic: mock model exploded\n"
)

func (s mockSpec) withDefaults() mockSpec {
	if s.NF == 0 {
		s.NF = 4
	}
	if s.NO == 0 {
		s.NO = 2
	}
	if s.MaxRows == 0 {
		s.MaxRows = 64
	}
	if s.ABIVersion == 0 {
		s.ABIVersion = 1
	}
	if s.MemMin == 0 {
		s.MemMin = 1
	}
	if s.Meta == "" {
		s.Meta = fmt.Sprintf(`{"abi_version":1,"name":"mock","task":"regression","dtype":"f64","output_dtype":"f64",`+
			`"n_features":%d,"n_outputs":%d,"max_batch_rows":%d}`, s.NF, s.NO, s.MaxRows)
	}
	return s
}

func (s mockSpec) outputAt() uint32 { return uint32(mockInput + s.MaxRows*s.NF*8) }

// mockModule assembles the module described by s.
func mockModule(s mockSpec) []byte {
	s = s.withDefaults()
	m := &wasmModule{memMin: s.MemMin, memMax: -1}
	if s.MemMax > 0 {
		m.memMax = s.MemMax
	}
	fdWrite := m.importFunc("wasi_snapshot_preview1", "fd_write", []byte{tI32, tI32, tI32, tI32}, []byte{tI32})
	procExit := m.importFunc("wasi_snapshot_preview1", "proc_exit", []byte{tI32}, nil)
	if s.Import[0] != "" {
		m.importFunc(s.Import[0], s.Import[1], nil, nil)
	}
	m.export("memory", 2, 0)

	ret := []byte{tI32}
	constFn := func(exp string, v int32) {
		if exp == s.Omit {
			return
		}
		if exp == s.WrongSig {
			m.fn(exp, []byte{tI64}, ret, nil, code{}.i32(v))
			return
		}
		m.fn(exp, nil, ret, nil, code{}.i32(v))
	}
	constFn(ExportABIVersion, s.ABIVersion)
	constFn(ExportMetadataPtr, mockMeta)
	if s.InitLoops {
		m.fn(ExportInitialize, nil, nil, nil, code{}.op(opLoop, blockEmpty).br(opBr, 0).op(opEnd))
	}
	if s.Init {
		m.fn(ExportInitialize, nil, nil, nil, code{}.i32(mockFlag).i32(int32(len(s.Meta))).mem(opI32Store, 2, 0))
		m.fn(ExportMetadataLen, nil, ret, nil, code{}.i32(mockFlag).mem(opI32Load, 2, 0))
	} else {
		constFn(ExportMetadataLen, int32(len(s.Meta)))
	}
	if s.InputPtr != 0 {
		constFn(ExportInputPtr, int32(s.InputPtr))
	} else {
		constFn(ExportInputPtr, mockInput)
	}
	constFn(ExportOutputPtr, int32(s.outputAt()))
	constFn(ExportErrorPtr, mockErr)
	constFn(ExportErrorLen, int32(len(mockErrMsg)))
	if s.Start {
		m.fn("_start", nil, nil, nil, code{})
	}

	// mlbox_predict. Locals: 0 rows, 1 i, 2 mode, 3 sum (f64), 4 in, 5 out.
	c := code{}.i32(mockInput).mem(opF64Load, 3, 0).op(0xfc, 0x02).set(2) // i32.trunc_sat_f64_s
	if s.Always != 0 {
		c = code{}.i32(s.Always).set(2)
	}
	when := func(mode int32, body code) {
		c = c.get(2).i32(mode).op(opI32Eq, opIf, blockEmpty)
		c = append(c, body...)
		c = c.op(opEnd)
	}
	when(modeUnreachable, code{}.op(opUnreachable))
	when(modeLoop, code{}.op(opLoop, blockEmpty).br(opBr, 0).op(opEnd))
	when(modeHog, code{}.op(opLoop, blockEmpty).i32(16).op(opMemoryGrow, 0x00).i32(-1).op(opI32Eq, opIf, blockEmpty, opUnreachable, opEnd).br(opBr, 0).op(opEnd))
	when(modeWrongCount, code{}.get(0).i32(int32(s.NO)).op(opI32Mul).i32(1).op(opI32Add, opReturn))
	when(modeReport, code{}.i32(-7).op(opReturn))
	when(modeExit, code{}.i32(2).i32(mockIOV).i32(1).i32(mockIOV+8).call(fdWrite).op(opDrop).i32(2).call(procExit).op(opUnreachable))
	when(modeOOB, code{}.i32(-8).mem(opF64Load, 3, 0).op(opDrop))
	// for i := 0; i < rows; i++ { in := IN + i*NF*8; out := OUT + i*NO*8; sum := Σ in[j]; out[k] = (k+1)*sum }
	c = c.op(opBlock, blockEmpty, opLoop, blockEmpty)
	c = c.get(1).get(0).op(opI32GeS).br(opBrIf, 1)
	c = c.get(1).i32(int32(s.NF * 8)).op(opI32Mul).i32(mockInput).op(opI32Add).set(4)
	c = c.get(1).i32(int32(s.NO * 8)).op(opI32Mul).i32(int32(s.outputAt())).op(opI32Add).set(5)
	c = c.f64(0)
	for j := 0; j < s.NF; j++ {
		c = c.get(4).mem(opF64Load, 3, uint32(8*j)).op(opF64Add)
	}
	c = c.set(3)
	for k := 0; k < s.NO; k++ {
		c = c.get(5).get(3).f64(float64(k+1)).op(opF64Mul).mem(opF64Store, 3, uint32(8*k))
	}
	c = c.get(1).i32(1).op(opI32Add).set(1).br(opBr, 0)
	c = c.op(opEnd, opEnd)
	c = c.get(0).i32(int32(s.NO)).op(opI32Mul)
	if s.Omit != ExportPredict {
		if s.WrongSig == ExportPredict {
			m.fn(ExportPredict, []byte{tI64}, ret, nil, code{}.i32(0))
		} else {
			m.fn(ExportPredict, []byte{tI32}, ret, []byte{tI32, tI32, tF64, tI32, tI32}, c)
		}
	}

	iov := binary.LittleEndian.AppendUint32(nil, mockPanic)
	iov = binary.LittleEndian.AppendUint32(iov, uint32(len(mockStderr)))
	m.dataAt(mockIOV, iov)
	m.dataAt(mockPanic, []byte(mockStderr))
	m.dataAt(mockMeta, []byte(s.Meta))
	m.dataAt(mockErr, []byte(mockErrMsg))
	return m.encode()
}

// mockWant is the mock model's prediction for in.
func mockWant(s mockSpec, in []float64) []float64 {
	s = s.withDefaults()
	rows := len(in) / s.NF
	out := make([]float64, 0, rows*s.NO)
	for i := 0; i < rows; i++ {
		var sum float64
		for j := 0; j < s.NF; j++ {
			sum += in[i*s.NF+j]
		}
		for k := 0; k < s.NO; k++ {
			out = append(out, sum*float64(k+1))
		}
	}
	return out
}

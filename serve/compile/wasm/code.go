package wasm

import (
	"fmt"
	"math"
)

// ValType is a WebAssembly value type.
type ValType byte

// The value types.
const (
	I32  ValType = 0x7F
	I64  ValType = 0x7E
	F32  ValType = 0x7D
	F64  ValType = 0x7C
	V128 ValType = 0x7B
)

func (t ValType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	case V128:
		return "v128"
	}
	return fmt.Sprintf("valtype(0x%02x)", byte(t))
}

func (t ValType) valid() bool { return t >= V128 && t <= I32 }

// BlockType is the type of a block, loop or if: Void, Result(t), or
// TypeIndex(i) for a block with parameters or several results. It is
// encoded as a signed LEB128 (s33).
type BlockType int64

// Void is the type of a block that takes and leaves nothing.
const Void BlockType = -0x40

// Result is the type of a block that leaves one value of type t.
func Result(t ValType) BlockType { return BlockType(int64(t) - 0x80) }

// TypeIndex is the type of a block whose parameters and results are those
// of the function type with index i (see Module.Type).
func TypeIndex(i uint32) BlockType { return BlockType(i) }

// Code is a function body being written: each method appends one
// instruction. Mistakes that can be seen locally (an End without a block,
// a branch to a label that does not exist, Op given an instruction that
// needs an immediate) are remembered; the first one is returned by Err and
// by Module.Bytes. Anything else (operand types, stack heights) is checked
// by the runtime's validator: use Validate in tests.
//
// Do not write the body's final end: Module.Bytes adds it.
type Code struct {
	b     []byte
	depth int
	err   error
}

// Bytes returns the instructions written so far.
func (c *Code) Bytes() []byte { return c.b }

// Len returns the number of bytes written so far.
func (c *Code) Len() int { return len(c.b) }

// Err returns the first mistake made while writing, if any.
func (c *Code) Err() error { return c.err }

// Depth returns the number of blocks, loops and ifs currently open. The
// function body itself is depth 0. To branch to a block from inside it,
// remember d := c.Depth() right after opening it and use c.Br(uint32(c.Depth()-d)).
func (c *Code) Depth() int { return c.depth }

func (c *Code) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("at byte %d: %s", len(c.b), fmt.Sprintf(format, args...))
	}
}

func (c *Code) op(op Op) {
	if op > 0xFF {
		c.b = append(c.b, byte(op>>8))
		c.b = appendU32(c.b, uint32(op&0xFF))
		return
	}
	c.b = append(c.b, byte(op))
}

// Op appends instructions that take no immediate: numeric, comparison and
// conversion instructions, Unreachable, Nop, Return, Drop, Select, and
// SIMD arithmetic.
func (c *Code) Op(ops ...Op) {
	for _, op := range ops {
		if !plainOp(op) {
			c.fail("Op(0x%x): the instruction needs an immediate; use its own method", uint16(op))
			return
		}
		c.op(op)
	}
}

func (c *Code) blockType(bt BlockType) {
	if bt < 0 && bt != Void && !ValType(bt+0x80).valid() {
		c.fail("invalid block type %d", bt)
	}
	c.b = appendS64(c.b, int64(bt))
}

// Block opens a block; a branch to it jumps to its end.
func (c *Code) Block(bt BlockType) {
	c.b = append(c.b, 0x02)
	c.blockType(bt)
	c.depth++
}

// Loop opens a loop; a branch to it jumps back to its start. The runtime
// may insert an interrupt check at each loop header (see docs/wasm-abi.md §7).
func (c *Code) Loop(bt BlockType) {
	c.b = append(c.b, 0x03)
	c.blockType(bt)
	c.depth++
}

// If pops an i32 and opens a block that runs if it is not zero.
func (c *Code) If(bt BlockType) {
	c.b = append(c.b, 0x04)
	c.blockType(bt)
	c.depth++
}

// Else starts the else part of the innermost if.
func (c *Code) Else() {
	if c.depth == 0 {
		c.fail("else outside an if")
	}
	c.b = append(c.b, 0x05)
}

// End closes the innermost block, loop or if.
func (c *Code) End() {
	if c.depth == 0 {
		c.fail("end without an open block (the function's own end is added by Module.Bytes)")
		return
	}
	c.depth--
	c.b = append(c.b, 0x0B)
}

func (c *Code) label(l uint32) {
	if int64(l) > int64(c.depth) {
		c.fail("branch to label %d at depth %d", l, c.depth)
	}
	c.b = appendU32(c.b, l)
}

// Br branches to the label l levels out: 0 is the innermost open block,
// Depth() is the function body (a return).
func (c *Code) Br(l uint32) {
	c.b = append(c.b, 0x0C)
	c.label(l)
}

// BrIf pops an i32 and branches to label l if it is not zero.
func (c *Code) BrIf(l uint32) {
	c.b = append(c.b, 0x0D)
	c.label(l)
}

// BrTable pops an i32 i and branches to labels[i], or to def if i is out
// of range.
func (c *Code) BrTable(labels []uint32, def uint32) {
	c.b = append(c.b, 0x0E)
	c.b = appendU32(c.b, uint32(len(labels)))
	for _, l := range labels {
		c.label(l)
	}
	c.label(def)
}

// Call calls the function with index fn (imports first, then the module's
// functions in the order they were added).
func (c *Code) Call(fn uint32) {
	c.b = append(c.b, 0x10)
	c.b = appendU32(c.b, fn)
}

// LocalGet pushes local i (parameters come first).
func (c *Code) LocalGet(i uint32) { c.b = appendU32(append(c.b, 0x20), i) }

// LocalSet pops a value into local i.
func (c *Code) LocalSet(i uint32) { c.b = appendU32(append(c.b, 0x21), i) }

// LocalTee stores the top of the stack into local i and leaves it there.
func (c *Code) LocalTee(i uint32) { c.b = appendU32(append(c.b, 0x22), i) }

// GlobalGet pushes global i.
func (c *Code) GlobalGet(i uint32) { c.b = appendU32(append(c.b, 0x23), i) }

// GlobalSet pops a value into the mutable global i.
func (c *Code) GlobalSet(i uint32) { c.b = appendU32(append(c.b, 0x24), i) }

// Mem appends a load or store of memory 0 with the natural alignment of
// op. The effective address is the i32 address operand plus offset.
func (c *Code) Mem(op Op, offset uint32) {
	align, ok := memNaturalAlign(op)
	if !ok {
		c.fail("Mem(0x%x): not a load or store", uint16(op))
		return
	}
	c.MemAlign(op, align, offset)
}

// MemAlign is Mem with an explicit alignment hint: log2 of the byte
// alignment, at most the natural one. The hint only affects speed: an
// unaligned access is still correct.
func (c *Code) MemAlign(op Op, alignLog2, offset uint32) {
	natural, ok := memNaturalAlign(op)
	if !ok {
		c.fail("MemAlign(0x%x): not a load or store", uint16(op))
		return
	}
	if alignLog2 > natural {
		c.fail("alignment 2^%d is larger than the access", alignLog2)
	}
	c.op(op)
	c.b = appendU32(c.b, alignLog2)
	c.b = appendU32(c.b, offset)
}

// Lane appends a SIMD extract_lane or replace_lane instruction.
func (c *Code) Lane(op Op, lane byte) {
	n, ok := laneCount(op)
	if !ok {
		c.fail("Lane(0x%x): not a lane instruction", uint16(op))
		return
	}
	if int(lane) >= n {
		c.fail("lane %d out of range", lane)
	}
	c.op(op)
	c.b = append(c.b, lane)
}

// MemorySize pushes the size of memory 0 in pages.
func (c *Code) MemorySize() { c.b = append(c.b, 0x3F, 0x00) }

// MemoryGrow pops a number of pages, grows memory 0 by it and pushes the
// old size in pages, or -1 if it could not grow.
func (c *Code) MemoryGrow() { c.b = append(c.b, 0x40, 0x00) }

// MemoryCopy pops (dst, src, n: i32) and copies n bytes; the ranges may
// overlap.
func (c *Code) MemoryCopy() { c.b = append(c.b, prefixMisc, 0x0A, 0x00, 0x00) }

// MemoryFill pops (dst, value, n: i32) and sets n bytes to the low byte of
// value.
func (c *Code) MemoryFill() { c.b = append(c.b, prefixMisc, 0x0B, 0x00) }

// I32Const pushes v.
func (c *Code) I32Const(v int32) { c.b = appendS64(append(c.b, 0x41), int64(v)) }

// I64Const pushes v.
func (c *Code) I64Const(v int64) { c.b = appendS64(append(c.b, 0x42), v) }

// F32Const pushes v, bit for bit.
func (c *Code) F32Const(v float32) { c.F32Bits(math.Float32bits(v)) }

// F64Const pushes v, bit for bit.
func (c *Code) F64Const(v float64) { c.F64Bits(math.Float64bits(v)) }

// F32Bits pushes the f32 with the given IEEE-754 bits (any NaN payload).
func (c *Code) F32Bits(bits uint32) {
	c.b = append(c.b, 0x43, byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24))
}

// F64Bits pushes the f64 with the given IEEE-754 bits (any NaN payload).
func (c *Code) F64Bits(bits uint64) {
	c.b = append(c.b, 0x44)
	for i := 0; i < 8; i++ {
		c.b = append(c.b, byte(bits>>(8*i)))
	}
}

// V128Const pushes a 128-bit vector given as its 16 little-endian bytes.
func (c *Code) V128Const(v [16]byte) {
	c.op(0xFD0C)
	c.b = append(c.b, v[:]...)
}

// F64x2Const pushes the vector (lo, hi).
func (c *Code) F64x2Const(lo, hi float64) {
	var v [16]byte
	a, b := math.Float64bits(lo), math.Float64bits(hi)
	for i := 0; i < 8; i++ {
		v[i], v[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	c.V128Const(v)
}

// appendU32 appends v as an unsigned LEB128.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendS64 appends v as a signed LEB128.
func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

package wasm

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

func TestLEB(t *testing.T) {
	s := []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}},
		{-1, []byte{0x7F}},
		{63, []byte{0x3F}},
		{64, []byte{0xC0, 0x00}},
		{-64, []byte{0x40}},
		{-65, []byte{0xBF, 0x7F}},
		{127, []byte{0xFF, 0x00}},
		{128, []byte{0x80, 0x01}},
		{math.MaxInt32, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x07}},
		{math.MinInt32, []byte{0x80, 0x80, 0x80, 0x80, 0x78}},
		{math.MaxInt64, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}},
		{math.MinInt64, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7F}},
	}
	for _, c := range s {
		if got := appendS64(nil, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("sleb(%d) = % x, want % x", c.v, got, c.want)
		}
	}
	u := []struct {
		v    uint32
		want []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7F}},
		{128, []byte{0x80, 0x01}},
		{16383, []byte{0xFF, 0x7F}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{math.MaxUint32, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}},
	}
	for _, c := range u {
		if got := appendU32(nil, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("uleb(%d) = % x, want % x", c.v, got, c.want)
		}
	}
}

// TestConsts returns constants from functions: LEB128 boundaries for the
// integers, exact bit patterns for the floats.
func TestConsts(t *testing.T) {
	i32s := []int32{0, 1, -1, 63, 64, -64, -65, 127, 128, -128, -129, 8191, 8192, -8192, -8193,
		math.MaxInt32, math.MinInt32, math.MaxInt32 - 1, math.MinInt32 + 1, 1 << 20, -(1 << 20)}
	i64s := []int64{0, 1, -1, 63, 64, -64, -65, math.MaxInt32, math.MinInt32, math.MaxUint32, 1 << 32,
		-(1 << 32), 1 << 55, -(1 << 55), 1<<56 - 1, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}
	f32s := []uint32{0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7FA00001, 0xFFC00123, 1, 0x7F7FFFFF, 0x3F800000}
	f64s := []uint64{0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000,
		0x7FF4000000000001, 0xFFF8000000000123, 1, 0x7FEFFFFFFFFFFFFF, 0x3FF0000000000000, b64(math.Pi)}
	m := NewModule()
	var names []string
	var types []ValType
	var want []uint64
	add := func(t ValType, v uint64, emit func(f *Func)) {
		f := m.AddFunc(nil, []ValType{t})
		emit(f)
		name := string(rune('A'+len(names)%26)) + strings.Repeat("x", len(names)/26)
		m.ExportFunc(name, f.Index())
		names, types, want = append(names, name), append(types, t), append(want, v)
	}
	for _, v := range i32s {
		add(I32, uint64(uint32(v)), func(f *Func) { f.I32Const(v) })
	}
	for _, v := range i64s {
		add(I64, uint64(v), func(f *Func) { f.I64Const(v) })
	}
	for _, v := range f32s {
		add(F32, uint64(v), func(f *Func) { f.F32Bits(v) })
		add(F32, uint64(v), func(f *Func) { f.F32Const(math.Float32frombits(v)) })
	}
	for _, v := range f64s {
		add(F64, v, func(f *Func) { f.F64Bits(v) })
		add(F64, v, func(f *Func) { f.F64Const(math.Float64frombits(v)) })
	}
	mod := instantiate(t, newRuntime(t), m)
	for i, name := range names {
		got, _ := call(t, mod, name)
		if types[i] == I32 {
			got = uint64(uint32(got))
		}
		if got != want[i] {
			t.Errorf("const %d: got %s, want %s (exact bits)", i, show(types[i], got), show(types[i], want[i]))
		}
	}
}

func TestControl(t *testing.T) {
	m := NewModule()
	i32 := []ValType{I32}

	// sum(n) = n + (n-1) + ... + 1, with a loop and a block to leave it.
	sum := m.AddFunc(i32, i32)
	acc := sum.Local(I32)
	sum.Block(Void)
	sum.Loop(Void)
	sum.LocalGet(0)
	sum.Op(I32Eqz)
	sum.BrIf(1)
	sum.LocalGet(acc)
	sum.LocalGet(0)
	sum.Op(I32Add)
	sum.LocalSet(acc)
	sum.LocalGet(0)
	sum.I32Const(1)
	sum.Op(I32Sub)
	sum.LocalSet(0)
	sum.Br(0)
	sum.End()
	sum.End()
	sum.LocalGet(acc)
	m.ExportFunc("sum", sum.Index())

	// pick(x) = x ? 10 : 20, with if/else and a result.
	pick := m.AddFunc(i32, i32)
	pick.LocalGet(0)
	pick.If(Result(I32))
	pick.I32Const(10)
	pick.Else()
	pick.I32Const(20)
	pick.End()
	m.ExportFunc("pick", pick.Index())

	// table(i): br_table over 3 cases and a default.
	table := m.AddFunc(i32, i32)
	for range 4 {
		table.Block(Void)
	}
	table.LocalGet(0)
	table.BrTable([]uint32{0, 1, 2, 0}, 3)
	table.End()
	table.I32Const(100)
	table.Op(Return)
	table.End()
	table.I32Const(101)
	table.Op(Return)
	table.End()
	table.I32Const(102)
	table.Op(Return)
	table.End()
	table.I32Const(103)
	m.ExportFunc("table", table.Index())

	// sel(a, b, c) = c ? a : b
	sel := m.AddFunc([]ValType{F64, F64, I32}, []ValType{F64})
	sel.LocalGet(0)
	sel.LocalGet(1)
	sel.LocalGet(2)
	sel.Op(Select)
	m.ExportFunc("sel", sel.Index())

	// twice(x) = x < 0 ? -1 : 2x, called through caller(x) = twice(x) + 1.
	// caller is added first so that it calls a function defined later.
	caller := m.AddFunc(i32, i32)
	twice := m.AddFunc(i32, i32)
	twice.LocalGet(0)
	twice.I32Const(0)
	twice.Op(I32LtS)
	twice.If(Void)
	twice.I32Const(-1)
	twice.Op(Return)
	twice.End()
	twice.LocalGet(0)
	twice.I32Const(1)
	twice.Op(I32Shl)
	caller.LocalGet(0)
	caller.Call(twice.Index())
	caller.I32Const(1)
	caller.Op(I32Add)
	m.ExportFunc("caller", caller.Index())

	// pair(x) = x * (x+1), the two factors left by a block typed (i32) -> (i32, i32).
	pair := m.AddFunc(i32, i32)
	tmp := pair.Local(I32)
	pair.LocalGet(0)
	pair.Block(TypeIndex(m.Type(i32, []ValType{I32, I32})))
	pair.LocalTee(tmp)
	pair.LocalGet(tmp)
	pair.I32Const(1)
	pair.Op(I32Add)
	pair.End()
	pair.Op(I32Mul)
	m.ExportFunc("pair", pair.Index())

	// two() returns (7, 8): multi-value results.
	two := m.AddFunc(nil, []ValType{I32, I64})
	two.I32Const(7)
	two.I64Const(8)
	m.ExportFunc("two", two.Index())

	// trap() hits unreachable; depth() branches to the function body from two blocks in.
	trap := m.AddFunc(nil, nil)
	trap.Op(Unreachable)
	m.ExportFunc("trap", trap.Index())
	depth := m.AddFunc(nil, i32)
	depth.Block(Void)
	depth.Block(Void)
	depth.I32Const(5)
	depth.Br(uint32(depth.Depth())) // return 5
	depth.End()
	depth.End()
	depth.I32Const(6)
	m.ExportFunc("depth", depth.Index())

	mod := instantiate(t, newRuntime(t), m)
	check := func(name string, arg uint64, want int32) {
		t.Helper()
		got, trapped := call(t, mod, name, arg)
		if trapped || int32(got) != want {
			t.Errorf("%s(%d) = %d (trap %v), want %d", name, int64(arg), int32(got), trapped, want)
		}
	}
	check("sum", 0, 0)
	check("sum", 10, 55)
	check("sum", 1000, 500500)
	check("pick", 0, 20)
	check("pick", 7, 10)
	for i, want := range []int32{100, 101, 102, 100, 103, 103} {
		check("table", uint64(i), want)
	}
	check("table", uint64(uint32(0xFFFFFFFF)), 103)
	check("caller", 21, 43)
	check("caller", uint64(uint32(0xFFFFFFFB)), 0)
	check("pair", 6, 42)
	if got, trapped := call(t, mod, "depth"); trapped || got != 5 {
		t.Errorf("depth() = %d (trap %v), want 5", got, trapped)
	}
	if got, _ := call(t, mod, "sel", b64(1.5), b64(2.5), 1); f64(got) != 1.5 {
		t.Errorf("sel(1.5, 2.5, 1) = %v", f64(got))
	}
	if got, _ := call(t, mod, "sel", b64(1.5), b64(2.5), 0); f64(got) != 2.5 {
		t.Errorf("sel(1.5, 2.5, 0) = %v", f64(got))
	}
	out, err := mod.ExportedFunction("two").Call(testCtx)
	if err != nil || len(out) != 2 || out[0] != 7 || out[1] != 8 {
		t.Errorf("two() = %v, %v", out, err)
	}
	if _, trapped := call(t, mod, "trap"); !trapped {
		t.Error("unreachable did not trap")
	}
}

func TestMemory(t *testing.T) {
	data := make([]byte, 256)
	for i := range data {
		data[i] = byte(i*37 + 0x81)
	}
	const base = 1000
	m := NewModule()
	m.SetMemory(Memory{Min: 1, Max: 4, HasMax: true})
	m.ExportMemory("memory")
	m.Data(base, data)

	loads := []struct {
		op   Op
		t    ValType
		size int
		eval func(b []byte) uint64
	}{
		{I32Load, I32, 4, func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }},
		{I64Load, I64, 8, func(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }},
		{F32Load, F32, 4, func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }},
		{F64Load, F64, 8, func(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }},
		{I32Load8S, I32, 1, func(b []byte) uint64 { return uint64(uint32(int32(int8(b[0])))) }},
		{I32Load8U, I32, 1, func(b []byte) uint64 { return uint64(b[0]) }},
		{I32Load16S, I32, 2, func(b []byte) uint64 { return uint64(uint32(int32(int16(binary.LittleEndian.Uint16(b))))) }},
		{I32Load16U, I32, 2, func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint16(b)) }},
		{I64Load8S, I64, 1, func(b []byte) uint64 { return uint64(int64(int8(b[0]))) }},
		{I64Load8U, I64, 1, func(b []byte) uint64 { return uint64(b[0]) }},
		{I64Load16S, I64, 2, func(b []byte) uint64 { return uint64(int64(int16(binary.LittleEndian.Uint16(b)))) }},
		{I64Load16U, I64, 2, func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint16(b)) }},
		{I64Load32S, I64, 4, func(b []byte) uint64 { return uint64(int64(int32(binary.LittleEndian.Uint32(b)))) }},
		{I64Load32U, I64, 4, func(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }},
	}
	offsets := []uint32{0, 1, 3, 8, 100, 200}
	type loadFn struct {
		name   string
		offset uint32
		i      int
	}
	var loadFns []loadFn
	for i, l := range loads {
		for _, off := range offsets {
			// (addr) -> value, with natural alignment and with the
			// smallest alignment hint.
			for align := range 2 {
				f := m.AddFunc([]ValType{I32}, []ValType{l.t})
				f.LocalGet(0)
				if align == 0 {
					f.Mem(l.op, off)
				} else {
					f.MemAlign(l.op, 0, off)
				}
				name := "load" + string(rune('a'+i)) + string(rune('a'+len(loadFns)%26)) + strings.Repeat("z", len(loadFns)/26)
				m.ExportFunc(name, f.Index())
				loadFns = append(loadFns, loadFn{name, off, i})
			}
		}
	}
	stores := []struct {
		op   Op
		t    ValType
		size int
	}{
		{I32Store, I32, 4}, {I64Store, I64, 8}, {F32Store, F32, 4}, {F64Store, F64, 8},
		{I32Store8, I32, 1}, {I32Store16, I32, 2}, {I64Store8, I64, 1}, {I64Store16, I64, 2}, {I64Store32, I64, 4},
	}
	for i, s := range stores {
		f := m.AddFunc([]ValType{I32, s.t}, nil)
		f.LocalGet(0)
		f.LocalGet(1)
		f.Mem(s.op, 3)
		m.ExportFunc("store"+string(rune('a'+i)), f.Index())
	}
	// grow(n) = memory.grow(n); size() = memory.size
	grow := m.AddFunc([]ValType{I32}, []ValType{I32})
	grow.LocalGet(0)
	grow.MemoryGrow()
	m.ExportFunc("grow", grow.Index())
	size := m.AddFunc(nil, []ValType{I32})
	size.MemorySize()
	m.ExportFunc("size", size.Index())
	// copy(dst, src, n) and fill(dst, v, n)
	cp := m.AddFunc([]ValType{I32, I32, I32}, nil)
	cp.LocalGet(0)
	cp.LocalGet(1)
	cp.LocalGet(2)
	cp.MemoryCopy()
	m.ExportFunc("copy", cp.Index())
	fill := m.AddFunc([]ValType{I32, I32, I32}, nil)
	fill.LocalGet(0)
	fill.LocalGet(1)
	fill.LocalGet(2)
	fill.MemoryFill()
	m.ExportFunc("fill", fill.Index())

	mod := instantiate(t, newRuntime(t), m)
	mem := mod.ExportedMemory("memory")
	if mem == nil {
		t.Fatal("memory not exported")
	}
	if got, _ := mem.Read(base, uint32(len(data))); !bytes.Equal(got, data) {
		t.Fatal("data segment not in memory")
	}
	for _, lf := range loadFns {
		l := loads[lf.i]
		for _, addr := range []uint32{base, base + 1, base + 2, base + 7, base + 13} {
			want := l.eval(data[addr-base+lf.offset:])
			got, trapped := call(t, mod, lf.name, uint64(addr))
			if trapped || !sameBits(l.t, got, want) {
				t.Errorf("load op 0x%x offset %d at %d = %s, want %s", uint16(l.op), lf.offset, addr, show(l.t, got), show(l.t, want))
			}
		}
	}
	// Out of bounds traps.
	if _, trapped := call(t, mod, loadFns[0].name, PageSize-3); !trapped {
		t.Error("i32.load at 65533 did not trap")
	}
	const val = 0x8877665544332211
	for i, s := range stores {
		addr := uint32(5000 + 16*i)
		if _, trapped := call(t, mod, "store"+string(rune('a'+i)), uint64(addr), val); trapped {
			t.Fatalf("store 0x%x trapped", uint16(s.op))
		}
		got, _ := mem.Read(addr+3, 9)
		want := make([]byte, 9)
		binary.LittleEndian.PutUint64(want, val)
		clear(want[s.size:])
		if !bytes.Equal(got, want) {
			t.Errorf("store 0x%x wrote % x, want % x", uint16(s.op), got, want)
		}
	}
	if got, _ := call(t, mod, "size"); got != 1 {
		t.Errorf("memory.size = %d", got)
	}
	if got, _ := call(t, mod, "grow", 2); got != 1 {
		t.Errorf("memory.grow(2) = %d, want 1", int32(got))
	}
	if got, _ := call(t, mod, "grow", 2); int32(got) != -1 {
		t.Errorf("memory.grow past max = %d, want -1", int32(got))
	}
	if got, _ := call(t, mod, "size"); got != 3 {
		t.Errorf("memory.size after grow = %d", got)
	}
	// Overlapping copy forward, then fill.
	call(t, mod, "copy", base+10, base, 100)
	if got, _ := mem.Read(base+10, 100); !bytes.Equal(got, data[:100]) {
		t.Error("overlapping memory.copy is wrong")
	}
	call(t, mod, "fill", 70000, 0x1AB, 300)
	if got, _ := mem.Read(69999, 302); got[0] != 0 || got[301] != 0 || !bytes.Equal(got[1:301], bytes.Repeat([]byte{0xAB}, 300)) {
		t.Error("memory.fill is wrong")
	}
}

func TestGlobals(t *testing.T) {
	m := NewModule()
	counter := m.GlobalI64(true, -5)
	pi := m.GlobalF64(false, math.Pi)
	m.GlobalI32(false, -65)
	h := m.GlobalF32(true, 0.25)
	next := m.AddFunc(nil, []ValType{I64})
	next.GlobalGet(counter)
	next.I64Const(1)
	next.Op(I64Add)
	next.GlobalSet(counter)
	next.GlobalGet(counter)
	m.ExportFunc("next", next.Index())
	m.ExportGlobal("pi", pi)
	m.ExportGlobal("h", h)
	mod := instantiate(t, newRuntime(t), m)
	for want := int64(-4); want < 0; want++ {
		if got, _ := call(t, mod, "next"); int64(got) != want {
			t.Errorf("next() = %d, want %d", int64(got), want)
		}
	}
	if got := f64(mod.ExportedGlobal("pi").Get()); got != math.Pi {
		t.Errorf("pi = %v", got)
	}
	g := mod.ExportedGlobal("h")
	if _, ok := g.(api.MutableGlobal); !ok || f32(g.Get()) != 0.25 {
		t.Errorf("h = %v, mutable %v", f32(g.Get()), ok)
	}
}

// TestLargeData loads a few MiB of segments, later ones overlapping
// earlier ones.
func TestLargeData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]byte, 3<<20+17)
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	m := NewModule()
	m.SetMemory(Memory{Min: 64})
	m.ExportMemory("memory")
	const base = 8
	m.Data(base, want)
	patch := []byte("overwritten by a later segment")
	m.Data(base+1<<20, patch)
	copy(want[1<<20:], patch)
	m.Data(base+uint32(len(want)), []byte{}) // empty, at the end
	mod := instantiate(t, newRuntime(t), m)
	got, ok := mod.ExportedMemory("memory").Read(base, uint32(len(want)))
	if !ok || !bytes.Equal(got, want) {
		t.Fatal("memory does not hold the data segments")
	}
}

// TestManyLocals declares thousands of locals in runs of mixed types,
// sets each to its index and sums them.
func TestManyLocals(t *testing.T) {
	m := NewModule()
	f := m.AddFunc([]ValType{I64}, []ValType{F64})
	kinds := []ValType{F64, F64, I64, I32, F32, F64}
	var locals []uint32
	for i := range 6000 {
		locals = append(locals, f.Local(kinds[(i/7)%len(kinds)]))
	}
	acc := f.Local(F64)
	for n, l := range locals {
		switch f.LocalType(l) {
		case I32:
			f.I32Const(int32(n))
			f.LocalSet(l)
			f.LocalGet(l)
			f.Op(F64ConvertI32S)
		case I64:
			f.I64Const(int64(n))
			f.LocalGet(0) // + param (0)
			f.Op(I64Add)
			f.LocalTee(l)
			f.Op(F64ConvertI64S)
		case F32:
			f.F32Const(float32(n))
			f.LocalSet(l)
			f.LocalGet(l)
			f.Op(F64PromoteF32)
		case F64:
			f.F64Const(float64(n))
			f.LocalSet(l)
			f.LocalGet(l)
		}
		f.LocalGet(acc)
		f.Op(F64Add)
		f.LocalSet(acc)
	}
	f.LocalGet(acc)
	m.ExportFunc("sum", f.Index())
	mod := instantiate(t, newRuntime(t), m)
	got, _ := call(t, mod, "sum", 0)
	if want := float64(6000 * 5999 / 2); f64(got) != want {
		t.Errorf("sum = %v, want %v", f64(got), want)
	}
	if f.NumLocals() != 6002 {
		t.Errorf("NumLocals = %d", f.NumLocals())
	}

	// Released locals are reused by type.
	g := m.AddFunc([]ValType{I32}, nil)
	a, b := g.Local(F64), g.Local(I32)
	g.Release(a)
	g.Release(b)
	g.Release(0) // a parameter: ignored
	if g.Local(I32) != b || g.Local(F64) != a || g.Local(F64) == a || g.Local(I32) == 0 {
		t.Error("Release/Local do not reuse locals by type")
	}
}

func TestImportFunc(t *testing.T) {
	r := newRuntime(t)
	_, err := r.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithFunc(func(x int32) int32 { return x + 1000 }).Export("add1000").
		Instantiate(testCtx)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModule()
	imp := m.ImportFunc("env", "add1000", []ValType{I32}, []ValType{I32})
	f := m.AddFunc([]ValType{I32}, []ValType{I32})
	f.LocalGet(0)
	f.Call(imp)
	m.ExportFunc("f", f.Index())
	if f.Index() != 1 {
		t.Fatalf("defined function index %d, want 1", f.Index())
	}
	mod := instantiate(t, r, m)
	if got, _ := call(t, mod, "f", 5); got != 1005 {
		t.Errorf("f(5) = %d", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("ImportFunc after AddFunc did not panic")
		}
	}()
	m.ImportFunc("env", "late", nil, nil)
}

func TestSIMD(t *testing.T) {
	m := NewModule()
	m.SetMemory(Memory{Min: 1})
	m.ExportMemory("memory")
	// axpy(p): mem[p+32..] = mem[p..]*(2, 3) + mem[p+16..] + splat(0.5); returns lane 1 of the result.
	f := m.AddFunc([]ValType{I32}, []ValType{F64})
	v := f.Local(V128)
	f.LocalGet(0)
	f.LocalGet(0)
	f.Mem(V128Load, 0)
	f.F64x2Const(2, 3)
	f.Op(F64x2Mul)
	f.LocalGet(0)
	f.Mem(V128Load, 16)
	f.Op(F64x2Add)
	f.F64Const(0.5)
	f.Op(F64x2Splat)
	f.Op(F64x2Add)
	f.LocalTee(v)
	f.Mem(V128Store, 32)
	f.LocalGet(v)
	f.Lane(F64x2ExtractLane, 1)
	m.ExportFunc("axpy", f.Index())
	mod := instantiate(t, newRuntime(t), m)
	mem := mod.Memory()
	for i, x := range []float64{1.25, -4, 10, 100} {
		mem.WriteFloat64Le(64+uint32(8*i), x)
	}
	got, _ := call(t, mod, "axpy", 64)
	lo, _ := mem.ReadFloat64Le(96)
	if lo != 1.25*2+10+0.5 || f64(got) != -4*3+100+0.5 {
		t.Errorf("axpy = (%v, %v)", lo, f64(got))
	}
}

// TestErrors checks the mistakes Bytes and Code report.
func TestErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func(m *Module)
		want  string
	}{
		{"unclosed", func(m *Module) { m.AddFunc(nil, nil).Block(Void) }, "not closed"},
		{"extra end", func(m *Module) { m.AddFunc(nil, nil).End() }, "end without"},
		{"label", func(m *Module) { f := m.AddFunc(nil, nil); f.Block(Void); f.Br(2); f.End() }, "label 2"},
		{"op immediate", func(m *Module) { m.AddFunc(nil, nil).Op(I32Load) }, "immediate"},
		{"mem op", func(m *Module) { m.AddFunc(nil, nil).Mem(I32Add, 0) }, "not a load"},
		{"align", func(m *Module) { m.AddFunc(nil, nil).MemAlign(I32Load, 3, 0) }, "alignment"},
		{"lane", func(m *Module) { m.AddFunc(nil, nil).Lane(F64x2ExtractLane, 2) }, "lane 2"},
		{"no memory", func(m *Module) { m.Data(0, []byte{1}) }, "no memory"},
		{"data bounds", func(m *Module) { m.SetMemory(Memory{Min: 1}); m.Data(PageSize-1, []byte{1, 2}) }, "beyond"},
		{"memory limits", func(m *Module) { m.SetMemory(Memory{Min: 2, Max: 1, HasMax: true}) }, "limits"},
		{"dup export", func(m *Module) {
			f := m.AddFunc(nil, nil)
			m.ExportFunc("x", f.Index())
			m.ExportFunc("x", f.Index())
		}, "duplicate"},
		{"export func", func(m *Module) { m.ExportFunc("x", 3) }, "no function"},
		{"export memory", func(m *Module) { m.ExportMemory("memory") }, "no memory"},
		{"reserve memory", func(m *Module) { m.SetMemory(Memory{Min: 1}); m.Reserve(PageSize, 8) }, "2 needed"},
		{"reserve no memory", func(m *Module) { m.Reserve(1, 1) }, "no memory"},
		{"data in reserved", func(m *Module) {
			m.SetMemory(Memory{Min: 1})
			m.Reserve(100, 8)
			m.Data(100, []byte{1})
		}, "overlap"},
	}
	for _, c := range cases {
		m := NewModule()
		c.build(m)
		_, err := m.Bytes()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	// A type error is left to the validator.
	m := NewModule()
	f := m.AddFunc(nil, []ValType{I32})
	f.F64Const(1)
	b, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if Validate(b) == nil {
		t.Error("Validate accepted a function returning f64 as i32")
	}
}

// TestEmptyModule: the smallest modules are valid.
func TestEmptyModule(t *testing.T) {
	for _, m := range []*Module{NewModule(), func() *Module { m := NewModule(); m.AddFunc(nil, nil); return m }()} {
		b := build(t, m)
		if !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
			t.Errorf("bad header % x", b[:8])
		}
	}
	m := NewModule()
	if m.Type([]ValType{I32}, nil) != m.Type([]ValType{I32}, nil) || m.Type(nil, nil) == m.Type([]ValType{I32}, nil) {
		t.Error("types are not deduplicated")
	}
}

func TestReserve(t *testing.T) {
	m := NewModule()
	a := m.Reserve(3, 0)
	b := m.Reserve(10, 8)
	c := m.StaticData([]byte("hello"), 4)
	d := m.Reserve(PageSize, 16)
	if a != StaticBase || b != 24 || c != 36 || d != 48 || m.StaticEnd() != 48+PageSize {
		t.Fatalf("reservations at %d %d %d %d, end %d", a, b, c, d, m.StaticEnd())
	}
	if PagesFor(uint64(m.StaticEnd())) != 2 || PagesFor(PageSize) != 1 || PagesFor(0) != 0 {
		t.Error("PagesFor is wrong")
	}
	m.SetMemory(Memory{Min: PagesFor(uint64(m.StaticEnd()))})
	m.ExportMemory("memory")
	m.Data(0, []byte{9, 9}) // below StaticBase: allowed
	mod := instantiate(t, newRuntime(t), m)
	if got, _ := mod.ExportedMemory("memory").Read(c, 5); string(got) != "hello" {
		t.Errorf("static data = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Reserve with alignment 3 did not panic")
		}
	}()
	m.Reserve(1, 3)
}

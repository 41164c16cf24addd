package wasm_test

import (
	"context"
	"fmt"

	"mlbox/serve/compile/wasm"

	"github.com/tetratelabs/wazero"
)

// A module with a memory, a data segment and an exported function that
// loops over rows: scale(rows) multiplies each of rows f64s by the
// constant stored in the data segment and applies exp to it.
func ExampleModule() {
	m := wasm.NewModule()
	buf := m.Reserve(1024*8, 8)                                // 1024 f64s
	k := m.StaticData([]byte{0, 0, 0, 0, 0, 0, 0xF0, 0x3F}, 8) // 1.0 as an f64
	f := m.AddFunc([]wasm.ValType{wasm.I32}, []wasm.ValType{wasm.I32})
	p, end := f.Local(wasm.I32), f.Local(wasm.I32)
	f.LocalGet(0)
	f.I32Const(3)
	f.Op(wasm.I32Shl)
	f.LocalSet(end) // end = rows*8
	f.Block(wasm.Void)
	f.Loop(wasm.Void)
	f.LocalGet(p)
	f.LocalGet(end)
	f.Op(wasm.I32GeU)
	f.BrIf(1) // leave the block when p >= end
	f.LocalGet(p)
	f.LocalGet(p)
	f.Mem(wasm.F64Load, buf) // buf[p]
	f.I32Const(0)
	f.Mem(wasm.F64Load, k)
	f.Op(wasm.F64Mul)
	wasm.EmitExp(f) // inline; or f.Call(wasm.AddExp(m))
	f.Mem(wasm.F64Store, buf)
	f.LocalGet(p)
	f.I32Const(8)
	f.Op(wasm.I32Add)
	f.LocalSet(p)
	f.Br(0) // next row
	f.End()
	f.End()
	f.LocalGet(0) // return rows
	m.ExportFunc("scale", f.Index())
	m.SetMemory(wasm.Memory{Min: wasm.PagesFor(uint64(m.StaticEnd()))})
	m.ExportMemory("memory")
	b, err := m.Bytes()
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, b)
	if err != nil {
		panic(err)
	}
	mod.Memory().WriteFloat64Le(buf, 1)
	mod.Memory().WriteFloat64Le(buf+8, -2)
	n, err := mod.ExportedFunction("scale").Call(ctx, 2)
	x0, _ := mod.Memory().ReadFloat64Le(buf)
	x1, _ := mod.Memory().ReadFloat64Le(buf + 8)
	fmt.Println(n, err, x0, x1)
	// Output: [2] <nil> 2.718281828459045 0.1353352832366127
}

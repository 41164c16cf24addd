package wasm

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

var testCtx = context.Background()

// newRuntime returns a wazero runtime using the compiler, closed when the
// test ends.
func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	r := wazero.NewRuntimeWithConfig(testCtx, wazero.NewRuntimeConfigCompiler())
	t.Cleanup(func() { r.Close(testCtx) })
	return r
}

var moduleCount atomic.Int64

// build encodes m and checks that wazero's compiler accepts it.
func build(t testing.TB, m *Module) []byte {
	t.Helper()
	b, err := m.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return b
}

// instantiate builds, validates and instantiates m in r.
func instantiate(t testing.TB, r wazero.Runtime, m *Module) api.Module {
	t.Helper()
	b := build(t, m)
	name := fmt.Sprintf("m%d", moduleCount.Add(1))
	mod, err := r.InstantiateWithConfig(testCtx, b, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return mod
}

// call calls the exported function name and returns its first result;
// trapped reports a trap.
func call(t testing.TB, mod api.Module, name string, args ...uint64) (res uint64, trapped bool) {
	t.Helper()
	fn := mod.ExportedFunction(name)
	if fn == nil {
		t.Fatalf("no export %q", name)
	}
	out, err := fn.Call(testCtx, args...)
	if err != nil {
		return 0, true
	}
	if len(out) == 0 {
		return 0, false
	}
	return out[0], false
}

func f64(b uint64) float64 { return math.Float64frombits(b) }
func f32(b uint64) float32 { return math.Float32frombits(uint32(b)) }
func b64(f float64) uint64 { return math.Float64bits(f) }
func b32(f float32) uint64 { return uint64(math.Float32bits(f)) }

// sameBits compares two values of type t: integers by their bits (i32 by
// the low 32), floats bit for bit except that any two NaNs are equal.
func sameBits(t ValType, a, b uint64) bool {
	switch t {
	case I32:
		return uint32(a) == uint32(b)
	case F32:
		x, y := f32(a), f32(b)
		if x != x && y != y {
			return true
		}
		return uint32(a) == uint32(b)
	case F64:
		x, y := f64(a), f64(b)
		if x != x && y != y {
			return true
		}
		return a == b
	}
	return a == b
}

func show(t ValType, v uint64) string {
	switch t {
	case I32:
		return fmt.Sprintf("%d (0x%x)", int32(v), uint32(v))
	case I64:
		return fmt.Sprintf("%d (0x%x)", int64(v), v)
	case F32:
		return fmt.Sprintf("%g (0x%08x)", f32(v), uint32(v))
	case F64:
		return fmt.Sprintf("%g (0x%016x)", f64(v), v)
	}
	return fmt.Sprintf("0x%x", v)
}

package wasm

import (
	"math"
	"math/bits"
	"testing"
)

// opCase is one instruction checked against Go: eval gets the operands'
// bits (b is 0 for a unary instruction) and returns the result's bits, or
// trap if WebAssembly must trap.
type opCase struct {
	name string
	op   Op
	in   []ValType
	out  ValType
	eval func(a, b uint64) (r uint64, trap bool)
}

func b2u(c bool) uint64 {
	if c {
		return 1
	}
	return 0
}

func i32Vals() []uint64 {
	vs := []int64{0, 1, -1, 2, 3, 7, 31, 32, 33, 63, 64, -64, -65, 127, 128, 255, 0x7FFF, 0x8000, -0x8000,
		math.MaxInt32, math.MinInt32, math.MinInt32 + 1, 0x12345678, -0x12345678, -0x0F0F0F10}
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = uint64(uint32(int32(v)))
	}
	return out
}

func i64Vals() []uint64 {
	vs := []int64{0, 1, -1, 2, 3, 31, 32, 63, 64, 65, -64, -65, 127, 128, math.MaxInt32, math.MinInt32,
		1 << 32, -(1 << 32), 0xFFFFFFFF, math.MaxInt64, math.MinInt64, math.MinInt64 + 1,
		0x123456789ABCDEF0, -0x123456789ABCDEF0, 1<<53 + 1}
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = uint64(v)
	}
	return out
}

func f64Vals() []uint64 {
	vs := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3.7, -3.7, 0.49999999999999994,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
		0x1p-1022, math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(),
		2147483647, 2147483647.5, 2147483648, -2147483648, -2147483648.5, -2147483649, 4294967295.5, 4294967296,
		0x1p63, -0x1p63, 0x1p64, -0x1p63 - 2048, 0x1p63 - 1024, 1e300, 1.0000000000000002, 0x1p53 + 1, 16777217}
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = b64(v)
	}
	out = append(out, 0x7FF4000000000001, 0xFFF8000000000123) // NaNs with payloads
	return out
}

func f32Vals() []uint64 {
	vs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3.7, -3.7,
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		0x1p-126, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		2147483520, 2147483648, -2147483648, -2147483904, 4294967040, 4294967296,
		0x1p63, -0x1p63, 0x1p64, 1e30, 16777217, 1.0000001}
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = b32(v)
	}
	out = append(out, 0x7FA00001, 0xFFC00123)
	return out
}

func valsOf(t ValType) []uint64 {
	switch t {
	case I32:
		return i32Vals()
	case I64:
		return i64Vals()
	case F32:
		return f32Vals()
	}
	return f64Vals()
}

func i32op(name string, op Op, f func(a, b uint32) uint32) opCase {
	return opCase{name, op, []ValType{I32, I32}, I32, func(a, b uint64) (uint64, bool) {
		return uint64(f(uint32(a), uint32(b))), false
	}}
}

func i32cmp(name string, op Op, f func(a, b uint32) bool) opCase {
	return opCase{name, op, []ValType{I32, I32}, I32, func(a, b uint64) (uint64, bool) {
		return b2u(f(uint32(a), uint32(b))), false
	}}
}

func i64op(name string, op Op, f func(a, b uint64) uint64) opCase {
	return opCase{name, op, []ValType{I64, I64}, I64, func(a, b uint64) (uint64, bool) {
		return f(a, b), false
	}}
}

func i64cmp(name string, op Op, f func(a, b uint64) bool) opCase {
	return opCase{name, op, []ValType{I64, I64}, I32, func(a, b uint64) (uint64, bool) {
		return b2u(f(a, b)), false
	}}
}

func f64op(name string, op Op, f func(a, b float64) float64) opCase {
	return opCase{name, op, []ValType{F64, F64}, F64, func(a, b uint64) (uint64, bool) {
		return b64(f(f64(a), f64(b))), false
	}}
}

func f64cmp(name string, op Op, f func(a, b float64) bool) opCase {
	return opCase{name, op, []ValType{F64, F64}, I32, func(a, b uint64) (uint64, bool) {
		return b2u(f(f64(a), f64(b))), false
	}}
}

func f32op(name string, op Op, f func(a, b float32) float32) opCase {
	return opCase{name, op, []ValType{F32, F32}, F32, func(a, b uint64) (uint64, bool) {
		return b32(f(f32(a), f32(b))), false
	}}
}

func f32cmp(name string, op Op, f func(a, b float32) bool) opCase {
	return opCase{name, op, []ValType{F32, F32}, I32, func(a, b uint64) (uint64, bool) {
		return b2u(f(f32(a), f32(b))), false
	}}
}

func unary(name string, op Op, in, out ValType, f func(a uint64) uint64) opCase {
	return opCase{name, op, []ValType{in}, out, func(a, _ uint64) (uint64, bool) { return f(a), false }}
}

func unaryTrap(name string, op Op, in, out ValType, f func(a uint64) (uint64, bool)) opCase {
	return opCase{name, op, []ValType{in}, out, func(a, _ uint64) (uint64, bool) { return f(a) }}
}

func f64un(name string, op Op, f func(float64) float64) opCase {
	return unary(name, op, F64, F64, func(a uint64) uint64 { return b64(f(f64(a))) })
}

func f32un(name string, op Op, f func(float64) float64) opCase {
	return unary(name, op, F32, F32, func(a uint64) uint64 { return b32(float32(f(float64(f32(a))))) })
}

// truncF converts x (already a float64) to an integer in [lo, hi] the
// way i32/i64.trunc_f* does: it traps on NaN and out of range.
func truncF(x, lo, hi float64) (float64, bool) {
	t := math.Trunc(x)
	if x != x || t < lo || t > hi {
		return 0, true
	}
	return t, false
}

// satF is the trunc_sat version.
func satF(x, lo, hi float64) float64 {
	switch {
	case x != x:
		return 0
	case x < lo:
		return lo
	case x > hi:
		return hi
	}
	return math.Trunc(x)
}

// wasmMin is f64.min: NaN if either operand is NaN (Go's math.Min returns
// -Inf for (NaN, -Inf)), and -0 < +0.
func wasmMin(a, b float64) float64 {
	if a != a || b != b {
		return math.NaN()
	}
	return math.Min(a, b)
}

// wasmMax is f64.max; see wasmMin.
func wasmMax(a, b float64) float64 {
	if a != a || b != b {
		return math.NaN()
	}
	return math.Max(a, b)
}

func opCases() []opCase {
	const maxU32, maxI32, minI32 = 4294967295.0, 2147483647.0, -2147483648.0
	const twoTo63, twoTo64 = 0x1p63, 0x1p64
	// i64 bounds as floats: the largest float below 2^63 is 2^63-1024.
	fromF32 := func(a uint64) float64 { return float64(f32(a)) }
	cases := []opCase{
		i32op("i32.add", I32Add, func(a, b uint32) uint32 { return a + b }),
		i32op("i32.sub", I32Sub, func(a, b uint32) uint32 { return a - b }),
		i32op("i32.mul", I32Mul, func(a, b uint32) uint32 { return a * b }),
		{"i32.div_s", I32DivS, []ValType{I32, I32}, I32, func(a, b uint64) (uint64, bool) {
			x, y := int32(a), int32(b)
			if y == 0 || (x == math.MinInt32 && y == -1) {
				return 0, true
			}
			return uint64(uint32(x / y)), false
		}},
		{"i32.div_u", I32DivU, []ValType{I32, I32}, I32, func(a, b uint64) (uint64, bool) {
			if uint32(b) == 0 {
				return 0, true
			}
			return uint64(uint32(a) / uint32(b)), false
		}},
		{"i32.rem_s", I32RemS, []ValType{I32, I32}, I32, func(a, b uint64) (uint64, bool) {
			x, y := int32(a), int32(b)
			if y == 0 {
				return 0, true
			}
			if y == -1 {
				return 0, false
			}
			return uint64(uint32(x % y)), false
		}},
		{"i32.rem_u", I32RemU, []ValType{I32, I32}, I32, func(a, b uint64) (uint64, bool) {
			if uint32(b) == 0 {
				return 0, true
			}
			return uint64(uint32(a) % uint32(b)), false
		}},
		i32op("i32.and", I32And, func(a, b uint32) uint32 { return a & b }),
		i32op("i32.or", I32Or, func(a, b uint32) uint32 { return a | b }),
		i32op("i32.xor", I32Xor, func(a, b uint32) uint32 { return a ^ b }),
		i32op("i32.shl", I32Shl, func(a, b uint32) uint32 { return a << (b & 31) }),
		i32op("i32.shr_s", I32ShrS, func(a, b uint32) uint32 { return uint32(int32(a) >> (b & 31)) }),
		i32op("i32.shr_u", I32ShrU, func(a, b uint32) uint32 { return a >> (b & 31) }),
		i32op("i32.rotl", I32Rotl, func(a, b uint32) uint32 { return bits.RotateLeft32(a, int(b&31)) }),
		i32op("i32.rotr", I32Rotr, func(a, b uint32) uint32 { return bits.RotateLeft32(a, -int(b&31)) }),
		i32cmp("i32.eq", I32Eq, func(a, b uint32) bool { return a == b }),
		i32cmp("i32.ne", I32Ne, func(a, b uint32) bool { return a != b }),
		i32cmp("i32.lt_s", I32LtS, func(a, b uint32) bool { return int32(a) < int32(b) }),
		i32cmp("i32.lt_u", I32LtU, func(a, b uint32) bool { return a < b }),
		i32cmp("i32.gt_s", I32GtS, func(a, b uint32) bool { return int32(a) > int32(b) }),
		i32cmp("i32.gt_u", I32GtU, func(a, b uint32) bool { return a > b }),
		i32cmp("i32.le_s", I32LeS, func(a, b uint32) bool { return int32(a) <= int32(b) }),
		i32cmp("i32.le_u", I32LeU, func(a, b uint32) bool { return a <= b }),
		i32cmp("i32.ge_s", I32GeS, func(a, b uint32) bool { return int32(a) >= int32(b) }),
		i32cmp("i32.ge_u", I32GeU, func(a, b uint32) bool { return a >= b }),
		unary("i32.eqz", I32Eqz, I32, I32, func(a uint64) uint64 { return b2u(uint32(a) == 0) }),
		unary("i32.clz", I32Clz, I32, I32, func(a uint64) uint64 { return uint64(bits.LeadingZeros32(uint32(a))) }),
		unary("i32.ctz", I32Ctz, I32, I32, func(a uint64) uint64 { return uint64(bits.TrailingZeros32(uint32(a))) }),
		unary("i32.popcnt", I32Popcnt, I32, I32, func(a uint64) uint64 { return uint64(bits.OnesCount32(uint32(a))) }),
		unary("i32.extend8_s", I32Extend8S, I32, I32, func(a uint64) uint64 { return uint64(uint32(int32(int8(a)))) }),
		unary("i32.extend16_s", I32Extend16S, I32, I32, func(a uint64) uint64 { return uint64(uint32(int32(int16(a)))) }),

		i64op("i64.add", I64Add, func(a, b uint64) uint64 { return a + b }),
		i64op("i64.sub", I64Sub, func(a, b uint64) uint64 { return a - b }),
		i64op("i64.mul", I64Mul, func(a, b uint64) uint64 { return a * b }),
		{"i64.div_s", I64DivS, []ValType{I64, I64}, I64, func(a, b uint64) (uint64, bool) {
			x, y := int64(a), int64(b)
			if y == 0 || (x == math.MinInt64 && y == -1) {
				return 0, true
			}
			return uint64(x / y), false
		}},
		{"i64.div_u", I64DivU, []ValType{I64, I64}, I64, func(a, b uint64) (uint64, bool) {
			if b == 0 {
				return 0, true
			}
			return a / b, false
		}},
		{"i64.rem_s", I64RemS, []ValType{I64, I64}, I64, func(a, b uint64) (uint64, bool) {
			x, y := int64(a), int64(b)
			if y == 0 {
				return 0, true
			}
			if y == -1 {
				return 0, false
			}
			return uint64(x % y), false
		}},
		{"i64.rem_u", I64RemU, []ValType{I64, I64}, I64, func(a, b uint64) (uint64, bool) {
			if b == 0 {
				return 0, true
			}
			return a % b, false
		}},
		i64op("i64.and", I64And, func(a, b uint64) uint64 { return a & b }),
		i64op("i64.or", I64Or, func(a, b uint64) uint64 { return a | b }),
		i64op("i64.xor", I64Xor, func(a, b uint64) uint64 { return a ^ b }),
		i64op("i64.shl", I64Shl, func(a, b uint64) uint64 { return a << (b & 63) }),
		i64op("i64.shr_s", I64ShrS, func(a, b uint64) uint64 { return uint64(int64(a) >> (b & 63)) }),
		i64op("i64.shr_u", I64ShrU, func(a, b uint64) uint64 { return a >> (b & 63) }),
		i64op("i64.rotl", I64Rotl, func(a, b uint64) uint64 { return bits.RotateLeft64(a, int(b&63)) }),
		i64op("i64.rotr", I64Rotr, func(a, b uint64) uint64 { return bits.RotateLeft64(a, -int(b&63)) }),
		i64cmp("i64.eq", I64Eq, func(a, b uint64) bool { return a == b }),
		i64cmp("i64.ne", I64Ne, func(a, b uint64) bool { return a != b }),
		i64cmp("i64.lt_s", I64LtS, func(a, b uint64) bool { return int64(a) < int64(b) }),
		i64cmp("i64.lt_u", I64LtU, func(a, b uint64) bool { return a < b }),
		i64cmp("i64.gt_s", I64GtS, func(a, b uint64) bool { return int64(a) > int64(b) }),
		i64cmp("i64.gt_u", I64GtU, func(a, b uint64) bool { return a > b }),
		i64cmp("i64.le_s", I64LeS, func(a, b uint64) bool { return int64(a) <= int64(b) }),
		i64cmp("i64.le_u", I64LeU, func(a, b uint64) bool { return a <= b }),
		i64cmp("i64.ge_s", I64GeS, func(a, b uint64) bool { return int64(a) >= int64(b) }),
		i64cmp("i64.ge_u", I64GeU, func(a, b uint64) bool { return a >= b }),
		unary("i64.eqz", I64Eqz, I64, I32, func(a uint64) uint64 { return b2u(a == 0) }),
		unary("i64.clz", I64Clz, I64, I64, func(a uint64) uint64 { return uint64(bits.LeadingZeros64(a)) }),
		unary("i64.ctz", I64Ctz, I64, I64, func(a uint64) uint64 { return uint64(bits.TrailingZeros64(a)) }),
		unary("i64.popcnt", I64Popcnt, I64, I64, func(a uint64) uint64 { return uint64(bits.OnesCount64(a)) }),
		unary("i64.extend8_s", I64Extend8S, I64, I64, func(a uint64) uint64 { return uint64(int64(int8(a))) }),
		unary("i64.extend16_s", I64Extend16S, I64, I64, func(a uint64) uint64 { return uint64(int64(int16(a))) }),
		unary("i64.extend32_s", I64Extend32S, I64, I64, func(a uint64) uint64 { return uint64(int64(int32(a))) }),

		f64op("f64.add", F64Add, func(a, b float64) float64 { return a + b }),
		f64op("f64.sub", F64Sub, func(a, b float64) float64 { return a - b }),
		f64op("f64.mul", F64Mul, func(a, b float64) float64 { return a * b }),
		f64op("f64.div", F64Div, func(a, b float64) float64 { return a / b }),
		f64op("f64.min", F64Min, wasmMin),
		f64op("f64.max", F64Max, wasmMax),
		f64op("f64.copysign", F64Copysign, math.Copysign),
		f64cmp("f64.eq", F64Eq, func(a, b float64) bool { return a == b }),
		f64cmp("f64.ne", F64Ne, func(a, b float64) bool { return a != b }),
		f64cmp("f64.lt", F64Lt, func(a, b float64) bool { return a < b }),
		f64cmp("f64.gt", F64Gt, func(a, b float64) bool { return a > b }),
		f64cmp("f64.le", F64Le, func(a, b float64) bool { return a <= b }),
		f64cmp("f64.ge", F64Ge, func(a, b float64) bool { return a >= b }),
		f64un("f64.abs", F64Abs, math.Abs),
		f64un("f64.neg", F64Neg, func(a float64) float64 { return -a }),
		f64un("f64.ceil", F64Ceil, math.Ceil),
		f64un("f64.floor", F64Floor, math.Floor),
		f64un("f64.trunc", F64Trunc, math.Trunc),
		f64un("f64.nearest", F64Nearest, math.RoundToEven),
		f64un("f64.sqrt", F64Sqrt, math.Sqrt),

		f32op("f32.add", F32Add, func(a, b float32) float32 { return a + b }),
		f32op("f32.sub", F32Sub, func(a, b float32) float32 { return a - b }),
		f32op("f32.mul", F32Mul, func(a, b float32) float32 { return a * b }),
		f32op("f32.div", F32Div, func(a, b float32) float32 { return a / b }),
		f32op("f32.min", F32Min, func(a, b float32) float32 { return float32(wasmMin(float64(a), float64(b))) }),
		f32op("f32.max", F32Max, func(a, b float32) float32 { return float32(wasmMax(float64(a), float64(b))) }),
		f32op("f32.copysign", F32Copysign, func(a, b float32) float32 {
			return math.Float32frombits(math.Float32bits(a)&^(1<<31) | math.Float32bits(b)&(1<<31))
		}),
		f32cmp("f32.eq", F32Eq, func(a, b float32) bool { return a == b }),
		f32cmp("f32.ne", F32Ne, func(a, b float32) bool { return a != b }),
		f32cmp("f32.lt", F32Lt, func(a, b float32) bool { return a < b }),
		f32cmp("f32.gt", F32Gt, func(a, b float32) bool { return a > b }),
		f32cmp("f32.le", F32Le, func(a, b float32) bool { return a <= b }),
		f32cmp("f32.ge", F32Ge, func(a, b float32) bool { return a >= b }),
		unary("f32.abs", F32Abs, F32, F32, func(a uint64) uint64 { return a & 0x7FFFFFFF }),
		unary("f32.neg", F32Neg, F32, F32, func(a uint64) uint64 { return (a ^ 0x80000000) & 0xFFFFFFFF }),
		f32un("f32.ceil", F32Ceil, math.Ceil),
		f32un("f32.floor", F32Floor, math.Floor),
		f32un("f32.trunc", F32Trunc, math.Trunc),
		f32un("f32.nearest", F32Nearest, math.RoundToEven),
		f32un("f32.sqrt", F32Sqrt, math.Sqrt),

		unary("i32.wrap_i64", I32WrapI64, I64, I32, func(a uint64) uint64 { return uint64(uint32(a)) }),
		unary("i64.extend_i32_s", I64ExtendI32S, I32, I64, func(a uint64) uint64 { return uint64(int64(int32(a))) }),
		unary("i64.extend_i32_u", I64ExtendI32U, I32, I64, func(a uint64) uint64 { return uint64(uint32(a)) }),
		unaryTrap("i32.trunc_f64_s", I32TruncF64S, F64, I32, func(a uint64) (uint64, bool) {
			t, trap := truncF(f64(a), minI32, maxI32)
			return uint64(uint32(int32(t))), trap
		}),
		unaryTrap("i32.trunc_f64_u", I32TruncF64U, F64, I32, func(a uint64) (uint64, bool) {
			t, trap := truncF(f64(a), 0, maxU32)
			return uint64(uint32(t)), trap
		}),
		unaryTrap("i32.trunc_f32_s", I32TruncF32S, F32, I32, func(a uint64) (uint64, bool) {
			t, trap := truncF(fromF32(a), minI32, maxI32)
			return uint64(uint32(int32(t))), trap
		}),
		unaryTrap("i32.trunc_f32_u", I32TruncF32U, F32, I32, func(a uint64) (uint64, bool) {
			t, trap := truncF(fromF32(a), 0, maxU32)
			return uint64(uint32(t)), trap
		}),
		unaryTrap("i64.trunc_f64_s", I64TruncF64S, F64, I64, func(a uint64) (uint64, bool) {
			t, trap := truncF(f64(a), -twoTo63, twoTo63-1024)
			return uint64(int64(t)), trap
		}),
		unaryTrap("i64.trunc_f64_u", I64TruncF64U, F64, I64, func(a uint64) (uint64, bool) {
			t, trap := truncF(f64(a), 0, twoTo64-2048)
			return uint64(t), trap
		}),
		unaryTrap("i64.trunc_f32_s", I64TruncF32S, F32, I64, func(a uint64) (uint64, bool) {
			t, trap := truncF(fromF32(a), -twoTo63, twoTo63-1024)
			return uint64(int64(t)), trap
		}),
		unaryTrap("i64.trunc_f32_u", I64TruncF32U, F32, I64, func(a uint64) (uint64, bool) {
			t, trap := truncF(fromF32(a), 0, twoTo64-2048)
			return uint64(t), trap
		}),
		unary("i32.trunc_sat_f64_s", I32TruncSatF64S, F64, I32, func(a uint64) uint64 {
			return uint64(uint32(int32(satF(f64(a), minI32, maxI32))))
		}),
		unary("i32.trunc_sat_f64_u", I32TruncSatF64U, F64, I32, func(a uint64) uint64 {
			return uint64(uint32(satF(f64(a), 0, maxU32)))
		}),
		unary("i32.trunc_sat_f32_s", I32TruncSatF32S, F32, I32, func(a uint64) uint64 {
			return uint64(uint32(int32(satF(fromF32(a), minI32, maxI32))))
		}),
		unary("i32.trunc_sat_f32_u", I32TruncSatF32U, F32, I32, func(a uint64) uint64 {
			return uint64(uint32(satF(fromF32(a), 0, maxU32)))
		}),
		unary("i64.trunc_sat_f64_s", I64TruncSatF64S, F64, I64, func(a uint64) uint64 {
			x := f64(a)
			switch {
			case x != x:
				return 0
			case x >= twoTo63:
				return math.MaxInt64
			case x < -twoTo63:
				return 1 << 63
			}
			return uint64(int64(x))
		}),
		unary("i64.trunc_sat_f64_u", I64TruncSatF64U, F64, I64, func(a uint64) uint64 {
			x := f64(a)
			switch {
			case x != x || x <= -1:
				return 0
			case x >= twoTo64:
				return math.MaxUint64
			}
			return uint64(math.Trunc(math.Max(x, 0)))
		}),
		unary("i64.trunc_sat_f32_s", I64TruncSatF32S, F32, I64, func(a uint64) uint64 {
			x := fromF32(a)
			switch {
			case x != x:
				return 0
			case x >= twoTo63:
				return math.MaxInt64
			case x < -twoTo63:
				return 1 << 63
			}
			return uint64(int64(x))
		}),
		unary("i64.trunc_sat_f32_u", I64TruncSatF32U, F32, I64, func(a uint64) uint64 {
			x := fromF32(a)
			switch {
			case x != x || x <= -1:
				return 0
			case x >= twoTo64:
				return math.MaxUint64
			}
			return uint64(math.Trunc(math.Max(x, 0)))
		}),
		unary("f32.convert_i32_s", F32ConvertI32S, I32, F32, func(a uint64) uint64 { return b32(float32(int32(a))) }),
		unary("f32.convert_i32_u", F32ConvertI32U, I32, F32, func(a uint64) uint64 { return b32(float32(uint32(a))) }),
		unary("f32.convert_i64_s", F32ConvertI64S, I64, F32, func(a uint64) uint64 { return b32(float32(int64(a))) }),
		unary("f32.convert_i64_u", F32ConvertI64U, I64, F32, func(a uint64) uint64 { return b32(float32(a)) }),
		unary("f64.convert_i32_s", F64ConvertI32S, I32, F64, func(a uint64) uint64 { return b64(float64(int32(a))) }),
		unary("f64.convert_i32_u", F64ConvertI32U, I32, F64, func(a uint64) uint64 { return b64(float64(uint32(a))) }),
		unary("f64.convert_i64_s", F64ConvertI64S, I64, F64, func(a uint64) uint64 { return b64(float64(int64(a))) }),
		unary("f64.convert_i64_u", F64ConvertI64U, I64, F64, func(a uint64) uint64 { return b64(float64(a)) }),
		unary("f32.demote_f64", F32DemoteF64, F64, F32, func(a uint64) uint64 { return b32(float32(f64(a))) }),
		unary("f64.promote_f32", F64PromoteF32, F32, F64, func(a uint64) uint64 { return b64(float64(f32(a))) }),
		unary("i32.reinterpret_f32", I32ReinterpretF32, F32, I32, func(a uint64) uint64 { return a & 0xFFFFFFFF }),
		unary("i64.reinterpret_f64", I64ReinterpretF64, F64, I64, func(a uint64) uint64 { return a }),
		unary("f32.reinterpret_i32", F32ReinterpretI32, I32, F32, func(a uint64) uint64 { return a & 0xFFFFFFFF }),
		unary("f64.reinterpret_i64", F64ReinterpretI64, I64, F64, func(a uint64) uint64 { return a }),
	}
	return cases
}

// TestOps checks every numeric instruction against Go on edge-case
// operands: each becomes a function (params) -> result of one module.
func TestOps(t *testing.T) {
	cases := opCases()
	m := NewModule()
	for _, c := range cases {
		f := m.AddFunc(c.in, []ValType{c.out})
		for i := range c.in {
			f.LocalGet(uint32(i))
		}
		f.Op(c.op)
		m.ExportFunc(c.name, f.Index())
	}
	mod := instantiate(t, newRuntime(t), m)
	checked := 0
	for _, c := range cases {
		as := valsOf(c.in[0])
		bs := []uint64{0}
		if len(c.in) == 2 {
			bs = valsOf(c.in[1])
		}
		bad := 0
		for _, a := range as {
			for _, b := range bs {
				args := []uint64{a, b}[:len(c.in)]
				got, trapped := call(t, mod, c.name, args...)
				want, wantTrap := c.eval(a, b)
				checked++
				if trapped != wantTrap || (!wantTrap && !sameBits(c.out, got, want)) {
					if bad++; bad <= 5 {
						argsText := show(c.in[0], a)
						if len(c.in) == 2 {
							argsText += ", " + show(c.in[1], b)
						}
						t.Errorf("%s(%s) = %s trap=%v, want %s trap=%v", c.name, argsText,
							show(c.out, got), trapped, show(c.out, want), wantTrap)
					}
				}
			}
		}
	}
	t.Logf("%d instructions, %d evaluations", len(cases), checked)
}

// TestNaNResults checks that arithmetic NaN results are NaNs: wasm leaves
// the payload open but not the NaN-ness, and min/max must propagate NaN
// even when the other operand is ±Inf.
func TestNaNResults(t *testing.T) {
	m := NewModule()
	for _, op := range []Op{F64Min, F64Max, F64Add} {
		f := m.AddFunc([]ValType{F64, F64}, []ValType{F64})
		f.LocalGet(0)
		f.LocalGet(1)
		f.Op(op)
		m.ExportFunc(string(rune('a'+len(m.exports))), f.Index())
	}
	mod := instantiate(t, newRuntime(t), m)
	for _, name := range []string{"a", "b", "c"} {
		for _, inf := range []float64{math.Inf(1), math.Inf(-1)} {
			for _, order := range [][2]float64{{math.NaN(), inf}, {inf, math.NaN()}} {
				got, _ := call(t, mod, name, b64(order[0]), b64(order[1]))
				if !math.IsNaN(f64(got)) {
					t.Errorf("%s(%v, %v) = %v, want NaN", name, order[0], order[1], f64(got))
				}
			}
		}
	}
}

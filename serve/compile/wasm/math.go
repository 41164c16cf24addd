package wasm

import (
	"encoding/binary"
	"math"
	"math/big"
)

// Math functions written as WebAssembly, without loops and with few
// branches (special cases are handled with select), so that they cost no
// interrupt checks and compile to straight-line code.
//
// Each comes in two forms:
//
//   - EmitX(f) appends code to f's body that replaces the f64 on top of
//     the stack by X of it, inline. It borrows locals from f (f.Local)
//     and releases them when done.
//   - AddX(m) adds a function (f64) -> f64 to m the first time and
//     returns its index every time, for Call.
//
// Inline code saves the call (a few ns) at the price of code size.
//
// exp reduces its argument by multiples of ln2/128 and uses a table of
// 2^(j/128) kept in memory reserved with Module.Reserve (2 KiB per module);
// it is correctly rounded in all but a few cases per thousand. log
// follows the method of FreeBSD's msun (as Go's math.Log does). See
// math_test.go for the measured errors.

// Constants of exp. ln 2/expN is split into a high part whose products
// with |k| < 2^20 are exact and a low part.
const (
	expN    = 128                        // table entries: 2^(j/expN), j < expN
	ln2Hi   = 6.93147180369123816490e-01 // 0x3FE62E42FEE00000: 32 significant bits
	ln2Lo   = 1.90821492927058770002e-10 // 0x3DEA39EF35793C76: ln 2 - ln2Hi
	invLn2N = expN / math.Ln2
)

// Constants of log: the minimax coefficients of
// (log(1+f) - 2s)/s - s^2*... with s = f/(2+f), |s| <= 0.1716.
const (
	logL1 = 6.666666666666735130e-01 // 0x3FE5555555555593
	logL2 = 3.999999999940941908e-01 // 0x3FD999999997FA04
	logL3 = 2.857142874366239149e-01 // 0x3FD2492494229359
	logL4 = 2.222219843214978396e-01 // 0x3FCC71C51D8E78AF
	logL5 = 1.818357216161805012e-01 // 0x3FC7466496CB03DE
	logL6 = 1.531383769920937332e-01 // 0x3FC39A09D078C69F
	logL7 = 1.479819860511658591e-01 // 0x3FC2F112DF3E5244
)

// Constants of tanh for |x| < 0.625: a rational approximation
// tanh(x) = x + x^3 P(x^2)/Q(x^2) (Cephes).
const (
	tanhP0 = -9.64399179425052238628e-1
	tanhP1 = -9.92877231001918586564e1
	tanhP2 = -1.61468768441708447952e3
	tanhQ0 = 1.12811678491632931402e2
	tanhQ1 = 2.23548839060100448583e3
	tanhQ2 = 4.84406305325125486048e3
)

// EmitExp replaces the f64 x on top of the stack by exp(x).
//
// x = (m*expN + j)*ln2/expN + r with |r| <= ln2/(2*expN), so that
// exp(x) = 2^m * 2^(j/expN) * exp(r). 2^(j/expN) comes from a table of
// double-double values in reserved memory (2 KiB, added once per module),
// exp(r)-1 from its Taylor polynomial of degree 5, and the result is
// T + (T*p + Tlo) scaled by two exact powers of two, so that only the
// last addition and, for subnormal results, the last multiplication round.
func EmitExp(f *Func) {
	table := expTable(f.m)
	x, kf, r := f.Local(F64), f.Local(F64), f.Local(F64)
	k, j := f.Local(I32), f.Local(I32)
	tHi, p := f.Local(F64), f.Local(F64)

	// Clamp x to [-746, 710] (NaN stays NaN): beyond, exp overflows to
	// +Inf or underflows to 0 by itself, and k stays in range.
	f.F64Const(-746)
	f.Op(F64Max)
	f.F64Const(710)
	f.Op(F64Min)
	f.LocalTee(x)
	// kf = nearest(x * expN/ln2); k = int(kf); j = (k mod expN)*16
	f.F64Const(invLn2N)
	f.Op(F64Mul, F64Nearest)
	f.LocalTee(kf)
	f.Op(I32TruncSatF64S)
	f.LocalTee(k)
	f.I32Const(expN - 1)
	f.Op(I32And)
	f.I32Const(4)
	f.Op(I32Shl)
	f.LocalSet(j)
	// r = (x - kf*ln2Hi/expN) - kf*ln2Lo/expN; the first difference is exact.
	f.LocalGet(x)
	f.LocalGet(kf)
	f.F64Const(ln2Hi / expN)
	f.Op(F64Mul, F64Sub)
	f.LocalGet(kf)
	f.F64Const(ln2Lo / expN)
	f.Op(F64Mul, F64Sub)
	f.LocalSet(r)
	// p = exp(r) - 1 = r + r^2*(1/2 + r*(1/6 + r*(1/24 + r/120)))
	f.LocalGet(r)
	f.LocalGet(r)
	f.LocalGet(r)
	f.Op(F64Mul)
	emitPoly(f, r, 1.0/120, 1.0/24, 1.0/6, 0.5)
	f.Op(F64Mul, F64Add)
	f.LocalSet(p)
	// y = tHi + (tHi*p + tLo)
	f.LocalGet(j)
	f.Mem(F64Load, table)
	f.LocalTee(tHi)
	f.LocalGet(tHi)
	f.LocalGet(p)
	f.Op(F64Mul)
	f.LocalGet(j)
	f.Mem(F64Load, table+8)
	f.Op(F64Add, F64Add)
	// y * 2^(m>>1) * 2^(m-(m>>1)) with m = k >> log2(expN): both factors are
	// normal for the m of finite x in range, and y*2^(m>>1) is exact.
	f.LocalGet(k)
	f.I32Const(expShift + 1)
	f.Op(I32ShrS)
	emitPow2(f)
	f.Op(F64Mul)
	f.LocalGet(k)
	f.I32Const(expShift)
	f.Op(I32ShrS)
	f.LocalGet(k)
	f.I32Const(expShift + 1)
	f.Op(I32ShrS, I32Sub)
	emitPow2(f)
	f.Op(F64Mul)

	for _, l := range []uint32{x, kf, r, k, j, tHi, p} {
		f.Release(l)
	}
}

// expShift is log2(expN).
const expShift = 7

// expTable returns the address of the table of 2^(j/expN), j < expN, as
// pairs (hi, lo) of f64 with hi+lo = 2^(j/expN) to about 107 bits,
// reserving it in m the first time.
func expTable(m *Module) uint32 {
	if addr, ok := m.helpers["exp table"]; ok {
		return addr
	}
	const prec = 200
	// roots[i] = 2^(2^-(i+1)), by repeated square roots.
	var roots [expShift]*big.Float
	v := new(big.Float).SetPrec(prec).SetInt64(2)
	for i := range roots {
		v = new(big.Float).SetPrec(prec).Sqrt(v)
		roots[i] = v
	}
	b := make([]byte, 0, 16*expN)
	for j := range expN {
		t := new(big.Float).SetPrec(prec).SetInt64(1)
		for i := range roots { // bit i of j/expN, from the most significant
			if j&(expN>>(i+1)) != 0 {
				t.Mul(t, roots[i])
			}
		}
		hi, _ := t.Float64()
		lo, _ := new(big.Float).SetPrec(prec).Sub(t, new(big.Float).SetFloat64(hi)).Float64()
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(hi))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(lo))
	}
	addr := m.StaticData(b, 16)
	m.helpers["exp table"] = addr
	return addr
}

// emitPow2 replaces the i32 n on top of the stack, -1022 <= n <= 1023,
// by the f64 2^n.
func emitPow2(f *Func) {
	f.I32Const(1023)
	f.Op(I32Add, I64ExtendI32U)
	f.I64Const(52)
	f.Op(I64Shl, F64ReinterpretI64)
}

// EmitLog replaces the f64 x on top of the stack by log(x): NaN for NaN
// and x < 0, -Inf for ±0, +Inf for +Inf.
//
// x = f1 * 2^k with f1 in [sqrt(2)/2, sqrt(2)) (subnormals are first
// scaled by 2^52), f = f1 - 1, s = f/(2+f), and
// log(1+f) = f - f^2/2 + s*(f^2/2 + R(s)) with a minimax R.
func EmitLog(f *Func) {
	x, bits, k, f1 := f.Local(F64), f.Local(I64), f.Local(F64), f.Local(F64)
	sub, small := f.Local(I32), f.Local(I32)
	fr, s, s2, s4, hfsq := f.Local(F64), f.Local(F64), f.Local(F64), f.Local(F64), f.Local(F64)

	f.LocalSet(x)
	// sub = x is subnormal (or <= 0: those are replaced at the end)
	f.LocalGet(x)
	f.F64Const(0x1p-1022)
	f.Op(F64Lt)
	f.LocalSet(sub)
	// bits = bits of (sub ? x*2^52 : x)
	f.LocalGet(x)
	f.F64Const(0x1p52)
	f.Op(F64Mul)
	f.LocalGet(x)
	f.LocalGet(sub)
	f.Op(Select, I64ReinterpretF64)
	f.LocalSet(bits)
	// f1 = mantissa in [0.5, 1); small = f1 < sqrt(2)/2
	f.LocalGet(bits)
	f.I64Const(0x000FFFFFFFFFFFFF)
	f.Op(I64And)
	f.I64Const(0x3FE0000000000000)
	f.Op(I64Or, F64ReinterpretI64)
	f.LocalTee(f1)
	f.F64Const(math.Sqrt2 / 2)
	f.Op(F64Lt)
	f.LocalSet(small)
	// k = exponent - 1022 - (sub ? 52 : 0) - small, in f64 (exact)
	f.LocalGet(bits)
	f.I64Const(52)
	f.Op(I64ShrU)
	f.I64Const(0x7FF)
	f.Op(I64And, F64ConvertI64S)
	f.F64Const(1022)
	f.Op(F64Sub)
	f.F64Const(52)
	f.F64Const(0)
	f.LocalGet(sub)
	f.Op(Select, F64Sub)
	f.LocalGet(small)
	f.Op(F64ConvertI32U, F64Sub)
	f.LocalSet(k)
	// fr = (small ? 2*f1 : f1) - 1
	f.LocalGet(f1)
	f.LocalGet(f1)
	f.Op(F64Add)
	f.LocalGet(f1)
	f.LocalGet(small)
	f.Op(Select)
	f.F64Const(1)
	f.Op(F64Sub)
	f.LocalTee(fr)
	// s = fr/(2+fr); s2 = s*s; s4 = s2*s2; hfsq = 0.5*fr*fr
	f.F64Const(2)
	f.LocalGet(fr)
	f.Op(F64Add, F64Div)
	f.LocalTee(s)
	f.LocalGet(s)
	f.Op(F64Mul)
	f.LocalTee(s2)
	f.LocalGet(s2)
	f.Op(F64Mul)
	f.LocalSet(s4)
	f.F64Const(0.5)
	f.LocalGet(fr)
	f.Op(F64Mul)
	f.LocalGet(fr)
	f.Op(F64Mul)
	f.LocalSet(hfsq)
	// k*ln2Hi - ((hfsq - (s*(hfsq+R) + k*ln2Lo)) - fr), with
	// R = s2*(L1 + s4*(L3 + s4*(L5 + s4*L7))) + s4*(L2 + s4*(L4 + s4*L6))
	f.LocalGet(k)
	f.F64Const(ln2Hi)
	f.Op(F64Mul)
	f.LocalGet(hfsq)
	f.LocalGet(s)
	f.LocalGet(hfsq)
	emitPoly(f, s4, logL7, logL5, logL3, logL1)
	f.LocalGet(s2)
	f.Op(F64Mul)
	emitPoly(f, s4, logL6, logL4, logL2)
	f.LocalGet(s4)
	f.Op(F64Mul, F64Add) // R
	f.Op(F64Add, F64Mul) // s*(hfsq+R)
	f.LocalGet(k)
	f.F64Const(ln2Lo)
	f.Op(F64Mul, F64Add, F64Sub)
	f.LocalGet(fr)
	f.Op(F64Sub, F64Sub)
	// NaN and +Inf give x; ±0 gives -Inf; x < 0 gives NaN.
	f.LocalGet(x)
	f.LocalGet(x)
	f.F64Const(math.Inf(1))
	f.Op(F64Lt, Select)
	f.F64Const(math.Inf(-1))
	f.LocalGet(x)
	f.F64Const(0)
	f.Op(F64Ne, Select)
	f.F64Const(math.NaN())
	f.LocalGet(x)
	f.F64Const(0)
	f.Op(F64Ge, Select)

	for _, l := range []uint32{x, bits, k, f1, sub, small, fr, s, s2, s4, hfsq} {
		f.Release(l)
	}
}

// emitPoly pushes c[n-1] + v*(c[n-2] + ... + v*c[0]) (Horner; c from the
// highest degree down) where v is local v.
func emitPoly(f *Func, v uint32, c ...float64) {
	f.F64Const(c[0])
	for _, ci := range c[1:] {
		f.LocalGet(v)
		f.Op(F64Mul)
		f.F64Const(ci)
		f.Op(F64Add)
	}
}

// EmitExpit replaces the f64 x on top of the stack by the logistic
// function 1/(1+exp(-x)), evaluated exactly so (as scipy.special.expit
// does), so that it agrees with it whenever exp does.
func EmitExpit(f *Func) {
	x := f.Local(F64)
	f.LocalSet(x)
	f.F64Const(1)
	f.F64Const(1)
	f.LocalGet(x)
	f.Op(F64Neg)
	EmitExp(f)
	f.Op(F64Add, F64Div)
	f.Release(x)
}

// EmitTanh replaces the f64 x on top of the stack by tanh(x). For
// |x| >= 0.625 it is 1 - 2/(exp(2|x|)+1) with the sign of x, else
// x + x^3*P(x^2)/Q(x^2); both are computed and one is selected.
func EmitTanh(f *Func) {
	x, z, s := f.Local(F64), f.Local(F64), f.Local(F64)
	f.LocalTee(x)
	f.Op(F64Abs)
	f.LocalSet(z)
	// 1 - 2/(exp(2z)+1), with the sign of x
	f.F64Const(1)
	f.F64Const(2)
	f.LocalGet(z)
	f.LocalGet(z)
	f.Op(F64Add)
	EmitExp(f)
	f.F64Const(1)
	f.Op(F64Add, F64Div, F64Sub)
	// x + x*s*((P0*s+P1)*s+P2)/(((s+Q0)*s+Q1)*s+Q2), s = x*x
	f.LocalGet(x)
	f.LocalGet(x)
	f.LocalGet(x)
	f.LocalGet(x)
	f.Op(F64Mul)
	f.LocalTee(s)
	f.Op(F64Mul)
	emitPoly(f, s, tanhP0, tanhP1, tanhP2)
	f.Op(F64Mul)
	emitPoly(f, s, 1, tanhQ0, tanhQ1, tanhQ2)
	f.Op(F64Div, F64Add)
	// big if z >= 0.625; NaN takes the small path and stays NaN. Both
	// have the sign of x, except the small one for x = -0.
	f.LocalGet(z)
	f.F64Const(0.625)
	f.Op(F64Ge, Select)
	f.LocalGet(x)
	f.Op(F64Copysign)
	f.Release(x)
	f.Release(z)
	f.Release(s)
}

// AddExp adds exp as a function (f64) -> f64 to m, once, and returns its
// index.
func AddExp(m *Module) uint32 { return addUnary(m, "exp", EmitExp) }

// AddLog adds log as a function (f64) -> f64 to m, once, and returns its
// index.
func AddLog(m *Module) uint32 { return addUnary(m, "log", EmitLog) }

// AddExpit adds expit (the logistic sigmoid) as a function (f64) -> f64
// to m, once, and returns its index.
func AddExpit(m *Module) uint32 { return addUnary(m, "expit", EmitExpit) }

// AddTanh adds tanh as a function (f64) -> f64 to m, once, and returns
// its index.
func AddTanh(m *Module) uint32 { return addUnary(m, "tanh", EmitTanh) }

func addUnary(m *Module, name string, emit func(*Func)) uint32 {
	if i, ok := m.helpers[name]; ok {
		return i
	}
	f := m.AddFunc([]ValType{F64}, []ValType{F64})
	f.LocalGet(0)
	emit(f)
	m.helpers[name] = f.Index()
	return f.Index()
}

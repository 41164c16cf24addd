package wasm

import (
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// mathKernels is a module with, for each math function, a function
// name(n) that replaces the n f64s at address 0 by their image, calling
// the function (name) or inlining it (name+"_inline").
var mathFuncs = []struct {
	name string
	add  func(*Module) uint32
	emit func(*Func)
	gof  func(float64) float64
}{
	{"exp", AddExp, EmitExp, math.Exp},
	{"log", AddLog, EmitLog, math.Log},
	{"expit", AddExpit, EmitExpit, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
	{"tanh", AddTanh, EmitTanh, math.Tanh},
}

const kernelCap = 1 << 16 // values per call

// addMapLoop adds and exports name(n i32): for i < n, the f64 at
// base+8i becomes op of it.
func addMapLoop(m *Module, name string, base uint32, op func(f *Func)) {
	f := m.AddFunc([]ValType{I32}, nil)
	p, end := f.Local(I32), f.Local(I32)
	f.LocalGet(0)
	f.I32Const(3)
	f.Op(I32Shl)
	f.LocalSet(end)
	f.Block(Void)
	f.Loop(Void)
	f.LocalGet(p)
	f.LocalGet(end)
	f.Op(I32GeU)
	f.BrIf(1)
	f.LocalGet(p)
	f.LocalGet(p)
	f.Mem(F64Load, base)
	op(f)
	f.Mem(F64Store, base)
	f.LocalGet(p)
	f.I32Const(8)
	f.Op(I32Add)
	f.LocalSet(p)
	f.Br(0)
	f.End()
	f.End()
	m.ExportFunc(name, f.Index())
}

// kernelBase is the address of the kernels' buffer: the first
// reservation.
const kernelBase = StaticBase

func mathModule() *Module {
	m := NewModule()
	if m.Reserve(8*kernelCap, 16) != kernelBase {
		panic("unexpected reservation")
	}
	for _, mf := range mathFuncs {
		fn := mf.add(m)
		if mf.add(m) != fn {
			panic("Add" + mf.name + " is not idempotent")
		}
		addMapLoop(m, mf.name, kernelBase, func(f *Func) { f.Call(fn) })
		addMapLoop(m, mf.name+"_inline", kernelBase, mf.emit)
	}
	addMapLoop(m, "identity", kernelBase, func(*Func) {})
	m.SetMemory(Memory{Min: PagesFor(uint64(m.StaticEnd()))})
	m.ExportMemory("memory")
	return m
}

// runKernel applies the exported kernel name to xs.
func runKernel(t testing.TB, mod api.Module, name string, xs []float64) []float64 {
	mem := mod.ExportedMemory("memory")
	out := make([]float64, 0, len(xs))
	buf := make([]byte, 8*kernelCap)
	for len(xs) > 0 {
		n := min(len(xs), kernelCap)
		for i, x := range xs[:n] {
			u := math.Float64bits(x)
			for j := range 8 {
				buf[8*i+j] = byte(u >> (8 * j))
			}
		}
		mem.Write(kernelBase, buf[:8*n])
		if _, err := mod.ExportedFunction(name).Call(testCtx, uint64(n)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := mem.Read(kernelBase, uint32(8*n))
		for i := range n {
			var u uint64
			for j := range 8 {
				u |= uint64(b[8*i+j]) << (8 * j)
			}
			out = append(out, math.Float64frombits(u))
		}
		xs = xs[n:]
	}
	return out
}

// ulpDiff is the number of float64s between a and b (0 if both are NaN).
func ulpDiff(a, b float64) float64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.Inf(1)
	}
	ord := func(x float64) int64 {
		u := math.Float64bits(x)
		if u>>63 != 0 {
			return -int64(u &^ (1 << 63))
		}
		return int64(u)
	}
	d := ord(a) - ord(b)
	if d < 0 {
		d = -d
	}
	return float64(d)
}

// High-precision references.

const refPrec = 256

func bf(x float64) *big.Float { return new(big.Float).SetPrec(refPrec).SetFloat64(x) }

var refLn2 = func() *big.Float {
	// ln 2 = 2 atanh(1/3) = 2 sum 3^-(2n+1)/(2n+1)
	third := new(big.Float).SetPrec(refPrec).Quo(bf(1), bf(3))
	ninth := new(big.Float).SetPrec(refPrec).Mul(third, third)
	sum, pow := bf(0), new(big.Float).Copy(third)
	for n := 0; n < 300; n++ {
		term := new(big.Float).SetPrec(refPrec).Quo(pow, bf(float64(2*n+1)))
		sum.Add(sum, term)
		pow.Mul(pow, ninth)
	}
	return sum.Mul(sum, bf(2))
}()

// refExp returns exp(x) to about 240 bits.
func refExp(x *big.Float) *big.Float {
	xf, _ := x.Float64()
	k := math.Round(xf / math.Ln2)
	r := new(big.Float).SetPrec(refPrec).Mul(refLn2, bf(k))
	r.Sub(x, r)
	r.SetMantExp(r, -16)
	sum, term := bf(1), bf(1)
	for i := 1; i < 60; i++ {
		term.Mul(term, r)
		term.Quo(term, bf(float64(i)))
		sum.Add(sum, term)
		if term.Sign() == 0 || term.MantExp(nil) < -refPrec-8 {
			break
		}
	}
	for range 16 {
		sum.Mul(sum, sum)
	}
	return sum.SetMantExp(sum, int(k))
}

// refLog returns log(x) for finite x > 0.
func refLog(x float64) *big.Float {
	m, e := math.Frexp(x)
	if m < math.Sqrt2/2 {
		m, e = 2*m, e-1
	}
	// log m = 2 atanh(u), u = (m-1)/(m+1)
	u := new(big.Float).SetPrec(refPrec).Quo(bf(m-1), new(big.Float).SetPrec(refPrec).Add(bf(m), bf(1)))
	u2 := new(big.Float).SetPrec(refPrec).Mul(u, u)
	sum, pow := bf(0), new(big.Float).Copy(u)
	for n := 0; n < 200 && pow.Sign() != 0; n++ {
		sum.Add(sum, new(big.Float).SetPrec(refPrec).Quo(pow, bf(float64(2*n+1))))
		pow.Mul(pow, u2)
	}
	sum.Mul(sum, bf(2))
	return sum.Add(sum, new(big.Float).SetPrec(refPrec).Mul(refLn2, bf(float64(e))))
}

func refExpit(x float64) *big.Float {
	e := refExp(bf(-x))
	e.Add(e, bf(1))
	return e.Quo(bf(1), e)
}

func refTanh(x float64) *big.Float {
	if math.Abs(x) < 0x1p-30 { // x - x^3/3 + 2x^5/15
		b := bf(x)
		x3 := new(big.Float).SetPrec(refPrec).Mul(b, b)
		x3.Mul(x3, b)
		x5 := new(big.Float).SetPrec(refPrec).Mul(x3, b)
		x5.Mul(x5, b)
		x3.Quo(x3, bf(3))
		x5.Mul(x5, bf(2.0/15*15))
		x5.Quo(x5, bf(15))
		b.Sub(b, x3)
		return b.Add(b, x5)
	}
	e := refExp(bf(2 * x))
	num := new(big.Float).SetPrec(refPrec).Sub(e, bf(1))
	e.Add(e, bf(1))
	return num.Quo(num, e)
}

// ulpErr returns |got - ref| in ulps of the float64 format at ref
// (subnormal ulp below 2^-1022), or 0/Inf when ref is out of range.
func ulpErr(got float64, ref *big.Float) float64 {
	cr, _ := ref.Float64()
	if math.IsInf(cr, 0) || cr == 0 && ref.Sign() == 0 {
		if got == cr {
			return 0
		}
		return math.Inf(1)
	}
	e := ref.MantExp(nil) - 53
	if e < -1074 {
		e = -1074
	}
	if math.IsInf(got, 0) {
		return math.Inf(1)
	}
	d := new(big.Float).SetPrec(refPrec).Sub(bf(got), ref)
	d.SetMantExp(d, -e)
	v, _ := d.Float64()
	return math.Abs(v)
}

// mathInputs returns the test inputs for a function: random ones spread
// over its domain, and edge cases.
func mathInputs(name string, n int) []float64 {
	rng := rand.New(rand.NewPCG(7, uint64(len(name))))
	uniform := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	logUniform := func(lo, hi float64) float64 { // |x| log-uniform in [2^lo, 2^hi], random sign
		x := math.Exp2(uniform(lo, hi))
		if rng.IntN(2) == 0 {
			x = -x
		}
		return x
	}
	var xs []float64
	switch name {
	case "exp":
		for range n {
			xs = append(xs, uniform(-745.2, 709.8))
		}
		for range n / 4 {
			xs = append(xs, logUniform(-60, 0), uniform(-745.2, -708), uniform(700, 709.79),
				float64(rng.IntN(4096)-2048)*math.Ln2/2+uniform(-1e-9, 1e-9))
		}
		xs = append(xs, 0, math.Copysign(0, -1), 1, -1, 0x1p-1074, -0x1p-1074, 0x1p-28, -0x1p-28, 0x1p-60,
			709.78, 709.782712893384, 709.7827128933841, 709.79, 710, 1000,
			-708.39, -708.4, -709, -744, -745.13, -745.1332191019411, -745.1332191019412, -745.2, -746, -1000,
			math.Ln2, -math.Ln2, math.Ln2/2, 0.34657359027997264, 1e-300,
			math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, -math.MaxFloat64)
	case "log":
		for range n {
			xs = append(xs, math.Exp2(uniform(-1074, 1024)))
		}
		for range n / 4 {
			xs = append(xs, uniform(0.5, 2), 1+logUniform(-52, -1), math.Float64frombits(rng.Uint64N(1<<52)),
				uniform(0, 1e6))
		}
		xs = append(xs, 1, 2, 0.5, math.E, 10, math.Sqrt2/2, math.Nextafter(math.Sqrt2/2, 0), math.Sqrt2,
			math.Nextafter(1, 2), math.Nextafter(1, 0), 0x1p-1074, 0x1p-1022, math.Nextafter(0x1p-1022, 0),
			math.MaxFloat64, 0, math.Copysign(0, -1), -1, -0x1p-1074, math.Inf(1), math.Inf(-1), math.NaN())
	case "expit", "tanh":
		for range n {
			xs = append(xs, uniform(-40, 40))
		}
		for range n / 4 {
			xs = append(xs, logUniform(-60, 3), uniform(-750, 750), uniform(-1, 1), uniform(0.6, 0.65))
		}
		xs = append(xs, 0, math.Copysign(0, -1), 0.625, -0.625, math.Nextafter(0.625, 0), 1, -1, 20, -20, 36, -37,
			44, 45, 709, 710, -709, -710, -745, -746, 1000, -1000, 0x1p-1074, -0x1p-1074, 0x1p-1022, 1e-300,
			math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, -math.MaxFloat64)
	}
	return xs
}

// expOverflow is the largest x with a finite exp(x).
const expOverflow = 7.09782712893383973096e+02

// goWrong reports the inputs for which Go's math functions are known to
// be wrong on amd64, where math.Exp and math.Log are in assembly:
// math.Exp returns +Inf above 709.436 (when k reaches 1024), below the
// real overflow threshold 709.7827, and math.Log does not normalize
// subnormal inputs (math.Log(5e-324) = -709.09 instead of -744.44).
// expit and tanh inherit the math.Exp problem.
func goWrong(name string, x, goVal float64) bool {
	if runtime.GOARCH != "amd64" {
		return false
	}
	switch name {
	case "exp":
		return math.IsInf(goVal, 1) && x <= expOverflow
	case "expit":
		return x < -709.43 && x >= -expOverflow
	case "log":
		return x > 0 && x < 0x1p-1022
	}
	return false
}

// TestMathAccuracy compares exp, log, expit and tanh, called and inlined,
// with Go's math package (ulps between the results) and, on a subset,
// with a 256-bit reference (error in ulps).
//
// exp may be 2 ulps from Go's math.Exp where it is correctly rounded:
// Go's amd64 assembly is off by up to 1.9 ulps. expit is checked to
// be exactly 1/(1+exp(-x)) with this package's exp; its distance from
// Go's formula is only reported, since Go's exp errors are amplified.
func TestMathAccuracy(t *testing.T) {
	n, refEvery := 200_000, 16
	if testing.Short() {
		n, refEvery = 20_000, 8
	}
	bounds := map[string]struct{ goULP, refULP float64 }{
		"exp":   {1, 1},
		"log":   {1, 1},
		"expit": {math.Inf(1), 3},
		"tanh":  {2, 2},
	}
	ref := func(name string, x float64) *big.Float {
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return nil
		case name == "exp" && x >= -746 && x <= 710:
			return refExp(bf(x))
		case name == "log" && x > 0:
			return refLog(x)
		case name == "expit" && x >= -expOverflow && x <= 750: // below, exp(-x) overflows and the formula gives 0
			return refExpit(x)
		case name == "tanh" && math.Abs(x) <= 750:
			return refTanh(x)
		}
		return nil
	}
	mod := instantiate(t, newRuntime(t), mathModule())
	for _, mf := range mathFuncs {
		xs := mathInputs(mf.name, n)
		called := runKernel(t, mod, mf.name, xs)
		inlined := runKernel(t, mod, mf.name+"_inline", xs)
		var expNeg []float64
		if mf.name == "expit" {
			neg := make([]float64, len(xs))
			for i, x := range xs {
				neg[i] = -x
			}
			expNeg = runKernel(t, mod, "exp", neg)
		}
		var maxGo, maxRef, argGo, argRef, maxGoErr float64
		var offGo, refN, wrongRound, goSkip, goBlame int
		for i, x := range xs {
			got := called[i]
			if ulpDiff(got, inlined[i]) != 0 {
				t.Fatalf("%s(%v): called %v, inlined %v", mf.name, x, got, inlined[i])
			}
			if expNeg != nil {
				if want := 1 / (1 + expNeg[i]); ulpDiff(got, want) != 0 {
					t.Errorf("expit(%v) = %v, 1/(1+exp(-x)) = %v", x, got, want)
				}
			}
			goVal := mf.gof(x)
			if goWrong(mf.name, x, goVal) {
				goSkip++
				goVal = got
			}
			d := ulpDiff(got, goVal)
			if d > maxGo {
				maxGo, argGo = d, x
			}
			if d != 0 {
				offGo++
			}
			if d > bounds[mf.name].goULP {
				r := ref(mf.name, x)
				cr, _ := r.Float64()
				if mf.name == "exp" && r != nil && d <= 2 && cr == got {
					goBlame++
					maxGoErr = max(maxGoErr, ulpErr(goVal, r))
				} else {
					t.Errorf("%s(%v) = %v, Go %v: %v ulp apart", mf.name, x, got, goVal, d)
				}
			}
			if i%refEvery != 0 && i < len(xs)-50 {
				continue
			}
			r := ref(mf.name, x)
			if r == nil {
				continue
			}
			refN++
			e := ulpErr(got, r)
			if cr, _ := r.Float64(); cr != got {
				wrongRound++
			}
			if e > maxRef {
				maxRef, argRef = e, x
			}
			if e > bounds[mf.name].refULP {
				t.Errorf("%s(%v) = %v, exact %s: %.3f ulp", mf.name, x, got, r.Text('g', 20), e)
			}
		}
		t.Logf("%-5s %d inputs: max %v ulp from Go's (at %v; %.3f%% differ); %d against the exact value: max error %.3f ulp (at %v), %.3f%% not correctly rounded",
			mf.name, len(xs), maxGo, argGo, 100*float64(offGo)/float64(len(xs)), refN, maxRef, argRef, 100*float64(wrongRound)/float64(refN))
		if goBlame > 0 {
			t.Logf("%-5s %d results 2 ulps from Go's are correctly rounded; Go's error there is up to %.3f ulp", mf.name, goBlame, maxGoErr)
		}
		if goSkip > 0 {
			t.Logf("%-5s %d inputs where Go's amd64 assembly is wrong were not compared with Go", mf.name, goSkip)
		}
	}
}

// TestMathSpecial checks special values exactly.
func TestMathSpecial(t *testing.T) {
	mod := instantiate(t, newRuntime(t), mathModule())
	nan, inf, negZero := math.NaN(), math.Inf(1), math.Copysign(0, -1)
	cases := []struct {
		name string
		x    float64
		want float64
	}{
		{"exp", nan, nan}, {"exp", inf, inf}, {"exp", -inf, 0}, {"exp", 0, 1}, {"exp", negZero, 1},
		{"exp", 710, inf}, {"exp", 709.79, inf}, {"exp", -746, 0}, {"exp", -745.2, 0},
		{"exp", -745.13, 0x1p-1074}, {"exp", 1, math.E},
		{"exp", 709.782712893384, 1.7976931348622732e308}, {"exp", 709.7827128933841, inf},
		{"exp", -745.1332191019411, 0x1p-1074}, {"exp", -745.1332191019412, 0},
		{"exp", 700, 1.0142320547350045e304},
		{"log", nan, nan}, {"log", -1, nan}, {"log", -inf, nan}, {"log", -0x1p-1074, nan},
		{"log", 0, -inf}, {"log", negZero, -inf}, {"log", inf, inf}, {"log", 1, 0},
		{"log", 0x1p-1074, -744.4400719213812}, {"log", 2, math.Ln2}, {"log", math.E, 1},
		{"expit", nan, nan}, {"expit", inf, 1}, {"expit", -inf, 0}, {"expit", 0, 0.5}, {"expit", 800, 1}, {"expit", -800, 0},
		{"tanh", nan, nan}, {"tanh", inf, 1}, {"tanh", -inf, -1}, {"tanh", 0, 0}, {"tanh", negZero, negZero},
		{"tanh", 50, 1}, {"tanh", -50, -1}, {"tanh", 0x1p-1074, 0x1p-1074},
	}
	for _, c := range cases {
		for _, kernel := range []string{c.name, c.name + "_inline"} {
			got := runKernel(t, mod, kernel, []float64{c.x})[0]
			if math.Float64bits(got) != math.Float64bits(c.want) && !(math.IsNaN(got) && math.IsNaN(c.want)) {
				t.Errorf("%s(%v) = %v (%#x), want %v", kernel, c.x, got, math.Float64bits(got), c.want)
			}
		}
	}
	// exp(0) is exactly 1 and log(1) exactly 0 (not -0).
	if got := runKernel(t, mod, "log", []float64{1})[0]; math.Signbit(got) {
		t.Error("log(1) = -0")
	}
}

// BenchmarkMath runs each function over 1,000 f64s in memory through
// wazero's compiler, called and inlined, and reports ns per value. The
// identity kernel is the cost of the loop and the call from Go alone. The
// checked/ variants run with WithCloseOnContextDone(true), as mlbox does,
// which adds an interrupt check at the loop header, once per value here.
func BenchmarkMath(b *testing.B) {
	const n = 1000
	xs := make([]float64, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range xs {
		xs[i] = 20*rng.Float64() - 10
	}
	kernels := []string{"identity"}
	for _, mf := range mathFuncs {
		kernels = append(kernels, mf.name, mf.name+"_inline")
	}
	plain := instantiate(b, newRuntime(b), mathModule())
	checkedRT := wazero.NewRuntimeWithConfig(testCtx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true))
	b.Cleanup(func() { checkedRT.Close(testCtx) })
	checked := instantiate(b, checkedRT, mathModule())
	run := func(b *testing.B, mod api.Module, k string) {
		in := xs
		if strings.HasPrefix(k, "log") {
			in = make([]float64, n)
			for i, x := range xs {
				in[i] = math.Abs(x) * 100
			}
		}
		mem := mod.ExportedMemory("memory")
		fn := mod.ExportedFunction(k)
		for b.Loop() {
			b.StopTimer()
			for i, x := range in {
				mem.WriteFloat64Le(kernelBase+uint32(8*i), x)
			}
			b.StartTimer()
			if _, err := fn.Call(testCtx, n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/value")
	}
	for _, k := range kernels {
		b.Run(k, func(b *testing.B) { run(b, plain, k) })
	}
	for _, k := range []string{"identity", "exp_inline"} {
		b.Run("checked/"+k, func(b *testing.B) { run(b, checked, k) })
	}
}

package ir

import (
	"math"
	"math/big"
)

// Expf is the float32 exponential as glibc computes it (expf, its
// portable version without fused multiply-adds): x·32/ln 2 = k + r,
// exp(x) = 2^(k/32) · (1 + c2·r + c1·r² + c0·r³) in float64, rounded to
// float32 once. Its error is at most 0.502 ulp. onnxruntime calls it in its
// scalar kernels (an SVM's RBF kernel, Platt's sigmoid); the code
// generator computes it operation for operation the same (wasmgen).
func Expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > ExpfMax:
		return float32(math.Inf(1))
	case x < ExpfMin:
		return 0
	}
	z := ExpfInvLn2N * float64(x)
	kd := float64(z + ExpfShift)
	ki := math.Float64bits(kd)
	r := z - float64(kd-ExpfShift)
	s := math.Float64frombits(ExpfTable[ki%32] + ki<<47)
	// Each product is its own rounding (the conversions keep Go from
	// fusing a multiply-add).
	y := float64(float64(float64(ExpfC[0]*r)+ExpfC[1])*float64(r*r)) + float64(float64(ExpfC[2]*r)+1)
	return float32(y * s)
}

// The constants of Expf: the arguments above which it overflows and below
// which it is 0, 32/ln 2, the rounding shift 1.5·2^52, the polynomial
// (scaled for r in units of 1/32), and ExpfTable[i] = the bits of
// 2^(i/32) less i·2^47 (the exponent the index adds back).
const (
	ExpfMax     = 0x1.62e42ep6
	ExpfMin     = -0x1.9fe368p6
	ExpfInvLn2N = 0x1.71547652b82fep+0 * 32
	ExpfShift   = 0x1.8p+52
)

var (
	ExpfC     = [3]float64{0x1.c6af84b912394p-5 / 32 / 32 / 32, 0x1.ebfce50fac4f3p-3 / 32 / 32, 0x1.62e42ff0c52d6p-1 / 32}
	ExpfTable = expfTable()
)

// expfTable computes 2^(i/32), i < 32, correctly rounded (to 256 bits
// first: 2^(1/32) by five square roots, then its powers).
func expfTable() [32]uint64 {
	const prec = 256
	root := new(big.Float).SetPrec(prec).SetInt64(2)
	for range 5 {
		root.Sqrt(root)
	}
	var t [32]uint64
	p := new(big.Float).SetPrec(prec).SetInt64(1)
	for i := range t {
		f, _ := p.Float64()
		t[i] = math.Float64bits(f) - uint64(i)<<47
		p.Mul(p, root)
	}
	return t
}

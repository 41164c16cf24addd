// Package ir is the model description of mlbox's model compiler: what a
// front end (sklearn, and later XGBoost, LightGBM, ONNX) makes of a model
// file, and what the code generator lowers to WebAssembly.
//
// A model is a short program over one row. The row's values live in a
// vector of float64 slots: the inputs fill slots 0..len(Inputs)-1 and
// every step writes new slots (a step never overwrites a slot another step
// wrote, so the program is in single-assignment form). The model's
// outputs are read from Out. Each step has a reference evaluator in plain
// Go (Eval), which the tests use as the oracle between the library and
// the generated module.
//
// String categories never reach the module as strings: the host encodes a
// string column's value as its index in Input.Categories (NaN for a
// missing value, -1 for a string outside the table), and the steps work
// on those codes.
package ir

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Task says how to read the outputs.
type Task string

// Tasks.
const (
	// Classification: output k is the score of class Labels[k] (a
	// probability when the model has them); the label is the arg max.
	Classification Task = "classification"
	// Regression: the outputs are the predicted values.
	Regression Task = "regression"
)

// Predict functions: what MLflow's scoring server answers (the MLmodel's
// python_function predict_fn).
const (
	PredictLabel    = "predict"
	PredictProba    = "predict_proba"
	PredictLogProba = "predict_log_proba"
)

// Model is one compiled model.
type Model struct {
	Task   Task
	Inputs []Input
	// Labels are the class labels as JSON values (ints stay ints, strings
	// stay strings), one per output; classification only.
	Labels []json.RawMessage
	// OutputNames name the outputs of a regression (optional).
	OutputNames []string
	// PredictFn is what /invocations answers: PredictLabel (labels or
	// values), PredictProba or PredictLogProba (the output matrix, which
	// then holds probabilities).
	PredictFn string
	// HasProba says the outputs of a classifier are probabilities (false:
	// decision scores, whose arg max is still the label).
	HasProba bool
	// NSlots is the size of the slot vector.
	NSlots int
	Steps  []Step
	// Out are the slots of the outputs.
	Out []int
	// Producer names the front end (free text).
	Producer string
	// Named, when set, makes /invocations answer a dict of named outputs
	// as MLflow's ONNX flavor does, instead of the predictions list.
	Named *NamedOutputs
}

// NamedOutputs name a model's outputs as its source graph does (ONNX):
// Label (a classifier's label output; "" for none) and Scores (the
// probabilities, scores or values). ZipMap: the scores are answered as
// one {label: score} map a row.
type NamedOutputs struct {
	Label  string `json:"label,omitempty"`
	Scores string `json:"scores"`
	ZipMap bool   `json:"zipmap,omitempty"`
	// Flat: the scores are a tensor [N], one value a row (not a list).
	Flat bool `json:"flat,omitempty"`
	// LabelIndex: the last output is the index of the row's label (its
	// position in Labels), computed by the model; the scores are the other
	// outputs. For a graph whose label is not the arg max of its scores
	// (naive Bayes: the arg max of the joint log-likelihoods).
	LabelIndex bool `json:"label_index,omitempty"`
}

// Scores returns the outputs that are scores: Out, less the label index.
func (m *Model) Scores() []int {
	if m.Named != nil && m.Named.LabelIndex {
		return m.Out[:len(m.Out)-1]
	}
	return m.Out
}

// Input is one input column.
type Input struct {
	Name string
	// Type is the MLflow column type: double, float, long, integer,
	// boolean or string.
	Type     string
	Required bool
	// Categories is the code table of a string column: code i stands for
	// Categories[i].
	Categories []string
}

// Step is one operation over the slot vector.
type Step interface {
	// Eval runs the step on one row's slots.
	Eval(v []float64) error
	// Reads and Writes list the slots the step reads and writes.
	Reads() []int
	Writes() []int
}

// OpKind is an element-wise operation.
type OpKind uint8

// Element-wise operations. Those with Vals take one constant per column
// (or one for all); the others take none.
const (
	OpAdd OpKind = iota + 1 // x + c
	OpSub                   // x - c
	OpMul                   // x * c
	OpDiv                   // x / c
	OpMin                   // min(x, c), NaN propagating (numpy minimum, wasm f64.min)
	OpMax                   // max(x, c), NaN propagating
	// OpReplace: x becomes c when x is missing (Match; NaN matches NaN).
	OpReplace
	// OpIsMissing: 1 when x is missing (Match; NaN matches NaN), else 0.
	OpIsMissing
	OpExp
	OpLog
	OpLogistic // 1 / (1 + exp(-x))
	OpTanh
	OpSquare
	// OpRound32 rounds to float32 (x stays a float64 that float32 holds
	// exactly): the output of a library that computes in float32.
	OpRound32
	OpAbs
	// OpTrunc rounds toward zero (a cast to an integer type; NaN and ±Inf
	// stay as they are).
	OpTrunc
	// OpGreater: 1 when x > c, else 0 (NaN gives 0).
	OpGreater
	// OpLess: 1 when x < c, else 0 (NaN gives 0).
	OpLess
	// OpPow: x to the power c (Pow: exp(c·log|x|) with the sign rules of
	// an integer c).
	OpPow
	// OpSet: c, whatever x is (a constant column).
	OpSet
	// OpExpf: Expf of x rounded to float32 (glibc's float32 exp, which
	// onnxruntime's scalar kernels call).
	OpExpf
	// OpEqual: 1 when x == c, else 0 (NaN gives 0).
	OpEqual
	opLast = OpEqual
)

var opNames = [...]string{OpAdd: "add", OpSub: "sub", OpMul: "mul", OpDiv: "div", OpMin: "min", OpMax: "max",
	OpReplace: "replace", OpIsMissing: "is_missing", OpExp: "exp", OpLog: "log", OpLogistic: "logistic", OpTanh: "tanh", OpSquare: "square", OpRound32: "round32",
	OpAbs: "abs", OpTrunc: "trunc", OpGreater: "greater", OpLess: "less", OpPow: "pow", OpSet: "set", OpExpf: "expf", OpEqual: "equal"}

func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// HasVals says whether the operation takes constants.
func (k OpKind) HasVals() bool { return k <= OpReplace || k >= OpGreater && k <= OpSet || k == OpEqual }

// IsMath says whether the operation is a math function (exp, log,
// logistic, tanh) rather than a few instructions.
func (k OpKind) IsMath() bool {
	return k == OpExp || k == OpLog || k == OpLogistic || k == OpTanh || k == OpPow
}

// Op is one element-wise operation.
type Op struct {
	Kind OpKind
	// Vals has one constant per column, or a single one for every column.
	Vals []float64
	// Match is the missing-value marker of OpReplace and OpIsMissing.
	Match float64
}

func (o *Op) val(i int) float64 {
	if len(o.Vals) == 1 {
		return o.Vals[0]
	}
	return o.Vals[i]
}

// Missing reports whether x is the missing-value marker m (NaN matches
// NaN).
func Missing(x, m float64) bool { return x == m || m != m && x != x }

// Apply runs the operation on column i's value x.
func (o *Op) Apply(i int, x float64) float64 {
	switch o.Kind {
	case OpAdd:
		return x + o.val(i)
	case OpSub:
		return x - o.val(i)
	case OpMul:
		return x * o.val(i)
	case OpDiv:
		return x / o.val(i)
	case OpMin:
		return wasmMin(x, o.val(i))
	case OpMax:
		return wasmMax(x, o.val(i))
	case OpReplace:
		if Missing(x, o.Match) {
			return o.val(i)
		}
		return x
	case OpIsMissing:
		if Missing(x, o.Match) {
			return 1
		}
		return 0
	case OpExp:
		return math.Exp(x)
	case OpLog:
		return math.Log(x)
	case OpLogistic:
		return 1 / (1 + math.Exp(-x))
	case OpTanh:
		return math.Tanh(x)
	case OpSquare:
		return x * x
	case OpRound32:
		return float64(float32(x))
	case OpAbs:
		return math.Abs(x)
	case OpTrunc:
		return math.Trunc(x)
	case OpGreater:
		if x > o.val(i) {
			return 1
		}
		return 0
	case OpLess:
		if x < o.val(i) {
			return 1
		}
		return 0
	case OpPow:
		return Pow(x, o.val(i))
	case OpSet:
		return o.val(i)
	case OpExpf:
		return float64(Expf(float32(x)))
	case OpEqual:
		if x == o.val(i) {
			return 1
		}
		return 0
	}
	panic("ir: unknown op " + o.Kind.String())
}

// Pow is x to the power c as the code generator computes it:
// exp(c·log|x|), the sign of x kept for an odd integer c, NaN for a
// negative x and a c that is not an integer; c = 0, 1 and 2 exactly (1, x,
// x·x). It agrees with math.Pow to about 1e-15 relative (the code
// generator's exp and log are its own), and on the special values C's pow
// has, but for pow(-Inf, c) with c not an integer (NaN here).
func Pow(x, c float64) float64 {
	switch c {
	case 0:
		return 1
	case 1:
		return x
	case 2:
		return x * x
	}
	r := math.Exp(c * math.Log(math.Abs(x)))
	switch {
	case PowOdd(c):
		return math.Copysign(r, x)
	case c != math.Trunc(c) && x < 0:
		return math.NaN()
	}
	return r
}

// PowOdd says whether c is an odd integer (the sign of x stays in x^c).
func PowOdd(c float64) bool { return c == math.Trunc(c) && math.Mod(c, 2) != 0 }

// wasmMin and wasmMax follow wasm's f64.min/max (and numpy's minimum and
// maximum): NaN if either is NaN, -0 below +0.
func wasmMin(a, b float64) float64 {
	if a != a || b != b {
		return math.NaN()
	}
	return math.Min(a, b)
}

func wasmMax(a, b float64) float64 {
	if a != a || b != b {
		return math.NaN()
	}
	return math.Max(a, b)
}

// Map applies Ops in order to each column: Out[i] = ops(In[i]).
type Map struct {
	In, Out []int
	Ops     []Op
}

func (s *Map) Eval(v []float64) error {
	for i, in := range s.In {
		x := v[in]
		for j := range s.Ops {
			x = s.Ops[j].Apply(i, x)
		}
		v[s.Out[i]] = x
	}
	return nil
}
func (s *Map) Reads() []int  { return s.In }
func (s *Map) Writes() []int { return s.Out }

// Binary combines two columns element-wise: Out[i] = A[i] op B[i], op one
// of add, sub, mul, div, min, max, greater, less and equal (Op.Apply with B[i] as
// the constant).
type Binary struct {
	A, B, Out []int
	Kind      OpKind
}

func (s *Binary) Eval(v []float64) error {
	op := Op{Kind: s.Kind, Vals: []float64{0}}
	for i, a := range s.A {
		op.Vals[0] = v[s.B[i]]
		v[s.Out[i]] = op.Apply(0, v[a])
	}
	return nil
}
func (s *Binary) Reads() []int  { return append(append([]int{}, s.A...), s.B...) }
func (s *Binary) Writes() []int { return s.Out }

// BinaryKind says whether Binary takes k.
func BinaryKind(k OpKind) bool {
	switch k {
	case OpAdd, OpSub, OpMul, OpDiv, OpMin, OpMax, OpGreater, OpLess, OpEqual:
		return true
	}
	return false
}

// ArgMax writes the index of the largest of In to Out: the first one,
// NaN never winning (as the server picks a label from scores).
type ArgMax struct {
	In  []int
	Out int
}

func (s *ArgMax) Eval(v []float64) error {
	best := 0
	for k := 1; k < len(s.In); k++ {
		if x, b := v[s.In[k]], v[s.In[best]]; x > b || b != b && x == x {
			best = k
		}
	}
	v[s.Out] = float64(best)
	return nil
}
func (s *ArgMax) Reads() []int  { return s.In }
func (s *ArgMax) Writes() []int { return []int{s.Out} }

// Select writes A[i] where Cond[i] is not 0, else B[i].
type Select struct {
	Cond, A, B, Out []int
}

func (s *Select) Eval(v []float64) error {
	for i, c := range s.Cond {
		if v[c] != 0 {
			v[s.Out[i]] = v[s.A[i]]
		} else {
			v[s.Out[i]] = v[s.B[i]]
		}
	}
	return nil
}
func (s *Select) Reads() []int {
	return append(append(append([]int{}, s.Cond...), s.A...), s.B...)
}
func (s *Select) Writes() []int { return s.Out }

// MaxCouplingClasses bounds Coupling (its code grows with the square).
const MaxCouplingClasses = 32

// Coupling is libsvm's pairwise coupling of an SVM's class probabilities
// (multiclass_probability): In is the k×k matrix r of pairwise
// probabilities (r[i][j], the probability of i against j; the diagonal is
// not read), Out the k class probabilities. It iterates at most 100 times,
// until the largest error is below 0.005/k. In float32 as onnxruntime
// computes it, or in float64 as libsvm (scikit-learn's SVC) does when F64.
type Coupling struct {
	In, Out []int
	F64     bool
}

func (s *Coupling) Eval(v []float64) error {
	var p []float64
	if s.F64 {
		p = couple(v, s.In, len(s.Out), func(x float64) float64 { return x })
	} else {
		p = couple(v, s.In, len(s.Out), func(x float64) float32 { return float32(x) })
	}
	for i, o := range s.Out {
		v[o] = p[i]
	}
	return nil
}

// couple is Coupling in the float type T, each operation rounded to T.
func couple[T float32 | float64](v []float64, in []int, k int, conv func(float64) T) []float64 {
	r := func(i, j int) T { return conv(v[in[i*k+j]]) }
	Q := make([]T, k*k)
	Qp, p := make([]T, k), make([]T, k)
	kf := T(k)
	eps := T(0.005) / kf
	for i := range k {
		p[i] = 1 / kf
		for j := range i {
			Q[i*k+i] += T(r(j, i) * r(j, i))
			Q[i*k+j] = Q[j*k+i]
		}
		for j := i + 1; j < k; j++ {
			Q[i*k+i] += T(r(j, i) * r(j, i))
			Q[i*k+j] = T(-r(j, i) * r(i, j))
		}
	}
	for range 100 {
		var pQp T
		for i := range k {
			Qp[i] = 0
			for j := range k {
				Qp[i] += T(Q[i*k+j] * p[j])
			}
			pQp += T(p[i] * Qp[i])
		}
		var maxErr T
		for i := range k {
			if e := T(math.Abs(float64(Qp[i] - pQp))); e > maxErr {
				maxErr = e
			}
		}
		if maxErr < eps {
			break
		}
		for i := range k {
			diff := T(-Qp[i]+pQp) / Q[i*k+i]
			p[i] += diff
			d1 := 1 + diff
			pQp = T(T(pQp+T(diff*T(T(diff*Q[i*k+i])+T(2*Qp[i]))))/d1) / d1
			for j := range k {
				Qp[j] = T(Qp[j]+T(diff*Q[i*k+j])) / d1
				p[j] /= d1
			}
		}
	}
	out := make([]float64, k)
	for i := range k {
		out[i] = float64(p[i])
	}
	return out
}
func (s *Coupling) Reads() []int  { return s.In }
func (s *Coupling) Writes() []int { return s.Out }

// RBF is an SVM's radial basis function kernel:
// Out[j] = exp(-Gamma · Σ_f (In[f] - C[j·len(In)+f])²), the sum in f
// order. By default as onnxruntime computes it, in float32: the inputs
// rounded to float32, each difference, square and partial sum rounded in
// order, then Expf of the rounded product. F64: in float64 as libsvm
// (scikit-learn's SVC) computes it, with the exp of OpExp.
type RBF struct {
	In, Out []int
	// C holds the centres (support vectors), len(Out) × len(In) values
	// (float32s unless F64).
	C     []float64
	Gamma float64 // a float32 unless F64
	F64   bool
}

func (s *RBF) Eval(v []float64) error {
	if s.F64 {
		for j, o := range s.Out {
			var sum float64
			for f, in := range s.In {
				d := v[in] - s.C[j*len(s.In)+f]
				sum += float64(d * d) // the conversion keeps the square rounded (no FMA)
			}
			v[o] = math.Exp(-s.Gamma * sum)
		}
		return nil
	}
	g := -float32(s.Gamma)
	for j, o := range s.Out {
		var sum float32
		for f, in := range s.In {
			d := float32(v[in]) - float32(s.C[j*len(s.In)+f])
			sum += float32(d * d) // the conversion keeps the square rounded (no FMA)
		}
		v[o] = float64(Expf(g * sum))
	}
	return nil
}
func (s *RBF) Reads() []int  { return s.In }
func (s *RBF) Writes() []int { return s.Out }

// Linear is a dense layer: Out[k] = (Σ_j W[k·len(In)+j]·In[j]) + B[k]
// (B nil: no bias). The sum runs in j order, unless AnyOrder: then the
// code generator may add the products in any order (in partial sums that
// run in parallel), for a front end whose library does not sum in float64
// in order anyway (onnxruntime's float32 dot products).
type Linear struct {
	In, Out  []int
	W        []float64
	B        []float64
	AnyOrder bool
	// FMA32 is onnxruntime's LinearClassifier and LinearRegressor: a
	// float32 multiply-add per term in j order, then the bias in float32
	// (acc = float32(acc + W·x), the product exact in float64 for float32
	// W and x). AnyOrder does not apply.
	FMA32 bool
	// Prod32: each product rounded to float32, summed in float64 in j
	// order, then the bias (onnxruntime's SVM decision values: float
	// products into a double sum). AnyOrder does not apply.
	Prod32 bool
}

func (s *Linear) Eval(v []float64) error {
	n := len(s.In)
	if s.FMA32 {
		for k, o := range s.Out {
			var acc float64
			w := s.W[k*n : (k+1)*n]
			for j, in := range s.In {
				p := float64(w[j] * v[in]) // (the conversion keeps it from fusing)
				acc = float64(float32(acc + p))
			}
			if s.B != nil {
				acc = float64(float32(acc + s.B[k]))
			}
			v[o] = acc
		}
		return nil
	}
	for k, o := range s.Out {
		var sum float64
		w := s.W[k*n : (k+1)*n]
		for j, in := range s.In {
			if s.Prod32 {
				sum += float64(float32(w[j] * v[in]))
				continue
			}
			sum += w[j] * v[in]
		}
		if s.B != nil {
			sum += s.B[k]
		}
		v[o] = sum
	}
	return nil
}
func (s *Linear) Reads() []int  { return s.In }
func (s *Linear) Writes() []int { return s.Out }

// Softmax: Out = exp(In - max In) / Σ exp(In - max In).
type Softmax struct{ In, Out []int }

func (s *Softmax) Eval(v []float64) error {
	m := math.Inf(-1)
	for _, in := range s.In {
		m = math.Max(m, v[in])
	}
	var sum float64
	for i, in := range s.In {
		e := math.Exp(v[in] - m)
		v[s.Out[i]] = e
		sum += e
	}
	for _, o := range s.Out {
		v[o] /= sum
	}
	return nil
}
func (s *Softmax) Reads() []int  { return s.In }
func (s *Softmax) Writes() []int { return s.Out }

// ZeroSum is what Normalize does when the sum is 0.
type ZeroSum uint8

// ZeroSum policies.
const (
	ZeroDivide  ZeroSum = iota // divide anyway (NaN, ±Inf)
	ZeroUniform                // every output 1/len(In)
	ZeroKeep                   // outputs = inputs
)

// NormKind is what Normalize divides by.
type NormKind uint8

// Norms. NormSum is the float64 one, for probabilities; the others are
// ONNX's Normalizer as onnxruntime computes it: every value rounded to
// float32 first, float32 arithmetic, sums in order, and an all-zero norm
// leaving the (rounded) values as they are, whatever Zero says.
const (
	NormSum  NormKind = iota // Σ x
	NormL1                   // Σ |x|
	NormL2                   // x² summed; out = ±sqrt(x² / Σ), the sign of x
	NormMax                  // the largest x (not |x|; NaN skipped)
	normLast = NormMax
)

// Normalize: Out = In / its norm (summed in order), with Zero deciding a
// zero NormSum.
type Normalize struct {
	In, Out []int
	Zero    ZeroSum
	Norm    NormKind
}

func (s *Normalize) Eval(v []float64) error {
	if s.Norm != NormSum {
		s.eval32(v)
		return nil
	}
	var sum float64
	for _, in := range s.In {
		sum += v[in]
	}
	for i, in := range s.In {
		switch {
		case sum != 0 || s.Zero == ZeroDivide:
			v[s.Out[i]] = v[in] / sum
		case s.Zero == ZeroUniform:
			v[s.Out[i]] = 1 / float64(len(s.In))
		default:
			v[s.Out[i]] = v[in]
		}
	}
	return nil
}

// eval32 is onnxruntime's Normalizer. L2 squares in float64 before
// rounding (onnxruntime squares in the input's type; for a float32 input
// the float64 square rounds to the float32 one).
func (s *Normalize) eval32(v []float64) {
	var n float32
	if s.Norm == NormMax {
		n = -math.MaxFloat32
	}
	for _, in := range s.In {
		switch x := float32(v[in]); s.Norm {
		case NormL1:
			n += float32(math.Abs(float64(x)))
		case NormL2:
			n += float32(v[in] * v[in])
		case NormMax:
			if x > n {
				n = x
			}
		}
	}
	for i, in := range s.In {
		x := float32(v[in])
		switch {
		case n == 0:
		case s.Norm == NormL2:
			q := float32(v[in]*v[in]) / n
			r := float32(math.Sqrt(float64(q)))
			if v[in] < 0 {
				r = -r
			}
			x = r
		default:
			x /= n
		}
		v[s.Out[i]] = float64(x)
	}
}
func (s *Normalize) Reads() []int  { return s.In }
func (s *Normalize) Writes() []int { return s.Out }

// Unknown is what a one-hot encoder does with a value outside its
// categories.
type Unknown uint8

// Unknown policies.
const (
	UnknownError  Unknown = iota // the row is refused
	UnknownIgnore                // all zeros
	UnknownColumn                // a 1 in UnknownCol (the infrequent column)
)

// Errors a front end returns for a model it cannot compile. The driver
// records them as the version's state.
type (
	// UnsupportedError: a well-formed model the compiler does not handle
	// (a class, an option, a predict function).
	UnsupportedError struct{ Reason string }
	// InvalidError: a model file that is malformed or inconsistent.
	InvalidError struct{ Reason string }
)

func (e *UnsupportedError) Error() string { return "unsupported: " + e.Reason }
func (e *InvalidError) Error() string     { return "invalid: " + e.Reason }

// Unsupportedf returns an *UnsupportedError.
func Unsupportedf(format string, a ...any) error {
	return &UnsupportedError{fmt.Sprintf(format, a...)}
}

// Invalidf returns an *InvalidError.
func Invalidf(format string, a ...any) error { return &InvalidError{fmt.Sprintf(format, a...)} }

// OneHot encodes one column: Out[Cols[k]] = 1 when In equals Cats[k]
// (NaN matches a NaN category), every other output 0. Cols[k] = -1 drops
// category k (all zeros).
type OneHot struct {
	In         int
	Cats       []float64
	Cols       []int
	Out        []int
	Unknown    Unknown
	UnknownCol int
	// Column names the input in the error for an unknown value.
	Column string
}

// ErrUnknownCategory is returned by OneHot.Eval for a value outside the
// categories when the policy is UnknownError.
var ErrUnknownCategory = errors.New("unknown category")

func (s *OneHot) Eval(v []float64) error {
	x := v[s.In]
	for _, o := range s.Out {
		v[o] = 0
	}
	for k, c := range s.Cats {
		if Missing(x, c) {
			if s.Cols[k] >= 0 {
				v[s.Out[s.Cols[k]]] = 1
			}
			return nil
		}
	}
	switch s.Unknown {
	case UnknownError:
		return fmt.Errorf("%w in column %q", ErrUnknownCategory, s.Column)
	case UnknownColumn:
		v[s.Out[s.UnknownCol]] = 1
	}
	return nil
}
func (s *OneHot) Reads() []int  { return []int{s.In} }
func (s *OneHot) Writes() []int { return s.Out }

// Trees is a tree ensemble: Out[k] = Base[k] + Σ_t leaf_t[k] in tree
// order, divided by the number of trees that add to output k when
// Average.
type Trees struct {
	In, Out []int
	Trees   []Tree
	// Float32 rounds each input to float32 before comparing (sklearn's
	// trees, forests and classic gradient boosting; XGBoost).
	Float32 bool
	// Accum32 sums in float32: the base first, then each leaf value, every
	// addition rounded to float32 (XGBoost). Leaf values and the base must
	// then be float32 values.
	Accum32 bool
	Average bool
	Base    []float64
	// Groups, when set, gives each tree one output: tree t adds its single
	// leaf value (Value has one per node) to Out[Groups[t]] (XGBoost's
	// tree_info, LightGBM's tree t % num_class). Nil: every tree has a
	// value per output.
	Groups []int32
	// CatLeft: a categorical node sends the codes in its set left
	// (LightGBM, HistGradientBoosting); otherwise right (XGBoost).
	CatLeft bool
	// UnknownMissing: a categorical code outside the range of a node's set
	// (negative, or at or beyond 32·len(set)) takes the missing
	// direction (HistGradientBoosting's unseen categories); otherwise it
	// is simply not in the set.
	UnknownMissing bool
}

// Node kinds (Tree.Kind).
const (
	// NodeNumeric goes left when x <= Threshold; NaN goes MissingLeft.
	NodeNumeric uint8 = iota
	// NodeZeroMissing is NodeNumeric where NaN and |x| <= 1e-35 (as
	// float32's 1e-35) take the missing direction (LightGBM's missing
	// type Zero).
	NodeZeroMissing
	// NodeCategorical tests c = trunc(x) against the node's set
	// (Tree.Sets): in the set goes left when Trees.CatLeft, right
	// otherwise; NaN goes MissingLeft.
	NodeCategorical
)

// ZeroMissingEps is LightGBM's kZeroThreshold (1e-35f as a double).
const ZeroMissingEps = 1.0000000180025095e-35

// Tree is one decision tree in node arrays. Node i is a leaf when
// Feature[i] < 0. An internal node goes left when x <= Threshold[i], and
// a missing (NaN) x goes left when MissingLeft[i]. Leaf values are
// Value[i·nOut : (i+1)·nOut] (nOut is 1 when Trees.Groups is set).
type Tree struct {
	Feature     []int32 // index into Trees.In
	Threshold   []float64
	Left, Right []int32
	MissingLeft []bool
	Value       []float64
	// Kind is each node's kind (nil: all NodeNumeric).
	Kind []uint8
	// Sets holds a categorical node's set as a bitset: code c is in it
	// when bit c%32 of Sets[i][c/32] is set. Nil for other nodes (and
	// for a tree without categorical nodes).
	Sets [][]uint32
}

// NodeKind returns node i's kind.
func (t *Tree) NodeKind(i int) uint8 {
	if t.Kind == nil {
		return NodeNumeric
	}
	return t.Kind[i]
}

// Special reports whether the tree has a node that is not NodeNumeric.
func (t *Tree) Special() bool {
	for _, k := range t.Kind {
		if k != NodeNumeric {
			return true
		}
	}
	return false
}

// InSet reports whether x's code is in a bitset, and whether the code is
// inside the set's range at all.
func InSet(set []uint32, x float64) (in, inRange bool) {
	if !(x > -1 && x < float64(32*len(set))) {
		return false, false
	}
	c := int(x) // truncates toward zero; -0.5 is code 0
	return set[c/32]&(1<<(c%32)) != 0, true
}

// Leaf returns the leaf a row reaches.
func (t *Tree) Leaf(x func(f int32) float64, f32 bool) int {
	return t.leaf(x, f32, false, false)
}

func (t *Tree) leaf(x func(f int32) float64, f32, catLeft, unknownMissing bool) int {
	i := int32(0)
	for t.Feature[i] >= 0 {
		xv := x(t.Feature[i])
		if f32 {
			xv = float64(float32(xv))
		}
		left := false
		switch t.NodeKind(int(i)) {
		case NodeCategorical:
			in, inRange := InSet(t.Sets[i], xv)
			switch {
			case xv != xv || !inRange && unknownMissing:
				left = t.MissingLeft[i]
			default:
				left = in == catLeft
			}
		case NodeZeroMissing:
			if xv != xv || math.Abs(xv) <= ZeroMissingEps {
				left = t.MissingLeft[i]
			} else {
				left = xv <= t.Threshold[i]
			}
		default:
			if xv != xv {
				left = t.MissingLeft[i]
			} else {
				left = xv <= t.Threshold[i]
			}
		}
		if left {
			i = t.Left[i]
		} else {
			i = t.Right[i]
		}
	}
	return int(i)
}

// NVals is the number of leaf values per node.
func (s *Trees) NVals() int {
	if s.Groups != nil {
		return 1
	}
	return len(s.Out)
}

func (s *Trees) Eval(v []float64) error {
	no := len(s.Out)
	acc := make([]float64, no)
	if s.Base != nil {
		copy(acc, s.Base)
	}
	count := make([]int, no)
	nv := s.NVals()
	get := func(f int32) float64 { return v[s.In[f]] }
	for ti := range s.Trees {
		t := &s.Trees[ti]
		leaf := t.leaf(get, s.Float32, s.CatLeft, s.UnknownMissing)
		for j := range nv {
			k := j
			if s.Groups != nil {
				k = int(s.Groups[ti])
			}
			count[k]++
			acc[k] += t.Value[leaf*nv+j]
			if s.Accum32 {
				acc[k] = float64(float32(acc[k]))
			}
		}
	}
	for k, o := range s.Out {
		if s.Average && count[k] > 0 {
			acc[k] /= float64(count[k])
		}
		v[o] = acc[k]
	}
	return nil
}
func (s *Trees) Reads() []int  { return s.In }
func (s *Trees) Writes() []int { return s.Out }

// Eval runs the model on one row of inputs (string columns as codes) and
// returns its outputs.
func (m *Model) Eval(row []float64) ([]float64, error) {
	v := make([]float64, m.NSlots)
	copy(v, row)
	for _, s := range m.Steps {
		if err := s.Eval(v); err != nil {
			return nil, err
		}
	}
	out := make([]float64, len(m.Out))
	for i, o := range m.Out {
		out[i] = v[o]
	}
	return out, nil
}

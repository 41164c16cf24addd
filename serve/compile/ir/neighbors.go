package ir

import (
	"errors"
	"fmt"
	"math"
)

// MaxNeighbors bounds Neighbors.K.
const MaxNeighbors = 256

// Neighbors is k-nearest-neighbours prediction over stored points: the K
// points nearest the row, by Σ_f (In[f] - p_f)² (P = 2, Euclidean) or
// Σ_f |In[f] - p_f| (P = 1, Manhattan) summed in f order, nearer first
// and at equal distance the lower index first (a point at NaN distance is
// never a neighbour). Each neighbour weighs 1, or with Distance
// 1/distance (the square root of the sum for P = 2); when a neighbour is
// at distance 0, those at 0 weigh 1 and the others 0.
//
// With Classes > 0, Value[i] is point i's class index and Out[c] the sum
// of the weights of the neighbours of class c, in neighbour order. With
// Classes == 0, Out[0] is Σ w·Value / Σ w over the neighbours, both sums
// in neighbour order (0/0, NaN, without neighbours).
type Neighbors struct {
	In, Out  []int
	Points   []float64 // len(Value) × len(In)
	Value    []float64
	K        int
	P        int
	Distance bool
	Classes  int
}

func (s *Neighbors) validate() error {
	n, nf := len(s.Value), len(s.In)
	switch {
	case nf == 0 || n == 0 || len(s.Points) != n*nf:
		return fmt.Errorf("neighbours: %d values for %d points of %d features", len(s.Points), n, nf)
	case s.K < 1 || s.K > MaxNeighbors || s.K > n:
		return fmt.Errorf("neighbours: k = %d of %d points (at most %d)", s.K, n, MaxNeighbors)
	case s.P != 1 && s.P != 2:
		return fmt.Errorf("neighbours: p = %d", s.P)
	case s.Classes == 0 && len(s.Out) != 1 || s.Classes > 0 && len(s.Out) != s.Classes:
		return fmt.Errorf("neighbours: %d outputs for %d classes", len(s.Out), s.Classes)
	}
	for _, v := range s.Value {
		if s.Classes > 0 && (v < 0 || v >= float64(s.Classes) || v != math.Trunc(v)) {
			return fmt.Errorf("neighbours: class index %v of %d", v, s.Classes)
		}
	}
	for _, p := range s.Points {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return errors.New("neighbours: a point is not finite")
		}
	}
	return nil
}

// Nearest returns the indices and distance sums of the K nearest points,
// nearest first: fewer when some are at NaN or infinite distance (a point
// joins only when nearer than the K-th so far, which starts at +Inf).
func (s *Neighbors) Nearest(v []float64) ([]int, []float64) {
	nf := len(s.In)
	idx := make([]int, s.K)
	dist := make([]float64, s.K)
	for j := range idx {
		idx[j], dist[j] = -1, math.Inf(1)
	}
	for i := range s.Value {
		var d float64
		for f, in := range s.In {
			t := v[in] - s.Points[i*nf+f]
			if s.P == 1 {
				d += math.Abs(t)
			} else {
				d += float64(t * t)
			}
		}
		if !(d < dist[s.K-1]) {
			continue // also NaN
		}
		j := s.K - 1
		for j > 0 && d < dist[j-1] {
			idx[j], dist[j] = idx[j-1], dist[j-1]
			j--
		}
		idx[j], dist[j] = i, d
	}
	n := 0
	for n < s.K && idx[n] >= 0 {
		n++
	}
	return idx[:n], dist[:n]
}

// Weights returns the neighbours' weights from their distance sums.
func (s *Neighbors) Weights(dist []float64) []float64 {
	w := make([]float64, len(dist))
	for j := range w {
		w[j] = 1
	}
	if !s.Distance || len(dist) == 0 {
		return w
	}
	zero := dist[0] == 0
	for j, d := range dist {
		switch {
		case zero && d == 0:
			w[j] = 1
		case zero:
			w[j] = 0
		case s.P == 2:
			w[j] = 1 / math.Sqrt(d)
		default:
			w[j] = 1 / d
		}
	}
	return w
}

func (s *Neighbors) Eval(v []float64) error {
	idx, dist := s.Nearest(v)
	w := s.Weights(dist)
	if s.Classes > 0 {
		for _, o := range s.Out {
			v[o] = 0
		}
		for j, i := range idx {
			o := s.Out[int(s.Value[i])]
			v[o] += w[j]
		}
		return nil
	}
	var num, den float64
	for j, i := range idx {
		num += float64(s.Value[i] * w[j])
		den += w[j]
	}
	v[s.Out[0]] = num / den // 0/0: NaN without neighbours
	return nil
}
func (s *Neighbors) Reads() []int  { return s.In }
func (s *Neighbors) Writes() []int { return s.Out }

package serve

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// ProfileFormat is the value of Profile.Format for the layout below.
const ProfileFormat = "mlbox-profile/1"

// Profile is the training-data profile a wasm-flavor model may ship
// (MLmodel flavors.wasm.profile, docs/wasm-abi.md): one histogram per
// input feature and, optionally, per output. Drift detection compares the
// histograms of served traffic, binned on the same edges, against it.
type Profile struct {
	Format string `json:"format"`
	// Rows is the number of training rows profiled.
	Rows     int64       `json:"rows"`
	Features []Histogram `json:"features"`
	Outputs  []Histogram `json:"outputs,omitempty"`
}

// Histogram is the distribution of one column.
//
// Bin i counts values v with Edges[i] <= v < Edges[i+1]; the last bin also
// includes Edges[len-1]. Values below the first edge count in the first bin
// and values above the last edge in the last bin (see Bin), so that live
// traffic always lands somewhere. NaN counts in Missing.
type Histogram struct {
	Name    string    `json:"name"`
	Edges   []float64 `json:"edges"`
	Counts  []int64   `json:"counts"`
	Missing int64     `json:"missing,omitempty"`
	// Mean and Std are of the non-missing values; informational.
	Mean float64 `json:"mean,omitempty"`
	Std  float64 `json:"std,omitempty"`
}

// ParseProfile decodes and validates a profile. When meta is not nil, the
// feature (and output) histograms must match its columns in number and, if
// the metadata names them, in name and order.
func ParseProfile(b []byte, meta *Metadata) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("profile is not valid JSON: %v", err)
	}
	if err := p.Validate(meta); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks the profile's shape; see ParseProfile.
func (p *Profile) Validate(meta *Metadata) error {
	if p.Format != ProfileFormat {
		return fmt.Errorf("profile: format is %q, want %q", p.Format, ProfileFormat)
	}
	if p.Rows < 0 {
		return fmt.Errorf("profile: rows is negative")
	}
	if len(p.Features) == 0 {
		return fmt.Errorf("profile: no features")
	}
	check := func(what string, hs []Histogram, names []string, n int) error {
		if meta != nil && len(hs) != n {
			return fmt.Errorf("profile: %d %s histograms for a model with %d", len(hs), what, n)
		}
		for i := range hs {
			h := &hs[i]
			if err := h.validate(p.Rows); err != nil {
				return fmt.Errorf("profile: %s %d (%q): %v", what, i, h.Name, err)
			}
			if len(names) == len(hs) && h.Name != names[i] {
				return fmt.Errorf("profile: %s %d is named %q, the model calls it %q", what, i, h.Name, names[i])
			}
		}
		return nil
	}
	var fn, on []string
	var nf, no int
	if meta != nil {
		fn, on, nf, no = meta.FeatureNames, meta.OutputNames, meta.NFeatures, meta.NOutputs
	}
	if err := check("feature", p.Features, fn, nf); err != nil {
		return err
	}
	if len(p.Outputs) > 0 {
		return check("output", p.Outputs, on, no)
	}
	return nil
}

func (h *Histogram) validate(rows int64) error {
	if len(h.Counts) == 0 || len(h.Edges) != len(h.Counts)+1 {
		return fmt.Errorf("want n >= 1 counts and n+1 edges, have %d counts and %d edges", len(h.Counts), len(h.Edges))
	}
	for i, e := range h.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return fmt.Errorf("edge %d is not finite", i)
		}
		if i > 0 && !(e > h.Edges[i-1]) {
			return fmt.Errorf("edges are not strictly increasing at %d", i)
		}
	}
	sum := h.Missing
	for i, c := range h.Counts {
		if c < 0 {
			return fmt.Errorf("count %d is negative", i)
		}
		sum += c
	}
	if h.Missing < 0 {
		return fmt.Errorf("missing is negative")
	}
	if rows > 0 && sum != rows {
		return fmt.Errorf("counts + missing add up to %d, rows is %d", sum, rows)
	}
	return nil
}

// Bin returns the bin of v (clamped into the first or last bin), or -1 for
// NaN.
func (h *Histogram) Bin(v float64) int {
	if math.IsNaN(v) {
		return -1
	}
	// The first edge > v, minus one, is v's bin.
	i := sort.SearchFloat64s(h.Edges, v)
	if i < len(h.Edges) && h.Edges[i] == v {
		i++
	}
	return min(max(i-1, 0), len(h.Counts)-1)
}

package store

import (
	"math/bits"
	"sync"
)

func trailingZeros(w uint64) int { return bits.TrailingZeros64(w) }

// runIndex keeps what run search needs in memory, column by column, so a
// search over 100k runs is a scan of a few slices instead of 100k bbolt
// reads. It is updated after each commit (wtx.onCommit) and rebuilt from the
// file at open. Lock order: the committer takes mu for writing after the
// bbolt commit; readers take it for reading and never open a bbolt write
// transaction while holding it.
type runIndex struct {
	mu      sync.RWMutex
	rows    []runRow
	byID    map[string]int32
	byExp   map[string][]int32
	metrics map[string]*floatCol
	params  map[string]*strCol
	tags    map[string]*strCol
	// gen counts the write locks taken (lock): a search result computed
	// at one gen still holds while gen is the same.
	gen   uint64
	cache searchCache
}

// lock takes the index for writing; every change goes through it.
func (ix *runIndex) lock() {
	ix.mu.Lock()
	ix.gen++
}

type runRow struct {
	id, exp, name, user, status, artifactURI, stage string
	start, end                                      int64
	hasEnd                                          bool
	dead                                            bool // purged
	datasets                                        []dsRef
}

type dsRef struct{ name, digest, context string }

type bitset []uint64

func (b *bitset) set(i int32) {
	for int(i>>6) >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[i>>6] |= 1 << (uint(i) & 63)
}

func (b *bitset) clear(i int32) {
	if int(i>>6) < len(*b) {
		(*b)[i>>6] &^= 1 << (uint(i) & 63)
	}
}

func (b bitset) has(i int32) bool {
	return int(i>>6) < len(b) && b[i>>6]&(1<<(uint(i)&63)) != 0
}

type floatCol struct {
	vals []float64
	has  bitset
}

func (c *floatCol) set(ord int32, v float64) {
	for int(ord) >= len(c.vals) {
		c.vals = append(c.vals, 0)
	}
	c.vals[ord] = v
	c.has.set(ord)
}

func (c *floatCol) get(ord int32) (float64, bool) {
	if c == nil || !c.has.has(ord) {
		return 0, false
	}
	return c.vals[ord], true
}

type strCol struct {
	vals []string
	has  bitset
}

func (c *strCol) set(ord int32, v string) {
	for int(ord) >= len(c.vals) {
		c.vals = append(c.vals, "")
	}
	c.vals[ord] = v
	c.has.set(ord)
}

func (c *strCol) del(ord int32) {
	if int(ord) < len(c.vals) {
		c.vals[ord] = ""
		c.has.clear(ord)
	}
}

func (c *strCol) get(ord int32) (string, bool) {
	if c == nil || !c.has.has(ord) {
		return "", false
	}
	return c.vals[ord], true
}

func newRunIndex() *runIndex {
	return &runIndex{
		byID:    map[string]int32{},
		byExp:   map[string][]int32{},
		metrics: map[string]*floatCol{},
		params:  map[string]*strCol{},
		tags:    map[string]*strCol{},
	}
}

func (ix *runIndex) count() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.countLocked()
}

func (ix *runIndex) countLocked() int { return len(ix.byID) }

// The methods below are called with mu held for writing.

func (ix *runIndex) putInfo(info *RunInfo) int32 {
	ord, ok := ix.byID[info.RunID]
	if !ok {
		ord = int32(len(ix.rows))
		ix.rows = append(ix.rows, runRow{})
		ix.byID[info.RunID] = ord
		ix.byExp[info.ExperimentID] = append(ix.byExp[info.ExperimentID], ord)
	}
	r := &ix.rows[ord]
	r.id, r.exp, r.name, r.user, r.status = info.RunID, info.ExperimentID, info.RunName, info.UserID, info.Status
	r.artifactURI, r.stage, r.start = info.ArtifactURI, info.LifecycleStage, info.StartTime
	r.hasEnd = info.EndTime != nil
	if r.hasEnd {
		r.end = *info.EndTime
	}
	return ord
}

func (ix *runIndex) ord(id string) (int32, bool) {
	o, ok := ix.byID[id]
	return o, ok
}

func (ix *runIndex) setMetric(ord int32, key string, v float64) {
	c := ix.metrics[key]
	if c == nil {
		c = &floatCol{}
		ix.metrics[key] = c
	}
	c.set(ord, v)
}

func setStr(m map[string]*strCol, ord int32, key, v string) {
	c := m[key]
	if c == nil {
		c = &strCol{}
		m[key] = c
	}
	c.set(ord, v)
}

// remove drops a purged run from the index. Its ordinal is not reused.
func (ix *runIndex) remove(id string) {
	ord, ok := ix.byID[id]
	if !ok {
		return
	}
	r := &ix.rows[ord]
	exp := ix.byExp[r.exp]
	for i, o := range exp {
		if o == ord {
			ix.byExp[r.exp] = append(exp[:i:i], exp[i+1:]...)
			break
		}
	}
	for _, c := range ix.params {
		c.del(ord)
	}
	for _, c := range ix.tags {
		c.del(ord)
	}
	for _, c := range ix.metrics {
		c.has.clear(ord)
	}
	*r = runRow{dead: true}
	delete(ix.byID, id)
}

// RunCount is the number of runs in the store (all lifecycle stages);
// while the run index is being built, the number read so far (it does
// not wait).
func (s *Store) RunCount() int {
	if ok, n := s.Ready(); !ok {
		return int(n)
	}
	return s.runs.count()
}

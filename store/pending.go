package store

import (
	"bytes"
	"context"
	"slices"
	"sync"
)

// pendingMetrics holds metric points that are durable in the metric log
// but not yet flushed into bbolt. Readers merge them with what they read
// from bbolt: a history is a set of (step, timestamp, value) points and the
// latest value is the greatest of them, so a point seen in both places
// counts once and the order of arrival does not matter.
//
// To never miss a point that is being flushed, a reader takes its pending
// snapshot before it opens its bbolt read transaction: a point leaves this
// structure only after the flush that wrote it has committed, so it is in
// the snapshot, or in the transaction, or in both.
type pendingMetrics struct {
	mu     sync.Mutex
	gens   []*pendingGen // oldest first; the last one takes new points
	hi     map[string]map[string]Metric
	points int
	space  chan struct{} // closed and replaced whenever a flush frees space
	// Log records are published out of order when syncs overlap. contig
	// is the highest seq with every record up to it published (or failed);
	// ahead holds the published seqs above it.
	contig uint64
	ahead  map[uint64]bool
}

// pendingGen is the set of points between two flushes.
type pendingGen struct {
	runs   map[string]map[string][]Metric // run -> key -> points
	points int
	upTo   uint64 // at freeze: every record <= upTo is in this or an older generation
}

func newPendingMetrics(lastSeq uint64) *pendingMetrics {
	return &pendingMetrics{
		contig: lastSeq,
		ahead:  map[uint64]bool{},
		gens:   []*pendingGen{{runs: map[string]map[string][]Metric{}}},
		hi:     map[string]map[string]Metric{},
		space:  make(chan struct{}),
	}
}

// resetSeq starts the sequence over at seq (an empty set, when a metric
// log opens after the store did).
func (p *pendingMetrics) resetSeq(seq uint64) {
	p.mu.Lock()
	p.contig = seq
	clear(p.ahead)
	p.mu.Unlock()
}

func orderLess(a, b *Metric) bool { return compareOrder(a, b) < 0 }

// compareOrder compares (step, timestamp, value) in stored-key order.
func compareOrder(a, b *Metric) int {
	var ka, kb [24]byte
	return bytes.Compare(appendOrderKey(ka[:0], a), appendOrderKey(kb[:0], b))
}

func appendOrderKey(b []byte, m *Metric) []byte {
	return appendF64(appendI64(appendI64(b, m.Step), m.Timestamp), m.Value)
}

// count is the number of points not yet flushed.
func (p *pendingMetrics) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.points
}

// missingHi lists the (run, key) pairs among entries that have no latest
// record yet. Called with latestMu held.
func (p *pendingMetrics) missingHi(entries []walEntry) map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out map[string][]string
	for i := range entries {
		e := &entries[i]
		h := p.hi[e.runID]
		for j := range e.metrics {
			k := e.metrics[j].Key
			if _, ok := h[k]; ok || slices.Contains(out[e.runID], k) {
				continue
			}
			if out == nil {
				out = map[string][]string{}
			}
			out[e.runID] = append(out[e.runID], k)
		}
	}
	return out
}

// latestChange is a metric whose latest value a logged record changed.
type latestChange struct {
	run, key string
	value    float64
}

// add inserts a logged record. base holds the bbolt latest value of the
// pairs missingHi returned. It appends to changed the metrics whose latest
// value changed (a key may appear more than once; the last entry wins).
// Called with latestMu held.
func (p *pendingMetrics) add(seq uint64, entries []walEntry, base map[string]map[string]Metric, changed []latestChange) []latestChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.doneLocked(seq)
	g := p.gens[len(p.gens)-1]
	for i := range entries {
		e := &entries[i]
		runs := g.runs[e.runID]
		if runs == nil {
			runs = map[string][]Metric{}
			g.runs[e.runID] = runs
		}
		h := p.hi[e.runID]
		if h == nil {
			h = map[string]Metric{}
			p.hi[e.runID] = h
		}
		for j := range e.metrics {
			m := e.metrics[j]
			m.RunID = ""
			runs[m.Key] = append(runs[m.Key], m)
			cur, ok := h[m.Key]
			if !ok {
				cur, ok = base[e.runID][m.Key]
			}
			if !ok || !orderLess(&m, &cur) {
				cur = m
				changed = append(changed, latestChange{e.runID, m.Key, m.Value})
			}
			h[m.Key] = cur
		}
		g.points += len(e.metrics)
		p.points += len(e.metrics)
	}
	return changed
}

// skip marks a log record that will not be published (its sync failed).
func (p *pendingMetrics) skip(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.doneLocked(seq)
}

func (p *pendingMetrics) doneLocked(seq uint64) {
	if seq <= p.contig {
		return
	}
	p.ahead[seq] = true
	for p.ahead[p.contig+1] {
		delete(p.ahead, p.contig+1)
		p.contig++
	}
}

// noteLatest merges points that became the latest in bbolt through the
// ordinary write path with the pending latest values, and returns the value
// the run index should show for each key. Called with latestMu held.
func (p *pendingMetrics) noteLatest(runID string, latest map[string]Metric) map[string]float64 {
	out := make(map[string]float64, len(latest))
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hi[runID]
	for k, m := range latest {
		if cur, ok := h[k]; ok {
			if orderLess(&cur, &m) {
				m.RunID = ""
				h[k] = m
			} else {
				m = cur
			}
		}
		out[k] = m.Value
	}
	return out
}

// freeze starts a new generation for new points and returns the older
// ones, which the caller flushes (nil when there is nothing to flush).
func (p *pendingMetrics) freeze() []*pendingGen {
	p.mu.Lock()
	defer p.mu.Unlock()
	if last := p.gens[len(p.gens)-1]; last.points > 0 {
		last.upTo = p.contig
		p.gens = append(p.gens, &pendingGen{runs: map[string]map[string][]Metric{}})
	}
	frozen := p.gens[:len(p.gens)-1]
	if len(frozen) == 0 {
		return nil
	}
	return slices.Clone(frozen)
}

// entries copies the points of frozen generations for a flush, and
// returns the seq up to which they hold every record.
func (p *pendingMetrics) entries(gens []*pendingGen) ([]walEntry, uint64) {
	p.mu.Lock() // dropRun may edit frozen generations
	defer p.mu.Unlock()
	var out []walEntry
	var upTo uint64
	for _, g := range gens {
		for run, keys := range g.runs {
			e := walEntry{runID: run}
			for _, ms := range keys {
				e.metrics = append(e.metrics, ms...)
			}
			out = append(out, e)
		}
		upTo = max(upTo, g.upTo)
	}
	return out, upTo
}

// drop removes flushed generations, and the latest records of pairs that
// no longer have pending points (bbolt has their latest value now). Called
// with latestMu held.
func (p *pendingMetrics) drop(done []*pendingGen) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gens = slices.DeleteFunc(p.gens, func(g *pendingGen) bool { return slices.Contains(done, g) })
	for _, g := range done {
		p.points -= g.points
		for run, keys := range g.runs {
			h := p.hi[run]
			for k := range keys {
				if !p.pendingLocked(run, k) {
					delete(h, k)
				}
			}
			if len(h) == 0 {
				delete(p.hi, run)
			}
		}
	}
	close(p.space)
	p.space = make(chan struct{})
}

func (p *pendingMetrics) pendingLocked(run, key string) bool {
	for _, g := range p.gens {
		if len(g.runs[run][key]) > 0 {
			return true
		}
	}
	return false
}

// dropRun forgets a purged run's points. Called with latestMu held.
func (p *pendingMetrics) dropRun(run string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.gens {
		for _, ms := range g.runs[run] {
			g.points -= len(ms)
			p.points -= len(ms)
		}
		delete(g.runs, run)
	}
	delete(p.hi, run)
}

// waitSpace blocks while more than limit points are pending.
func (p *pendingMetrics) waitSpace(ctx context.Context, limit int) error {
	for {
		p.mu.Lock()
		n, ch := p.points, p.space
		p.mu.Unlock()
		if n < limit {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// has reports whether a metric of a run has pending points.
func (p *pendingMetrics) has(run, key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pendingLocked(run, key)
}

// history returns a copy of a metric's pending points, in (step, timestamp,
// value) order without duplicates.
func (p *pendingMetrics) history(run, key string) []Metric {
	p.mu.Lock()
	var out []Metric
	for _, g := range p.gens {
		out = append(out, g.runs[run][key]...)
	}
	p.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	slices.SortStableFunc(out, func(a, b Metric) int { return compareOrder(&a, &b) })
	// equal points: the later arrival (last after the stable sort) wins, as
	// a second bbolt Put of the same key would
	w := 0
	for i := range out {
		if w > 0 && compareOrder(&out[w-1], &out[i]) == 0 {
			out[w-1] = out[i]
			continue
		}
		out[w] = out[i]
		w++
	}
	for i := range out[:w] {
		out[i].Key = key
	}
	return out[:w]
}

// latest returns a copy of the pending latest records of the given runs
// (only runs that have some).
func (p *pendingMetrics) latest(runs ...string) map[string]map[string]Metric {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out map[string]map[string]Metric
	for _, r := range runs {
		h := p.hi[r]
		if len(h) == 0 {
			continue
		}
		if out == nil {
			out = map[string]map[string]Metric{}
		}
		out[r] = make(map[string]Metric, len(h))
		for k, m := range h {
			out[r][k] = m
		}
	}
	return out
}

// mergeHistory merges sorted, duplicate-free bbolt points with pending
// ones; for equal points the pending one wins (it is the newer write).
func mergeHistory(stored, pend []Metric) []Metric {
	if len(pend) == 0 {
		return stored
	}
	out := make([]Metric, 0, len(stored)+len(pend))
	i, j := 0, 0
	for i < len(stored) && j < len(pend) {
		switch c := compareOrder(&stored[i], &pend[j]); {
		case c < 0:
			out = append(out, stored[i])
			i++
		case c > 0:
			out = append(out, pend[j])
			j++
		default:
			out = append(out, pend[j])
			i++
			j++
		}
	}
	out = append(out, stored[i:]...)
	return append(out, pend[j:]...)
}

package store

import (
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Building the run index. It is rebuilt from the file at every start (so
// it can never disagree with the data, after a crash or otherwise), in the
// background: Open returns at once, holding the index's write lock for
// the builder, so that whatever needs the index (search, the writes that
// update it) waits for it instead of failing or seeing half of it, and
// everything else (get a run, metric history, the registry, artifacts)
// is served meanwhile. Ready reports when it is done.
//
// The runs bucket is split into key ranges read in parallel, each into an
// index of its own; the parts are then appended in key order, so the
// result is exactly what one sequential pass builds.

// indexState follows the build.
type indexState struct {
	done  chan struct{} // closed when the index is complete
	runs  atomic.Int64  // runs read so far
	start time.Time
	took  time.Duration
	bad   atomic.Int64 // runs whose info could not be decoded (left out)
}

// startRunIndex takes the index's write lock and builds it in the
// background; the lock is released when the index is complete.
func (s *Store) startRunIndex() {
	st := &indexState{done: make(chan struct{}), start: time.Now()}
	s.indexing = st
	s.runs.lock()
	s.indexWG.Add(1)
	go func() {
		defer s.indexWG.Done()
		if testIndexHook != nil {
			testIndexHook()
		}
		err := s.buildRunIndex(st)
		st.took = time.Since(st.start)
		runs := s.runs.countLocked()
		// Ready turns true before the lock is released, so that whoever
		// the unlock lets through (a search that waited) already sees it.
		close(st.done)
		s.runs.mu.Unlock()
		switch {
		case err != nil:
			s.log.Error("building the run index failed; search sees only what was read", "error", err, "runs", st.runs.Load())
		default:
			s.log.Info("run index built", "runs", runs, "ms", st.took.Milliseconds(), "workers", indexWorkers())
		}
		if n := st.bad.Load(); n > 0 {
			s.log.Error("runs whose info could not be decoded were left out of the index", "runs", n)
		}
	}()
}

// Ready reports whether the store serves everything: false while the run
// index is being built, with what it has read so far.
func (s *Store) Ready() (bool, int64) {
	st := s.indexing
	select {
	case <-st.done:
		return true, st.runs.Load()
	default:
		return false, st.runs.Load()
	}
}

// WaitReady blocks until the run index is complete (or the store closes).
func (s *Store) WaitReady() { <-s.indexing.done }

func indexWorkers() int {
	if testIndexWorkers > 0 {
		return testIndexWorkers
	}
	return min(max(runtime.GOMAXPROCS(0), 1), 8)
}

// Test hooks: the number of workers, and a function the builder calls
// (holding the index's lock) before it reads anything.
var (
	testIndexWorkers int
	testIndexHook    func()
)

// buildRunIndex fills s.runs (whose write lock the caller holds).
func (s *Store) buildRunIndex(st *indexState) error {
	n := indexWorkers()
	// Run ids are random hex: split on the first byte.
	bounds := make([][]byte, n+1)
	for i := 1; i < n; i++ {
		bounds[i] = []byte{"0123456789abcdef"[i*16/n]}
	}
	parts := make([]*runIndex, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i], errs[i] = s.readRunRange(bounds[i], bounds[i+1], st)
		}()
	}
	wg.Wait()
	for i, p := range parts {
		if p != nil {
			s.runs.absorb(p)
		}
		if errs[i] != nil {
			return errs[i]
		}
	}
	return nil
}

// readRunRange reads the runs with ids in [from, to) (nil: unbounded)
// into an index of their own.
func (s *Store) readRunRange(from, to []byte, st *indexState) (*runIndex, error) {
	ix := newRunIndex()
	err := s.db.View(func(tx *bolt.Tx) error {
		runs := tx.Bucket(bktRuns)
		c := runs.Cursor()
		id, v := c.First()
		if from != nil {
			id, v = c.Seek(from)
		}
		for ; id != nil && (to == nil || string(id) < string(to)); id, v = c.Next() {
			if v != nil {
				continue
			}
			if s.closed.Load() {
				return ErrClosed
			}
			b := runs.Bucket(id)
			var info RunInfo
			if err := json.Unmarshal(b.Get(rkInfo), &info); err != nil {
				st.bad.Add(1)
				continue
			}
			ord := ix.putInfo(&info)
			rc := b.Cursor()
			for k, v := rc.First(); k != nil; k, v = rc.Next() {
				if v == nil || len(k) < 2 || k[1] != 0 {
					continue
				}
				key := string(k[2:])
				switch k[0] {
				case 'p':
					setStr(ix.params, ord, key, string(v))
				case 't':
					setStr(ix.tags, ord, key, string(v))
				case 'm':
					if len(v) >= 24 {
						ix.setMetric(ord, key, readF64(v[16:24]))
					}
				case 'd':
					var di DatasetInput
					if json.Unmarshal(v, &di) == nil {
						ctxTag, _ := tagValue(di.Tags, TagDataCtx)
						ix.rows[ord].datasets = append(ix.rows[ord].datasets, dsRef{di.Dataset.Name, di.Dataset.Digest, ctxTag})
					}
				}
			}
			st.runs.Add(1)
		}
		return nil
	})
	return ix, err
}

// absorb appends the runs of p (a part built from a later key range)
// after the runs already in ix.
func (ix *runIndex) absorb(p *runIndex) {
	off := int32(len(ix.rows))
	ix.rows = append(ix.rows, p.rows...)
	for id, o := range p.byID {
		ix.byID[id] = o + off
	}
	for exp, ords := range p.byExp {
		dst := ix.byExp[exp]
		for _, o := range ords {
			dst = append(dst, o+off)
		}
		ix.byExp[exp] = dst
	}
	for key, c := range p.metrics {
		dst := ix.metrics[key]
		if dst == nil {
			dst = &floatCol{}
			ix.metrics[key] = dst
		}
		c.has.each(func(o int32) { dst.set(o+off, c.vals[o]) })
	}
	for _, m := range []struct{ dst, src map[string]*strCol }{{ix.params, p.params}, {ix.tags, p.tags}} {
		for key, c := range m.src {
			dst := m.dst[key]
			if dst == nil {
				dst = &strCol{}
				m.dst[key] = dst
			}
			c.has.each(func(o int32) { dst.set(o+off, c.vals[o]) })
		}
	}
}

// each calls fn for every set bit, in order.
func (b bitset) each(fn func(int32)) {
	for w, word := range b {
		for word != 0 {
			tz := trailingZeros(word)
			fn(int32(w*64 + tz))
			word &= word - 1
		}
	}
}

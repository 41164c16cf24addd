package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Metric-only writes go through the metric log (metricwal.go): grouped,
// appended with one fdatasync, answered, and flushed into bbolt in the
// background. This file is that path: the log's committer, the flusher,
// replay at open and the final flush at close.

const (
	// flushPoints starts a flush early when this many points are pending.
	flushPoints = 32 << 10
	// maxPendingPoints makes writers wait for a flush (back-pressure).
	maxPendingPoints = 512 << 10
	// flushInterval bounds how long a point stays only in the log.
	flushInterval = time.Second
	// maxLoggedBatch is the largest metric-only write that goes to the
	// log. A bigger batch already spreads one bbolt commit over many
	// points; logging it too would write it twice for no gain (measured:
	// the same 1000-point log-batch throughput, a higher p99).
	maxLoggedBatch = 100
)

type walReq struct {
	entry walEntry
	done  chan error // nil, an error, or errLead
}

// errLead tells a queued writer to lead the next group.
var errLead = errors.New("lead")

// errLogFailed marks a write the metric log could not make durable (an I/O
// error of the log itself). LogBatch then commits it through bbolt: points
// are a set, so a record that did land and is replayed later changes
// nothing.
var errLogFailed = errors.New("metric log failed")

// maxLogSyncs is how many log syncs may run at once. Overlapping syncs
// would let a group start before the previous one is on disk, but measured
// on a virtual disk with 2 of them each sync took longer (0.39 against
// 0.29 ms), groups were half as big and b lost 15%.
const maxLogSyncs = 1

// walQueue is the metric log's group commit. There is no committer
// goroutine: a writer that finds a sync slot free leads a group itself
// (takes everyone queued, writes one record, syncs, answers them); the
// others wait. When a sync finishes and writers are queued, the first of
// them is told to lead the next group.
type walQueue struct {
	mu      sync.Mutex
	queue   []*walReq
	syncing int  // groups between write and answer
	handoff bool // a queued writer was told to lead and has not taken the queue yet
}

// openMetricLog replays the metric log into bbolt (points the last run
// acknowledged but did not flush), then starts an empty log. Called from
// Open before the run index is built.
func (s *Store) openMetricLog() ([]string, error) {
	dir := filepath.Join(s.dataDir, walDirName)
	var flushed uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktMeta).Get(keyWALFlushed); len(v) == 8 {
			flushed = binary.BigEndian.Uint64(v)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var replay []walEntry
	points := 0
	last, segs, err := replayWAL(dir, flushed, func(_ uint64, entries []walEntry) error {
		replay = append(replay, entries...)
		for _, e := range entries {
			points += len(e.metrics)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metric log: %w (to start without the unflushed points, move %s aside)", err, dir)
	}
	if len(replay) > 0 || last > flushed {
		start := time.Now()
		err := s.db.Update(func(tx *bolt.Tx) error {
			if err := applyEntries(tx, replay); err != nil {
				return err
			}
			return tx.Bucket(bktMeta).Put(keyWALFlushed, u64(last))
		})
		if err != nil {
			return nil, fmt.Errorf("metric log: replay: %w", err)
		}
		s.log.Info("metric log replayed", "points", points, "last_seq", last, "ms", time.Since(start).Milliseconds())
	}
	w, err := openMetricWAL(dir, max(last, flushed), segs, s.opts.NoSync)
	if err != nil {
		return nil, fmt.Errorf("metric log: %w", err)
	}
	s.walp.Store(w)
	runs := map[string]bool{}
	for _, e := range replay {
		runs[e.runID] = true
	}
	return slices.Sorted(maps.Keys(runs)), nil
}

// applyEntries writes logged points into bbolt. Points of runs that no
// longer exist (purged after the write) are skipped. Idempotent.
func applyEntries(tx *bolt.Tx, entries []walEntry) error {
	byRun := map[string][]Metric{}
	for _, e := range entries {
		byRun[e.runID] = append(byRun[e.runID], e.metrics...)
	}
	runs := tx.Bucket(bktRuns)
	for _, id := range slices.Sorted(maps.Keys(byRun)) {
		b := runs.Bucket([]byte(id))
		if b == nil {
			continue
		}
		ms := byRun[id]
		// by key, then in history order: sequential inserts per bucket
		slices.SortFunc(ms, func(a, b Metric) int {
			if c := strings.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			return compareOrder(&a, &b)
		})
		if _, err := putMetrics(b, ms); err != nil {
			return err
		}
	}
	return nil
}

// logMetrics appends metric-only writes to the metric log. The run must
// exist and be active (checked on the run index, as of now).
func (s *Store) logMetrics(ctx context.Context, runID string, metrics []Metric) error {
	if runID == "" {
		return Invalidf("Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.")
	}
	ix := s.runs
	ix.mu.RLock()
	ord, ok := ix.ord(runID)
	stage := ""
	if ok {
		stage = ix.rows[ord].stage
	}
	ix.mu.RUnlock()
	if !ok {
		return NotFoundf("Run with id=%s not found", runID)
	}
	if stage != StageActive {
		return Invalidf("The run %s must be in the 'active' state. Current state is %s.", runID, stage)
	}
	if s.ro.Load() != nil {
		return s.readOnlyErr()
	}
	if err := s.pending.waitSpace(ctx, maxPendingPoints); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.walWG.Add(1)
	s.mu.RUnlock()
	defer s.walWG.Done()
	// Once queued, the write is applied even if ctx ends.
	r := &walReq{entry: walEntry{runID: runID, metrics: metrics}, done: make(chan error, 1)}
	q := &s.walq
	q.mu.Lock()
	if q.handoff || q.syncing >= maxLogSyncs {
		q.queue = append(q.queue, r)
		q.mu.Unlock()
		if err := <-r.done; err != errLead {
			return err
		}
		q.mu.Lock()
		q.handoff = false
	} else {
		q.syncing++
		q.queue = append(q.queue, r)
	}
	batch := q.queue
	q.queue = nil
	q.mu.Unlock()
	return s.walLead(r, batch)
}

// walLead writes and syncs one group, publishes it, answers the others in
// it and returns the leader's own result. The caller holds a sync slot.
func (s *Store) walLead(self *walReq, batch []*walReq) error {
	entries := make([]walEntry, len(batch))
	for i, r := range batch {
		entries[i] = r.entry
	}
	start := time.Now()
	seq, seg, err := s.walLog().write(entries)
	if err == nil {
		if err = s.walLog().sync(seg); err != nil {
			s.pending.skip(seq)
		}
	}
	if err == nil {
		s.stats.WALSyncNanos.Add(uint64(time.Since(start)))
		s.stats.WALSyncs.Add(1)
		s.stats.WALWrites.Add(uint64(len(batch)))
		s.publishPending(seq, entries)
	} else if KindOf(err) != KindInvalid {
		if !s.walLog().usable() && s.walFailed.CompareAndSwap(false, true) {
			s.log.Error("metric log failed; metric writes are committed to mlbox.db directly until restart", "err", err)
		}
		err = fmt.Errorf("%w: %w", errLogFailed, err)
	}
	q := &s.walq
	var next *walReq
	q.mu.Lock()
	q.syncing--
	if len(q.queue) > 0 && !q.handoff {
		q.syncing++
		q.handoff = true
		next = q.queue[0]
	}
	q.mu.Unlock()
	for _, r := range batch {
		if r != self {
			r.done <- err
		}
	}
	if next != nil {
		// last, so that it is the goroutine scheduled next on this P
		next.done <- errLead
	}
	if err == nil && s.pending.count() >= flushPoints {
		select {
		case s.flushKick <- struct{}{}:
		default:
		}
	}
	return err
}

// publishPending makes logged points visible: in the pending set, and in
// the run index when they are the new latest value.
func (s *Store) publishPending(seq uint64, entries []walEntry) {
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	var base map[string]map[string]Metric
	if miss := s.pending.missingHi(entries); len(miss) > 0 {
		base = map[string]map[string]Metric{}
		_ = s.db.View(func(tx *bolt.Tx) error {
			runs := tx.Bucket(bktRuns)
			for run, keys := range miss {
				b := runs.Bucket([]byte(run))
				if b == nil {
					continue
				}
				for _, k := range keys {
					if v := b.Get(pk(pfxLatest, k)); len(v) >= 24 {
						if base[run] == nil {
							base[run] = map[string]Metric{}
						}
						base[run][k] = decodeLatest(k, v)
					}
				}
			}
			return nil
		})
	}
	var buf [16]latestChange
	changed := s.pending.add(seq, entries, base, buf[:0])
	if len(changed) == 0 {
		return
	}
	ix := s.runs
	ix.lock()
	for _, c := range changed {
		if ord, ok := ix.ord(c.run); ok {
			ix.setMetric(ord, c.key, c.value)
		}
	}
	ix.mu.Unlock()
}

func (s *Store) flusher() {
	defer s.flushWG.Done()
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.flushKick:
		case <-s.flushQuit:
			return
		}
		if s.ro.Load() != nil {
			continue // the disk is full: the log keeps the points
		}
		if err := s.flushPending(); err != nil && s.ro.Load() == nil {
			s.log.Error("metric log flush failed; will retry", "err", err)
		}
	}
}

// flushPending copies pending points into bbolt in one transaction, then
// forgets them and deletes log segments that are entirely flushed.
func (s *Store) flushPending() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	gens := s.pending.freeze()
	if len(gens) == 0 {
		return nil
	}
	entries, lastSeq := s.pending.entries(gens)
	start := time.Now()
	err := s.enqueue(func(tx *wtx) error {
		if err := applyEntries(tx.Tx, entries); err != nil {
			return err
		}
		return tx.Bucket(bktMeta).Put(keyWALFlushed, u64(lastSeq))
	})
	if err != nil {
		return err
	}
	s.stats.Flushes.Add(1)
	s.stats.FlushNanos.Add(uint64(time.Since(start)))
	s.latestMu.Lock()
	s.pending.drop(gens)
	s.latestMu.Unlock()
	return s.walLog().release(lastSeq)
}

// resumeMetricLog replays and reopens the metric log the store started
// without (the disk was full), once space is back. Nothing else writes:
// the store is still read-only. The replayed points' latest values go into
// the run index, which was built without them.
func (s *Store) resumeMetricLog() error {
	s.WaitReady()
	if s.walLog() != nil {
		return nil
	}
	runs, err := s.openMetricLog()
	if err != nil {
		return err
	}
	s.refreshLatest(runs)
	s.pending.resetSeq(s.walLog().lastSeq())
	s.flushWG.Add(1)
	go s.flusher()
	return nil
}

// refreshLatest reads the latest metric values of runs from bbolt into the
// run index.
func (s *Store) refreshLatest(runs []string) {
	if len(runs) == 0 {
		return
	}
	type kv struct {
		run, key string
		v        float64
	}
	var vals []kv
	_ = s.db.View(func(tx *bolt.Tx) error {
		for _, id := range runs {
			b := tx.Bucket(bktRuns).Bucket([]byte(id))
			if b == nil {
				continue
			}
			c := b.Cursor()
			for k, v := c.Seek(pfxLatest); k != nil && bytes.HasPrefix(k, pfxLatest); k, v = c.Next() {
				if len(v) >= 24 {
					vals = append(vals, kv{id, string(k[len(pfxLatest):]), readF64(v[16:24])})
				}
			}
		}
		return nil
	})
	ix := s.runs
	ix.lock()
	for _, x := range vals {
		if ord, ok := ix.ord(x.run); ok {
			ix.setMetric(ord, x.key, x.v)
		}
	}
	ix.mu.Unlock()
}

// closeMetricLog waits for writers in the log, stops the flusher, flushes
// what is pending and, if that worked, removes the log. Called by Close
// with the bbolt committer still running.
func (s *Store) closeMetricLog() error {
	s.mu.Lock() // no writer is between its closed check and walWG.Add
	s.mu.Unlock()
	s.walWG.Wait()
	close(s.flushQuit)
	s.flushWG.Wait()
	err := s.flushPending()
	if err != nil {
		s.log.Error("final metric log flush failed; the log is kept and replayed at next start", "err", err)
	}
	if cerr := s.walLog().closeAll(err == nil); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

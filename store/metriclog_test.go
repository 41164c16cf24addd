package store

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// crashForTest stops the store the way kill -9 stops the process: no final
// flush, the log left as it is (the page cache keeps what was written).
func (s *Store) crashForTest() {
	s.closed.Store(true)
	s.mu.Lock()
	s.mu.Unlock()
	s.walWG.Wait()
	close(s.flushQuit)
	s.flushWG.Wait()
	if w := s.walLog(); w != nil {
		w.closeAll(false)
	}
	close(s.quit)
	s.wg.Wait()
	s.roWG.Wait()
	s.indexWG.Wait()
	s.db.Close()
}

func reopen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newLogRun(t *testing.T, s *Store) string {
	t.Helper()
	r, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0", StartTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r.Info.RunID
}

func logPoint(t *testing.T, s *Store, run, key string, step int64, v float64) {
	t.Helper()
	if err := s.LogBatch(ctx, run, []Metric{{Key: key, Value: v, Timestamp: step, Step: step}}, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func steps(t *testing.T, s *Store, run, key string) []int64 {
	t.Helper()
	ms, _, err := s.GetMetricHistory(ctx, run, key, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Step
	}
	return out
}

func latestOf(t *testing.T, s *Store, run, key string) (Metric, bool) {
	t.Helper()
	r, err := s.GetRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Data.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return Metric{}, false
}

func walSegments(t *testing.T, dir string) []uint64 {
	t.Helper()
	nos, err := listWALSegments(filepath.Join(dir, walDirName))
	if err != nil {
		t.Fatal(err)
	}
	return nos
}

func TestWALRecordRoundTrip(t *testing.T) {
	in := []walEntry{
		{runID: "r1", metrics: []Metric{{Key: "loss", Value: 0.25, Timestamp: 17, Step: -3}, {Key: "acc", Value: math.Inf(-1), Timestamp: 0, Step: 1 << 60, DatasetName: "train", DatasetDigest: "abc"}}},
		{runID: "r2", metrics: []Metric{{Key: "k", Value: math.NaN()}}},
	}
	rec := encodeWALRecord(nil, 9, in)
	out, err := decodeWALPayload(rec[walHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].runID != "r1" || out[1].runID != "r2" || len(out[0].metrics) != 2 {
		t.Fatalf("decoded %+v", out)
	}
	if m := out[0].metrics[1]; m != in[0].metrics[1] {
		t.Fatalf("point %+v, want %+v", m, in[0].metrics[1])
	}
	if !math.IsNaN(out[1].metrics[0].Value) {
		t.Fatal("NaN lost")
	}
	// a cut payload is an error (or, on an entry boundary, fewer
	// entries), never a panic
	for cut := 1; cut < len(rec)-walHeaderSize; cut++ {
		if es, err := decodeWALPayload(rec[walHeaderSize : len(rec)-cut]); err == nil && len(es) >= 2 {
			t.Fatalf("payload cut by %d decoded whole", cut)
		}
	}
}

// A torn or corrupt tail ends the segment; everything before it replays.
func TestWALReplayStopsAtTornRecord(t *testing.T) {
	dir := t.TempDir()
	w, err := openMetricWAL(dir, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		seq, seg, err := w.write([]walEntry{{runID: "r", metrics: []Metric{{Key: "k", Step: int64(i)}}}})
		if err != nil || seq != uint64(i+1) {
			t.Fatal(seq, err)
		}
		if err := w.sync(seg); err != nil {
			t.Fatal(err)
		}
	}
	w.closeAll(false)
	seg := filepath.Join(dir, walSegmentName(1))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	recLen := len(encodeWALRecord(nil, 1, []walEntry{{runID: "r", metrics: []Metric{{Key: "k"}}}}))

	replayed := func() []int64 {
		var got []int64
		_, _, err := replayWAL(dir, 0, func(_ uint64, es []walEntry) error {
			got = append(got, es[0].metrics[0].Step)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := replayed(); !slices.Equal(got, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("replayed %v", got)
	}
	// flip a byte inside record 4 (seq 4): 4 and 5 are gone
	bad := slices.Clone(data)
	bad[3*recLen+walHeaderSize+2] ^= 0xff
	os.WriteFile(seg, bad, 0o600)
	if got := replayed(); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("after corruption replayed %v", got)
	}
	// a record cut in half at the end
	os.WriteFile(seg, data[:4*recLen+recLen/2], 0o600)
	if got := replayed(); !slices.Equal(got, []int64{0, 1, 2, 3}) {
		t.Fatalf("after truncation replayed %v", got)
	}
	// records at or below the flushed seq are skipped
	os.WriteFile(seg, data, 0o600)
	var n int
	last, _, _ := replayWAL(dir, 3, func(uint64, []walEntry) error { n++; return nil })
	if n != 2 || last != 5 {
		t.Fatalf("after flushed=3: %d records, last %d", n, last)
	}
}

func TestWALRotatesAndReleasesSegments(t *testing.T) {
	defer func(v int64) { walSegmentSize = v }(walSegmentSize)
	walSegmentSize = 4096
	dir := t.TempDir()
	w, err := openMetricWAL(dir, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.closeAll(true)
	big := []walEntry{{runID: "run", metrics: make([]Metric, 40)}} // ~1.5 KiB
	var last uint64
	for i := 0; i < 10; i++ {
		seq, seg, err := w.write(big)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.sync(seg); err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	if segs, _ := listWALSegments(dir); len(segs) < 4 {
		t.Fatalf("%d segments after 15 KiB in 4 KiB segments", len(segs))
	}
	var got int
	if l, _, err := replayWAL(dir, 0, func(uint64, []walEntry) error { got++; return nil }); err != nil || l != last || got != 10 {
		t.Fatalf("replay: %d records, last %d, %v", got, l, err)
	}
	if err := w.release(last); err != nil {
		t.Fatal(err)
	}
	if segs, _ := listWALSegments(dir); len(segs) != 1 {
		t.Fatalf("segments after releasing everything: %v (the current one stays)", segs)
	}
}

// Points answered from the log are visible to every read path before the
// flush, and the same after it.
func TestLoggedMetricsVisibleBeforeAndAfterFlush(t *testing.T) {
	s, _ := openTest(t)
	run := newLogRun(t, s)
	other := newLogRun(t, s)
	logPoint(t, s, run, "loss", 2, 0.5)
	logPoint(t, s, run, "loss", 1, 0.9)
	logPoint(t, s, run, "loss", 3, 0.2)
	logPoint(t, s, other, "loss", 1, 0.7)
	if s.PendingMetrics() != 4 {
		t.Fatalf("%d pending, want 4 (metric-only writes go to the log)", s.PendingMetrics())
	}
	check := func(when string) {
		t.Helper()
		if got := steps(t, s, run, "loss"); !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("%s: history steps %v", when, got)
		}
		if m, ok := latestOf(t, s, run, "loss"); !ok || m.Step != 3 || m.Value != 0.2 {
			t.Fatalf("%s: latest %+v %v", when, m, ok)
		}
		runs, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: "metrics.loss < 0.5", OrderBy: []string{"metrics.loss"}})
		if err != nil || len(runs) != 1 || runs[0].Info.RunID != run {
			t.Fatalf("%s: search found %d runs, %v", when, len(runs), err)
		}
		if m := runs[0].Data.Metrics; len(m) != 1 || m[0].Value != 0.2 {
			t.Fatalf("%s: searched run's metrics %+v", when, m)
		}
		pts, err := s.GetMetricHistoryBulkInterval(ctx, []string{run, other}, "loss", ptr(int64(2)), ptr(int64(3)), 0)
		if err != nil || len(pts) != 2 || pts[0].Step != 2 || pts[1].Step != 3 {
			t.Fatalf("%s: bulk interval %+v %v", when, pts, err)
		}
		body, err := s.AppendMetricHistoryJSON(ctx, nil, run, "loss", 2, "")
		if err != nil || !containsAll(string(body), `"step":1`, `"step":2`, `"next_page_token"`) {
			t.Fatalf("%s: history JSON %s %v", when, body, err)
		}
	}
	check("pending")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.PendingMetrics() != 0 {
		t.Fatalf("%d pending after flush", s.PendingMetrics())
	}
	check("flushed")
}

func ptr[T any](v T) *T { return &v }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// The latest value is the greatest (step, timestamp, value) whichever path
// wrote it: the log (metric-only writes) or a bbolt commit (log-batch with
// params), before and after flushes.
func TestLatestMetricAcrossBothWritePaths(t *testing.T) {
	s, _ := openTest(t)
	run := newLogRun(t, s)
	logPoint(t, s, run, "m", 10, 1)
	// through bbolt (a param makes it a mixed batch), older step
	if err := s.LogBatch(ctx, run, []Metric{{Key: "m", Value: 2, Step: 5, Timestamp: 5}}, []Param{{Key: "p", Value: "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	wantLatest := func(step int64, v float64) {
		t.Helper()
		if m, _ := latestOf(t, s, run, "m"); m.Step != step || m.Value != v {
			t.Fatalf("latest %+v, want step %d value %v", m, step, v)
		}
		runs, _, _ := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: fmt.Sprintf("metrics.m = %v", v)})
		if len(runs) != 1 {
			t.Fatalf("the search index does not have m = %v", v)
		}
	}
	wantLatest(10, 1)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	wantLatest(10, 1)
	if err := s.LogBatch(ctx, run, []Metric{{Key: "m", Value: 3, Step: 20, Timestamp: 20}}, []Param{{Key: "q", Value: "y"}}, nil); err != nil {
		t.Fatal(err)
	}
	wantLatest(20, 3)
	logPoint(t, s, run, "m", 15, 4) // older than the bbolt one
	wantLatest(20, 3)
	s.Flush()
	wantLatest(20, 3)
	logPoint(t, s, run, "m", 30, 5)
	wantLatest(30, 5)
}

// kill -9 between the answer and the flush: the points come back at open.
func TestMetricLogReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run := newLogRun(t, s)
	for i := int64(0); i < 50; i++ {
		logPoint(t, s, run, "a", i, float64(i))
	}
	if err := s.Flush(); err != nil { // 0..49 flushed, the log keeps them until rotation
		t.Fatal(err)
	}
	for i := int64(50); i < 120; i++ {
		logPoint(t, s, run, "a", i, float64(i))
	}
	if err := s.LogBatch(ctx, run, []Metric{{Key: "b", Value: 7, Step: 1, Timestamp: 1, DatasetName: "train", DatasetDigest: "d1"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	s.crashForTest()

	s2 := reopen(t, dir)
	if got := steps(t, s2, run, "a"); len(got) != 120 || got[119] != 119 {
		t.Fatalf("after crash: %d points of a", len(got))
	}
	if s2.PendingMetrics() != 0 {
		t.Fatal("replayed points should be in bbolt, not pending")
	}
	if m, _ := latestOf(t, s2, run, "a"); m.Step != 119 {
		t.Fatalf("latest after replay %+v", m)
	}
	ms, _, _ := s2.GetMetricHistory(ctx, run, "b", 0, "")
	if len(ms) != 1 || ms[0].DatasetName != "train" || ms[0].DatasetDigest != "d1" {
		t.Fatalf("dataset fields after replay: %+v", ms)
	}
	runs, _, _ := s2.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: "metrics.a = 119"})
	if len(runs) != 1 {
		t.Fatal("run index misses the replayed latest value")
	}
	if segs := walSegments(t, dir); len(segs) != 1 {
		t.Fatalf("segments after replay: %v (want one fresh segment)", segs)
	}
	// seq keeps growing across restarts, so the flushed mark stays valid
	logPoint(t, s2, run, "a", 500, 1)
	s2.crashForTest()
	s3 := reopen(t, dir)
	if got := steps(t, s3, run, "a"); len(got) != 121 {
		t.Fatalf("after second crash: %d points", len(got))
	}
}

// A clean close flushes and leaves no log behind.
func TestCloseFlushesAndRemovesLog(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run := newLogRun(t, s)
	logPoint(t, s, run, "x", 1, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := walSegments(t, dir); len(segs) != 0 {
		t.Fatalf("segments after Close: %v", segs)
	}
	db, err := bolt.Open(filepath.Join(dir, DBFileName), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	db.View(func(tx *bolt.Tx) error {
		n = len(readHistory(tx.Bucket(bktRuns).Bucket([]byte(run)), "x", nil, nil))
		return nil
	})
	db.Close()
	if n != 1 {
		t.Fatalf("mlbox.db alone has %d points after Close, want 1", n)
	}
}

// A purged run's pending points are dropped and never come back.
func TestPurgeDropsPendingPoints(t *testing.T) {
	s, dir := openTest(t)
	run := newLogRun(t, s)
	logPoint(t, s, run, "x", 1, 1)
	if err := s.DeleteRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := s.LogBatch(ctx, run, []Metric{{Key: "x", Step: 2}}, nil, nil); KindOf(err) != KindInvalid {
		t.Fatalf("logging to a deleted run: %v", err)
	}
	if err := s.PurgeRun(ctx, newLocalArts(t), run); err != nil {
		t.Fatal(err)
	}
	if s.PendingMetrics() != 0 {
		t.Fatalf("%d points pending for a purged run", s.PendingMetrics())
	}
	if got := steps(t, s, run, "x"); len(got) != 0 {
		t.Fatalf("purged run has history %v", got)
	}
	s.Flush()
	s.crashForTest()
	s2 := reopen(t, dir)
	if _, err := s2.GetRun(ctx, run); KindOf(err) != KindNotFound {
		t.Fatalf("purged run after replay: %v", err)
	}
}

func TestMetricLogRejectsUnknownAndInactiveRuns(t *testing.T) {
	s, _ := openTest(t)
	if err := s.LogBatch(ctx, "nope", []Metric{{Key: "x"}}, nil, nil); KindOf(err) != KindNotFound {
		t.Fatalf("unknown run: %v", err)
	}
	if err := s.LogBatch(ctx, "", []Metric{{Key: "x"}}, nil, nil); KindOf(err) != KindInvalid {
		t.Fatalf("empty run id: %v", err)
	}
}

// Every point answered before a read starts is in that read, however the
// read interleaves with flushes; nothing is counted twice.
func TestReadsSeeAcknowledgedPointsAcrossFlushes(t *testing.T) {
	s, _ := openTest(t)
	run := newLogRun(t, s)
	const writers, per = 8, 150
	var acked atomic.Int64 // points answered so far
	stop := make(chan struct{})
	var wg sync.WaitGroup
	flushLoop(t, s, stop, &wg)
	var readErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			before := acked.Load()
			ms, _, err := s.GetMetricHistory(ctx, run, "k", 0, "")
			if err != nil {
				readErr.Store(err)
				return
			}
			seen := map[int64]bool{}
			for _, m := range ms {
				if seen[m.Step] {
					readErr.Store(fmt.Errorf("step %d twice", m.Step))
					return
				}
				seen[m.Step] = true
			}
			if int64(len(ms)) < before {
				readErr.Store(fmt.Errorf("read %d points, %d were acknowledged before it began", len(ms), before))
				return
			}
		}
	}()
	var ww sync.WaitGroup
	for w := 0; w < writers; w++ {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := 0; i < per; i++ {
				step := int64(w*per + i)
				if err := s.LogBatch(ctx, run, []Metric{{Key: "k", Step: step, Timestamp: step, Value: 1}}, nil, nil); err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
			}
		}()
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	if err := readErr.Load(); err != nil {
		t.Fatal(err)
	}
	if got := steps(t, s, run, "k"); len(got) != writers*per {
		t.Fatalf("%d points, want %d", len(got), writers*per)
	}
}

func TestNoMetricLogOption(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{OpenTimeout: time.Second, NoMetricLog: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := newLogRun(t, s)
	logPoint(t, s, run, "x", 1, 1)
	if s.PendingMetrics() != 0 || s.Stats().WALWrites.Load() != 0 {
		t.Fatal("metric log used with NoMetricLog")
	}
	if _, err := os.Stat(filepath.Join(dir, walDirName)); !os.IsNotExist(err) {
		t.Fatalf("metric log directory exists with NoMetricLog: %v", err)
	}
	if got := steps(t, s, run, "x"); len(got) != 1 {
		t.Fatal(got)
	}
}

// Purges edit pending generations while flushes copy them.
func TestPurgeWhileFlushing(t *testing.T) {
	s, _ := openTest(t)
	arts := newLocalArts(t)
	var runs []string
	for i := 0; i < 30; i++ {
		run := newLogRun(t, s)
		for j := int64(0); j < 20; j++ {
			logPoint(t, s, run, "k", j, 1)
		}
		runs = append(runs, run)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	flushLoop(t, s, stop, &wg)
	for i, run := range runs {
		if i%2 == 0 {
			logPoint(t, s, runs[i+1], "k", 100, 1) // keep the log busy
			continue
		}
		if err := s.DeleteRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if err := s.PurgeRun(ctx, arts, run); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	s.Flush()
	for i, run := range runs {
		_, err := s.GetRun(ctx, run)
		if (i%2 == 1) != (KindOf(err) == KindNotFound) {
			t.Fatalf("run %d: %v", i, err)
		}
	}
}

// flushLoop flushes s as often as it can until stop is closed.
func flushLoop(t *testing.T, s *Store, stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if err := s.Flush(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
}

// When the log cannot write, metric writes are committed through bbolt
// instead: none is lost or refused.
func TestMetricLogFailureFallsBackToBbolt(t *testing.T) {
	s, dir := openTest(t)
	run := newLogRun(t, s)
	logPoint(t, s, run, "k", 1, 1) // in the log
	s.walLog().mu.Lock()
	s.walLog().f.Close() // the next write fails: I/O error of the log
	s.walLog().mu.Unlock()
	for i := int64(2); i <= 5; i++ {
		logPoint(t, s, run, "k", i, float64(i))
	}
	if s.walLog().usable() {
		t.Fatal("log still usable after a failed write")
	}
	if got := steps(t, s, run, "k"); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("history %v", got)
	}
	if m, _ := latestOf(t, s, run, "k"); m.Step != 5 {
		t.Fatalf("latest %+v", m)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.crashForTest()
	s2 := reopen(t, dir)
	if got := steps(t, s2, run, "k"); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("after restart: history %v", got)
	}
	logPoint(t, s2, run, "k", 6, 6) // a new log after restart
	if s2.PendingMetrics() != 1 {
		t.Fatal("the log is not used again after restart")
	}
}

// Many writers, small segments (rotation every few groups), flushes that
// release segments, then a crash: every acknowledged point is there.
func TestMetricLogRotationUnderLoadThenCrash(t *testing.T) {
	defer func(v int64) { walSegmentSize = v }(walSegmentSize)
	walSegmentSize = 8 << 10
	dir := t.TempDir()
	s, err := Open(dir, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run := newLogRun(t, s)
	stop := make(chan struct{})
	var wg, ww sync.WaitGroup
	flushLoop(t, s, stop, &wg)
	const writers, per = 8, 200
	for w := 0; w < writers; w++ {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := 0; i < per; i++ {
				step := int64(w*per + i)
				if err := s.LogBatch(ctx, run, []Metric{{Key: fmt.Sprintf("k%d", w%3), Step: step, Timestamp: step, Value: float64(step)}}, nil, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	if n := len(walSegments(t, dir)); n > 3 {
		t.Errorf("%d segments left after flushing: released segments were not deleted", n)
	}
	s.crashForTest()
	s2 := reopen(t, dir)
	total := 0
	for k := 0; k < 3; k++ {
		total += len(steps(t, s2, run, fmt.Sprintf("k%d", k)))
	}
	if total != writers*per {
		t.Fatalf("%d points after crash, want %d", total, writers*per)
	}
}

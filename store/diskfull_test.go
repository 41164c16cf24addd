package store

import (
	"errors"
	"fmt"
	"log/slog"
	"mlbox/internal/testfs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func fastDiskCheck(t *testing.T) {
	old := diskCheckInterval
	diskCheckInterval = 20 * time.Millisecond
	t.Cleanup(func() { diskCheckInterval = old })
}

func waitWritable(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ro, _ := s.ReadOnly(); !ro {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("still read-only 10s after space was freed\n%s", buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A write that fails for lack of space is answered with
// KindResourceExhausted naming the data dir and the free bytes; the store
// turns read-only (reads go on, every write is refused at once), and
// becomes writable by itself once space is freed.
func TestDiskFullAtRuntime(t *testing.T) {
	fastDiskCheck(t)
	dir := testfs.Small(t, "96m") // the metric log preallocates 64 MiB
	s, err := Open(filepath.Join(dir, "data"), Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := newLogRun(t, s)
	logPoint(t, s, run, "loss", 1, 0.5) // through the metric log
	filler := testfs.Fill(t, dir, "filler")
	batch := make([]Metric, 1000)
	var werr error
	for i := 0; i < 10000 && werr == nil; i++ {
		for j := range batch {
			batch[j] = Metric{Key: fmt.Sprintf("k%d", j%50), Value: float64(i), Timestamp: int64(i), Step: int64(i*1000 + j)}
		}
		werr = s.LogBatch(ctx, run, batch, nil, nil)
	}
	if KindOf(werr) != KindResourceExhausted || !errors.Is(werr, ErrResourceExhausted) ||
		!strings.Contains(werr.Error(), filepath.Join(dir, "data")) || !strings.Contains(werr.Error(), "bytes free") {
		t.Fatalf("write on a full disk: %v (kind %d)", werr, KindOf(werr))
	}
	if ro, why := s.ReadOnly(); !ro || !strings.Contains(why, "read-only") {
		t.Fatalf("read-only %v %q", ro, why)
	}
	// Every write is refused, the metric log's too; reads work.
	if _, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"}); KindOf(err) != KindResourceExhausted {
		t.Fatalf("create run: %v", err)
	}
	if err := s.LogBatch(ctx, run, []Metric{{Key: "loss", Value: 1, Timestamp: 2, Step: 2}}, nil, nil); KindOf(err) != KindResourceExhausted {
		t.Fatalf("log metric: %v", err)
	}
	if r, err := s.GetRun(ctx, run); err != nil || len(r.Data.Metrics) == 0 {
		t.Fatalf("get run: %v", err)
	}
	if runs, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, MaxResults: 10}); err != nil || len(runs) != 1 {
		t.Fatalf("search: %d %v", len(runs), err)
	}
	// Space back: writable again, by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitWritable(t, s)
	logPoint(t, s, run, "loss", 3, 0.25)
	if _, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"}); err != nil {
		t.Fatal(err)
	}
}

// A store opened on a full disk starts read-only, with the points the
// last run left in the metric log invisible until space is back, then
// replays them and takes writes.
func TestDiskFullAtStart(t *testing.T) {
	fastDiskCheck(t)
	dir := testfs.Small(t, "96m")
	data := filepath.Join(dir, "data")
	s, err := Open(data, Options{OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run := newLogRun(t, s)
	for i := range 5 {
		logPoint(t, s, run, "loss", int64(i), float64(i))
	}
	s.crashForTest() // the points are only in the metric log
	filler := testfs.Fill(t, dir, "filler")
	s = reopenLogged(t, data)
	if ro, _ := s.ReadOnly(); !ro {
		t.Fatal("not read-only on a full disk")
	}
	if r, err := s.GetRun(ctx, run); err != nil || r.Info.RunID != run {
		t.Fatalf("get run on a full disk: %v", err)
	}
	if _, err := s.CreateRun(ctx, CreateRunRequest{ExperimentID: "0"}); KindOf(err) != KindResourceExhausted {
		t.Fatalf("create run: %v", err)
	}
	os.Remove(filler)
	waitWritable(t, s)
	if got := steps(t, s, run, "loss"); len(got) != 5 {
		t.Fatalf("after space came back: steps %v, want 5", got)
	}
	if r, _ := s.GetRun(ctx, run); len(r.Data.Metrics) != 1 || r.Data.Metrics[0].Value != 4 {
		t.Fatalf("latest value %+v", r.Data.Metrics)
	}
	runs, _, err := s.SearchRuns(ctx, SearchRunsRequest{ExperimentIDs: []string{"0"}, Filter: "metrics.loss = 4", MaxResults: 10})
	if err != nil || len(runs) != 1 {
		t.Fatalf("search by the replayed latest value: %d %v", len(runs), err)
	}
	logPoint(t, s, run, "loss", 9, 9)
}

func reopenLogged(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{OpenTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The metric log is a write-ahead log for metric-only writes (log-metric,
// and log-batch without params or tags). A group of such writes is appended
// to it with one write and one fdatasync, and answered; the points are then
// visible from memory (pending.go) and copied into bbolt by a background
// flush, in one transaction per flush instead of one per group. bbolt's own
// commit costs two fdatasyncs and a copy-on-write of every page on the path
// to each changed run; the log costs one small sequential write.
//
// Layout: <data_dir>/metrics-wal/<16 hex digits>.wal, numbered in order.
// Segments are preallocated (fallocate), so a sync does not have to journal
// a size change and the unwritten tail reads as zeros. A record is
//
//	crc32c(4) | payload length(4) | seq(8) | payload
//
// with the CRC over seq and payload. seq grows by one per record and never
// restarts; bbolt keeps the last flushed seq (meta key "metric_wal_flushed"),
// so replay skips what is already in the file. A segment ends at its first
// record that is zero, torn or out of order. Replay is idempotent anyway:
// a metric history is a set of (step, timestamp, value) points.

const (
	walDirName    = "metrics-wal"
	walHeaderSize = 16
	walMaxRecord  = 1 << 30
)

// walSegmentSize is the preallocated size of a segment (a variable for tests).
var walSegmentSize int64 = 64 << 20

var (
	keyWALFlushed = []byte("metric_wal_flushed")
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
)

// walEntry is one write: points for one run.
type walEntry struct {
	runID   string
	metrics []Metric
}

type walSegment struct {
	no   uint64
	last uint64 // last seq written to it (0: none)
}

type metricWAL struct {
	mu     sync.Mutex
	dir    string
	noSync bool
	f      *os.File // current segment
	cur    walSegment
	off    int64
	old    []walSegment // closed segments, oldest first
	seq    uint64       // last seq assigned
	broken error        // set when a write or sync failed: the tail is unknown
	buf    []byte
	// syncs running per file; a rotated file is closed by its last sync
	syncing map[*os.File]int
}

func walSegmentName(no uint64) string { return fmt.Sprintf("%016x.wal", no) }

// listWALSegments returns the segment numbers in dir, in order.
func listWALSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var nos []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok || len(name) != 16 {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		nos = append(nos, n)
	}
	slices.Sort(nos)
	return nos, nil
}

// replayWAL calls fn for every valid record in dir with seq > after, in
// order, and returns the highest seq seen and the segment numbers read.
func replayWAL(dir string, after uint64, fn func(seq uint64, entries []walEntry) error) (last uint64, segs []uint64, err error) {
	segs, err = listWALSegments(dir)
	if err != nil {
		return 0, nil, err
	}
	last = after
	for _, no := range segs {
		f, err := os.Open(filepath.Join(dir, walSegmentName(no)))
		if err != nil {
			return 0, nil, err
		}
		r := bufio.NewReaderSize(f, 1<<20)
		var hdr [walHeaderSize]byte
		var payload []byte
		prev := uint64(0)
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				break // end of file
			}
			crc := binary.LittleEndian.Uint32(hdr[0:4])
			n := binary.LittleEndian.Uint32(hdr[4:8])
			seq := binary.LittleEndian.Uint64(hdr[8:16])
			if n == 0 || n > walMaxRecord || seq <= prev {
				break // zeros (the preallocated tail) or garbage
			}
			payload = slices.Grow(payload[:0], int(n))[:n]
			if _, err := io.ReadFull(r, payload); err != nil {
				break // torn at the end
			}
			c := crc32.Update(crc32.Checksum(hdr[8:16], crcTable), crcTable, payload)
			if c != crc {
				break // torn or never completed
			}
			prev = seq
			if seq > last {
				last = seq
			}
			if seq <= after {
				continue
			}
			entries, err := decodeWALPayload(payload)
			if err != nil {
				f.Close()
				return 0, nil, fmt.Errorf("metric log %s: record %d: %w", walSegmentName(no), seq, err)
			}
			if err := fn(seq, entries); err != nil {
				f.Close()
				return 0, nil, err
			}
		}
		f.Close()
	}
	return last, segs, nil
}

// openMetricWAL removes the segments in remove (already replayed and
// flushed) and starts a new segment whose first record gets seq last+1.
func openMetricWAL(dir string, last uint64, remove []uint64, noSync bool) (*metricWAL, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &metricWAL{dir: dir, noSync: noSync, seq: last, syncing: map[*os.File]int{}}
	next := uint64(1)
	if len(remove) > 0 {
		next = remove[len(remove)-1] + 1
	}
	// The old segments first (their points are in bbolt already): a new
	// segment is preallocated, and a nearly full disk may hold only one.
	for _, no := range remove {
		if err := os.Remove(filepath.Join(dir, walSegmentName(no))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if err := w.startSegment(next, walSegmentSize); err != nil {
		return nil, err
	}
	if err := w.syncDir(); err != nil {
		return nil, err
	}
	return w, nil
}

// startSegment creates segment no, preallocated to size, and makes its
// existence durable before anything is written to it.
func (w *metricWAL) startSegment(no uint64, size int64) error {
	path := filepath.Join(w.dir, walSegmentName(no))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := preallocate(f, size); err != nil {
		f.Close()
		os.Remove(path) // a failed preallocation (a full disk) leaves nothing behind
		return fmt.Errorf("preallocate %s: %w", path, err)
	}
	if !w.noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := w.syncDir(); err != nil {
			f.Close()
			return err
		}
	}
	if w.f != nil {
		w.closeSegmentFile(w.f)
		w.old = append(w.old, w.cur)
	}
	w.f, w.cur, w.off = f, walSegment{no: no}, 0
	return nil
}

func (w *metricWAL) syncDir() error {
	if w.noSync {
		return nil
	}
	d, err := os.Open(w.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// write appends one record without syncing it; it returns the record's
// seq and segment. Records are written in seq order.
func (w *metricWAL) write(entries []walEntry) (seq, seg uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return 0, 0, w.broken
	}
	seq = w.seq + 1
	w.buf = encodeWALRecord(w.buf[:0], seq, entries)
	if len(w.buf)-walHeaderSize > walMaxRecord {
		return 0, 0, Invalidf("metric batch too large for the metric log (%d bytes)", len(w.buf))
	}
	if w.off+int64(len(w.buf)) > walSegmentSize && w.off > 0 {
		// The old segment is synced before it is closed, so a sync of one
		// of its records that comes later has nothing left to do.
		if err := w.syncFile(w.f); err != nil {
			w.broken = fmt.Errorf("metric log sync failed earlier: %w", err)
			return 0, 0, w.broken
		}
		if err := w.startSegment(w.cur.no+1, max(walSegmentSize, int64(len(w.buf)))); err != nil {
			return 0, 0, fmt.Errorf("metric log: new segment: %w", err)
		}
	}
	if _, err := w.f.WriteAt(w.buf, w.off); err != nil {
		w.broken = fmt.Errorf("metric log write failed earlier: %w", err)
		return 0, 0, fmt.Errorf("metric log: %w", err)
	}
	w.off += int64(len(w.buf))
	w.seq = seq
	w.cur.last = seq
	if cap(w.buf) > 4<<20 { // do not keep a huge buffer after a big batch
		w.buf = nil
	}
	return seq, w.cur.no, nil
}

// sync makes every record written to segment seg so far durable. Syncs may
// run concurrently with each other and with writes.
func (w *metricWAL) sync(seg uint64) error {
	if w.noSync {
		return nil
	}
	w.mu.Lock()
	if w.broken != nil {
		w.mu.Unlock()
		return w.broken
	}
	if seg != w.cur.no { // rotated: synced before it was closed
		w.mu.Unlock()
		return nil
	}
	f := w.f
	w.syncing[f]++ // keeps f open until this sync returns
	w.mu.Unlock()
	err := w.syncFile(f)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.syncing[f]--; w.syncing[f] == 0 {
		delete(w.syncing, f)
		if f != w.f {
			f.Close() // rotated while syncing: closing was left to us
		}
	}
	if err != nil {
		// After a failed sync the kernel may have dropped the dirty pages:
		// nothing written to this segment can be trusted to be on disk.
		// Refuse further writes until restart (replay finds what landed).
		if w.broken == nil {
			w.broken = fmt.Errorf("metric log sync failed earlier: %w", err)
		}
		return fmt.Errorf("metric log: %w", err)
	}
	return nil
}

func (w *metricWAL) syncFile(f *os.File) error {
	if w.noSync {
		return nil
	}
	return fdatasync(f)
}

// closeSegmentFile closes a segment's file, or leaves that to the last
// sync still running on it. Called with mu held.
func (w *metricWAL) closeSegmentFile(f *os.File) {
	if w.syncing[f] == 0 {
		f.Close()
	}
}

// release deletes closed segments whose records are all flushed (seq <= upTo).
func (w *metricWAL) release(upTo uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for n < len(w.old) && w.old[n].last <= upTo {
		if err := os.Remove(filepath.Join(w.dir, walSegmentName(w.old[n].no))); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.old = w.old[n:]
			return err
		}
		n++
	}
	w.old = w.old[n:]
	return nil
}

// closeAll closes the current segment and, if everything is flushed
// (clean), removes all segments: a cleanly closed store has no log.
func (w *metricWAL) closeAll(clean bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close() // no sync is running: writers are done
	w.f = nil
	if !clean {
		return err
	}
	for _, s := range append(w.old, w.cur) {
		if e := os.Remove(filepath.Join(w.dir, walSegmentName(s.no))); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
			err = e
		}
	}
	w.old = nil
	if e := w.syncDir(); e != nil && err == nil {
		err = e
	}
	return err
}

// usable reports whether the log still takes writes (no write or sync
// has failed).
func (w *metricWAL) usable() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.broken == nil
}

// lastSeq is the seq of the last record written.
func (w *metricWAL) lastSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// ---- encoding

func encodeWALRecord(b []byte, seq uint64, entries []walEntry) []byte {
	b = append(b, make([]byte, walHeaderSize)...)
	for i := range entries {
		e := &entries[i]
		b = appendWALString(b, e.runID)
		b = binary.AppendUvarint(b, uint64(len(e.metrics)))
		for j := range e.metrics {
			m := &e.metrics[j]
			b = appendWALString(b, m.Key)
			b = binary.LittleEndian.AppendUint64(b, uint64(m.Step))
			b = binary.LittleEndian.AppendUint64(b, uint64(m.Timestamp))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.Value))
			b = appendWALString(b, m.DatasetName)
			b = appendWALString(b, m.DatasetDigest)
		}
	}
	payload := b[walHeaderSize:]
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(payload)))
	binary.LittleEndian.PutUint64(b[8:16], seq)
	binary.LittleEndian.PutUint32(b[0:4], crc32.Update(crc32.Checksum(b[8:16], crcTable), crcTable, payload))
	return b
}

func appendWALString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errWALCorrupt = errors.New("malformed record")

func decodeWALPayload(p []byte) ([]walEntry, error) {
	var out []walEntry
	str := func() (string, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return "", false
		}
		s := string(p[k : k+int(n)])
		p = p[k+int(n):]
		return s, true
	}
	for len(p) > 0 {
		run, ok := str()
		if !ok {
			return nil, errWALCorrupt
		}
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)) { // each point takes > 1 byte
			return nil, errWALCorrupt
		}
		p = p[k:]
		e := walEntry{runID: run, metrics: make([]Metric, n)}
		for j := range e.metrics {
			m := &e.metrics[j]
			if m.Key, ok = str(); !ok || len(p) < 24 {
				return nil, errWALCorrupt
			}
			m.Step = int64(binary.LittleEndian.Uint64(p[0:8]))
			m.Timestamp = int64(binary.LittleEndian.Uint64(p[8:16]))
			m.Value = math.Float64frombits(binary.LittleEndian.Uint64(p[16:24]))
			p = p[24:]
			if m.DatasetName, ok = str(); !ok {
				return nil, errWALCorrupt
			}
			if m.DatasetDigest, ok = str(); !ok {
				return nil, errWALCorrupt
			}
		}
		out = append(out, e)
	}
	return out, nil
}

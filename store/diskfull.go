package store

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A full disk. A write that fails for lack of space puts the store in a
// read-only mode: every later write is refused at once with a
// KindResourceExhausted error that says why (RESOURCE_EXHAUSTED, 507,
// which MLflow's client does not retry), reads go on, and a watcher leaves
// the mode by itself once a probe write succeeds again. A store opened on
// a full disk starts in that mode (the points of the metric log that the
// last run did not flush are replayed when space is back).

// KindResourceExhausted: there is no space for the write (RESOURCE_EXHAUSTED).
const KindResourceExhausted Kind = 100

// ErrResourceExhausted matches KindResourceExhausted errors (errors.Is).
var ErrResourceExhausted = &Error{Kind: KindResourceExhausted}

// noSpace reports whether err is the file system's "no space" (or quota).
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// readOnlyState is why and since when the store refuses writes.
type readOnlyState struct {
	cause error
	since time.Time
	// replay: the metric log could not be replayed or opened; it is when
	// the mode ends.
	replay bool
}

// DiskFree returns the bytes free for the store's data dir.
func (s *Store) DiskFree() (uint64, error) { return DiskFreeAt(s.dataDir) }

// ReadOnly reports whether writes are refused, and why.
func (s *Store) ReadOnly() (bool, string) {
	ro := s.ro.Load()
	if ro == nil {
		return false, ""
	}
	return true, s.readOnlyMsg()
}

func (s *Store) readOnlyMsg() string {
	free := "unknown"
	if n, err := s.DiskFree(); err == nil {
		free = strconv.FormatUint(n, 10) + " bytes"
	}
	return fmt.Sprintf("mlbox is read-only: the disk holding its data dir %s is full (%s free); reads work, and writes resume by themselves once space is freed", s.dataDir, free)
}

// readOnlyErr is the error of a refused write.
func (s *Store) readOnlyErr() error {
	return &Error{Kind: KindResourceExhausted, Msg: s.readOnlyMsg()}
}

// enterReadOnly switches to read-only after a write failed for lack of
// space (logged once), and returns the error for that write.
func (s *Store) enterReadOnly(cause error, replay bool) error {
	if s.ro.CompareAndSwap(nil, &readOnlyState{cause: cause, since: time.Now(), replay: replay}) {
		s.log.Error("disk full: the store is read-only until space is freed", "data_dir", s.dataDir, "error", cause)
		s.roKick()
	}
	return s.readOnlyErr()
}

// roKick wakes the watcher.
func (s *Store) roKick() {
	select {
	case s.roWake <- struct{}{}:
	default:
	}
}

// diskWatcher leaves read-only mode once there is some space (resumeFree)
// and a probe write works again.
func (s *Store) diskWatcher() {
	defer s.roWG.Done()
	t := time.NewTicker(diskCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.roWake:
		case <-t.C:
		}
		ro := s.ro.Load()
		if ro == nil {
			continue
		}
		if err := s.leaveReadOnly(ro); err != nil {
			if !noSpace(err) {
				s.log.Error("leaving read-only mode failed; will retry", "error", err)
			}
			continue
		}
		s.log.Info("disk space is back: the store accepts writes again", "data_dir", s.dataDir, "read_only_for", time.Since(ro.since).Round(time.Second).String())
	}
}

// diskCheckInterval is how often a read-only store probes for space.
var diskCheckInterval = 2 * time.Second

// resumeFree is the free space a read-only store waits for before it
// tries a write again: with less, the next write would likely fail too,
// and the store would flap.
var resumeFree uint64 = 16 << 20

// leaveReadOnly probes with a small committed write (through the
// committer, so nothing else is writing), replays the metric log if it
// was left aside, and clears the mode.
func (s *Store) leaveReadOnly(ro *readOnlyState) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if free, err := s.DiskFree(); err == nil && free < resumeFree {
		return syscall.ENOSPC
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	err := s.enqueue(func(tx *wtx) error {
		// A file opened without syncing its freelist (see openBolt) gets it
		// synced from this commit on (the committer is the only writer).
		s.db.NoFreelistSync = false
		return tx.Bucket(bktMeta).Put(keyProbe, u64(uint64(time.Now().UnixNano())))
	})
	if err != nil {
		return err
	}
	if ro.replay && !s.opts.NoMetricLog {
		if err := s.resumeMetricLog(); err != nil {
			return err
		}
	}
	s.ro.CompareAndSwap(ro, nil)
	return nil
}

// keyProbe is the meta key the probe write sets.
var keyProbe = []byte("disk_probe")

// openBolt opens the bbolt file. If opening needs a write (an older file
// whose freelist was never synced) and the disk is full, it opens without
// that write and reports it, so the store starts read-only.
func openBolt(path string, opts *bolt.Options) (*bolt.DB, bool, error) {
	db, err := bolt.Open(path, 0o600, opts)
	if err == nil || !noSpace(err) {
		return db, false, err
	}
	o := *opts
	o.NoFreelistSync = true // no write at open
	db, err = bolt.Open(path, 0o600, &o)
	return db, true, err
}

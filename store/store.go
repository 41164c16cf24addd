// Package store is mlbox's persistence: the metadata store on bbolt (one
// file, <data_dir>/mlbox.db), its group commit, migrations and search
// evaluation. Artifact storage lives in store/artifact.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Options configure Open.
type Options struct {
	// OpenTimeout bounds the wait for the file lock another process holds.
	OpenTimeout time.Duration
	// MaxBatch caps the writes grouped into one commit.
	MaxBatch int
	// ArtifactRoot is the URI prefix for new experiments' artifact_location
	// ("mlflow-artifacts:" gives "mlflow-artifacts:/<id>").
	ArtifactRoot string
	Logger       *slog.Logger
	// NoSync skips fsync. Tests and benchmarks of CPU cost only; never in production.
	NoSync bool
	// NoMetricLog sends metric-only writes through bbolt commits like
	// every other write, instead of the metric log (metricwal.go).
	NoMetricLog bool
}

// Store is the metadata store. It is safe for concurrent use.
type Store struct {
	db      *bolt.DB
	path    string
	dataDir string
	opts    Options
	log     *slog.Logger
	writes  chan *writeReq
	quit    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool
	mu      sync.RWMutex // held for reading by writers in flight; Close takes it for writing

	runs *runIndex
	// indexing follows the run index's build (runindex_build.go).
	indexing *indexState
	indexWG  sync.WaitGroup

	// attachModelMetrics attaches metrics that carry a model_id to that
	// logged model (loggedmodels.go).
	attachModelMetrics func(tx *wtx, runID string, metrics []Metric)

	stats       Stats
	gatesMu     sync.RWMutex
	configGates map[string][]GateRule // from the config file, by model ("*" = all)

	// hooks run after a commit, in commit order (registry events etc.).
	hooksMu sync.RWMutex
	hooks   []func(Event)

	// The metric log (metriclog.go); nil with Options.NoMetricLog, or
	// while a store that opened on a full disk waits for space.
	walp      atomic.Pointer[metricWAL]
	pending   *pendingMetrics
	walq      walQueue
	walWG     sync.WaitGroup // writers in the metric log
	flushKick chan struct{}
	flushQuit chan struct{}
	flushWG   sync.WaitGroup
	flushMu   sync.Mutex
	// latestMu orders the updates of a metric's latest value that come
	// from the two write paths (bbolt commits and the metric log).
	// Lock order: latestMu, then pending.mu, then runs.mu.
	latestMu  sync.Mutex
	walFailed atomic.Bool // the log failed; logged once

	// ro is set while the disk is full (diskfull.go).
	ro     atomic.Pointer[readOnlyState]
	roWake chan struct{}
	roWG   sync.WaitGroup
}

// Stats are counters exported on /metrics.
type Stats struct {
	Commits     atomic.Uint64 // write transactions committed
	Writes      atomic.Uint64 // write requests applied
	FailedTx    atomic.Uint64 // write requests that returned an error
	CommitNanos atomic.Uint64 // time spent in Commit (incl. fsync)

	WALSyncs     atomic.Uint64 // metric log appends (one fdatasync each)
	WALWrites    atomic.Uint64 // write requests answered from the metric log
	WALSyncNanos atomic.Uint64 // time spent appending and syncing the log
	Flushes      atomic.Uint64 // metric log flushes into bbolt
	FlushNanos   atomic.Uint64 // time spent in those flushes
}

// DBFileName is the metadata file inside the data dir.
const DBFileName = "mlbox.db"

// Open opens (creating if needed) the metadata store in dataDir.
func Open(dataDir string, opts Options) (*Store, error) {
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 5 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.ArtifactRoot == "" {
		opts.ArtifactRoot = "mlflow-artifacts:"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dataDir, DBFileName)
	db, full, err := openBolt(path, &bolt.Options{
		Timeout:      opts.OpenTimeout,
		FreelistType: bolt.FreelistMapType,
		NoSync:       opts.NoSync,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("data dir %s is in use by another process (could not lock %s within %s)", dataDir, path, opts.OpenTimeout)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{
		db:      db,
		path:    path,
		dataDir: dataDir,
		opts:    opts,
		log:     opts.Logger,
		writes:  make(chan *writeReq, 4*opts.MaxBatch),
		quit:    make(chan struct{}),
		runs:    newRunIndex(),
		roWake:  make(chan struct{}, 1),
	}
	if full {
		s.enterReadOnly(errors.New("opening "+path+": no space left on device"), false)
	}
	if err := s.migrate(); err != nil {
		if !noSpace(err) {
			db.Close()
			return nil, err
		}
		// An up-to-date file needs no write to migrate; an old one cannot be
		// used until there is space for its migration.
		db.Close()
		return nil, fmt.Errorf("%s must be migrated to schema %d and the disk is full: free some space and start again", path, SchemaVersion)
	}
	var lastSeq uint64
	if !opts.NoMetricLog {
		if _, err := s.openMetricLog(); err != nil {
			if !noSpace(err) {
				db.Close()
				return nil, err
			}
			// The log is replayed and reopened when space is back.
			s.enterReadOnly(err, true)
		} else {
			lastSeq = s.walLog().lastSeq()
		}
	}
	s.pending = newPendingMetrics(lastSeq)
	s.startRunIndex()
	s.log.Info("store opened; building the run index", "path", path)
	s.attachModelMetrics = s.attachMetricsToLoggedModels
	s.wg.Add(1)
	go s.committer()
	s.flushKick = make(chan struct{}, 1)
	s.flushQuit = make(chan struct{})
	if s.walLog() != nil {
		s.flushWG.Add(1)
		go s.flusher()
	}
	s.roWG.Add(1)
	go s.diskWatcher()
	return s, nil
}

// walLog returns the metric log, or nil.
func (s *Store) walLog() *metricWAL { return s.walp.Load() }

// Close waits for in-flight writes, stops the committer and closes the file.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock() // a switch out of read-only mode in progress finishes first
	s.mu.Unlock()
	var err error
	if s.walLog() != nil {
		err = s.closeMetricLog()
	}
	s.mu.Lock() // no writer is between its closed check and its send
	close(s.quit)
	s.mu.Unlock()
	s.roWG.Wait()
	s.wg.Wait()
	s.indexWG.Wait() // the builder stops at the next run
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Flush copies metric points that are only in the metric log into the
// bbolt file. Writers never need it (the log is durable); it is for a
// consistent copy of the file alone, and for tests.
func (s *Store) Flush() error {
	if s.walLog() == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	return s.flushPending()
}

// PendingMetrics is the number of logged metric points not yet in bbolt.
func (s *Store) PendingMetrics() int { return s.pending.count() }

// Path is the bbolt file's path.
func (s *Store) Path() string { return s.path }

// Size is the bbolt file's size in bytes.
func (s *Store) Size() int64 {
	var n int64
	_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// Stats returns the live counters.
func (s *Store) Stats() *Stats { return &s.stats }

// Event is emitted after a committed change that other parts react to.
type Event struct {
	Type string // e.g. "registered_model.created", "model_version_alias.created"
	Data map[string]any
}

// OnEvent registers a hook called after each commit that emitted events.
// Hooks run on the commit goroutine: they must not block.
func (s *Store) OnEvent(fn func(Event)) {
	s.hooksMu.Lock()
	s.hooks = append(s.hooks, fn)
	s.hooksMu.Unlock()
}

func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// Backup writes a consistent copy of the bbolt file to w: first the metric
// points still only in the metric log are flushed, then one read
// transaction is copied (other requests go on meanwhile). size is known
// before the first byte (for Content-Length).
func (s *Store) Backup(ctx context.Context, w func(size int64) io.Writer) (int64, error) {
	if err := s.Flush(); err != nil {
		return 0, fmt.Errorf("flush the metric log: %w", err)
	}
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w(tx.Size()))
		return err
	})
	return n, err
}

// VerifyFile opens a metadata file (a backup) read-only and checks that it
// is one (it has the meta bucket) and that bbolt finds it consistent.
func VerifyFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bktMeta) == nil {
			return errors.New("no meta bucket: not an mlbox metadata file")
		}
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}

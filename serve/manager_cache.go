package serve

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// loadedVersion is one registered model version, loaded and warm. It is
// shared by every role that serves it (a version can be the main target,
// and also be addressed explicitly).
type loadedVersion struct {
	model, version string
	m              *Model
	meta           Metadata
	// names maps each input column name to its index (named inputs).
	names map[string]int
	// cols types the input columns, when the module describes them
	// (nil: every column is a required number).
	cols []colType
	// labels are the class labels as JSON values (classification).
	labels  [][]byte
	outBits int // 32 or 64: how output values are formatted
	profile *Profile
	sha     string
	// compiled: mlbox compiled the module from the model's own flavor.
	compiled bool
	loadedAt time.Time
	loadTook time.Duration
	// hdr is the Mlbox-Model-Version response header value, built once.
	hdr []string

	rms [numRoles]atomic.Pointer[roleMetrics]
	obs versionObs
}

func newLoadedVersion(model, version string, m *Model, profile *Profile, took time.Duration) *loadedVersion {
	lv := &loadedVersion{
		model: model, version: version, m: m, profile: profile,
		sha: m.SHA256(), loadedAt: time.Now(), loadTook: took,
		hdr: []string{version},
	}
	lv.setMeta(m.Meta())
	return lv
}

// setMeta derives what requests need from the module's metadata: the
// column index by name, the column types, the labels.
func (lv *loadedVersion) setMeta(meta Metadata) {
	lv.meta = meta
	lv.names = map[string]int{}
	lv.outBits = 64
	for i, n := range meta.InputNames() {
		lv.names[n] = i
	}
	if meta.OutputDType == F32 {
		lv.outBits = 32
	}
	if meta.Task == Classification {
		if meta.Labels != nil {
			for _, l := range meta.Labels {
				lv.labels = append(lv.labels, []byte(l))
			}
		} else {
			for _, n := range meta.OutputColumns() {
				lv.labels = append(lv.labels, strconv.AppendQuote(nil, n))
			}
		}
	}
	if meta.Columns != nil {
		lv.cols = make([]colType, len(meta.Columns))
		for i, c := range meta.Columns {
			ct := &lv.cols[i]
			ct.optional = c.Optional
			switch c.Type {
			case "string":
				ct.kind = colString
				ct.codes = make(map[string]int, len(c.Categories))
				for k, cat := range c.Categories {
					ct.codes[cat] = k
				}
			case "boolean":
				ct.kind = colBool
			}
		}
	}
}

// colType is how a request gives one input column.
type colType struct {
	kind     uint8 // colNumber, colString, colBool
	optional bool
	// codes maps a string column's categories to the numbers the module
	// takes.
	codes map[string]int
}

const (
	colNumber uint8 = iota
	colString
	colBool
)

// optional reports whether feature f may be left out of a request.
func (lv *loadedVersion) optional(f int) bool { return lv.cols != nil && lv.cols[f].optional }

// metrics returns the version's metric handles for role, creating them on
// first use.
func (lv *loadedVersion) metrics(set *metrics.Set, role Role, span time.Duration) *roleMetrics {
	if rm := lv.rms[role].Load(); rm != nil {
		return rm
	}
	rm := newRoleMetrics(set, lv.model, lv.version, role, span)
	if lv.rms[role].CompareAndSwap(nil, rm) {
		return rm
	}
	return lv.rms[role].Load()
}

// close closes the model (waiting for its calls in flight) and the
// version's observers.
func (lv *loadedVersion) close() {
	lv.m.Close()
	lv.obs.close()
}

// vkey names a registered model version.
type vkey struct{ model, version string }

// versionCache holds every loaded version. Versions that a deployment
// serves are pinned; the others (just replaced, or addressed explicitly)
// are kept warm up to a capacity, least recently used first out, so that a
// rollback or a repeated explicit request finds them loaded.
type versionCache struct {
	mu      sync.Mutex
	entries map[vkey]*cacheEntry
	keep    int // unpinned versions kept
	clock   atomic.Uint64
	// failTTL is how long a failed load is remembered for explicit
	// requests, so a broken version is not reloaded on every request.
	failTTL time.Duration
}

type cacheEntry struct {
	key   vkey
	ready chan struct{} // closed when lv or err is set
	lv    *loadedVersion
	err   error
	errAt time.Time
	pins  int
	used  atomic.Uint64
}

func newVersionCache(keep int) *versionCache {
	return &versionCache{entries: map[vkey]*cacheEntry{}, keep: keep, failTTL: 10 * time.Second}
}

// get returns the loaded version for k, loading it with load if needed
// (one load per key at a time; concurrent callers wait for it). pin says
// whether to pin the result.
func (c *versionCache) get(ctx context.Context, k vkey, pin bool, load func(context.Context) (*loadedVersion, error)) (*loadedVersion, error) {
	for {
		c.mu.Lock()
		e := c.entries[k]
		if e != nil {
			select {
			case <-e.ready:
				if e.err != nil && (pin || time.Since(e.errAt) > c.failTTL) {
					delete(c.entries, k) // retry below
					e = nil
				}
			default:
			}
		}
		if e == nil {
			e = &cacheEntry{key: k, ready: make(chan struct{})}
			if pin {
				e.pins++
			}
			c.entries[k] = e
			c.mu.Unlock()
			lv, err := load(ctx)
			c.mu.Lock()
			e.lv, e.err = lv, err
			if err != nil {
				e.errAt = time.Now()
				e.pins = 0
				if ctx.Err() != nil && c.entries[k] == e {
					delete(c.entries, k) // not the version's fault
				}
			}
			e.used.Store(c.clock.Add(1))
			close(e.ready)
			evicted := c.evictLocked()
			c.mu.Unlock()
			closeAll(evicted)
			return lv, err
		}
		if pin {
			e.pins++
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			if pin {
				c.unpin(k)
			}
			return nil, ctx.Err()
		}
		if e.err != nil {
			if pin {
				c.mu.Lock()
				e.pins = 0
				c.mu.Unlock()
			}
			if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
				continue // the loading caller gave up; try again with ours
			}
			return nil, e.err
		}
		e.used.Store(c.clock.Add(1))
		return e.lv, nil
	}
}

// lookup returns a loaded version without loading, and marks it used.
func (c *versionCache) lookup(k vkey) *loadedVersion {
	c.mu.Lock()
	e := c.entries[k]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	select {
	case <-e.ready:
	default:
		return nil
	}
	if e.lv != nil {
		e.used.Store(c.clock.Add(1))
	}
	return e.lv
}

// unpin drops one pin of k; the version stays warm until evicted.
func (c *versionCache) unpin(k vkey) {
	c.mu.Lock()
	if e := c.entries[k]; e != nil && e.pins > 0 {
		e.pins--
	}
	evicted := c.evictLocked()
	c.mu.Unlock()
	closeAll(evicted)
}

// remove drops the versions of model for which drop is true (deleted
// versions, a deleted model), pinned or not; a pinned one is closed when
// its deployment lets go of it (see Deployment), so this only closes
// unpinned ones.
func (c *versionCache) remove(model string, drop func(version string) bool) {
	var out []*loadedVersion
	c.mu.Lock()
	for k, e := range c.entries {
		if k.model != model || !drop(k.version) {
			continue
		}
		select {
		case <-e.ready:
		default:
			continue
		}
		if e.pins > 0 {
			continue
		}
		delete(c.entries, k)
		if e.lv != nil {
			out = append(out, e.lv)
		}
	}
	c.mu.Unlock()
	closeAll(out)
}

// evictLocked removes the least recently used unpinned versions beyond
// the capacity, and failed entries past their TTL; it returns the versions
// to close (outside the lock).
func (c *versionCache) evictLocked() []*loadedVersion {
	var idle []*cacheEntry
	now := time.Now()
	for k, e := range c.entries {
		select {
		case <-e.ready:
		default:
			continue
		}
		if e.err != nil {
			if now.Sub(e.errAt) > c.failTTL {
				delete(c.entries, k)
			}
			continue
		}
		if e.pins == 0 {
			idle = append(idle, e)
		}
	}
	var out []*loadedVersion
	for len(idle) > c.keep {
		oldest := 0
		for i, e := range idle {
			if e.used.Load() < idle[oldest].used.Load() {
				oldest = i
			}
		}
		e := idle[oldest]
		idle = append(idle[:oldest], idle[oldest+1:]...)
		delete(c.entries, e.key)
		out = append(out, e.lv)
	}
	return out
}

// closeAll closes versions in the background: Model.Close waits for the
// calls in flight, and no caller should wait for that.
func closeAll(lvs []*loadedVersion) {
	for _, lv := range lvs {
		go lv.close()
	}
}

// drain closes everything; for Manager.Close.
func (c *versionCache) drain() {
	c.mu.Lock()
	var out []*loadedVersion
	for k, e := range c.entries {
		select {
		case <-e.ready:
			if e.lv != nil {
				out = append(out, e.lv)
			}
			delete(c.entries, k)
		default:
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, lv := range out {
		wg.Add(1)
		go func() { defer wg.Done(); lv.close() }()
	}
	wg.Wait()
}

// loaded lists the loaded versions (for status).
func (c *versionCache) loaded() []LoadedInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []LoadedInfo
	for k, e := range c.entries {
		select {
		case <-e.ready:
		default:
			out = append(out, LoadedInfo{Model: k.model, Version: k.version, State: "loading"})
			continue
		}
		if e.lv != nil {
			out = append(out, LoadedInfo{Model: k.model, Version: k.version, State: "loaded", Pinned: e.pins > 0})
		}
	}
	return out
}

// LoadedInfo describes one loaded (or loading) version.
type LoadedInfo struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	State   string `json:"state"`
	Pinned  bool   `json:"pinned"`
}

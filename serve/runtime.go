// Package serve runs models compiled to WebAssembly, in-process, on wazero,
// and serves them.
//
// This file and its runtime_*.go, pool.go and abi*.go siblings are the
// inference runtime: the model ABI (docs/wasm-abi.md), compilation with an
// on-disk cache, validation, per-model pools of warm instances, limits
// (memory per instance, deadline per call), and typed errors. A typical
// use:
//
//	rt, err := serve.NewRuntime(ctx, serve.RuntimeConfig{CacheDir: dir})
//	m, err := rt.Load(ctx, wasmBytes)    // validates, warms PoolSize instances
//	out, err := m.Predict(ctx, rows, n)  // row-major in, row-major out
//	m.Close(); rt.Close(ctx)
//
// Lock order: Runtime.mu is never held while calling into a Model or a
// pool; pools have no lock (a channel of slots).
package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Defaults applied by NewRuntime to zero RuntimeConfig fields.
const (
	DefaultMemoryLimitPages = 1024 // 64 MiB per instance
	DefaultCallTimeout      = 2 * time.Second
	DefaultInitTimeout      = 10 * time.Second
)

// RuntimeConfig configures a Runtime. The zero value is usable.
type RuntimeConfig struct {
	// CacheDir holds compiled machine code across restarts (wazero's
	// compilation cache). Empty means compile in memory only.
	CacheDir string
	// MemoryLimitPages caps the linear memory of every instance, in 64 KiB
	// pages; memory.grow past it fails inside the module (which usually
	// then traps). A module whose initial memory exceeds it is rejected.
	// 0 means DefaultMemoryLimitPages; at most 65536 (4 GiB).
	MemoryLimitPages uint32
	// CallTimeout bounds one call of mlbox_predict (one batch of at most
	// max_batch_rows rows). A call past it is interrupted, fails with
	// KindTimeout, and its instance is replaced. 0 means DefaultCallTimeout.
	CallTimeout time.Duration
	// InitTimeout bounds instantiating one instance, including
	// _initialize and its warm-up call. 0 means DefaultInitTimeout.
	InitTimeout time.Duration
	// PoolSize is the number of instances per loaded model, i.e. how many
	// predictions of one model run at once. 0 means GOMAXPROCS.
	PoolSize int
	// Logger receives instance replacements and module stderr on failures.
	// nil discards.
	Logger *slog.Logger
}

// Runtime compiles and runs model modules. It owns one wazero runtime with
// the WASI host module, a compilation cache, and the set of loaded models.
// It is safe for concurrent use.
//
// Lifecycle: NewRuntime → Load (any number of times, concurrently) →
// Model.Close for each model no longer served → Runtime.Close, which also
// closes models still open.
type Runtime struct {
	cfg   RuntimeConfig
	rt    wazero.Runtime
	cache wazero.CompilationCache
	log   *slog.Logger
	// wasi are the functions the WASI host module exports, by name.
	wasi map[string]api.FunctionDefinition

	// trusted runs the modules mlbox's own compiler generated (see
	// LoadOptions.Trusted): no interrupt checks. Created on first use.
	trustedOnce  sync.Once
	trusted      wazero.Runtime
	trustedCache wazero.CompilationCache
	trustedErr   error

	mu       sync.Mutex
	closed   bool
	compiled map[moduleKey]*compiledModule
	models   map[*Model]struct{}
}

// moduleKey names a compiled module: its bytes, and the runtime it runs
// in.
type moduleKey struct {
	sha     [32]byte
	trusted bool
}

// compiledModule is one distinct module (by sha256), compiled once and
// shared by every Model loaded from the same bytes.
type compiledModule struct {
	sha     [32]byte
	trusted bool
	ready   chan struct{} // closed when cm/err are set
	cm      wazero.CompiledModule
	err     error
	init    bool // exports _initialize
	refs    int  // Models using it; guarded by Runtime.mu
}

// NewRuntime creates a runtime. Callers must Close it.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("serve: MemoryLimitPages %d exceeds 65536 (4 GiB)", cfg.MemoryLimitPages)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = runtime.GOMAXPROCS(0)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	rc := wazero.NewRuntimeConfigCompiler().
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCloseOnContextDone(true)
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("serve: compilation cache %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	wasi, err := wasi_snapshot_preview1.Instantiate(ctx, rt)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("serve: instantiating WASI: %w", err)
	}
	_ = wasi // closed with rt
	r := &Runtime{
		cfg:      cfg,
		rt:       rt,
		cache:    cache,
		log:      log,
		wasi:     rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions(),
		compiled: make(map[moduleKey]*compiledModule),
		models:   make(map[*Model]struct{}),
	}
	return r, nil
}

// Config returns the effective configuration (defaults applied).
func (r *Runtime) Config() RuntimeConfig { return r.cfg }

// LoadOptions tune one Load. Zero fields take the Runtime's values.
type LoadOptions struct {
	PoolSize    int
	CallTimeout time.Duration
	// Trusted runs a module that mlbox's model compiler generated in this
	// process (never bytes from outside): its code is straight-line within
	// one loop over at most max_batch_rows rows, so it always ends, and it
	// runs without wazero's interrupt checks (one per loop iteration) and
	// without a watcher per call (about 1 µs). CallTimeout does not apply.
	Trusted bool
}

// Load compiles wasm (once per distinct module: identical bytes share the
// compiled code, and the on-disk cache makes a restart fast), validates it
// against the ABI, and returns a Model with a warm pool of instances.
//
// A module that does not conform is rejected with an error wrapping
// ErrInvalidModule that names what is wrong. The caller must Close the
// Model.
func (r *Runtime) Load(ctx context.Context, wasm []byte) (*Model, error) {
	return r.LoadWith(ctx, wasm, LoadOptions{})
}

// LoadWith is Load with per-model options.
func (r *Runtime) LoadWith(ctx context.Context, wasm []byte, opts LoadOptions) (*Model, error) {
	if opts.PoolSize <= 0 {
		opts.PoolSize = r.cfg.PoolSize
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = r.cfg.CallTimeout
	}
	c, err := r.compile(ctx, wasm, opts.Trusted)
	if err != nil {
		return nil, err
	}
	m, err := r.newModel(ctx, c, opts)
	if err != nil {
		r.release(c)
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		m.Close()
		return nil, ErrClosed
	}
	r.models[m] = struct{}{}
	r.mu.Unlock()
	return m, nil
}

// Inspect validates wasm as Load does (compile, ABI checks, one warm-up
// call) and returns its metadata, without keeping a pool. Use it to check a
// module before storing it, e.g. when logging a model.
func (r *Runtime) Inspect(ctx context.Context, wasm []byte) (Metadata, error) {
	m, err := r.LoadWith(ctx, wasm, LoadOptions{PoolSize: 1})
	if err != nil {
		return Metadata{}, err
	}
	defer m.Close()
	return m.Meta(), nil
}

// compile returns the compiled module for wasm with one more reference.
func (r *Runtime) compile(ctx context.Context, wasm []byte, trusted bool) (*compiledModule, error) {
	sha := sha256.Sum256(wasm)
	key := moduleKey{sha, trusted}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if c, ok := r.compiled[key]; ok {
		c.refs++
		r.mu.Unlock()
		select {
		case <-c.ready:
		case <-ctx.Done():
			r.release(c)
			return nil, ctx.Err()
		}
		if c.err != nil {
			return nil, c.err // the compiling goroutine removed c from the map
		}
		return c, nil
	}
	c := &compiledModule{sha: sha, trusted: trusted, ready: make(chan struct{}), refs: 1}
	r.compiled[key] = c
	r.mu.Unlock()

	c.cm, c.init, c.err = r.compileAndCheck(ctx, wasm, trusted)
	if c.err != nil {
		r.mu.Lock()
		delete(r.compiled, key)
		r.mu.Unlock()
	}
	close(c.ready)
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
}

// release drops one reference to c and closes its code at zero.
func (r *Runtime) release(c *compiledModule) {
	r.mu.Lock()
	c.refs--
	key := moduleKey{c.sha, c.trusted}
	last := c.refs == 0 && r.compiled[key] == c
	if last {
		delete(r.compiled, key)
	}
	r.mu.Unlock()
	if last {
		<-c.ready
		if c.cm != nil {
			_ = c.cm.Close(context.Background())
		}
	}
}

// runtimeFor returns the wazero runtime of trusted or other modules.
func (r *Runtime) runtimeFor(trusted bool) (wazero.Runtime, error) {
	if !trusted {
		return r.rt, nil
	}
	r.trustedOnce.Do(func() {
		rc := wazero.NewRuntimeConfigCompiler().WithMemoryLimitPages(r.cfg.MemoryLimitPages)
		if r.cfg.CacheDir != "" {
			// Its own cache: wazero's cache key does not tell code with
			// interrupt checks from code without.
			cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(r.cfg.CacheDir, "trusted"))
			if err != nil {
				r.trustedErr = fmt.Errorf("serve: compilation cache: %w", err)
				return
			}
			r.trustedCache = cache
			rc = rc.WithCompilationCache(cache)
		}
		r.trusted = wazero.NewRuntimeWithConfig(context.Background(), rc)
	})
	return r.trusted, r.trustedErr
}

// compileAndCheck compiles wasm and checks its imports and exports.
func (r *Runtime) compileAndCheck(ctx context.Context, wasm []byte, trusted bool) (wazero.CompiledModule, bool, error) {
	rt, err := r.runtimeFor(trusted)
	if err != nil {
		return nil, false, err
	}
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, invalid("compile: %v", err)
	}
	init, err := r.checkModule(cm)
	if err == nil && trusted && len(cm.ImportedFunctions()) > 0 {
		err = invalid("a trusted module imports functions") // there is no WASI in the trusted runtime
	}
	if err != nil {
		_ = cm.Close(ctx)
		return nil, false, err
	}
	return cm, init, nil
}

// checkModule validates what can be checked without running code. It
// returns whether the module exports _initialize.
func (r *Runtime) checkModule(cm wazero.CompiledModule) (bool, error) {
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != WASIModule {
			return false, invalid("imports function %q from module %q: models may import only from %q", name, mod, WASIModule)
		}
		def, ok := r.wasi[name]
		if !ok {
			return false, invalid("imports %s.%s, which this host does not provide", mod, name)
		}
		if !sameTypes(def.ParamTypes(), imp.ParamTypes()) || !sameTypes(def.ResultTypes(), imp.ResultTypes()) {
			return false, invalid("imports %s.%s as %s, the host provides %s", mod, name,
				sigString(imp.ParamTypes(), imp.ResultTypes()), sigString(def.ParamTypes(), def.ResultTypes()))
		}
	}
	if mems := cm.ImportedMemories(); len(mems) > 0 {
		mod, name, _ := mems[0].Import()
		return false, invalid("imports memory %s.%s: a model must define and export its own memory", mod, name)
	}
	_, ok := cm.ExportedMemories()[ExportMemory]
	if !ok {
		return false, invalid("missing export %q: a model must export its linear memory", ExportMemory)
	}
	fns := cm.ExportedFunctions()
	var missing []string
	for _, e := range requiredExports {
		def, ok := fns[e.name]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (%s)", e.name, sigString(e.params, e.results)))
			continue
		}
		if !sameTypes(def.ParamTypes(), e.params) || !sameTypes(def.ResultTypes(), e.results) {
			return false, invalid("export %q has signature %s, want %s", e.name,
				sigString(def.ParamTypes(), def.ResultTypes()), sigString(e.params, e.results))
		}
	}
	if len(missing) > 0 {
		return false, invalid("missing export(s): %s", joinComma(missing))
	}
	if _, ok := fns[exportStart]; ok {
		return false, invalid("exports %q, so it is a WASI command; build a reactor (Go: -buildmode=c-shared, Rust: crate-type cdylib)", exportStart)
	}
	init := false
	if def, ok := fns[ExportInitialize]; ok {
		if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
			return false, invalid("export %q has signature %s, want func()", ExportInitialize,
				sigString(def.ParamTypes(), def.ResultTypes()))
		}
		init = true
	}
	return init, nil
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

// Close closes every model still open (waiting for their calls in flight),
// then the wazero runtime. It is safe to call more than once.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	models := make([]*Model, 0, len(r.models))
	for m := range r.models {
		models = append(models, m)
	}
	r.mu.Unlock()
	for _, m := range models {
		m.Close()
	}
	err := r.rt.Close(ctx)
	if r.cache != nil {
		err = errors.Join(err, r.cache.Close(ctx))
	}
	r.trustedOnce.Do(func() {}) // no trusted runtime after Close
	if r.trusted != nil {
		err = errors.Join(err, r.trusted.Close(ctx))
	}
	if r.trustedCache != nil {
		err = errors.Join(err, r.trustedCache.Close(ctx))
	}
	return err
}

// forget removes m from the open models (called by Model.Close).
func (r *Runtime) forget(m *Model) {
	r.mu.Lock()
	delete(r.models, m)
	r.mu.Unlock()
}

// shaHex renders a module digest.
func shaHex(sha [32]byte) string { return hex.EncodeToString(sha[:]) }

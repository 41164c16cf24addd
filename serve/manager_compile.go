package serve

// Compiling the models users log. A version whose MLmodel has a flavor
// the compiler handles (sklearn) is compiled to a module in the
// background when it is created, or when a deployment first needs it;
// the module is cached on disk by the content hash of the files it was
// made from, so a restart does not compile again. The version's state
// (pending, compiled, unsupported: <reason>, invalid: <reason>) is its
// mlbox.compile tag. The version's flavors are never changed.

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/serve/compile"
	"mlbox/serve/compile/wasmgen"
	"mlbox/serve/mlmodel"
	"mlbox/store"
	"mlbox/store/artifact"
)

// CompileTag is the version tag that holds a version's compile state.
const CompileTag = "mlbox.compile"

// compiler compiles versions, one compile per content hash at a time.
type compiler struct {
	m     *Manager
	cache *compile.Cache // nil: no disk cache

	mu       sync.Mutex
	inflight map[string]*compileCall // by content hash
	queue    chan vkey

	took   *metrics.Histogram
	result func(r string) *metrics.Counter
}

type compileCall struct {
	done chan struct{}
	wasm []byte
	err  error
}

func newCompiler(m *Manager, dir string) (*compiler, error) {
	c := &compiler{m: m, inflight: map[string]*compileCall{}, queue: make(chan vkey, 1024)}
	if dir != "" {
		cache, err := compile.OpenCache(dir)
		if err != nil {
			return nil, err
		}
		c.cache = cache
	}
	c.took = m.set.GetOrCreateHistogram(`mlbox_compile_seconds`)
	c.result = func(r string) *metrics.Counter {
		return m.set.GetOrCreateCounter(`mlbox_compile_total{result="` + r + `"}`)
	}
	return c, nil
}

// enqueue asks the background worker to compile a new version (never
// blocks; a full queue drops it, and a deployment compiles on demand).
func (c *compiler) enqueue(k vkey) {
	if c.m.cfg.NoCompile {
		return
	}
	select {
	case c.queue <- k:
	default:
		c.m.log.Warn("serve: compile queue full; the version compiles when a deployment needs it", "model", k.model, "version", k.version)
	}
}

// worker compiles queued versions until the manager closes.
func (c *compiler) worker() {
	defer c.m.wg.Done()
	for {
		select {
		case <-c.m.ctx.Done():
			return
		case k := <-c.queue:
			c.background(c.m.ctx, k)
		}
	}
}

// background compiles one version if it is a model the compiler handles,
// recording its state.
func (c *compiler) background(ctx context.Context, k vkey) {
	dir, mlmodelBytes, err := c.m.versionMLmodel(ctx, k.model, k.version)
	if err != nil {
		return // not a model in mlbox's store, or gone: nothing to compile
	}
	if mm, err := mlmodel.Parse(mlmodelBytes); err != nil || mm.Flavor("wasm") != nil || !compile.Compilable(mm) {
		return // not a model the compiler handles
	}
	c.setState(ctx, k, compile.StatePending)
	if _, err := c.module(ctx, k, dir, mlmodelBytes); err != nil && ctx.Err() == nil {
		c.m.log.Info("serve: model version not compiled", "model", k.model, "version", k.version, "error", err)
	}
}

// read reads the model files a compile needs.
func (c *compiler) read(ctx context.Context, dir string, mlmodelBytes []byte) (*compile.Source, error) {
	return compile.Read(mlmodelBytes, func(name string, limit int64) ([]byte, error) {
		p, err := artifact.CleanPath(path.Join(dir, name))
		if err != nil || !strings.HasPrefix(p, dir+"/") && dir != "" {
			return nil, fmt.Errorf("%w: model file %q is not inside the model directory", ErrNotServable, name)
		}
		b, err := c.m.readArtifact(ctx, p, limit)
		if errors.Is(err, artifact.ErrNotExist) {
			return nil, fmt.Errorf("%w: the model file %s is missing", ErrNotServable, name)
		}
		return b, err
	})
}

// module returns the compiled module of a version (compiling it now if
// needed) and records its state. A model the compiler does not handle
// fails with ErrNotServable, saying why.
func (c *compiler) module(ctx context.Context, k vkey, dir string, mlmodelBytes []byte) ([]byte, error) {
	src, err := c.read(ctx, dir, mlmodelBytes)
	return c.compileSource(ctx, k, src, err)
}

// compileSource compiles src (or records readErr), once per content hash
// however many callers ask at the same time.
func (c *compiler) compileSource(ctx context.Context, k vkey, src *compile.Source, readErr error) ([]byte, error) {
	if readErr != nil {
		return nil, c.fail(ctx, k, readErr)
	}
	c.mu.Lock()
	call, ok := c.inflight[src.Key]
	if !ok {
		call = &compileCall{done: make(chan struct{})}
		c.inflight[src.Key] = call
		c.mu.Unlock()
		call.wasm, call.err = c.build(src)
		c.mu.Lock()
		delete(c.inflight, src.Key)
		close(call.done)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if call.err != nil {
		return nil, c.fail(ctx, k, call.err)
	}
	c.setState(ctx, k, compile.StateCompiled)
	return call.wasm, nil
}

// build returns the cached module, or compiles and caches it.
func (c *compiler) build(src *compile.Source) ([]byte, error) {
	if c.cache != nil {
		if b, ok, err := c.cache.Get(src.Key); err == nil && ok {
			c.result("cached").Inc()
			return b, nil
		} else if err != nil {
			c.m.log.Warn("serve: reading the compile cache", "error", err)
		}
	}
	start := time.Now()
	mod, err := src.Compile(wasmgen.Options{})
	if err != nil {
		state, _, _ := strings.Cut(compile.State(err), ":")
		c.result(state).Inc() // unsupported, invalid or failed
		return nil, err
	}
	c.took.UpdateDuration(start)
	c.result("compiled").Inc()
	if c.cache != nil {
		if err := c.cache.Put(src.Key, mod.Wasm); err != nil {
			c.m.log.Warn("serve: writing the compile cache", "error", err)
		}
	}
	return mod.Wasm, nil
}

// fail records a failed compile's state and returns the error for the
// load. A model file that cannot be read now (storage down, the request
// gone) leaves the state as it is: a later load tries again.
func (c *compiler) fail(ctx context.Context, k vkey, err error) error {
	if ctx.Err() != nil || errors.Is(err, artifact.ErrUnavailable) {
		return err
	}
	if errors.Is(err, ErrNotServable) { // the model directory is not as its MLmodel says
		c.setState(ctx, k, "invalid: "+strings.TrimPrefix(err.Error(), ErrNotServable.Error()+": "))
		return err
	}
	state := compile.State(err)
	c.setState(ctx, k, state)
	return fmt.Errorf("%w: %s", ErrNotServable, state)
}

// setState writes the version's mlbox.compile tag when it changes.
func (c *compiler) setState(ctx context.Context, k vkey, state string) {
	if len(state) > 5000 { // MLflow's limit on tag values
		state = state[:4997] + "..."
	}
	mv, err := c.m.st.GetModelVersion(ctx, k.model, k.version)
	if err != nil {
		return
	}
	for _, t := range mv.Tags {
		if t.Key == CompileTag && t.Value == state {
			return
		}
	}
	if err := c.m.st.SetModelVersionTag(ctx, k.model, k.version, store.Tag{Key: CompileTag, Value: state}); err != nil && ctx.Err() == nil {
		c.m.log.Warn("serve: recording the compile state", "model", k.model, "version", k.version, "error", err)
	}
}

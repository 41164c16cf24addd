package serve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Model is a loaded module with its pool of warm instances. Predict and
// PredictInto are safe for concurrent use; at most PoolSize calls run at
// once and the others wait for a free instance.
type Model struct {
	r       *Runtime
	c       *compiledModule
	meta    Metadata
	pool    *pool
	timeout time.Duration

	closeOnce sync.Once

	predictions atomic.Int64
	rows        atomic.Int64
	failures    [KindModelReported + 1]atomic.Int64
}

// newModel instantiates the first instance (reading the metadata), warms
// it, then fills the pool.
func (r *Runtime) newModel(ctx context.Context, c *compiledModule, opts LoadOptions) (*Model, error) {
	first, meta, err := r.instantiate(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	m := &Model{r: r, c: c, meta: *meta, timeout: opts.CallTimeout}
	m.pool = newPool(opts.PoolSize, m.newInstance)
	m.pool.onDrop = func(err error) {
		r.log.Warn("wasm instance replacement failed; the next call retries",
			"model", m.meta.Name, "sha256", m.SHA256(), "error", err)
	}
	insts := []*instance{first}
	if err := m.warm(ctx, first); err != nil {
		first.close()
		return nil, err
	}
	for len(insts) < opts.PoolSize {
		in, err := m.newInstance(ctx)
		if err != nil {
			for _, in := range insts {
				in.close()
			}
			return nil, err
		}
		insts = append(insts, in)
	}
	m.pool.fill(insts)
	return m, nil
}

// newInstance creates and warms one more instance.
func (m *Model) newInstance(ctx context.Context) (*instance, error) {
	in, _, err := m.r.instantiate(ctx, m.c, &m.meta)
	if err != nil {
		return nil, err
	}
	if err := m.warm(ctx, in); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

// warm runs one prediction on a row of zeros, which also pages in the
// module's code and buffers. The module may refuse the row (a negative
// status is fine); a trap, timeout or wrong output size rejects it.
func (m *Model) warm(ctx context.Context, in *instance) error {
	if !in.writeInput(make([]float64, m.meta.NFeatures), m.meta.DType) {
		return invalid("warm-up: input buffer is outside memory")
	}
	merr := in.call(ctx, m.timeout, 1, m.meta.NOutputs)
	if merr != nil && merr.Kind != KindModelReported {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: warm-up prediction on one row of zeros failed: %w", ErrInvalidModule, merr)
	}
	if in.spent {
		return invalid("warm-up prediction on one row of zeros only just finished within %v", m.timeout)
	}
	return nil
}

// Meta returns the module's metadata.
func (m *Model) Meta() Metadata {
	md := m.meta
	md.FeatureNames = slices.Clone(md.FeatureNames)
	md.OutputNames = slices.Clone(md.OutputNames)
	return md
}

// SHA256 returns the hex digest of the module's bytes.
func (m *Model) SHA256() string { return shaHex(m.c.sha) }

// Predict runs the model on rows rows of in, a row-major matrix of
// rows × Meta().NFeatures values, and returns the rows × Meta().NOutputs
// outputs, row-major. Values are converted to and from the module's
// dtypes. Batches larger than max_batch_rows are split into several calls
// on the same instance.
//
// Errors: ErrInvalidInput (shapes), ErrClosed, the context's error while
// waiting for an instance, or a *ModelError when the module failed.
func (m *Model) Predict(ctx context.Context, in []float64, rows int) ([]float64, error) {
	if rows < 1 || rows > len(in) { // checked again in PredictInto; guards the make
		return nil, fmt.Errorf("%w: rows is %d for %d values", ErrInvalidInput, rows, len(in))
	}
	out := make([]float64, rows*m.meta.NOutputs)
	if err := m.PredictInto(ctx, out, in, rows); err != nil {
		return nil, err
	}
	return out, nil
}

// PredictInto is Predict writing into dst, which must hold at least
// rows × NOutputs values. It allocates nothing itself; wazero allocates
// three small objects per call into the module (its deadline watcher), and
// a cancelable ctx adds a context.AfterFunc.
func (m *Model) PredictInto(ctx context.Context, dst, in []float64, rows int) error {
	nf, no, maxRows := m.meta.NFeatures, m.meta.NOutputs, m.meta.MaxBatchRows
	if rows < 1 {
		return fmt.Errorf("%w: rows is %d, want >= 1", ErrInvalidInput, rows)
	}
	if len(in) != rows*nf {
		return fmt.Errorf("%w: %d values for %d rows of %d features", ErrInvalidInput, len(in), rows, nf)
	}
	if len(dst) < rows*no {
		return fmt.Errorf("%w: output buffer holds %d values, need %d", ErrInvalidInput, len(dst), rows*no)
	}
	inst, err := m.pool.get(ctx)
	if err != nil {
		return err
	}
	for off := 0; off < rows; off += maxRows {
		n := min(maxRows, rows-off)
		if err := ctx.Err(); err != nil {
			// Checked here because wazero closes the instance when
			// called with a context that is already done.
			m.pool.put(inst)
			return err
		}
		if !inst.writeInput(in[off*nf:(off+n)*nf], m.meta.DType) {
			return m.fail(inst, &ModelError{Kind: KindBadOutput, Msg: "input buffer is outside memory"})
		}
		merr := inst.call(ctx, m.timeout, n, n*no)
		if merr != nil {
			return m.fail(inst, merr)
		}
		if !inst.readOutput(dst[off*no:(off+n)*no], m.meta.OutputDType) {
			return m.fail(inst, &ModelError{Kind: KindBadOutput, Msg: "output buffer is outside memory"})
		}
		if inst.spent && off+n < rows {
			// The clock ran out just as this batch finished; the next one
			// cannot run on this instance.
			return m.fail(inst, &ModelError{Kind: KindTimeout, Err: context.DeadlineExceeded,
				Msg: fmt.Sprintf("batch of %d rows finished at its deadline; %d rows left", n, rows-off-n)})
		}
	}
	if inst.spent { // its clock ran out just as it finished
		m.pool.discard(inst)
	} else {
		m.pool.put(inst)
	}
	m.predictions.Add(1)
	m.rows.Add(int64(rows))
	return nil
}

// fail records a failed call and returns or discards the instance.
func (m *Model) fail(inst *instance, merr *ModelError) error {
	m.failures[merr.Kind].Add(1)
	if merr.Kind == KindModelReported && !inst.spent {
		m.pool.put(inst)
		return merr
	}
	m.r.log.Warn("wasm instance discarded", "model", m.meta.Name, "sha256", m.SHA256(),
		"kind", merr.Kind.String(), "error", merr.Msg, "output", merr.Output)
	m.pool.discard(inst)
	return merr
}

// ModelStats are counters since Load.
type ModelStats struct {
	// PoolSize is the number of instance slots; Live how many hold a
	// running instance now (less while replacements are under way).
	PoolSize, Live int
	// Replaced counts instances discarded after a trap, timeout,
	// cancellation or bad output.
	Replaced int64
	// Predictions and Rows count successful PredictInto calls and their rows.
	Predictions, Rows int64
	// Failures counts failed calls by kind.
	Failures map[ErrorKind]int64
}

// Stats returns the model's counters.
func (m *Model) Stats() ModelStats {
	s := ModelStats{
		PoolSize:    m.pool.size,
		Live:        int(m.pool.live.Load()),
		Replaced:    m.pool.replaced.Load(),
		Predictions: m.predictions.Load(),
		Rows:        m.rows.Load(),
		Failures:    map[ErrorKind]int64{},
	}
	for k := range m.failures {
		if v := m.failures[k].Load(); v > 0 {
			s.Failures[ErrorKind(k)] = v
		}
	}
	return s
}

// Close stops new calls (they fail with ErrClosed), waits for the calls in
// flight to finish, closes the instances, and releases the compiled code
// when no other Model shares it. Safe to call more than once.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		m.pool.close()
		m.r.forget(m)
		m.r.release(m.c)
	})
	return nil
}

// IsModelError reports whether err is a *ModelError of one of kinds (any
// kind when none is given).
func IsModelError(err error, kinds ...ErrorKind) bool {
	var merr *ModelError
	if !errors.As(err, &merr) {
		return false
	}
	return len(kinds) == 0 || slices.Contains(kinds, merr.Kind)
}

package serve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// outputKeep is how much of an instance's stdout/stderr is kept to explain
// a failure (a Go panic prints its message there before it traps).
const outputKeep = 4096

// instance is one instantiated module. It is used by one goroutine at a
// time (the borrower), so it needs no lock.
type instance struct {
	mod     api.Module
	mem     api.Memory
	predict api.Function
	errPtr  api.Function
	errLen  api.Function
	inPtr   uint32
	outPtr  uint32
	stack   [1]uint64
	out     *outputWriter
	cctx    *callCtx
	// spent is set when cctx fired after a call had already returned: the
	// results stand, but the instance must not be called again.
	spent bool
	// trusted: a module of mlbox's compiler, called without a deadline
	// (LoadOptions.Trusted).
	trusted bool
}

// instantiate creates, initialises and checks one instance of c. meta is
// nil for the first instance of a Model, which reads the metadata; later
// instances are checked against it.
func (r *Runtime) instantiate(parent context.Context, c *compiledModule, meta *Metadata) (*instance, *Metadata, error) {
	ctx, cancel := context.WithTimeout(parent, r.cfg.InitTimeout)
	defer cancel()
	tail := &outputWriter{max: outputKeep}
	// No FS (no preopens), no args or env, stdin empty, stdout and stderr
	// into a bounded tail; clocks, sleep and random keep wazero's
	// deterministic defaults (docs/wasm-abi.md, "Imports").
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module may coexist
		WithStartFunctions().
		WithStdout(tail).
		WithStderr(tail)
	rt, err := r.runtimeFor(c.trusted)
	if err != nil {
		return nil, nil, err
	}
	mod, err := rt.InstantiateModule(ctx, c.cm, mc)
	if err != nil {
		return nil, nil, r.initError(parent, ctx, "instantiate", err, tail)
	}
	in := &instance{mod: mod, out: tail, cctx: newCallCtx(), trusted: c.trusted}
	fail := func(err error) (*instance, *Metadata, error) {
		_ = mod.Close(context.Background())
		return nil, nil, err
	}
	if c.init {
		if _, err := mod.ExportedFunction(ExportInitialize).Call(ctx); err != nil {
			return fail(r.initError(parent, ctx, ExportInitialize, err, tail))
		}
	}
	in.mem = mod.ExportedMemory(ExportMemory)
	in.predict = mod.ExportedFunction(ExportPredict)
	in.errPtr = mod.ExportedFunction(ExportErrorPtr)
	in.errLen = mod.ExportedFunction(ExportErrorLen)

	call := func(name string) (uint32, error) {
		res, err := mod.ExportedFunction(name).Call(ctx)
		if err != nil {
			return 0, r.initError(parent, ctx, name, err, tail)
		}
		return uint32(res[0]), nil
	}
	v, err := call(ExportABIVersion)
	if err != nil {
		return fail(err)
	}
	if int32(v) != ABIVersion {
		return fail(invalid("%s returned %d, this host implements ABI version %d", ExportABIVersion, int32(v), ABIVersion))
	}
	if meta == nil {
		ptr, err := call(ExportMetadataPtr)
		if err != nil {
			return fail(err)
		}
		n, err := call(ExportMetadataLen)
		if err != nil {
			return fail(err)
		}
		if n == 0 || n > MaxMetadataBytes {
			return fail(invalid("%s returned %d bytes, want 1 to %d", ExportMetadataLen, n, MaxMetadataBytes))
		}
		b, ok := in.mem.Read(ptr, n)
		if !ok {
			return fail(invalid("metadata [%d, %d) is outside memory (%d bytes)", ptr, uint64(ptr)+uint64(n), in.mem.Size()))
		}
		m, err := ParseMetadata(b)
		if err != nil {
			return fail(invalid("%v", err))
		}
		meta = &m
	}
	if in.inPtr, err = call(ExportInputPtr); err != nil {
		return fail(err)
	}
	if in.outPtr, err = call(ExportOutputPtr); err != nil {
		return fail(err)
	}
	for _, b := range []struct {
		name string
		ptr  uint32
		size uint64
		dt   DType
	}{
		{"input", in.inPtr, meta.inputBytes(), meta.DType},
		{"output", in.outPtr, meta.outputBytes(), meta.OutputDType},
	} {
		if end := uint64(b.ptr) + b.size; end > uint64(in.mem.Size()) {
			return fail(invalid("%s buffer [%d, %d) for %d rows is outside memory (%d bytes)",
				b.name, b.ptr, end, meta.MaxBatchRows, in.mem.Size()))
		}
		if b.ptr%uint32(b.dt.Size()) != 0 {
			return fail(invalid("%s buffer at %d is not aligned to %d bytes", b.name, b.ptr, b.dt.Size()))
		}
	}
	return in, meta, nil
}

// initError describes a failure while setting an instance up: the
// caller's context ending is the caller's business; anything else,
// including InitTimeout running out, is the module's fault.
func (r *Runtime) initError(parent, ctx context.Context, step string, err error, tail *outputWriter) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("serve: instantiating a wasm model (%s): %w", step, perr)
	}
	if ctx.Err() != nil {
		return invalid("%s did not finish within %v", step, r.cfg.InitTimeout)
	}
	msg := firstLine(err.Error())
	if s := tail.headline(); s != "" {
		msg += "; output: " + s
	}
	return invalid("%s failed: %s", step, msg)
}

// close releases the instance. Safe on an instance whose module is
// already closed (after proc_exit or a timeout).
func (in *instance) close() {
	in.cctx.timer.Stop()
	_ = in.mod.Close(context.Background())
}

// call runs mlbox_predict on rows rows already written to the input
// buffer, interrupting it after timeout or when ctx ends, and checks that
// the module wrote want values. When the returned *ModelError's Kind is
// anything but KindModelReported, or in.spent is set, the instance must be
// discarded.
func (in *instance) call(ctx context.Context, timeout time.Duration, rows, want int) *ModelError {
	in.stack[0] = api.EncodeI32(int32(rows))
	if in.trusted {
		return in.callArmed(trustedCtx, timeout, rows, want)
	}
	cctx := in.cctx
	cctx.arm(ctx, timeout)
	merr := in.callArmed(cctx, timeout, rows, want)
	if cctx.disarm() {
		in.spent = true
	}
	return merr
}

// trustedCtx is what trusted calls run with: nothing interrupts them.
var trustedCtx = func() *callCtx { c := newCallCtx(); c.timer.Stop(); return c }()

func (in *instance) callArmed(cctx *callCtx, timeout time.Duration, rows, want int) *ModelError {
	if err := in.predict.CallWithStack(cctx, in.stack[:]); err != nil {
		return in.callError(cctx, timeout, err)
	}
	got := int32(in.stack[0])
	if got < 0 {
		msg, ok := in.errorMessage(cctx, got)
		if !ok { // the getters failed: do not trust the instance
			in.spent = true
		}
		return &ModelError{Kind: KindModelReported, Status: got, Msg: msg}
	}
	if int(got) != want {
		return &ModelError{Kind: KindBadOutput,
			Msg: fmt.Sprintf("%s(%d) reported %d output values, want %d (rows × n_outputs)", ExportPredict, rows, got, want)}
	}
	return nil
}

// callError classifies an error returned by a call into the module.
func (in *instance) callError(ctx context.Context, timeout time.Duration, err error) *ModelError {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return &ModelError{Kind: KindTimeout, Err: context.DeadlineExceeded,
				Msg: fmt.Sprintf("call interrupted at its deadline (call timeout %v, or the caller's deadline if sooner)", timeout)}
		case sys.ExitCodeContextCanceled:
			return &ModelError{Kind: KindCanceled, Msg: "call canceled", Err: context.Canceled}
		}
		msg := fmt.Sprintf("module exited with code %d", exit.ExitCode())
		if s := in.out.headline(); s != "" {
			msg += "; output: " + s
		}
		return &ModelError{Kind: KindTrap, Status: int32(exit.ExitCode()), Msg: msg, Output: in.out.String(), Err: err}
	}
	if cerr := ctx.Err(); cerr != nil { // interrupted while in a host function
		kind := KindTimeout
		if errors.Is(cerr, context.Canceled) {
			kind = KindCanceled
		}
		return &ModelError{Kind: kind, Msg: firstLine(err.Error()), Err: cerr}
	}
	msg := firstLine(err.Error())
	if s := in.out.headline(); s != "" {
		msg += "; output: " + s
	}
	return &ModelError{Kind: KindTrap, Msg: msg, Output: in.out.String(), Err: err}
}

// errorMessage reads the module's error message after a negative status.
// ok is false when the getters failed.
func (in *instance) errorMessage(ctx context.Context, status int32) (msg string, ok bool) {
	fallback := fmt.Sprintf("%s returned status %d", ExportPredict, status)
	p, err := in.errPtr.Call(ctx)
	if err != nil {
		return fallback, false
	}
	n, err := in.errLen.Call(ctx)
	if err != nil {
		return fallback, false
	}
	ptr, size := uint32(p[0]), uint32(n[0])
	if size == 0 {
		return fallback, true
	}
	size = min(size, MaxErrorBytes)
	b, inside := in.mem.Read(ptr, size)
	if !inside {
		return fallback + " (its error message is outside memory)", true
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), true
}

// writeInput encodes rows of in (float64) into the input buffer.
func (in *instance) writeInput(src []float64, dt DType) bool {
	size := uint32(len(src) * dt.Size())
	b, ok := in.mem.Read(in.inPtr, size)
	if !ok {
		return false
	}
	if dt == F32 {
		for i, v := range src {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
		}
		return true
	}
	if littleEndian {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(src))), len(b)))
		return true
	}
	for i, v := range src {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return true
}

// littleEndian: the host's float64 layout is the ABI's, so f64 buffers
// are copied as bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// readOutput decodes len(dst) values from the output buffer.
func (in *instance) readOutput(dst []float64, dt DType) bool {
	b, ok := in.mem.Read(in.outPtr, uint32(len(dst)*dt.Size()))
	if !ok {
		return false
	}
	if dt == F32 {
		for i := range dst {
			dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
		return true
	}
	if littleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(b)), b)
		return true
	}
	for i := range dst {
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return true
}

// outputWriter keeps what a module writes to stdout and stderr, bounded:
// the first half of max bytes (a Go panic or fatal error leads with its
// message) and the last half (a runtime's final words), with a marker
// between them when something was dropped.
type outputWriter struct {
	max     int
	head    []byte
	tail    []byte // ring: the last max/2 bytes, once head is full
	dropped int64
}

func (w *outputWriter) Write(p []byte) (int, error) {
	n := len(p)
	if room := w.max/2 - len(w.head); room > 0 {
		k := min(room, len(p))
		w.head = append(w.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	half := w.max - w.max/2
	if len(p) >= half {
		w.dropped += int64(len(w.tail) + len(p) - half)
		w.tail = append(w.tail[:0], p[len(p)-half:]...)
		return n, nil
	}
	if over := len(w.tail) + len(p) - half; over > 0 {
		w.dropped += int64(over)
		w.tail = append(w.tail[:0], w.tail[over:]...)
	}
	w.tail = append(w.tail, p...)
	return n, nil
}

// String returns what was kept.
func (w *outputWriter) String() string {
	s := string(w.head)
	if w.dropped > 0 {
		s += fmt.Sprintf("\n[... %d bytes dropped ...]\n", w.dropped)
	}
	s += string(w.tail)
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}

// headline returns the first non-empty line of what was kept.
func (w *outputWriter) headline() string {
	for _, line := range strings.Split(w.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// callCtx is the context handed to wazero for the calls of one instance.
// wazero (WithCloseOnContextDone) closes the module when it is done, which
// interrupts a runaway call. Unlike a context.WithTimeout per call, it is
// reused: one timer per instance, Reset for each call and stopped after.
// Once done is closed the module is (or will be) closed, so a callCtx is
// never re-armed after it fired; its instance is discarded instead.
type callCtx struct {
	done   chan struct{}
	once   sync.Once
	err    atomic.Pointer[error]
	timer  *time.Timer
	parent context.Context // the caller's, for Value; set by arm
	stop   func() bool     // unlinks parent cancellation; set by arm
}

func newCallCtx() *callCtx {
	c := &callCtx{done: make(chan struct{}), parent: context.Background()}
	c.timer = time.AfterFunc(time.Hour, func() { c.fire(context.DeadlineExceeded) })
	c.timer.Stop()
	return c
}

// arm starts the clock for one call: timeout, or the caller's deadline if
// that is sooner, and the caller's cancellation if it has one.
func (c *callCtx) arm(parent context.Context, timeout time.Duration) {
	c.parent = parent
	if dl, ok := parent.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	c.timer.Reset(timeout)
	if parent.Done() != nil {
		c.stop = context.AfterFunc(parent, func() { c.fire(parent.Err()) })
	}
}

// disarm stops the clock and reports whether it fired (or is firing),
// in which case the instance is spent.
func (c *callCtx) disarm() (fired bool) {
	if !c.timer.Stop() { // armed until now, so it went off
		fired = true
	}
	if c.stop != nil {
		if !c.stop() { // the caller's context ended
			fired = true
		}
		c.stop = nil
	}
	c.parent = context.Background()
	return fired
}

func (c *callCtx) fire(err error) {
	c.once.Do(func() {
		c.err.Store(&err)
		close(c.done)
	})
}

func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *callCtx) Done() <-chan struct{}       { return c.done }
func (c *callCtx) Value(key any) any           { return c.parent.Value(key) }
func (c *callCtx) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

package serve

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestRuntime returns a runtime closed at the end of the test.
func newTestRuntime(t testing.TB, cfg RuntimeConfig) *Runtime {
	t.Helper()
	r, err := NewRuntime(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("Runtime.Close: %v", err)
		}
	})
	return r
}

func mustLoad(t testing.TB, r *Runtime, wasm []byte) *Model {
	t.Helper()
	m, err := r.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// rowsOf builds rows rows of nf features; the first value of the batch is
// first (which selects the mock's behaviour), the rest vary.
func rowsOf(rows, nf int, first float64) []float64 {
	in := make([]float64, rows*nf)
	for i := range in {
		in[i] = -1 - float64(i%5)/2 - float64(i)/64 // never selects a mock mode
	}
	in[0] = first
	return in
}

func equal(t *testing.T, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("value %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func wantModelError(t *testing.T, err error, kind ErrorKind, fragment string) *ModelError {
	t.Helper()
	var merr *ModelError
	if !errors.As(err, &merr) {
		t.Fatalf("got error %v (%T), want a *ModelError of kind %v", err, err, kind)
	}
	if merr.Kind != kind {
		t.Fatalf("got kind %v (%v), want %v", merr.Kind, merr, kind)
	}
	if !strings.Contains(merr.Error(), fragment) {
		t.Fatalf("error %q does not mention %q", merr.Error(), fragment)
	}
	return merr
}

// waitLive waits until every pool slot holds a live instance again.
func waitLive(t *testing.T, m *Model) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := m.Stats()
		if s.Live == s.PoolSize {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool did not refill: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitBorrowed waits until no instance of m is idle, i.e. a call holds it.
func waitBorrowed(t *testing.T, m *Model) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(m.pool.slots) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("no call borrowed an instance")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // and has entered the module
}

func TestPredictGoodModule(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 2})
	spec := mockSpec{NF: 3, NO: 2, MaxRows: 16}
	m := mustLoad(t, r, mockModule(spec))

	meta := m.Meta()
	if meta.NFeatures != 3 || meta.NOutputs != 2 || meta.MaxBatchRows != 16 || meta.DType != F64 || meta.Task != Regression {
		t.Fatalf("metadata %+v", meta)
	}
	if len(m.SHA256()) != 64 {
		t.Fatalf("SHA256 %q", m.SHA256())
	}
	ctx := context.Background()
	for _, rows := range []int{1, 2, 16, 17, 100} { // 17 and 100 are split into batches
		in := rowsOf(rows, 3, 0.25)
		got, err := m.Predict(ctx, in, rows)
		if err != nil {
			t.Fatalf("rows=%d: %v", rows, err)
		}
		equal(t, got, mockWant(spec, in))
	}
	// PredictInto writes into the caller's buffer.
	in := rowsOf(4, 3, -1)
	dst := make([]float64, 8)
	if err := m.PredictInto(ctx, dst, in, 4); err != nil {
		t.Fatal(err)
	}
	equal(t, dst, mockWant(spec, in))

	// Shape errors never reach the module.
	for name, call := range map[string]func() error{
		"rows 0":        func() error { _, err := m.Predict(ctx, nil, 0); return err },
		"short input":   func() error { _, err := m.Predict(ctx, in[:5], 2); return err },
		"long input":    func() error { return m.PredictInto(ctx, dst, in, 3) },
		"short output":  func() error { return m.PredictInto(ctx, dst[:7], in, 4) },
		"negative rows": func() error { return m.PredictInto(ctx, dst, in, -1) },
	} {
		if err := call(); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrInvalidInput", name, err)
		}
	}
	s := m.Stats()
	if s.Predictions != 6 || s.Rows != 1+2+16+17+100+4 || s.Replaced != 0 || len(s.Failures) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLoadRejects(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1, MemoryLimitPages: 64, CallTimeout: 200 * time.Millisecond, InitTimeout: 300 * time.Millisecond})
	meta := func(extra string) string {
		return `{"abi_version":1,"task":"regression","dtype":"f64","n_features":4,"n_outputs":2,"max_batch_rows":64` + extra + `}`
	}
	cases := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("hello"), "compile"},
		{"missing predict", mockModule(mockSpec{Omit: ExportPredict}), `missing export(s): mlbox_predict (func(i32) i32)`},
		{"missing error_len", mockModule(mockSpec{Omit: ExportErrorLen}), `mlbox_error_len`},
		{"wrong signature", mockModule(mockSpec{WrongSig: ExportPredict}), `export "mlbox_predict" has signature func(i64) i32, want func(i32) i32`},
		{"wrong signature const", mockModule(mockSpec{WrongSig: ExportInputPtr}), `export "mlbox_input_ptr" has signature func(i64) i32, want func() i32`},
		{"foreign import", mockModule(mockSpec{Import: [2]string{"env", "get_secret"}}), `imports function "get_secret" from module "env"`},
		{"unknown wasi function", mockModule(mockSpec{Import: [2]string{"wasi_snapshot_preview1", "no_such_call"}}), `imports wasi_snapshot_preview1.no_such_call`},
		{"wasi signature", mockModule(mockSpec{Import: [2]string{"wasi_snapshot_preview1", "random_get"}}), `imports wasi_snapshot_preview1.random_get as func(), the host provides func(i32, i32) i32`},
		{"command module", mockModule(mockSpec{Start: true}), `exports "_start"`},
		{"abi version export", mockModule(mockSpec{ABIVersion: 2}), `mlbox_abi_version returned 2`},
		{"abi version metadata", mockModule(mockSpec{Meta: strings.Replace(meta(""), `"abi_version":1`, `"abi_version":3`, 1)}), `abi_version is 3`},
		{"metadata not json", mockModule(mockSpec{Meta: "{nope"}), "metadata is not valid JSON"},
		{"no features", mockModule(mockSpec{Meta: strings.Replace(meta(""), `"n_features":4`, `"n_features":0`, 1)}), "n_features 0 is out of range"},
		{"bad dtype", mockModule(mockSpec{Meta: strings.Replace(meta(""), `"f64"`, `"f16"`, 1)}), `dtype "f16" is unknown`},
		{"bad task", mockModule(mockSpec{Meta: strings.Replace(meta(""), `regression`, `ranking`, 1)}), `task "ranking" is unknown`},
		{"classification without labels", mockModule(mockSpec{Meta: strings.Replace(meta(""), `regression`, `classification`, 1)}), "class labels"},
		{"feature names count", mockModule(mockSpec{Meta: meta(`,"feature_names":["a","b"]`)}), "feature_names has 2 names for 4 features"},
		{"huge batch", mockModule(mockSpec{Meta: strings.Replace(meta(""), `"max_batch_rows":64`, `"max_batch_rows":100000`, 1)}), "max_batch_rows 100000 is out of range"},
		{"buffer outside memory", mockModule(mockSpec{Meta: strings.Replace(meta(""), `"max_batch_rows":64`, `"max_batch_rows":4096`, 1)}), "input buffer [8192, 139264) for 4096 rows is outside memory (65536 bytes)"},
		{"misaligned input", mockModule(mockSpec{InputPtr: mockInput + 4}), "input buffer at 8196 is not aligned to 8 bytes"},
		{"memory over limit", mockModule(mockSpec{MemMin: 65}), "min 65 pages (4 Mi) over limit of 64 pages"},
		{"initialize loops", mockModule(mockSpec{InitLoops: true}), "_initialize did not finish within 300ms"},
		{"warm-up traps", mockModule(mockSpec{Always: modeUnreachable}), "warm-up prediction on one row of zeros failed: model trap: wasm error: unreachable"},
		{"warm-up loops", mockModule(mockSpec{Always: modeLoop}), "warm-up prediction on one row of zeros failed: model timeout"},
		{"warm-up wrong size", mockModule(mockSpec{Always: modeWrongCount}), "reported 3 output values, want 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := r.Load(context.Background(), tc.wasm)
			if err == nil {
				m.Close()
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("error %v does not wrap ErrInvalidModule", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	if n := len(r.compiled); n != 0 {
		t.Fatalf("%d compiled modules left behind", n)
	}
}

func TestWarmUpMayReportAnError(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1})
	m := mustLoad(t, r, mockModule(mockSpec{Always: modeReport}))
	_, err := m.Predict(context.Background(), rowsOf(1, 4, 0.5), 1)
	wantModelError(t, err, KindModelReported, mockErrMsg)
}

func TestInitializeRunsFirst(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 2})
	m := mustLoad(t, r, mockModule(mockSpec{Init: true}))
	got, err := m.Predict(context.Background(), []float64{0.5, 1, 2, 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, []float64{6.5, 13})
}

func TestTrapFailsOnlyThatCall(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 2})
	spec := mockSpec{}
	m := mustLoad(t, r, mockModule(spec))
	ctx := context.Background()
	cases := []struct {
		mode     float64
		fragment string
		status   int32
	}{
		{modeUnreachable, "unreachable", 0},
		{modeOOB, "out of bounds memory access", 0},
		{modeExit, "module exited with code 2; output: panic: mock model exploded", 2},
	}
	for i, tc := range cases {
		_, err := m.Predict(ctx, rowsOf(3, 4, tc.mode), 3)
		merr := wantModelError(t, err, KindTrap, tc.fragment)
		if merr.Status != tc.status {
			t.Errorf("status %d, want %d", merr.Status, tc.status)
		}
		// The next calls succeed, on the other instance or a replacement.
		for j := 0; j < 3; j++ {
			in := rowsOf(2, 4, 0.5)
			got, err := m.Predict(ctx, in, 2)
			if err != nil {
				t.Fatalf("call after trap: %v", err)
			}
			equal(t, got, mockWant(spec, in))
		}
		waitLive(t, m)
		if s := m.Stats(); s.Replaced != int64(i+1) || s.Failures[KindTrap] != int64(i+1) {
			t.Fatalf("stats %+v", s)
		}
	}
}

func TestTimeoutInterruptsInfiniteLoop(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1, CallTimeout: 100 * time.Millisecond})
	m := mustLoad(t, r, mockModule(mockSpec{}))
	ctx := context.Background()
	start := time.Now()
	_, err := m.Predict(ctx, rowsOf(1, 4, modeLoop), 1)
	wantModelError(t, err, KindTimeout, "deadline")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("interrupted after %v", d)
	}
	// The only instance was replaced: the next call works.
	got, err := m.Predict(ctx, []float64{0.5, 1, 1, 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, []float64{3.5, 7})
	waitLive(t, m)
	if s := m.Stats(); s.Replaced != 1 || s.Failures[KindTimeout] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCallerCancelInterrupts(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1, CallTimeout: time.Minute})
	m := mustLoad(t, r, mockModule(mockSpec{}))
	// The cancel must land while the call runs; on a loaded machine it can
	// land before, which returns the context's error instead. Retry then.
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			waitBorrowed(t, m)
			cancel()
		}()
		_, err := m.Predict(ctx, rowsOf(1, 4, modeLoop), 1)
		if !IsModelError(err) && errors.Is(err, context.Canceled) && attempt < 5 {
			continue
		}
		wantModelError(t, err, KindCanceled, "canceled")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v does not wrap context.Canceled", err)
		}
		// A context that is already done fails before touching an instance.
		if _, err := m.Predict(ctx, rowsOf(1, 4, 0.5), 1); !errors.Is(err, context.Canceled) || IsModelError(err) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		break
	}
	if _, err := m.Predict(context.Background(), rowsOf(1, 4, 0.5), 1); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryHogIsContained(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1, MemoryLimitPages: 32})
	m := mustLoad(t, r, mockModule(mockSpec{}))
	ctx := context.Background()
	_, err := m.Predict(ctx, rowsOf(1, 4, modeHog), 1)
	wantModelError(t, err, KindTrap, "unreachable")
	if _, err := m.Predict(ctx, rowsOf(1, 4, 0.5), 1); err != nil {
		t.Fatal(err)
	}
}

func TestWrongOutputSize(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1})
	m := mustLoad(t, r, mockModule(mockSpec{}))
	_, err := m.Predict(context.Background(), rowsOf(5, 4, modeWrongCount), 5)
	wantModelError(t, err, KindBadOutput, "reported 11 output values, want 10")
	if _, err := m.Predict(context.Background(), rowsOf(5, 4, 0.5), 5); err != nil {
		t.Fatal(err)
	}
	waitLive(t, m)
	if s := m.Stats(); s.Replaced != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestModelReportedError(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1})
	m := mustLoad(t, r, mockModule(mockSpec{}))
	_, err := m.Predict(context.Background(), rowsOf(2, 4, modeReport), 2)
	merr := wantModelError(t, err, KindModelReported, mockErrMsg)
	if merr.Status != -7 || merr.Msg != mockErrMsg {
		t.Fatalf("%+v", merr)
	}
	if _, err := m.Predict(context.Background(), rowsOf(2, 4, 0.5), 2); err != nil {
		t.Fatal(err)
	}
	// A reported error keeps the instance.
	if s := m.Stats(); s.Replaced != 0 || s.Failures[KindModelReported] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConcurrentPredict(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 3})
	spec := mockSpec{NF: 4, NO: 2, MaxRows: 8}
	m := mustLoad(t, r, mockModule(spec))
	const workers, calls = 16, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				rows := 1 + (w+i)%20
				if w%4 == 0 && i%15 == 7 { // some callers make the module trap
					_, err := m.Predict(context.Background(), rowsOf(rows, 4, modeUnreachable), rows)
					if !IsModelError(err, KindTrap) {
						errs <- err
						return
					}
					continue
				}
				in := rowsOf(rows, 4, 8.5+float64(w)+float64(i)/100)
				want := mockWant(spec, in)
				got, err := m.Predict(context.Background(), in, rows)
				if err != nil {
					errs <- err
					return
				}
				for k := range want {
					if got[k] != want[k] {
						errs <- errors.New("wrong prediction under concurrency")
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitLive(t, m)
	s := m.Stats()
	if s.Failures[KindTrap] != s.Replaced || s.Replaced == 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBorrowWaitsWithContext(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1, CallTimeout: 300 * time.Millisecond})
	m := mustLoad(t, r, mockModule(mockSpec{}))
	done := make(chan error)
	go func() {
		_, err := m.Predict(context.Background(), rowsOf(1, 4, modeLoop), 1)
		done <- err
	}()
	waitBorrowed(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := m.Predict(ctx, rowsOf(1, 4, 0.5), 1)
	if !errors.Is(err, context.DeadlineExceeded) || IsModelError(err) {
		t.Fatalf("waiting for the busy instance: got %v, want context.DeadlineExceeded", err)
	}
	if !IsModelError(<-done, KindTimeout) {
		t.Fatal("looping call did not time out")
	}
	// A waiter gets the replacement.
	if _, err := m.Predict(context.Background(), rowsOf(1, 4, 0.5), 1); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWaitsForCalls(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1, CallTimeout: 200 * time.Millisecond})
	m, err := r.Load(context.Background(), mockModule(mockSpec{}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := m.Predict(context.Background(), rowsOf(1, 4, modeLoop), 1)
		done <- err
	}()
	waitBorrowed(t, m)
	start := time.Now()
	m.Close()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("Close returned after %v, before the call in flight ended", d)
	}
	if err := <-done; !IsModelError(err, KindTimeout) {
		t.Fatalf("call in flight: %v", err)
	}
	if _, err := m.Predict(context.Background(), rowsOf(1, 4, 0.5), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	m.Close() // idempotent
	if s := m.Stats(); s.Live != 0 {
		t.Fatalf("%d instances alive after Close", s.Live)
	}
	if len(r.compiled) != 0 || len(r.models) != 0 {
		t.Fatalf("runtime still holds %d compiled, %d models", len(r.compiled), len(r.models))
	}
}

func TestRuntimeCloseClosesModels(t *testing.T) {
	r, err := NewRuntime(context.Background(), RuntimeConfig{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Load(context.Background(), mockModule(mockSpec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(context.Background(), rowsOf(1, 4, 0.5), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Predict after Runtime.Close: %v", err)
	}
	if _, err := r.Load(context.Background(), mockModule(mockSpec{})); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Runtime.Close: %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSharedCompilation(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{PoolSize: 1})
	wasm := mockModule(mockSpec{})
	var wg sync.WaitGroup
	models := make([]*Model, 4)
	for i := range models {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := r.Load(context.Background(), wasm)
			if err != nil {
				t.Error(err)
				return
			}
			models[i] = m
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	r.mu.Lock()
	n, refs := len(r.compiled), 0
	for _, c := range r.compiled {
		refs = c.refs
	}
	r.mu.Unlock()
	if n != 1 || refs != 4 {
		t.Fatalf("%d compiled modules with %d refs, want 1 with 4", n, refs)
	}
	for _, m := range models[1:] {
		m.Close()
	}
	if _, err := models[0].Predict(context.Background(), rowsOf(1, 4, 0.5), 1); err != nil {
		t.Fatal(err)
	}
	models[0].Close()
	if len(r.compiled) != 0 {
		t.Fatal("compiled module not released")
	}
}

func TestCompilationCacheDir(t *testing.T) {
	wasm := readExample(t, "iris-go")
	dir := t.TempDir()
	load := func() time.Duration {
		r := newTestRuntime(t, RuntimeConfig{CacheDir: dir, PoolSize: 1})
		start := time.Now()
		m := mustLoad(t, r, wasm)
		d := time.Since(start)
		m.Close()
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cold := load()
	var files int
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatal("cache directory is empty after a Load")
	}
	warm := load()
	t.Logf("Load of the %d KiB iris module: cold %v, from the cache dir %v (%d cache files)", len(wasm)/1024, cold, warm, files)
	if warm > cold {
		t.Errorf("a Load from the cache dir (%v) was slower than compiling (%v)", warm, cold)
	}
}

func TestMetadataValidate(t *testing.T) {
	good := Metadata{ABIVersion: 1, Task: Classification, DType: F32, OutputDType: F64, NFeatures: 2,
		FeatureNames: []string{"a", "b"}, NOutputs: 2, OutputNames: []string{"x", "y"}, MaxBatchRows: 10}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.FeatureNames = []string{"a", "a"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `feature_names repeats "a"`) {
		t.Fatalf("duplicate names: %v", err)
	}
	m, err := ParseMetadata([]byte(`{"abi_version":1,"task":"regression","dtype":"f32","n_features":1,"n_outputs":1,"max_batch_rows":1,"future":true}`))
	if err != nil || m.OutputDType != F64 {
		t.Fatalf("output_dtype default / unknown fields: %+v %v", m, err)
	}
}

func TestInspectAndSignature(t *testing.T) {
	r := newTestRuntime(t, RuntimeConfig{})
	meta, err := r.Inspect(context.Background(), mockModule(mockSpec{NF: 2, NO: 1}))
	if err != nil {
		t.Fatal(err)
	}
	in, out := meta.Signature()
	if want := `[{"type":"double","name":"f0","required":true},{"type":"double","name":"f1","required":true}]`; in != want {
		t.Errorf("inputs %s, want %s", in, want)
	}
	if want := `[{"type":"double","name":"y0","required":true}]`; out != want {
		t.Errorf("outputs %s, want %s", out, want)
	}
	if len(r.compiled) != 0 || len(r.models) != 0 {
		t.Fatal("Inspect left a model behind")
	}
	if _, err := r.Inspect(context.Background(), mockModule(mockSpec{Omit: ExportPredict})); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Inspect of a bad module: %v", err)
	}
	named := Metadata{DType: F32, OutputDType: F32, NFeatures: 1, FeatureNames: []string{"x"}, NOutputs: 1, OutputNames: []string{"p"}}
	in, out = named.Signature()
	if in != `[{"type":"float","name":"x","required":true}]` || out != `[{"type":"float","name":"p","required":true}]` {
		t.Errorf("named f32 signature %s %s", in, out)
	}
}

func TestProfile(t *testing.T) {
	h := Histogram{Edges: []float64{0, 1, 2, 4}, Counts: []int64{1, 1, 1}}
	for v, want := range map[float64]int{-5: 0, 0: 0, 0.5: 0, 1: 1, 3.9: 2, 4: 2, 100: 2, math.NaN(): -1} {
		if got := h.Bin(v); got != want {
			t.Errorf("Bin(%v) = %d, want %d", v, got, want)
		}
	}
	p := Profile{Format: ProfileFormat, Rows: 3, Features: []Histogram{h}}
	if err := p.Validate(nil); err != nil {
		t.Fatal(err)
	}
	p.Rows = 4
	if err := p.Validate(nil); err == nil {
		t.Fatal("counts not adding up to rows accepted")
	}
	p.Rows = 3
	p.Features[0].Edges = []float64{0, 1, 1, 4}
	if err := p.Validate(nil); err == nil {
		t.Fatal("non-increasing edges accepted")
	}
}

func TestOutputWriterKeepsHeadAndTail(t *testing.T) {
	w := &outputWriter{max: 32}
	w.Write([]byte("\n  panic: x\n"))
	if got := w.headline(); got != "panic: x" {
		t.Fatalf("headline %q", got)
	}
	w.Write([]byte("0123456789"))
	w.Write([]byte("abcdefghij"))
	if got, want := w.String(), "panic: x\n0123456789abcdefghij"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	w.Write([]byte("a very long line indeed"))
	if got, want := w.String(), "panic: x\n0123\n[... 23 bytes dropped ...]\nlong line indeed"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	w.Write([]byte("!"))
	if got, want := w.String(), "panic: x\n0123\n[... 24 bytes dropped ...]\nong line indeed!"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

package serve

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func openTestLog(t *testing.T, dir string, cfg RequestLogConfig) *RequestLog {
	t.Helper()
	l, err := OpenRequestLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func entry(model string, i int) *RequestEntry {
	return &RequestEntry{
		Time: time.Unix(1700000000, int64(i)*1000).UTC(), Model: model, Version: "3", Target: "champion",
		Route: "predict", Client: "127.0.0.1", Status: 200, Latency: time.Duration(i) * time.Microsecond, Rows: i,
		Input:  json.RawMessage(fmt.Sprintf(`{"data":[%d,1.5,2.5,3.5]}`, i)),
		Output: json.RawMessage(`{"predictions":[[0.1,0.2,0.7]]}`),
	}
}

// rowsOfEntries returns the Rows fields, which the tests use as sequence
// numbers.
func rowsOfEntries(es []RequestEntry) []int {
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = e.Rows
	}
	return out
}

// checkContiguous checks that es is newest first and gap-free, ending at last.
func checkContiguous(t *testing.T, es []RequestEntry, last int) {
	t.Helper()
	for i, e := range es {
		if e.Rows != last-i {
			t.Fatalf("entry %d has Rows %d, want %d (got %v)", i, e.Rows, last-i, rowsOfEntries(es))
		}
	}
}

func TestRequestLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, RequestLogConfig{SampleRate: 1})
	for i := 1; i <= 10; i++ {
		l.Record(entry("iris", i))
	}
	l.Record(entry("other/model v2", 99))
	got, err := l.Recent("iris", 3)
	if err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, got, 10)
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3", len(got))
	}
	want := entry("iris", 10)
	g := got[0]
	if !g.Time.Equal(want.Time) || g.Version != "3" || g.Target != "champion" || g.Route != "predict" || g.Client != "127.0.0.1" ||
		g.Status != 200 || g.Latency != want.Latency || string(g.Input) != string(want.Input) || string(g.Output) != string(want.Output) {
		t.Fatalf("entry = %+v, want %+v", g, want)
	}
	if es, _ := l.Recent("nope", 10); len(es) != 0 {
		t.Fatalf("unknown model has %d entries", len(es))
	}
	if es, _ := l.Recent("other/model v2", 0); len(es) != 1 || es[0].Rows != 99 {
		t.Fatalf("other model: %v", rowsOfEntries(es))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Recent("iris", 1); err == nil {
		t.Fatal("Recent after Close succeeded")
	}
	l.Record(entry("iris", 11)) // dropped, no panic
	for _, f := range mustReadDir(t, dir) {
		if strings.Contains(f, "/") || strings.Contains(f, " ") {
			t.Fatalf("unsafe file name %q", f)
		}
	}

	l2 := openTestLog(t, dir, RequestLogConfig{SampleRate: 1})
	got, err = l2.Recent("iris", 0)
	if err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, got, 10)
	if len(got) != 10 {
		t.Fatalf("after reopen: %v", rowsOfEntries(got))
	}
	l2.Record(entry("iris", 11))
	got, _ = l2.Recent("iris", 2)
	checkContiguous(t, got, 11)
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range des {
		out = append(out, d.Name())
	}
	return out
}

func TestRequestLogWrapsAround(t *testing.T) {
	dir := t.TempDir()
	cfg := RequestLogConfig{SampleRate: 1, MaxBytes: MinRequestLogBytes}
	l := openTestLog(t, dir, cfg)
	const n = 3000 // about 10 laps of a 64 KiB ring
	for i := 1; i <= n; i++ {
		l.Record(entry("iris", i))
		if i%500 == 0 {
			got, err := l.Recent("iris", 0)
			if err != nil {
				t.Fatal(err)
			}
			checkContiguous(t, got, i)
			if len(got) < 200 {
				t.Fatalf("after %d records only %d kept", i, len(got))
			}
		}
	}
	got, _ := l.Recent("iris", 0)
	kept := len(got)
	st, err := os.Stat(filepath.Join(dir, "iris.reqlog"))
	if err != nil || st.Size() != MinRequestLogBytes {
		t.Fatalf("ring file: %v, size %d", err, st.Size())
	}
	l.Close()
	l2 := openTestLog(t, dir, cfg)
	got, _ = l2.Recent("iris", 0)
	checkContiguous(t, got, n)
	if len(got) != kept {
		t.Fatalf("after reopen %d entries, before %d", len(got), kept)
	}
	if s := l.Stats(); s.Recorded != n || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// ringHeader reads the ring file's header bytes.
func ringHeader(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[:ringHeaderSize]
}

func writeAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestRequestLogCrashRecovery simulates crashes: records written after the
// last checkpoint (the header is stale) are found by rolling forward, and
// a torn record at the head is skipped and then overwritten.
func TestRequestLogCrashRecovery(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrap=%v", wrap), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "iris.reqlog")
			cfg := RequestLogConfig{SampleRate: 1, MaxBytes: MinRequestLogBytes}
			l := openTestLog(t, dir, cfg)
			first := 5
			if wrap {
				first = 560 // about 2 laps; the next 10 records wrap
			}
			for i := 1; i <= first; i++ {
				l.Record(entry("iris", i))
			}
			l.Close()
			stale := ringHeader(t, path)

			l = openTestLog(t, dir, cfg)
			for i := first + 1; i <= first+10; i++ {
				l.Record(entry("iris", i))
			}
			l.Close()
			// The crash: the header still says what it said after `first`.
			writeAt(t, path, stale, 0)
			l = openTestLog(t, dir, cfg)
			got, _ := l.Recent("iris", 0)
			checkContiguous(t, got, first+10)
			l.Close()

			// Tear the newest record (its trailer) and roll back the header again.
			r, err := openRingFile(path, cfg.MaxBytes-ringHeaderSize)
			if err != nil {
				t.Fatal(err)
			}
			head := r.head
			r.f.Close()
			writeAt(t, path, []byte{0xde, 0xad}, ringHeaderSize+head-3)
			writeAt(t, path, stale, 0)
			l = openTestLog(t, dir, cfg)
			got, _ = l.Recent("iris", 0)
			checkContiguous(t, got, first+9)
			// New records overwrite the torn one and continue the sequence.
			l.Record(entry("iris", 1000))
			got, _ = l.Recent("iris", 3)
			if r := rowsOfEntries(got); len(r) != 3 || r[0] != 1000 || r[1] != first+9 || r[2] != first+8 {
				t.Fatalf("after the torn record: %v", r)
			}
		})
	}
}

func TestRequestLogGarbageFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "iris.reqlog"), []byte("not a ring at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, dir, RequestLogConfig{SampleRate: 1})
	if got, err := l.Recent("iris", 0); err != nil || len(got) != 0 {
		t.Fatalf("garbage file: %v %v", rowsOfEntries(got), err)
	}
	l.Record(entry("iris", 1))
	if got, _ := l.Recent("iris", 0); len(got) != 1 {
		t.Fatalf("got %d", len(got))
	}
}

func TestRequestLogResize(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, RequestLogConfig{SampleRate: 1, MaxBytes: 4 * MinRequestLogBytes})
	for i := 1; i <= 1000; i++ {
		l.Record(entry("iris", i))
	}
	l.Close()
	l = openTestLog(t, dir, RequestLogConfig{SampleRate: 1, MaxBytes: MinRequestLogBytes})
	got, _ := l.Recent("iris", 0)
	checkContiguous(t, got, 1000)
	if len(got) < 200 || len(got) > 400 {
		t.Fatalf("kept %d entries after shrinking", len(got))
	}
	l.Record(entry("iris", 1001))
	got, _ = l.Recent("iris", 0)
	checkContiguous(t, got, 1001)
	if st, _ := os.Stat(filepath.Join(dir, "iris.reqlog")); st.Size() != MinRequestLogBytes {
		t.Fatalf("size %d", st.Size())
	}
}

func TestRequestLogSampling(t *testing.T) {
	l := openTestLog(t, t.TempDir(), RequestLogConfig{SampleRate: 0})
	for i := 1; i <= 100; i++ {
		e := entry("iris", i)
		switch i % 10 {
		case 3:
			e.Status = 400
		case 7:
			e.Status, e.Error = 200, "model trap"
		}
		l.Record(e)
	}
	got, _ := l.Recent("iris", 0)
	if len(got) != 20 {
		t.Fatalf("rate 0 kept %d entries, want the 20 failures", len(got))
	}
	for _, e := range got {
		if e.Status != 400 && e.Error == "" {
			t.Fatalf("kept a success: %+v", e)
		}
	}

	l = openTestLog(t, t.TempDir(), RequestLogConfig{SampleRate: 0.25})
	for i := 1; i <= 4000; i++ {
		l.Record(entry("iris", i))
	}
	got, _ = l.Recent("iris", 0)
	if len(got) < 800 || len(got) > 1200 {
		t.Fatalf("rate 0.25 kept %d of 4000", len(got))
	}
	if s := l.Stats(); s.Recorded+s.SampledOut != 4000 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := OpenRequestLog(t.TempDir(), RequestLogConfig{SampleRate: 1.5}); err == nil {
		t.Fatal("sample rate 1.5 accepted")
	}
	if _, err := OpenRequestLog(t.TempDir(), RequestLogConfig{MaxBytes: 1000}); err == nil {
		t.Fatal("a 1000-byte ring accepted")
	}
}

func TestRequestLogDropsWhenFull(t *testing.T) {
	l := openTestLog(t, t.TempDir(), RequestLogConfig{SampleRate: 1})
	set := metrics.NewSet()
	l.RegisterMetrics(set)
	l.mu.Lock() // stalls the writer at its next entry
	for i := range requestLogQueue + 500 {
		l.Record(entry("iris", i))
	}
	l.mu.Unlock()
	s := l.Stats()
	// The writer may have taken one batch (up to 257 entries) off the
	// queue before it stalled.
	if s.Dropped < 500-257 || s.Dropped > 500 {
		t.Fatalf("dropped %d, want about 500", s.Dropped)
	}
	got, _ := l.Recent("iris", 0)
	if uint64(len(got)) != l.Stats().Recorded || len(got) < requestLogQueue {
		t.Fatalf("kept %d, stats %+v", len(got), l.Stats())
	}
	var b strings.Builder
	set.WritePrometheus(&b)
	if !strings.Contains(b.String(), fmt.Sprintf("mlbox_serve_request_log_dropped_total %d", s.Dropped)) {
		t.Fatalf("metrics:\n%s", b.String())
	}
	l.RegisterMetrics(set) // twice on one set: no panic
}

func TestRequestLogLargeEntries(t *testing.T) {
	l := openTestLog(t, t.TempDir(), RequestLogConfig{SampleRate: 1, MaxBytes: MinRequestLogBytes})
	e := entry("iris", 1)
	e.Input = json.RawMessage(`{"data":"` + strings.Repeat("x", 100000) + `"}`)
	e.Output = json.RawMessage(`not json`)
	l.Record(e)
	got, _ := l.Recent("iris", 0)
	if len(got) != 1 || !strings.Contains(string(got[0].Input), "not_stored") || string(got[0].Output) != `"not json"` {
		t.Fatalf("got %+v", got)
	}
}

func TestRequestLogMasking(t *testing.T) {
	dir := t.TempDir()
	cfg := RequestLogConfig{SampleRate: 1, MaskFields: []string{"Email", "ssn"}, HashFields: []string{"user_id"}, DropFields: []string{"notes", "ssn"}}
	l := openTestLog(t, dir, cfg)
	l.SetInputNames("pos", []string{"email", "age", "notes", "user_id"})
	m := l.mask
	h42 := m.hash(json.Number("42"))
	hBob := m.hash("bob")
	if !strings.HasPrefix(h42, "sha256:") || len(h42) != len("sha256:")+16 || h42 == hBob {
		t.Fatalf("hashes %q %q", h42, hBob)
	}
	scenarios := []struct {
		name, model, in, want string
	}{
		{"dataframe_split", "m",
			`{"dataframe_split":{"columns":["email","age","notes","user_id"],"data":[["a@b.c",31,"x",42],["d@e.f",40,"y","bob"]]}}`,
			`{"dataframe_split":{"columns":["email","age","user_id"],"data":[["***",31,"` + h42 + `"],["***",40,"` + hBob + `"]]}}`},
		{"dataframe_records", "m",
			`{"dataframe_records":[{"EMAIL":"a@b.c","age":31,"notes":"x","user_id":42,"ssn":"1"}]}`,
			`{"dataframe_records":[{"EMAIL":"***","age":31,"user_id":"` + h42 + `"}]}`},
		{"instances", "m",
			`{"instances":[{"email":"a@b.c","age":31}],"params":{"notes":1}}`,
			`{"instances":[{"age":31,"email":"***"}],"params":{}}`},
		{"inputs columnar", "m",
			`{"inputs":{"email":["a","b"],"age":[1,2],"user_id":[42,"bob"]}}`,
			`{"inputs":{"age":[1,2],"email":["***","***"],"user_id":["` + h42 + `","` + hBob + `"]}}`},
		{"nested", "m",
			`{"data":{"person":{"email":"x","age":3}}}`,
			`{"data":{"person":{"age":3,"email":"***"}}}`},
		{"positional row", "pos",
			`{"data":["a@b.c",31,"x",42]}`,
			`{"data":["***",31,null,"` + h42 + `"]}`},
		{"positional rows", "pos",
			`{"inputs":[["a@b.c",31,"x",42],["d",1,"y","bob"]]}`,
			`{"inputs":[["***",31,null,"` + h42 + `"],["***",1,null,"` + hBob + `"]]}`},
		{"positional bad shape", "pos",
			`{"inputs":[["a@b.c",31]]}`,
			`{"inputs":["***"]}`},
		{"positional unknown names", "m",
			`{"inputs":[["a@b.c",31,"x",42]]}`,
			`{"inputs":[["a@b.c",31,"x",42]]}`},
		{"split without columns", "pos",
			`{"dataframe_split":{"data":[["a@b.c",31,"x",42]]}}`,
			`{"dataframe_split":{"data":[["***",31,null,"` + h42 + `"]]}}`},
		{"csv", "m",
			`"email,age,notes,user_id\na@b.c,31,x,42\n"`,
			`"email,age,user_id\n***,31,` + h42 + `\n"`},
		{"csv body", "m",
			"email,age\na@b.c,31\n",
			`"email,age\n***,31\n"`},
		{"not json", "m", `email=a@b.c`, string(redacted)},
		{"ragged csv", "m", "email,age\na@b.c\n", string(redacted)},
		{"bad split", "m", `{"dataframe_split":[1,2]}`, string(redacted)},
		{"number", "m", `12.50`, `12.50`},
	}
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := entry(sc.model, i)
			e.Input = json.RawMessage(sc.in)
			l.Record(e)
			got, err := l.Recent(sc.model, 1)
			if err != nil || len(got) != 1 {
				t.Fatalf("Recent: %v %v", got, err)
			}
			if string(got[0].Input) != sc.want {
				t.Fatalf("input\n got %s\nwant %s", got[0].Input, sc.want)
			}
		})
	}
	// Numbers keep their literal form (the JSON is only compacted).
	l2 := openTestLog(t, t.TempDir(), RequestLogConfig{SampleRate: 1})
	e := entry("m", 1)
	e.Input = json.RawMessage(`{"data": [1.000, 2e3]}`)
	l2.Record(e)
	if got, _ := l2.Recent("m", 1); string(got[0].Input) != `{"data":[1.000,2e3]}` {
		t.Fatalf("unmasked input rewritten: %s", got[0].Input)
	}
	// The salt persists per directory and differs between directories.
	l.Close()
	if m2, _ := newMasker(dir, cfg); m2.hash("bob") != hBob {
		t.Fatal("hash changed after reopening the same directory")
	}
	if m3, _ := newMasker(t.TempDir(), cfg); m3.hash("bob") == hBob {
		t.Fatal("two directories share a salt")
	}
}

func FuzzRequestLogMask(f *testing.F) {
	for _, s := range []string{`{"dataframe_split":{"columns":["email"],"data":[["a"]]}}`, `{"dataframe_records":[{"email":1}]}`,
		`{"inputs":[[1,2,3]]}`, `"email\nx"`, `[{"email":[1,{"email":2}]}]`, `{"data":[1,2,3]}`} {
		f.Add(s)
	}
	m, err := newMasker(f.TempDir(), RequestLogConfig{MaskFields: []string{"email"}, HashFields: []string{"b"}, DropFields: []string{"c"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := m.apply(json.RawMessage(in), []string{"email", "b", "c"})
		if len(in) > 0 && !json.Valid(out) {
			t.Fatalf("invalid output %q for %q", out, in)
		}
	})
}

// An entry carries the input names of the version that answered it: a swap
// to a version with other column names between the request and the log's
// writer does not change how the entry is masked.
func TestRequestLogMasksByTheAnsweringVersionsNames(t *testing.T) {
	l := openTestLog(t, t.TempDir(), RequestLogConfig{SampleRate: 1, MaskFields: []string{"email"}})
	l.SetInputNames("m", []string{"age", "email"}) // the version serving now
	e := entry("m", 1)
	e.Input = json.RawMessage(`{"data":["a@b.c",31]}`)
	e.inputNames = []string{"email", "age"} // the version that answered
	l.Record(e)
	got, err := l.Recent("m", 1)
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	if string(got[0].Input) != `{"data":["***",31]}` {
		t.Fatalf("masked by the wrong names: %s", got[0].Input)
	}
}

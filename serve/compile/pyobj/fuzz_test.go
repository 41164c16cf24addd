package pyobj

import (
	"archive/zip"
	"bytes"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fuzzLimits are smaller than the defaults so that each input runs fast.
var fuzzLimits = Limits{MaxBytes: 4 << 20, MaxValues: 1 << 16, MaxDepth: 48, MaxMemo: 1 << 12}

// seedFiles lists this package's test files and the model files of the
// sklearn front end's zoo (serve/compile/sklearn/testdata) ending in ext.
func seedFiles(ext string) []string {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"+ext))
	zoo, _ := filepath.Glob(filepath.Join("..", "sklearn", "testdata", "*", "*", "model"+ext))
	return append(files, zoo...)
}

func addSeeds(f *testing.F, ext string) {
	files := seedFiles(ext)
	if len(files) == 0 {
		f.Fatalf("no %s seeds", ext)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// verify checks a reader's result independently of the reader's own
// checks: no cycles, no deeper than lim.MaxDepth, no more distinct
// containers than lim.MaxValues, and every array consistent and readable
// through its accessors without a panic.
func verify(t *testing.T, v Value, lim Limits) {
	t.Helper()
	lim = lim.withDefaults()
	const inProgress = -1
	height := make(map[any]int)
	var walk func(v Value, depth int) int
	walk = func(v Value, depth int) int {
		if depth > lim.MaxDepth {
			t.Fatalf("result nested deeper than %d", lim.MaxDepth)
		}
		key, ok := nodeKey(v)
		if !ok {
			switch v := v.(type) {
			case nil, bool, int64, float64, string, []byte, *Global, Tuple:
			case *big.Int:
				if v.IsInt64() {
					t.Errorf("*big.Int %v fits int64", v)
				}
			case *DType:
				verifyDType(t, v, 0)
			case *Slice:
				for _, b := range []Value{v.Start, v.Stop, v.Step} {
					if _, ok := b.(int64); !ok && b != nil {
						t.Errorf("slice bound %T", b)
					}
				}
			default:
				t.Fatalf("unexpected value type %T", v)
			}
			return 0
		}
		if h, ok := height[key]; ok {
			if h == inProgress {
				t.Fatal("result has a cycle")
			}
			if depth+h > lim.MaxDepth {
				t.Fatalf("result nested deeper than %d", lim.MaxDepth)
			}
			return h
		}
		height[key] = inProgress
		if len(height) > lim.MaxValues {
			t.Fatalf("more than %d containers", lim.MaxValues)
		}
		if a, ok := v.(*Array); ok {
			verifyArray(t, a)
		}
		if o, ok := v.(*Object); ok && o.Class == nil {
			t.Error("object without a class")
		}
		h := 0
		for i := 0; ; i++ {
			c, more := childAt(v, i)
			if !more {
				break
			}
			h = max(h, walk(c, depth+1))
		}
		height[key] = h + 1
		return h + 1
	}
	walk(v, 0)
}

func verifyDType(t *testing.T, d *DType, depth int) {
	if depth > 64 {
		t.Fatal("dtype nested too deep")
	}
	if d.Size <= 0 {
		t.Errorf("dtype %s of size %d", d, d.Size)
	}
	_ = d.String()
	if err := checkFields(d.Size, d.Fields); err != nil {
		t.Errorf("dtype %s: %v", d, err)
	}
	for _, f := range d.Fields {
		verifyDType(t, f.DType, depth+1)
	}
}

func verifyArray(t *testing.T, a *Array) {
	if a.DType == nil {
		t.Fatal("array without a dtype")
	}
	verifyDType(t, a.DType, 0)
	if _, err := a.check(); err != nil {
		t.Fatalf("inconsistent array: %v", err)
	}
	// The accessors must not panic whatever the dtype.
	a.Float64s()
	a.Int64s()
	a.Strings()
	for _, f := range a.DType.Fields {
		fa, err := a.Field(f.Name)
		if err != nil {
			t.Errorf("field %q: %v", f.Name, err)
			continue
		}
		verifyArray(t, fa)
	}
}

// read runs a reader, failing on a recovered panic.
func read(t *testing.T, f func() (Value, error)) (Value, error) {
	t.Helper()
	before := recovered.Load()
	v, err := f()
	if recovered.Load() != before {
		t.Fatalf("the reader recovered from a panic: %v", err)
	}
	return v, err
}

func FuzzReadPickle(f *testing.F) {
	addSeeds(f, ".pkl")
	f.Add(memoBomb(20))
	f.Add(dupBomb(20))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := read(t, func() (Value, error) { return ReadPickle(data, testAllow, fuzzLimits) })
		if err == nil {
			verify(t, v, fuzzLimits)
		}
	})
}

func FuzzReadNPY(f *testing.F) {
	addSeeds(f, ".npy")
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := read(t, func() (Value, error) { return ReadNPY(data, fuzzLimits) })
		if err == nil {
			verify(t, v, fuzzLimits)
			if int64(len(v.(*Array).Data)) > int64(len(data)) {
				t.Fatal("array data larger than the file")
			}
		}
	})
}

// skopsMembers are the non-schema members of the test skops files, so that
// a fuzzed schema.json can refer to real .npy members.
var skopsMembers = sync.OnceValue(func() map[string][]byte {
	m := make(map[string][]byte)
	files, _ := filepath.Glob(filepath.Join("testdata", "*.skops"))
	for _, name := range files {
		zr, err := zip.OpenReader(name)
		if err != nil {
			panic(err)
		}
		for _, f := range zr.File {
			if f.Name == "schema.json" {
				continue
			}
			rc, _ := f.Open()
			m[f.Name], _ = io.ReadAll(rc)
			rc.Close()
		}
		zr.Close()
	}
	return m
})

// withSchema builds a skops file from a schema and the members of the test
// files.
func withSchema(schema []byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for name, b := range skopsMembers() {
		f, _ := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		f.Write(b)
	}
	f, _ := w.CreateHeader(&zip.FileHeader{Name: "schema.json", Method: zip.Store})
	f.Write(schema)
	w.Close()
	return buf.Bytes()
}

// FuzzReadSkops fuzzes whole skops files, and also each input as the
// schema.json of a file that holds the test files' .npy members (zip
// checksums would stop most mutations of a whole file before the schema).
func FuzzReadSkops(f *testing.F) {
	addSeeds(f, ".skops")
	for _, name := range seedFiles(".skops") {
		zr, err := zip.OpenReader(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if zf.Name == "schema.json" {
				rc, _ := zf.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				f.Add(b)
			}
		}
		zr.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := read(t, func() (Value, error) { return ReadSkops(data, testAllow, fuzzLimits) })
		if err == nil {
			verify(t, v, fuzzLimits)
		}
		if bytes.HasPrefix(data, []byte("{")) {
			v, err := read(t, func() (Value, error) { return ReadSkops(withSchema(data), testAllow, fuzzLimits) })
			if err == nil {
				verify(t, v, fuzzLimits)
			}
		}
	})
}

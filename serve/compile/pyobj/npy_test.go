package pyobj

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func readNPYFile(t *testing.T, name string) *Array {
	t.Helper()
	a, err := ReadNPY(readTestFile(t, name+".npy"), Limits{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

func npyExpect(t *testing.T, e *expectations, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(e.NPY[name], v); err != nil {
		t.Fatal(err)
	}
}

func TestReadNPYFiles(t *testing.T) {
	e := loadExpect(t)

	t.Run("tree_nodes", func(t *testing.T) {
		var want struct {
			Shape           []int
			Itemsize        int
			Names           []string
			Offsets         []int
			LeftChild       []int64   `json:"left_child"`
			Threshold       []float64 `json:"threshold"`
			MissingGoToLeft []int64   `json:"missing_go_to_left"`
		}
		npyExpect(t, e, "tree_nodes", &want)
		a := readNPYFile(t, "tree_nodes")
		if !slices.Equal(a.Shape, want.Shape) || a.DType.Size != want.Itemsize || a.DType.String() != "|V64" {
			t.Fatalf("shape %v dtype %s", a.Shape, a.DType)
		}
		var names []string
		var offsets []int
		for _, f := range a.DType.Fields {
			names = append(names, f.Name)
			offsets = append(offsets, f.Offset)
		}
		if !slices.Equal(names, want.Names) || !slices.Equal(offsets, want.Offsets) {
			t.Errorf("fields %v at %v, want %v at %v", names, offsets, want.Names, want.Offsets)
		}
		lc, err := a.Field("left_child")
		if err != nil {
			t.Fatal(err)
		}
		if got := mustInts(t, lc); !equalInts(got, want.LeftChild) {
			t.Errorf("left_child %v", got)
		}
		th, _ := a.Field("threshold")
		if got := mustFloats(t, th); !equalFloats(got, want.Threshold) {
			t.Errorf("threshold %v", got)
		}
		mg, _ := a.Field("missing_go_to_left")
		if mg.DType.String() != "|u1" {
			t.Errorf("missing_go_to_left dtype %s", mg.DType)
		}
		if got := mustInts(t, mg); !equalInts(got, want.MissingGoToLeft) {
			t.Errorf("missing_go_to_left %v", got)
		}
		if _, err := a.Field("nope"); err == nil {
			t.Error("Field of a missing name succeeded")
		}
		if _, err := a.Float64s(); err == nil {
			t.Error("Float64s of a structured array succeeded")
		}
	})

	t.Run("fortran", func(t *testing.T) {
		var want struct {
			Shape   []int
			Values  []float64
			Fortran bool
		}
		npyExpect(t, e, "fortran", &want)
		a := readNPYFile(t, "fortran")
		if !a.Fortran || !slices.Equal(a.Shape, want.Shape) {
			t.Fatalf("Fortran %v shape %v", a.Fortran, a.Shape)
		}
		if got := mustFloats(t, a); !equalFloats(got, want.Values) {
			t.Errorf("values %v, want %v", got, want.Values)
		}
	})

	t.Run("bigendian", func(t *testing.T) {
		var want struct {
			Shape  []int
			Values []int64
			DType  string
		}
		npyExpect(t, e, "bigendian", &want)
		a := readNPYFile(t, "bigendian")
		if a.DType.String() != want.DType || !a.DType.BigEndian {
			t.Errorf("dtype %s", a.DType)
		}
		if got := mustInts(t, a); !equalInts(got, want.Values) {
			t.Errorf("values %v, want %v", got, want.Values)
		}
		fs := mustFloats(t, a)
		if fs[3] != 400000 || fs[1] != -2 {
			t.Errorf("Float64s %v", fs)
		}
		var wantF struct{ Values []float64 }
		npyExpect(t, e, "bigendian_f8", &wantF)
		if got := mustFloats(t, readNPYFile(t, "bigendian_f8")); !equalFloats(got, wantF.Values) {
			t.Errorf("big-endian f8 %v, want %v", got, wantF.Values)
		}
	})

	t.Run("unicode", func(t *testing.T) {
		var want struct {
			Values []string
			DType  string
		}
		npyExpect(t, e, "unicode", &want)
		a := readNPYFile(t, "unicode")
		got, err := a.Strings()
		if err != nil || !slices.Equal(got, want.Values) || a.DType.String() != want.DType {
			t.Errorf("%q %v %s, want %q %s", got, err, a.DType, want.Values, want.DType)
		}
	})

	t.Run("half_bool_scalar_versions", func(t *testing.T) {
		var half struct{ Values []float64 }
		npyExpect(t, e, "half", &half)
		if got := mustFloats(t, readNPYFile(t, "half")); !equalFloats(got, half.Values) {
			t.Errorf("half %v, want %v", got, half.Values)
		}
		var b struct{ Values []bool }
		npyExpect(t, e, "bool", &b)
		bs := mustInts(t, readNPYFile(t, "bool"))
		for i, v := range b.Values {
			if (bs[i] == 1) != v {
				t.Errorf("bool %v, want %v", bs, b.Values)
			}
		}
		s := readNPYFile(t, "scalar")
		if len(s.Shape) != 0 || s.Len() != 1 || mustFloats(t, s)[0] != 3.25 {
			t.Errorf("scalar %v %v", s.Shape, mustFloats(t, s))
		}
		if got := mustInts(t, readNPYFile(t, "v2")); !equalInts(got, []int64{0, 1, 2, 3}) {
			t.Errorf("v2 %v", got)
		}
		var v3 struct {
			Names []string
			F0    []float64
			F1    []int64
		}
		npyExpect(t, e, "v3", &v3)
		a := readNPYFile(t, "v3")
		f0, err := a.Field(v3.Names[0])
		if err != nil {
			t.Fatal(err)
		}
		f1, err := a.Field(v3.Names[1])
		if err != nil {
			t.Fatal(err)
		}
		if !equalFloats(mustFloats(t, f0), v3.F0) || !equalInts(mustInts(t, f1), v3.F1) {
			t.Errorf("v3 fields %v %v", mustFloats(t, f0), mustInts(t, f1))
		}
	})
}

// npyFile builds an .npy file (format 1.0) with the given header.
func npyFile(header string, data []byte) []byte {
	h := header
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := []byte("\x93NUMPY\x01\x00")
	b = append(b, byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	return append(b, data...)
}

func TestReadNPYMalformed(t *testing.T) {
	ok := npyFile("{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", []byte{1, 0, 2, 0})
	if a, err := ReadNPY(ok, Limits{}); err != nil || !equalInts(mustInts(t, a), []int64{1, 2}) {
		t.Fatalf("well-formed file: %v", err)
	}
	cases := map[string][]byte{
		"object":           npyFile("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)),
		"datetime":         npyFile("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)),
		"short data":       npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 8)),
		"long data":        npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 16)),
		"huge shape":       npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", nil),
		"negative dim":     npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", nil),
		"missing key":      npyFile("{'descr': '<f8', 'shape': (1,), }", make([]byte, 8)),
		"extra key":        npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", make([]byte, 8)),
		"bad literal":      npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), ", make([]byte, 8)),
		"subarray field":   npyFile("{'descr': [('a', '<f8', (2,))], 'fortran_order': False, 'shape': (1,), }", make([]byte, 16)),
		"bad float size":   npyFile("{'descr': '<f3', 'fortran_order': False, 'shape': (1,), }", make([]byte, 3)),
		"deep header":      npyFile("{'descr': "+strings.Repeat("[", 300)+"}", nil),
		"dup field":        npyFile("{'descr': [('a', '<f8'), ('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 16)),
		"version 9":        append([]byte("\x93NUMPY\x09\x00"), ok[8:]...),
		"huge header len":  append([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"), ok[10:]...),
		"header past data": append([]byte("\x93NUMPY\x01\x00\xff\xff"), ok[10:]...),
		"magic":            []byte("\x93NUMPX\x01\x00\x00\x00"),
	}
	for name, b := range cases {
		if _, err := ReadNPY(b, Limits{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

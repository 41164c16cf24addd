package pyobj

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"testing"
)

// zipMember is one member of a test skops file.
type zipMember struct {
	name    string
	data    []byte
	deflate bool
}

// skopsZip builds a skops file from a schema and extra members.
func skopsZip(t testing.TB, schema string, members ...zipMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, m := range append(members, zipMember{name: "schema.json", data: []byte(schema)}) {
		method := zip.Store
		if m.deflate {
			method = zip.Deflate
		}
		f, err := w.CreateHeader(&zip.FileHeader{Name: m.name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Schema node builders.

func jsonNode(content string) string {
	return fmt.Sprintf(`{"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": %q, "is_json": true}`, content)
}

func typeNode(module, class string) string {
	return fmt.Sprintf(`{"__class__": %q, "__module__": %q, "__loader__": "TypeNode"}`, class, module)
}

func listNode(items ...string) string {
	return `{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": [` + strings.Join(items, ", ") + `]}`
}

// dictNode builds a dict with string keys.
func dictNode(kv ...string) string {
	var content, types []string
	for i := 0; i < len(kv); i += 2 {
		content = append(content, fmt.Sprintf("%q: %s", kv[i], kv[i+1]))
		types = append(types, typeNode("builtins", "str"))
	}
	return `{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {` +
		strings.Join(content, ", ") + `}, "key_types": ` + listNode(types...) + `}`
}

func objectNode(module, class, content string) string {
	return fmt.Sprintf(`{"__class__": %q, "__module__": %q, "__loader__": "ObjectNode", "content": %s}`, class, module, content)
}

// root adds the protocol to a root node.
func root(node string) string {
	return strings.TrimSuffix(node, "}") + `, "protocol": 2, "_skops_version": "0.16.0"}`
}

func TestSkopsRefused(t *testing.T) {
	cases := []struct{ schema, want string }{
		{objectNode("os", "system", "null"), "os.system"},
		{objectNode("posix", "system", dictNode()), "posix.system"},
		{objectNode("mymodule", "Evil", "null"), "mymodule.Evil"},
		{objectNode("sklearn.pipeline", "Pipeline", dictNode("steps", objectNode("subprocess", "Popen", "null"))), "subprocess.Popen"},
		{`{"__class__": "eval", "__module__": "builtins", "__loader__": "FunctionNode"}`, "builtins.eval"},
		{`{"__class__": "system", "__module__": "os", "__loader__": "FunctionNode"}`, "os.system"},
		{typeNode("builtins", "type"), "builtins.type"},
		{typeNode("builtins", "object"), "builtins.object"},
		{`{"__class__": "Popen", "__module__": "subprocess", "__loader__": "ConstructorFromReduceNode", "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": []}}`, "subprocess.Popen"},
		{`{"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode", "content": {"func": {"__class__": "exec", "__module__": "builtins", "__loader__": "FunctionNode"}, "args": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": []}, "kwds": ` + dictNode() + `, "namespace": ` + dictNode() + `}}`, "builtins.exec"},
		{`{"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "MethodNode", "content": {"func": "__reduce__", "obj": ` + objectNode("sklearn.pipeline", "Pipeline", "null") + `}}`, "sklearn.pipeline.Pipeline.__reduce__"},
		{`{"__class__": "Generator", "__module__": "os", "__loader__": "RandomGeneratorNode", "content": {}}`, "os.Generator"},
		{`{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"a": ` + jsonNode("1") + `}, "key_types": ` + listNode(typeNode("builtins", "getattr")) + `}`, "builtins.getattr"},
		{objectNode("cloudpickle.cloudpickle", "_make_function", "null"), "cloudpickle.cloudpickle._make_function"},
		{`{"__class__": "system", "__module__": "posix", "__loader__": "NdArrayNode", "type": "numpy", "file": "a.npy"}`, "posix.system"},
	}
	a := zipMember{name: "a.npy", data: npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", make([]byte, 8))}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			_, err := ReadSkops(skopsZip(t, root(c.schema), a), testAllow, Limits{})
			wantRefused(t, err, c.want)
		})
	}
}

func TestSkopsValues(t *testing.T) {
	schema := root(objectNode("sklearn.impute._base", "SimpleImputer", dictNode(
		"nan", jsonNode("NaN"),
		"inf", jsonNode("Infinity"),
		"ninf", jsonNode("-Infinity"),
		"big", jsonNode("123456789012345678901234567890"),
		"float", jsonNode("1e400"),
		"int", jsonNode("-7"),
		"float0", jsonNode("0.0"),
		"str", jsonNode(`"gini\u00e9"`),
		"none", jsonNode("null"),
		"bool", jsonNode("true"),
		"list", jsonNode("[1, NaN, \"x\"]"),
		"slice", `{"__class__": "slice", "__module__": "builtins", "__loader__": "SliceNode", "content": {"start": 1, "stop": null, "step": -2}}`,
		"bytes", `{"__class__": "bytes", "__module__": "builtins", "__loader__": "BytesNode", "file": "b.bin"}`,
		"intkeys", `{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"3": `+jsonNode("1")+`, "1.5": `+jsonNode("2")+`, "x": `+jsonNode("3")+`}, "key_types": `+listNode(typeNode("builtins", "int"), typeNode("numpy", "float64"), typeNode("builtins", "str"))+`}`,
		"shared1", `{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": [], "__id__": 77}`,
		"shared2", `{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": [], "__id__": 77}`,
		"cached", `{"__class__": null, "__module__": null, "__loader__": "CachedNode", "__id__": 77}`,
		"dtype", `{"__class__": "dtype", "__module__": "numpy", "__loader__": "DTypeNode", "content": {"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "d.npy"}}`,
		"scalar", `{"__class__": "int64", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "s.npy"}`,
	)))
	raw := strings.Replace(schema, `"protocol": 2`, `"protocol": 2, "nan_in_schema": NaN`, 1)
	data := skopsZip(t, raw,
		zipMember{name: "b.bin", data: []byte("\x00raw\xff"), deflate: true},
		zipMember{name: "d.npy", data: npyFile("{'descr': '>u2', 'fortran_order': False, 'shape': (0,), }", nil)},
		zipMember{name: "s.npy", data: npyFile("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", []byte{5, 0, 0, 0, 0, 0, 0, 0})},
	)
	v, err := ReadSkops(data, testAllow, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	o := mustObject(t, v, "sklearn.impute._base.SimpleImputer")
	get := func(k string) Value { return mustAttr(t, o, k) }
	if f, ok := get("nan").(float64); !ok || !math.IsNaN(f) {
		t.Errorf("nan %v", get("nan"))
	}
	if get("inf") != math.Inf(1) || get("ninf") != math.Inf(-1) || get("float") != math.Inf(1) {
		t.Errorf("infinities %v %v %v", get("inf"), get("ninf"), get("float"))
	}
	if fmt.Sprint(get("big")) != "123456789012345678901234567890" {
		t.Errorf("big %v", get("big"))
	}
	if get("int") != int64(-7) || get("float0") != 0.0 || get("str") != "ginié" {
		t.Errorf("int %v float0 %T str %q", get("int"), get("float0"), get("str"))
	}
	if get("none") != nil || get("bool") != true {
		t.Errorf("none %v bool %v", get("none"), get("bool"))
	}
	if l := mustList(t, get("list")); len(l) != 3 || l[0] != int64(1) || !math.IsNaN(l[1].(float64)) || l[2] != "x" {
		t.Errorf("list %v", l)
	}
	if s := get("slice").(*Slice); s.Start != int64(1) || s.Stop != nil || s.Step != int64(-2) {
		t.Errorf("slice %+v", s)
	}
	if b := get("bytes").([]byte); string(b) != "\x00raw\xff" {
		t.Errorf("bytes %q", b)
	}
	d := get("intkeys").(*Dict)
	if d.Keys[0] != int64(3) || d.Keys[1] != 1.5 || d.Keys[2] != "x" {
		t.Errorf("intkeys %v", d.Keys)
	}
	if get("shared1") != get("shared2") || get("shared1") != get("cached") {
		t.Error("nodes with one __id__ are not one value")
	}
	if dt := get("dtype").(*DType); dt.String() != ">u2" {
		t.Errorf("dtype %s", dt)
	}
	if s := mustInts(t, get("scalar")); s[0] != 5 {
		t.Errorf("scalar %v", s)
	}
}

// deflated compresses data.
func deflated(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

func TestSkopsZipBombs(t *testing.T) {
	schema := root(objectNode("sklearn.dummy", "DummyClassifier", dictNode(
		"b", `{"__class__": "bytes", "__module__": "builtins", "__loader__": "BytesNode", "file": "bomb.bin"}`)))
	zeros := make([]byte, 64<<20)
	// An honest header: 64 MiB, over the limit given.
	honest := skopsZip(t, schema, zipMember{name: "bomb.bin", data: zeros, deflate: true})
	checkFast(t, 16<<20, func() {
		if _, err := ReadSkops(honest, testAllow, Limits{MaxBytes: 8 << 20}); !errors.Is(err, ErrLimit) {
			t.Errorf("honest bomb: %v", err)
		}
	})
	// A lying header: it declares 1 KiB and inflates to 64 MiB.
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	raw := deflated(t, zeros)
	f, err := w.CreateRaw(&zip.FileHeader{Name: "bomb.bin", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(zeros[:1024]),
		CompressedSize64: uint64(len(raw)), UncompressedSize64: 1024})
	if err != nil {
		t.Fatal(err)
	}
	f.Write(raw)
	s, _ := w.Create("schema.json")
	s.Write([]byte(schema))
	w.Close()
	checkFast(t, 16<<20, func() {
		if _, err := ReadSkops(buf.Bytes(), testAllow, Limits{}); err == nil {
			t.Error("lying bomb: no error")
		}
	})
	// A schema.json that is a bomb itself.
	big := skopsZip(t, root(listNode(strings.Repeat(jsonNode("1")+", ", 200000)+jsonNode("1"))))
	if _, err := ReadSkops(big, testAllow, Limits{MaxValues: 100000}); !errors.Is(err, ErrLimit) {
		t.Errorf("wide schema: %v", err)
	}
}

func TestSkopsDeep(t *testing.T) {
	const n = 10000
	deep := strings.Repeat(`{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": [`, n) +
		strings.Repeat("]}", n)
	checkFast(t, 64<<20, func() {
		if _, err := ReadSkops(skopsZip(t, root(deep)), testAllow, Limits{}); !errors.Is(err, ErrLimit) {
			t.Errorf("deep schema: %v", err)
		}
	})
	raw := strings.Repeat("[", n) + strings.Repeat("]", n)
	checkFast(t, 64<<20, func() {
		if _, err := ReadSkops(skopsZip(t, root(listNode(jsonNode(raw)))), testAllow, Limits{}); !errors.Is(err, ErrLimit) {
			t.Errorf("deep JsonNode: %v", err)
		}
	})
}

func noSchema(t *testing.T) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	w.Create("a.npy")
	w.Close()
	return buf.Bytes()
}

func TestSkopsMalformed(t *testing.T) {
	ok := root(listNode(jsonNode("1")))
	if _, err := ReadSkops(skopsZip(t, ok), testAllow, Limits{}); err != nil {
		t.Fatalf("well-formed: %v", err)
	}
	npy := zipMember{name: "a.npy", data: npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 16))}
	dup := skopsZip(t, ok, zipMember{name: "schema.json", data: []byte(ok)})
	cases := map[string][]byte{
		"not a zip":       []byte("PK\x03\x04 not really"),
		"no schema":       noSchema(t),
		"protocol 3":      skopsZip(t, strings.Replace(ok, `"protocol": 2`, `"protocol": 3`, 1)),
		"protocol true":   skopsZip(t, strings.Replace(ok, `"protocol": 2`, `"protocol": true`, 1)),
		"protocol 1.5":    skopsZip(t, strings.Replace(ok, `"protocol": 2`, `"protocol": 1.5`, 1)),
		"no protocol":     skopsZip(t, listNode(jsonNode("1"))),
		"duplicate key":   skopsZip(t, strings.Replace(ok, `"protocol": 2`, `"protocol": 2, "protocol": 2`, 1)),
		"bad json":        skopsZip(t, ok[:len(ok)-1]),
		"trailing data":   skopsZip(t, ok+"x"),
		"unknown loader":  skopsZip(t, root(`{"__class__": "attrgetter", "__module__": "operator", "__loader__": "OperatorFuncNode", "attrs": []}`)),
		"no loader":       skopsZip(t, root(`{"__class__": "list", "__module__": "builtins", "content": []}`)),
		"unknown cached":  skopsZip(t, root(listNode(`{"__class__": null, "__module__": null, "__loader__": "CachedNode", "__id__": 5}`))),
		"cycle":           skopsZip(t, root(`{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "__id__": 9, "content": [{"__class__": null, "__module__": null, "__loader__": "CachedNode", "__id__": 9}]}`)),
		"missing member":  skopsZip(t, root(`{"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "b.npy"}`), npy),
		"scalar shape":    skopsZip(t, root(`{"__class__": "float64", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "a.npy"}`), npy),
		"object shape":    skopsZip(t, root(`{"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "json", "content": [], "shape": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": [`+jsonNode("2")+`]}}`)),
		"object 2d shape": skopsZip(t, root(`{"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "json", "content": [`+listNode(jsonNode("1"))+`], "shape": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": [`+jsonNode("1")+`, `+jsonNode("2")+`]}}`)),
		"key_types short": skopsZip(t, root(`{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"a": `+jsonNode("1")+`}, "key_types": `+listNode()+`}`)),
		"key not int":     skopsZip(t, root(`{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"a": `+jsonNode("1")+`}, "key_types": `+listNode(typeNode("builtins", "int"))+`}`)),
		"none key type":   skopsZip(t, root(`{"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"null": `+jsonNode("1")+`}, "key_types": `+listNode(typeNode("builtins", "NoneType"))+`}`)),
		"json content":    skopsZip(t, root(`{"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": 3}`)),
		"json bad text":   skopsZip(t, root(jsonNode("nan"))),
		"json long int":   skopsZip(t, root(jsonNode(strings.Repeat("9", 5000)))),
		"lone surrogate":  skopsZip(t, root(jsonNode(`"\ud800"`))),
		"slice float":     skopsZip(t, root(`{"__class__": "slice", "__module__": "builtins", "__loader__": "SliceNode", "content": {"start": 1.5}}`)),
		"dtype node":      skopsZip(t, root(`{"__class__": "dtype", "__module__": "numpy", "__loader__": "DTypeNode", "content": `+jsonNode("1")+`}`)),
		"duplicate names": dup,
		"node not object": skopsZip(t, root(listNode(`[]`))),
		"bad npy":         skopsZip(t, root(`{"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "numpy", "file": "a.npy"}`), zipMember{name: "a.npy", data: []byte("garbage")}),
	}
	for name, b := range cases {
		if _, err := ReadSkops(b, testAllow, Limits{}); err != nil && testing.Verbose() {
			t.Logf("%s: %v", name, err)
		}
		if _, err := ReadSkops(b, testAllow, Limits{}); err == nil {
			t.Errorf("%s: no error", name)
		} else if errors.As(err, new(*RefusedError)) {
			t.Errorf("%s: refused instead of malformed: %v", name, err)
		} else if !strings.HasPrefix(err.Error(), "skops: ") {
			t.Errorf("%s: error %q has no skops: prefix", name, err)
		}
	}
	// Compression method 99.
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.CreateRaw(&zip.FileHeader{Name: "schema.json", Method: 99, CompressedSize64: uint64(len(ok)), UncompressedSize64: uint64(len(ok)), CRC32: crc32.ChecksumIEEE([]byte(ok))})
	f.Write([]byte(ok))
	w.Close()
	if _, err := ReadSkops(buf.Bytes(), testAllow, Limits{}); err == nil {
		t.Error("compression method 99: no error")
	}
}

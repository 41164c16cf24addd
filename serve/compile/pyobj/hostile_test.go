package pyobj

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if n := recovered.Load(); n != 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the readers recovered from %d panics\n", n)
		code = 1
	}
	os.Exit(code)
}

// Helpers that assemble pickles by hand.

// pkl concatenates opcodes (bytes), raw strings and byte slices.
func pkl(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case byte:
			b = append(b, p)
		case int:
			b = append(b, byte(p))
		case rune:
			b = append(b, byte(p))
		case string:
			b = append(b, p...)
		case []byte:
			b = append(b, p...)
		default:
			panic(fmt.Sprintf("pkl: %T", p))
		}
	}
	return b
}

func le32(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
func le64(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }

// sbu is a SHORT_BINUNICODE string.
func sbu(s string) []byte { return pkl(opShortBinunicode, len(s), s) }

// global is a protocol 4 STACK_GLOBAL.
func global(module, name string) []byte { return pkl(sbu(module), sbu(name), opStackGlobal) }

// proto4 wraps a body in PROTO 4 ... STOP.
func proto4(body ...any) []byte { return pkl(append(append([]any{opProto, 4}, body...), opStop)...) }

func wantRefused(t *testing.T, err error, name string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("want a refusal of %s, got %v", name, err)
	}
	if strings.HasSuffix(name, ".") {
		if !strings.HasPrefix(re.Name, name) {
			t.Fatalf("refused %q, want a name under %q", re.Name, name)
		}
	} else if re.Name != name {
		t.Fatalf("refused %q, want %q", re.Name, name)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("message %q does not name %s", err, name)
	}
}

// checkFast runs f and fails if it takes long or allocates much.
func checkFast(t *testing.T, maxAlloc uint64, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if elapsed > 2*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxAlloc {
		t.Errorf("allocated %d bytes", alloc)
	}
}

func TestRefusedFiles(t *testing.T) {
	e := loadExpect(t)
	if len(e.Refused) < 9 {
		t.Fatalf("only %d hostile files", len(e.Refused))
	}
	for file, name := range e.Refused {
		t.Run(file, func(t *testing.T) {
			_, err := ReadPickle(readTestFile(t, file), testAllow, Limits{})
			wantRefused(t, err, name)
		})
	}
}

func TestRefusedGlobals(t *testing.T) {
	cases := []struct{ module, name, want string }{
		{"os", "system", "os.system"},
		{"posix", "system", "posix.system"},
		{"nt", "system", "nt.system"},
		{"os.path", "join", "os.path.join"},
		{"__builtin__", "eval", "builtins.eval"},
		{"builtins", "exec", "builtins.exec"},
		{"builtins", "compile", "builtins.compile"},
		{"builtins", "getattr", "builtins.getattr"},
		{"builtins", "getattr.__call__", "builtins.getattr.__call__"},
		{"builtins", "__import__", "builtins.__import__"},
		{"builtins", "open", "builtins.open"},
		{"builtins", "type", "builtins.type"},
		{"builtins", "object", "builtins.object"},
		{"builtins", "globals", "builtins.globals"},
		{"builtins", "breakpoint", "builtins.breakpoint"},
		{"subprocess", "Popen", "subprocess.Popen"},
		{"subprocess", "check_output", "subprocess.check_output"},
		{"importlib", "import_module", "importlib.import_module"},
		{"types", "FunctionType", "types.FunctionType"},
		{"cloudpickle.cloudpickle", "_make_function", "cloudpickle.cloudpickle._make_function"},
		{"pickle", "loads", "pickle.loads"},
		{"copyreg", "_reconstructor", "copyreg._reconstructor"},
		{"copy_reg", "_reconstructor", "copy_reg._reconstructor"},
		{"functools", "reduce", "functools.reduce"},
		{"operator", "attrgetter", "operator.attrgetter"},
		{"operator", "methodcaller", "operator.methodcaller"},
		{"operator", "itemgetter", "operator.itemgetter"},
		{"runpy", "_run_code", "runpy._run_code"},
		{"code", "interact", "code.interact"},
		{"shutil", "rmtree", "shutil.rmtree"},
		{"socket", "socket", "socket.socket"},
		{"ctypes", "CDLL", "ctypes.CDLL"},
		{"marshal", "loads", "marshal.loads"},
		{"pty", "spawn", "pty.spawn"},
		{"sys", "modules", "sys.modules"},
		{"mymodule", "Evil", "mymodule.Evil"},
		{"numpy", "load", "numpy.load"},
		{"numpy.core.multiarray", "_reconstruct_evil", "numpy._core.multiarray._reconstruct_evil"},
	}
	// Allow everything: the refused names must be refused anyway, except the
	// unknown ones, which a nil Allow refuses.
	allowAll := func(string, string) bool { return true }
	for _, c := range cases {
		allow := allowAll
		if c.module == "mymodule" || c.module == "numpy" || c.module == "numpy.core.multiarray" {
			allow = nil
		}
		t.Run(c.want, func(t *testing.T) {
			// Referencing the global is enough; it is never called.
			_, err := ReadPickle(proto4(global(c.module, c.name), opEmptyTuple, opReduce), allow, Limits{})
			wantRefused(t, err, c.want)
			_, err = ReadPickle(pkl(opProto, 2, 'c', c.module+"\n"+c.name+"\n", opStop), allow, Limits{})
			wantRefused(t, err, c.want)
			_, err = ReadPickle(proto4(global(c.module, c.name), opEmptyTuple, opNewobj), allow, Limits{})
			wantRefused(t, err, c.want)
		})
	}
}

func TestRefusedMessage(t *testing.T) {
	_, err := ReadPickle(pkl(opProto, 2, "cos\nsystem\n", opStop), testAllow, Limits{})
	want := `model file references "os.system" (pickle offset 2), which mlbox does not allow (it only reads scikit-learn models and numpy data)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestHugeClaims(t *testing.T) {
	const huge = 64 << 30
	cases := map[string][]byte{
		"BINBYTES8":   pkl(opProto, 4, opBinbytes8, le64(huge), opStop),
		"BINUNICODE8": pkl(opProto, 4, opBinunicode8, le64(huge), opStop),
		"BYTEARRAY8":  pkl(opProto, 5, opBytearray8, le64(huge), opStop),
		"BINUNICODE":  pkl(opProto, 4, opBinunicode, le32(0xffffffff), opStop),
		"BINBYTES":    pkl(opProto, 4, opBinbytes, le32(0xffffffff), opStop),
		"LONG4":       pkl(opProto, 4, opLong4, le32(0x7fffffff), opStop),
		"LONG4 neg":   pkl(opProto, 4, opLong4, le32(0xffffffff), opStop),
		"LONG4 5000":  pkl(opProto, 4, opLong4, le32(5000), make([]byte, 5000), opStop),
		"FRAME":       pkl(opProto, 4, opFrame, le64(huge), opNone, opStop),
		"max uint64":  pkl(opProto, 4, opBinbytes8, le64(^uint64(0)), opStop),
		"LONG_BINPUT": pkl(opProto, 4, opNone, opLongBinput, le32(0xffffffff), opLongBinget, le32(0xfffffffe), opStop),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			checkFast(t, 64<<20, func() {
				if _, err := ReadPickle(b, testAllow, Limits{}); err == nil {
					t.Error("no error")
				}
			})
		})
	}
}

// memoBomb builds lists L_i = [L_{i-1}, L_{i-1}] through the memo: 2^n
// logical leaves from a few bytes per level.
func memoBomb(n int) []byte {
	b := pkl(opProto, 4, opEmptyList, opMemoize)
	for i := 1; i <= n; i++ {
		b = append(b, pkl(opEmptyList, opMark, opLongBinget, le32(uint32(i-1)), opLongBinget, le32(uint32(i-1)), opAppends, opMemoize)...)
		b = append(b, opPop)
	}
	return append(b, pkl(opLongBinget, le32(uint32(n)), opStop)...)
}

// dupBomb builds tuples T_i = (T_{i-1}, T_{i-1}) with DUP.
func dupBomb(n int) []byte {
	b := pkl(opProto, 4, opNone)
	for range n {
		b = append(b, opDup, opTuple2)
	}
	return append(b, opStop)
}

func TestBombs(t *testing.T) {
	checkFast(t, 16<<20, func() {
		v, err := ReadPickle(memoBomb(60), testAllow, Limits{})
		if err != nil {
			t.Fatalf("memo bomb of depth 60: %v", err)
		}
		// Shared, not expanded.
		l := v.(*List)
		if len(l.Items) != 2 || l.Items[0] != l.Items[1] {
			t.Errorf("memo bomb root %v", l.Items)
		}
	})
	checkFast(t, 16<<20, func() {
		if _, err := ReadPickle(dupBomb(60), testAllow, Limits{}); err != nil {
			t.Fatalf("DUP bomb of depth 60: %v", err)
		}
	})
	// Deeper than MaxDepth: refused, still fast.
	for name, b := range map[string][]byte{"memo": memoBomb(5000), "dup": dupBomb(5000)} {
		checkFast(t, 64<<20, func() {
			if _, err := ReadPickle(b, testAllow, Limits{}); !errors.Is(err, ErrLimit) {
				t.Errorf("%s bomb of depth 5000: %v", name, err)
			}
		})
	}
	// A memo bomb that materialises copies through BUILD merges and set
	// construction hits MaxValues.
	b := pkl(opProto, 4, opEmptyDict, opMemoize)
	for i := range 1000 {
		b = append(b, pkl(opMark, opBinint, le32(uint32(i)), opNone, opSetitems)...)
	}
	b = append(b, opPop)
	for range 100000 {
		b = append(b, pkl(global("sklearn.pipeline", "Pipeline"), opEmptyTuple, opNewobj, opBinget, 0, opBuild, opPop)...)
	}
	b = append(b, opNone, opStop)
	checkFast(t, 256<<20, func() {
		if _, err := ReadPickle(b, testAllow, Limits{MaxValues: 1_000_000}); !errors.Is(err, ErrLimit) {
			t.Errorf("BUILD bomb: %v", err)
		}
	})
}

func TestDeepNesting(t *testing.T) {
	const n = 100_000
	lists := pkl(opProto, 4)
	for range n {
		lists = append(lists, opEmptyList)
	}
	for range n - 1 {
		lists = append(lists, opAppend)
	}
	lists = append(lists, opStop)

	marks := pkl(opProto, 4, []byte(strings.Repeat("(", n)), opStop)

	tuples := pkl(opProto, 4, opNone)
	for range n {
		tuples = append(tuples, opTuple1)
	}
	tuples = append(tuples, opStop)

	dicts := pkl(opProto, 4)
	for range n {
		dicts = append(dicts, opEmptyDict, opBinint1, 0)
	}
	dicts = append(dicts, opNone)
	for range n {
		dicts = append(dicts, opSetitem)
	}
	dicts = append(dicts, opStop)

	for name, b := range map[string][]byte{"lists": lists, "marks": marks, "tuples": tuples, "dicts": dicts} {
		t.Run(name, func(t *testing.T) {
			checkFast(t, 256<<20, func() {
				if _, err := ReadPickle(b, testAllow, Limits{}); !errors.Is(err, ErrLimit) {
					t.Errorf("got %v, want a MaxDepth error", err)
				}
			})
		})
	}
}

func TestCycles(t *testing.T) {
	cases := map[string][]byte{
		"list":   proto4(opEmptyList, opMemoize, opBinget, 0, opAppend),
		"dict":   proto4(opEmptyDict, opMemoize, sbu("self"), opBinget, 0, opSetitem),
		"set":    proto4(opEmptyList, opMemoize, opEmptySet, opMark, opBinget, 0, opTuple1, opAdditems, opAppend),
		"tuple":  proto4(opEmptyList, opMemoize, opBinget, 0, opTuple1, opAppend),
		"object": proto4(global("sklearn.pipeline", "Pipeline"), opEmptyTuple, opNewobj, opMemoize, opEmptyDict, sbu("steps"), opBinget, 0, opSetitem, opBuild),
		"deep": proto4(opEmptyList, opMemoize, opEmptyList, opEmptyList, opEmptyList, opBinget, 0,
			opAppend, opAppend, opAppend, opAppend),
	}
	for name, b := range cases {
		if _, err := ReadPickle(b, testAllow, Limits{}); err == nil || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("%s: got %v, want a cycle error", name, err)
		}
	}
	// Sharing without a cycle is fine.
	v, err := ReadPickle(proto4(opEmptyList, opMemoize, opPop, opMark, opBinget, 0, opBinget, 0, opTuple), testAllow, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if tup := v.(Tuple); tup[0] != tup[1] {
		t.Error("shared list was copied")
	}
}

func TestRefusedOpcodes(t *testing.T) {
	cases := map[string][]byte{
		"PERSID":          pkl(opProto, 4, 'P', "1\n", opStop),
		"BINPERSID":       proto4(opNone, 'Q'),
		"EXT1":            proto4(0x82, 1),
		"EXT2":            proto4(0x83, 1, 0),
		"EXT4":            proto4(0x84, le32(1)),
		"INST":            pkl(opProto, 4, opMark, 'i', "os\nsystem\n", opStop),
		"OBJ":             proto4(opMark, global("sklearn.pipeline", "Pipeline"), 'o'),
		"NEXT_BUFFER":     pkl(opProto, 5, 0x97, opStop),
		"READONLY_BUFFER": pkl(opProto, 5, opNone, 0x98, opStop),
		"INT":             pkl('I', "1\n", opStop),
		"STRING":          pkl('S', "'a'\n", opStop),
		"BINSTRING":       pkl(opProto, 2, 'T', le32(1), "a", opStop),
		"GET":             pkl(opNone, 'p', "0\n", 'g', "0\n", opStop),
		"unknown":         proto4(0xff),
		"protocol 6":      pkl(opProto, 6, opNone, opStop),
		"protocol 1":      pkl(opProto, 1, opNone, opStop),
	}
	for name, b := range cases {
		if _, err := ReadPickle(b, testAllow, Limits{}); err == nil {
			t.Errorf("%s: no error", name)
		} else if errors.As(err, new(*RefusedError)) && name != "INST" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestMalformedPickles(t *testing.T) {
	dt := pkl(global("numpy", "dtype"), sbu("f8"), opNewfalse, opNewtrue, opTuple3, opReduce)
	dtState := pkl(opMark, opBinint1, 3, sbu("<"), opNone, opNone, opNone, opBinint, le32(0xffffffff), opBinint, le32(0xffffffff), opBinint1, 0, opTuple, opBuild)
	recon := pkl(global("numpy._core.multiarray", "_reconstruct"), global("numpy", "ndarray"), opBinint1, 0, opTuple1, sbu("b"), opTuple3, opReduce)
	arrState := func(shape, data []byte) []byte {
		return pkl(opMark, opBinint1, 1, shape, dt, dtState, opNewfalse, data, opTuple, opBuild)
	}
	ok := proto4(recon, arrState(pkl(opBinint1, 2, opTuple1), pkl(opShortBinbytes, 16, make([]byte, 16))))
	if v, err := ReadPickle(ok, testAllow, Limits{}); err != nil || mustArray(t, v).Len() != 2 {
		t.Fatalf("well-formed array: %v", err)
	}
	cases := map[string][]byte{
		"empty":               nil,
		"no STOP":             pkl(opProto, 4, opNone),
		"empty stack at STOP": pkl(opProto, 4, opStop),
		"underflow":           proto4(opTuple2),
		"underflow at mark":   proto4(opNone, opMark, opTuple1),
		"no mark":             proto4(opTuple),
		"memo miss":           proto4(opBinget, 7),
		"put on empty":        proto4(opMemoize, opNone),
		"append to dict":      proto4(opEmptyDict, opNone, opAppend),
		"setitem on list":     proto4(opEmptyList, opNone, opNone, opSetitem),
		"odd dict":            proto4(opMark, opNone, opDict),
		"unhashable key":      proto4(opEmptyDict, opEmptyList, opNone, opSetitem),
		"reduce non-global":   proto4(opNone, opEmptyTuple, opReduce),
		"reduce non-tuple":    proto4(global("sklearn.pipeline", "Pipeline"), opNone, opReduce),
		"build on list":       proto4(opEmptyList, opEmptyDict, opBuild),
		"build on int":        proto4(opBinint1, 1, opEmptyDict, opBuild),
		"array without BUILD": proto4(recon),
		"array built twice": proto4(recon, arrState(pkl(opBinint1, 2, opTuple1), pkl(opShortBinbytes, 16, make([]byte, 16))),
			arrState(pkl(opBinint1, 2, opTuple1), pkl(opShortBinbytes, 16, make([]byte, 16)))),
		"array short data":     proto4(recon, arrState(pkl(opBinint1, 3, opTuple1), pkl(opShortBinbytes, 16, make([]byte, 16)))),
		"array negative dim":   proto4(recon, arrState(pkl(opBinint, le32(0xffffffff), opTuple1), pkl(opShortBinbytes, 0))),
		"array overflow shape": proto4(recon, arrState(pkl(opMark, opBinint, le32(0x7fffffff), opDup, opDup, opDup, opDup, opTuple), pkl(opShortBinbytes, 0))),
		"array list data":      proto4(recon, arrState(pkl(opBinint1, 2, opTuple1), pkl(opEmptyList))),
		"dtype before state":   proto4(global("numpy._core.multiarray", "scalar"), dt, pkl(opShortBinbytes, 8, make([]byte, 8)), opTuple2, opReduce),
		"dtype bad kind":       proto4(global("numpy", "dtype"), sbu("q8"), opTuple1, opReduce),
		"dtype datetime":       proto4(global("numpy", "dtype"), sbu("M8"), opTuple1, opReduce),
		"dtype f3":             proto4(global("numpy", "dtype"), sbu("f3"), opTuple1, opReduce),
		"scalar wrong size":    proto4(global("numpy._core.multiarray", "scalar"), dt, dtState, pkl(opShortBinbytes, 4, make([]byte, 4)), opTuple2, opReduce),
		"frombuffer order":     proto4(global("numpy._core.numeric", "_frombuffer"), opMark, pkl(opShortBinbytes, 8, make([]byte, 8)), dt, dtState, opBinint1, 1, opTuple1, sbu("K"), opTuple, opReduce),
		"frombuffer size":      proto4(global("numpy._core.numeric", "_frombuffer"), opMark, pkl(opShortBinbytes, 8, make([]byte, 8)), dt, dtState, opBinint1, 2, opTuple1, sbu("C"), opTuple, opReduce),
		"reconstruct matrix":   proto4(global("numpy._core.multiarray", "_reconstruct"), global("sklearn.pipeline", "Pipeline"), opBinint1, 0, opTuple1, sbu("b"), opTuple3, opReduce),
		"call type token":      proto4(global("numpy", "float64"), opEmptyTuple, opReduce),
		"newobj of ndarray":    proto4(global("numpy", "ndarray"), opEmptyTuple, opNewobj),
		"encode utf8":          proto4(global("_codecs", "encode"), sbu("a"), sbu("utf-8"), opTuple2, opReduce),
		"encode non-latin1":    proto4(global("_codecs", "encode"), sbu("€"), sbu("latin1"), opTuple2, opReduce),
		"slice of str":         proto4(global("builtins", "slice"), sbu("a"), opTuple1, opReduce),
		"bytes of int":         proto4(global("builtins", "bytes"), opBinint, le32(1<<30), opTuple1, opReduce),
		"bad utf8":             proto4(opShortBinunicode, 2, "\xff\xfe"),
		"stack global ints":    proto4(opBinint1, 1, opBinint1, 2, opStackGlobal),
		"global no newline":    pkl(opProto, 2, 'c', "os"),
		"global empty name":    pkl(opProto, 2, 'c', "\n\n", opStop),
		"global space":         pkl(opProto, 2, 'c', "sklearn.pipeline\nPipe line\n", opStop),
	}
	for name, b := range cases {
		_, err := ReadPickle(b, testAllow, Limits{})
		if testing.Verbose() {
			t.Logf("%s: %v", name, err)
		}
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if errors.As(err, new(*RefusedError)) {
			t.Errorf("%s: refused instead of malformed: %v", name, err)
		}
		if !strings.HasPrefix(err.Error(), "pickle: ") {
			t.Errorf("%s: error %q has no pickle: prefix", name, err)
		}
	}
}

func TestLimits(t *testing.T) {
	data := readTestFile(t, "rf3_p4.pkl")
	for name, lim := range map[string]Limits{
		"MaxValues": {MaxValues: 100},
		"MaxBytes":  {MaxBytes: 1000},
		"MaxDepth":  {MaxDepth: 3},
		"MaxMemo":   {MaxMemo: 10},
	} {
		if _, err := ReadPickle(data, testAllow, lim); !errors.Is(err, ErrLimit) {
			t.Errorf("pickle %s: got %v, want ErrLimit", name, err)
		}
	}
	skops := readTestFile(t, "rf3.skops")
	for name, lim := range map[string]Limits{
		"MaxValues": {MaxValues: 100},
		"MaxBytes":  {MaxBytes: 1000},
		"MaxDepth":  {MaxDepth: 3},
	} {
		if _, err := ReadSkops(skops, testAllow, lim); !errors.Is(err, ErrLimit) {
			t.Errorf("skops %s: got %v, want ErrLimit", name, err)
		}
	}
	if _, err := ReadNPY(readTestFile(t, "tree_nodes.npy"), Limits{MaxBytes: 100}); !errors.Is(err, ErrLimit) {
		t.Errorf("npy MaxBytes: got %v, want ErrLimit", err)
	}
}

// mutations returns truncated and bit-flipped copies of data: every
// truncation in the first and last 512 bytes and about 2,000 in between,
// and about 1,500 flips spread over the file.
func mutations(data []byte) (truncated, flipped [][]byte) {
	stride := max(1, len(data)/2000)
	for n := 0; n < len(data); n++ {
		if n < 512 || n >= len(data)-512 || n%stride == 0 {
			truncated = append(truncated, data[:n])
		}
	}
	step := max(1, len(data)/500)
	for i := 0; i < len(data); i += step {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := []byte(string(data))
			b[i] ^= mask
			flipped = append(flipped, b)
		}
	}
	return truncated, flipped
}

func TestMutatedFiles(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		var read func([]byte) (Value, error)
		switch {
		case strings.HasSuffix(name, ".pkl"):
			read = func(b []byte) (Value, error) { return ReadPickle(b, testAllow, Limits{}) }
		case strings.HasSuffix(name, ".skops"):
			read = func(b []byte) (Value, error) { return ReadSkops(b, testAllow, Limits{}) }
		case strings.HasSuffix(name, ".npy"):
			read = func(b []byte) (Value, error) { return ReadNPY(b, Limits{}) }
		default:
			continue
		}
		t.Run(name, func(t *testing.T) {
			truncated, flipped := mutations(readTestFile(t, name))
			if testing.Short() {
				truncated, flipped = truncated[:min(len(truncated), 200)], flipped[:min(len(flipped), 200)]
			}
			for _, b := range truncated {
				if _, err := read(b); err == nil {
					t.Errorf("truncated to %d bytes: no error", len(b))
				}
			}
			for _, b := range flipped {
				read(b) // must not panic; the count of recoveries is checked in TestMain
			}
		})
	}
}

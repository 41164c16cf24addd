package pyobj

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Allow says whether a global may be referenced. The readers handle the
// numpy and builtin globals they understand themselves (they build Arrays,
// DTypes, Slices, bytes and sets from them, and accept numpy.ndarray, the
// numpy scalar types and the builtin primitive and container types as type
// tokens), so Allow is only asked about everything else. A nil Allow
// refuses everything else. Names are normalised before the call (see
// Global).
type Allow func(module, name string) bool

// RefusedError reports a global, class or type that the file names and that
// may not be used.
type RefusedError struct {
	Name  string // "module.name", normalised
	Where string // where the file names it, e.g. "pickle offset 12" or "skops ObjectNode"
}

// Error names the global and says why the file is refused.
func (e *RefusedError) Error() string {
	where := ""
	if e.Where != "" {
		where = " (" + e.Where + ")"
	}
	return fmt.Sprintf("model file references %q%s, which mlbox does not allow (it only reads scikit-learn models and numpy data)", e.Name, where)
}

// normalise maps the numpy 1.x and Python 2 spellings of a module to the
// ones numpy 2 and Python 3 use.
func normalise(module string) string {
	switch {
	case module == "__builtin__":
		return "builtins"
	case module == "numpy.core":
		return "numpy._core"
	case strings.HasPrefix(module, "numpy.core."):
		return "numpy._core." + module[len("numpy.core."):]
	}
	return module
}

// deniedModules are refused with everything under them, whatever Allow says.
var deniedModules = []string{
	"os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess",
	"sys", "importlib", "types", "cloudpickle", "pickle", "_pickle", "copyreg",
	"copy_reg", "runpy", "code", "codeop", "shutil", "socket", "ctypes",
	"_ctypes", "marshal", "pty", "multiprocessing", "threading", "_thread",
	"signal", "io", "_io", "pdb", "timeit", "webbrowser", "asyncio",
}

// deniedNames are single names refused whatever Allow says.
var deniedNames = map[string]bool{
	"builtins.eval": true, "builtins.exec": true, "builtins.compile": true,
	"builtins.getattr": true, "builtins.setattr": true, "builtins.delattr": true,
	"builtins.__import__": true, "builtins.open": true, "builtins.type": true,
	"builtins.object": true, "builtins.globals": true, "builtins.locals": true,
	"builtins.vars": true, "builtins.input": true, "builtins.breakpoint": true,
	"builtins.exit": true, "builtins.quit": true, "builtins.help": true,
	"builtins.memoryview": true, "builtins.super": true, "builtins.classmethod": true,
	"builtins.staticmethod": true, "builtins.property": true,
	"functools.reduce": true, "operator.attrgetter": true,
	"operator.methodcaller": true, "operator.itemgetter": true,
}

// denied reports whether module.name is refused whatever Allow says.
func denied(module, name string) bool {
	for _, m := range deniedModules {
		if module == m || strings.HasPrefix(module, m+".") {
			return true
		}
	}
	// A dotted name is an attribute path: builtins.getattr.__call__ is as
	// bad as builtins.getattr.
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	return deniedNames[module+"."+name]
}

// validName checks a module or attribute name taken from a file.
func validName(s string) bool {
	if s == "" || len(s) > 512 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".") && !strings.Contains(s, "..")
}

// Globals the readers interpret themselves.
const (
	gReconstruct = "numpy._core.multiarray._reconstruct"
	gScalar      = "numpy._core.multiarray.scalar"
	gFrombuffer  = "numpy._core.numeric._frombuffer"
	gDType       = "numpy.dtype"
	gNDArray     = "numpy.ndarray"
	gSlice       = "builtins.slice"
	gEncode      = "_codecs.encode"
	gBytes       = "builtins.bytes"
	gBytearray   = "builtins.bytearray"
	gSet         = "builtins.set"
	gFrozenset   = "builtins.frozenset"
)

// handled are the callables a pickle may REDUCE without asking Allow.
var handled = map[string]bool{
	gReconstruct: true, gScalar: true, gFrombuffer: true, gDType: true,
	gSlice: true, gEncode: true, gBytes: true, gBytearray: true, gSet: true,
	gFrozenset: true,
}

// numpyScalars maps numpy scalar type names to their kind and itemsize
// (0: any size).
var numpyScalars = map[string]struct {
	kind byte
	size int
}{
	"bool": {'b', 1}, "bool_": {'b', 1},
	"float16": {'f', 2}, "float32": {'f', 4}, "float64": {'f', 8},
	"half": {'f', 2}, "single": {'f', 4}, "double": {'f', 8},
	"int8": {'i', 1}, "int16": {'i', 2}, "int32": {'i', 4}, "int64": {'i', 8},
	"uint8": {'u', 1}, "uint16": {'u', 2}, "uint32": {'u', 4}, "uint64": {'u', 8},
	"byte": {'i', 1}, "ubyte": {'u', 1}, "short": {'i', 2}, "ushort": {'u', 2},
	"intc": {'i', 4}, "uintc": {'u', 4}, "longlong": {'i', 8}, "ulonglong": {'u', 8},
	"intp": {'i', 8}, "uintp": {'u', 8}, "long": {'i', 8}, "ulong": {'u', 8},
	"str_": {'U', 0}, "bytes_": {'S', 0}, "void": {'V', 0}, "object_": {'O', 8},
}

// builtinTypes are the builtin primitive and container types, accepted as
// type tokens without asking Allow.
var builtinTypes = map[string]bool{
	"int": true, "float": true, "str": true, "bool": true, "bytes": true,
	"bytearray": true, "complex": true, "list": true, "tuple": true, "dict": true,
	"set": true, "frozenset": true, "NoneType": true, "slice": true, "range": true,
}

// typeToken reports whether module.name is a type the readers accept as a
// bare value without asking Allow.
func typeToken(module, name string) bool {
	switch module {
	case "numpy":
		_, ok := numpyScalars[name]
		return ok || name == "ndarray" || name == "dtype"
	case "builtins":
		return builtinTypes[name]
	}
	return false
}

// globals resolves the globals a file names, checking them once each.
type globals struct {
	allow Allow
	seen  map[string]*Global
}

// resolve normalises module.name and checks it: the refused names first,
// then the ones the readers handle, then Allow.
func (gs *globals) resolve(module, name, where string) (*Global, error) {
	if !validName(module) || !validName(name) {
		return nil, fmt.Errorf("malformed global name %q", module+"."+name)
	}
	module = normalise(module)
	full := module + "." + name
	if g, ok := gs.seen[full]; ok {
		return g, nil
	}
	if denied(module, name) {
		return nil, &RefusedError{Name: full, Where: where}
	}
	if !handled[full] && !typeToken(module, name) && (gs.allow == nil || !gs.allow(module, name)) {
		return nil, &RefusedError{Name: full, Where: where}
	}
	if gs.seen == nil {
		gs.seen = make(map[string]*Global)
	}
	g := &Global{Module: module, Name: name}
	gs.seen[full] = g
	return g, nil
}

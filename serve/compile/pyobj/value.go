// Package pyobj reads the files that scikit-learn models are saved in —
// Python pickles (protocols 2 to 5), skops zip files and numpy .npy files —
// into a small tree of plain Go values.
//
// Model files are hostile input. The readers never import or call anything:
// a pickle is interpreted opcode by opcode, and every global it names must be
// one the reader handles itself (numpy arrays, dtypes and scalars, slices,
// bytes, sets) or one the caller's Allow function accepts; anything else is a
// *RefusedError. Every length a file states is checked against the bytes
// that are left before anything is allocated, and Limits bound the total
// size, the number of values, the memo and the nesting depth. The result is
// always an acyclic graph (shared references are kept, not copied).
package pyobj

import (
	"math/big"
	"strconv"
)

// A Value is one of: nil (None), bool, int64, *big.Int (only when the
// number does not fit int64), float64, string, []byte (bytes and
// bytearray), Tuple, *List, *Dict, *Set (set and frozenset), *Object,
// *Global, *Array, *DType, *Slice.
//
// Values read from a file may be shared: the same *List or *Array can be
// reachable along several paths. Treat them as read-only.
type Value = any

// Tuple is a Python tuple.
type Tuple []Value

// List is a Python list.
type List struct{ Items []Value }

// Set is a Python set or frozenset.
type Set struct{ Items []Value }

// Dict is a Python dict. It keeps insertion order. Keys are hashable values
// (string, int64, float64, bool, nil, Tuple, *Global, ...); the readers never
// produce two equal string or number keys.
type Dict struct{ Keys, Values []Value }

// Get returns the value stored under the string key.
func (d *Dict) Get(key string) (Value, bool) {
	if d == nil {
		return nil, false
	}
	for i, k := range d.Keys {
		if s, ok := k.(string); ok && s == key && i < len(d.Values) {
			return d.Values[i], true
		}
	}
	return nil, false
}

// Len returns the number of entries.
func (d *Dict) Len() int {
	if d == nil {
		return 0
	}
	return len(d.Keys)
}

// Global is a reference to a module-level name used as a value: a type token
// such as numpy.float64, or a function reference such as numpy.log1p. The
// names are normalised: numpy.core.* is spelt numpy._core.*, and
// __builtin__ is spelt builtins.
type Global struct{ Module, Name string }

// String returns "module.name".
func (g *Global) String() string { return g.Module + "." + g.Name }

// Object is an instance of an allowed class. In a pickle it is built by
// NEWOBJ or NEWOBJ_EX (cls.__new__(cls, *Args), with NEWOBJ_EX keyword
// arguments kept as one trailing *Dict when there are any) or by REDUCE of an
// allowed callable (Args are the call's arguments), and then optionally
// given State by BUILD. State is usually the attribute *Dict: BUILD merges
// dicts and (dict, slotstate) pairs into one *Dict; any other BUILD state is
// kept as it is. In skops files, ObjectNode, TreeNode, LossNode,
// ConstructorFromReduceNode, RandomStateNode, RandomGeneratorNode,
// PartialNode and MethodNode become Objects.
type Object struct {
	Class *Global
	Args  []Value
	State Value
	// Items are the entries of an instance of a dict subclass (such as
	// scikit-learn's Bunch), set by SETITEM(S) in a pickle; nil otherwise.
	Items *Dict
}

// Attr returns the attribute name from the object's State dict.
func (o *Object) Attr(name string) (Value, bool) {
	if o == nil {
		return nil, false
	}
	d, ok := o.State.(*Dict)
	if !ok {
		return nil, false
	}
	return d.Get(name)
}

// Slice is a Python slice object. Each field is nil or int64.
type Slice struct{ Start, Stop, Step Value }

// bigOrInt returns n as int64 when it fits, else as *big.Int.
func bigOrInt(n *big.Int) Value {
	if n.IsInt64() {
		return n.Int64()
	}
	return n
}

// typeName describes a value's type for error messages.
func typeName(v Value) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case Tuple:
		return "tuple of " + strconv.Itoa(len(v))
	case *List:
		return "list"
	case *Dict:
		return "dict"
	case *Set:
		return "set"
	case *Object:
		if v.Class != nil {
			return v.Class.String() + " object"
		}
		return "object"
	case *Global:
		return v.String()
	case *Array:
		return "ndarray"
	case *DType:
		return "dtype"
	case *Slice:
		return "slice"
	}
	return "unknown value"
}

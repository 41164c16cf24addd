// Package onnx reads ONNX models (onnx-ml.proto, the protobuf wire format)
// into small Go structs: the front end of the compiler for models logged
// with mlflow.onnx. The reader is hand-written on protowire: only the
// fields a compiler needs, packed and unpacked repeated scalars both
// accepted, unknown fields skipped by wire type, tensors in typed fields,
// raw_data or external data files confined to the model's directory.
//
// A model file is hostile input: reading one never panics, never executes
// anything and allocates at most a small multiple of the input's size.
package onnx

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// DataType is TensorProto.DataType.
type DataType int32

// The tensor element types the compiler meets.
const (
	Float   DataType = 1
	Uint8   DataType = 2
	Int8    DataType = 3
	Uint16  DataType = 4
	Int16   DataType = 5
	Int32   DataType = 6
	Int64   DataType = 7
	String  DataType = 8
	Bool    DataType = 9
	Float16 DataType = 10
	Double  DataType = 11
	Uint32  DataType = 12
	Uint64  DataType = 13
)

var typeNames = map[DataType]string{Float: "float", Uint8: "uint8", Int8: "int8", Uint16: "uint16", Int16: "int16",
	Int32: "int32", Int64: "int64", String: "string", Bool: "bool", Float16: "float16", Double: "double",
	Uint32: "uint32", Uint64: "uint64"}

func (t DataType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "type" + strconv.Itoa(int(t))
}

// elemSize is the bytes of one element in raw_data (0: not fixed-size).
func (t DataType) elemSize() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// Model is ModelProto.
type Model struct {
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	// Opsets maps an operator set domain ("" is ai.onnx) to its version.
	// Producers sometimes list one twice; the highest version is kept.
	Opsets map[string]int64
	Graph  *Graph
}

// Graph is GraphProto.
type Graph struct {
	Name         string
	Nodes        []*Node
	Initializers []*Tensor
	Inputs       []*ValueInfo
	Outputs      []*ValueInfo
	ValueInfo    []*ValueInfo
}

// Node is NodeProto.
type Node struct {
	Inputs  []string
	Outputs []string
	Name    string
	OpType  string
	Domain  string
	Attrs   []*Attribute
}

// Attr returns the node's attribute of that name, or nil.
func (n *Node) Attr(name string) *Attribute {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// AttrType is AttributeProto.AttributeType.
type AttrType int32

// Attribute types.
const (
	AttrFloat   AttrType = 1
	AttrInt     AttrType = 2
	AttrString  AttrType = 3
	AttrTensor  AttrType = 4
	AttrGraph   AttrType = 5
	AttrFloats  AttrType = 6
	AttrInts    AttrType = 7
	AttrStrings AttrType = 8
	AttrTensors AttrType = 9
	AttrGraphs  AttrType = 10
)

// Attribute is AttributeProto.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       []byte
	T       *Tensor
	G       *Graph
	Floats  []float32
	Ints    []int64
	Strings [][]byte
	Tensors []*Tensor
	Graphs  []*Graph
}

// Tensor is TensorProto. Its data is in exactly one of the typed slices,
// Raw (little-endian), or an external file (External, read by Load into Raw).
type Tensor struct {
	Name     string
	Dims     []int64
	DataType DataType
	Floats   []float32 // float_data
	Int32s   []int32   // int32_data (also int8/16, uint8/16, bool, float16 bits)
	Strings  [][]byte  // string_data
	Int64s   []int64   // int64_data
	Raw      []byte    // raw_data
	Doubles  []float64 // double_data
	Uint64s  []uint64  // uint64_data (also uint32)
	External map[string]string
	// DataLocation is 1 (EXTERNAL) for a tensor whose data is in a file.
	DataLocation int32
}

// ValueInfo is ValueInfoProto: a graph input's or output's name and type.
type ValueInfo struct {
	Name string
	Type *Type
}

// TypeKind says which of TypeProto's value kinds a Type is.
type TypeKind int

// Type kinds.
const (
	KindUnknown TypeKind = iota
	KindTensor
	KindSequence
	KindMap
	KindOptional
)

// Type is TypeProto: a tensor (element type and shape), a sequence or
// optional of Elem, or a map from Key to Value.
type Type struct {
	Kind  TypeKind
	Elem  DataType // tensor element type
	Shape []Dim    // tensor shape; nil when unknown
	Inner *Type    // sequence / optional element
	Key   DataType // map key type
	Value *Type    // map value type
}

// Dim is one dimension of a shape: a known size, or a named or unknown one.
type Dim struct {
	Value int64
	Param string
	Known bool
}

// ErrCorrupt is the error of a file that is not a well-formed ONNX model.
var ErrCorrupt = errors.New("onnx: corrupt model")

type corrupt struct {
	where string
	msg   string
}

func (e *corrupt) Error() string   { return "onnx: " + e.where + ": " + e.msg }
func (e *corrupt) Is(t error) bool { return t == ErrCorrupt }

// maxDepth bounds graphs nested in attributes (If/Loop bodies).
const maxDepth = 8

type decoder struct {
	depth int
}

func bad(where, format string, args ...any) error {
	return &corrupt{where: where, msg: fmt.Sprintf(format, args...)}
}

// Parse decodes a model file's bytes. External tensor data is not read
// (see Load). The slices of the result may alias data.
func Parse(data []byte) (*Model, error) {
	var d decoder
	return d.model(data)
}

// fields walks a message, calling fn with each field; fn returns how many
// bytes of b it consumed, or -1 to skip the field by its wire type.
func fields(where string, b []byte, fn func(num protowire.Number, typ protowire.Type, b []byte) (int, error)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return bad(where, "bad field tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		m, err := fn(num, typ, b)
		if err != nil {
			return err
		}
		if m < 0 {
			m = protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return bad(where, "field %d: %v", num, protowire.ParseError(m))
			}
		}
		b = b[m:]
	}
	return nil
}

// bytesField consumes a length-delimited field.
func bytesField(where string, num protowire.Number, typ protowire.Type, b []byte) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, bad(where, "field %d: wire type %d, want bytes", num, typ)
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, bad(where, "field %d: %v", num, protowire.ParseError(n))
	}
	return v, n, nil
}

func varintField(where string, num protowire.Number, typ protowire.Type, b []byte) (uint64, int, error) {
	if typ != protowire.VarintType {
		return 0, 0, bad(where, "field %d: wire type %d, want varint", num, typ)
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, bad(where, "field %d: %v", num, protowire.ParseError(n))
	}
	return v, n, nil
}

// appendVarints reads a repeated varint field, packed or not.
func appendVarints(where string, num protowire.Number, typ protowire.Type, b []byte, out *[]uint64) (int, error) {
	if typ == protowire.VarintType {
		v, n, err := varintField(where, num, typ, b)
		if err == nil {
			*out = append(*out, v)
		}
		return n, err
	}
	p, n, err := bytesField(where, num, typ, b)
	if err != nil {
		return 0, err
	}
	for len(p) > 0 {
		v, m := protowire.ConsumeVarint(p)
		if m < 0 {
			return 0, bad(where, "field %d: packed varint: %v", num, protowire.ParseError(m))
		}
		*out = append(*out, v)
		p = p[m:]
	}
	return n, nil
}

func appendFixed32(where string, num protowire.Number, typ protowire.Type, b []byte, out *[]float32) (int, error) {
	if typ == protowire.Fixed32Type {
		v, n := protowire.ConsumeFixed32(b)
		if n < 0 {
			return 0, bad(where, "field %d: %v", num, protowire.ParseError(n))
		}
		*out = append(*out, math.Float32frombits(v))
		return n, nil
	}
	p, n, err := bytesField(where, num, typ, b)
	if err != nil {
		return 0, err
	}
	if len(p)%4 != 0 {
		return 0, bad(where, "field %d: packed floats of %d bytes", num, len(p))
	}
	for i := 0; i < len(p); i += 4 {
		v, _ := protowire.ConsumeFixed32(p[i:])
		*out = append(*out, math.Float32frombits(v))
	}
	return n, nil
}

func appendFixed64(where string, num protowire.Number, typ protowire.Type, b []byte, out *[]uint64) (int, error) {
	if typ == protowire.Fixed64Type {
		v, n := protowire.ConsumeFixed64(b)
		if n < 0 {
			return 0, bad(where, "field %d: %v", num, protowire.ParseError(n))
		}
		*out = append(*out, v)
		return n, nil
	}
	p, n, err := bytesField(where, num, typ, b)
	if err != nil {
		return 0, err
	}
	if len(p)%8 != 0 {
		return 0, bad(where, "field %d: packed doubles of %d bytes", num, len(p))
	}
	for i := 0; i < len(p); i += 8 {
		v, _ := protowire.ConsumeFixed64(p[i:])
		*out = append(*out, v)
	}
	return n, nil
}

func (d *decoder) model(b []byte) (*Model, error) {
	m := &Model{Opsets: map[string]int64{}}
	err := fields("model", b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 5:
			v, n, err := varintField("model", num, typ, b)
			if num == 1 {
				m.IRVersion = int64(v)
			} else {
				m.ModelVersion = int64(v)
			}
			return n, err
		case 2, 3, 4:
			v, n, err := bytesField("model", num, typ, b)
			switch num {
			case 2:
				m.ProducerName = string(v)
			case 3:
				m.ProducerVersion = string(v)
			case 4:
				m.Domain = string(v)
			}
			return n, err
		case 7:
			v, n, err := bytesField("model", num, typ, b)
			if err != nil {
				return 0, err
			}
			if m.Graph, err = d.graph("graph", v); err != nil {
				return 0, err
			}
			return n, nil
		case 8:
			v, n, err := bytesField("model", num, typ, b)
			if err != nil {
				return 0, err
			}
			var dom string
			var ver int64
			if err := fields("model.opset_import", v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
				switch num {
				case 1:
					s, n, err := bytesField("model.opset_import", num, typ, b)
					dom = string(s)
					return n, err
				case 2:
					x, n, err := varintField("model.opset_import", num, typ, b)
					ver = int64(x)
					return n, err
				}
				return -1, nil
			}); err != nil {
				return 0, err
			}
			if ver > m.Opsets[dom] {
				m.Opsets[dom] = ver
			}
			return n, nil
		}
		return -1, nil
	})
	if err != nil {
		return nil, err
	}
	if m.Graph == nil {
		return nil, bad("model", "no graph (is this an ONNX model?)")
	}
	return m, nil
}

func (d *decoder) graph(where string, b []byte) (*Graph, error) {
	if d.depth >= maxDepth {
		return nil, bad(where, "graphs nested more than %d deep", maxDepth)
	}
	d.depth++
	defer func() { d.depth-- }()
	g := &Graph{}
	err := fields(where, b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 2, 5, 11, 12, 13:
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			switch num {
			case 1:
				node, err := d.node(fmt.Sprintf("%s.node[%d]", where, len(g.Nodes)), v)
				if err != nil {
					return 0, err
				}
				g.Nodes = append(g.Nodes, node)
			case 2:
				g.Name = string(v)
			case 5:
				t, err := d.tensor(fmt.Sprintf("%s.initializer[%d]", where, len(g.Initializers)), v)
				if err != nil {
					return 0, err
				}
				g.Initializers = append(g.Initializers, t)
			default:
				vi, err := d.valueInfo(where, v)
				if err != nil {
					return 0, err
				}
				switch num {
				case 11:
					g.Inputs = append(g.Inputs, vi)
				case 12:
					g.Outputs = append(g.Outputs, vi)
				default:
					g.ValueInfo = append(g.ValueInfo, vi)
				}
			}
			return n, nil
		}
		return -1, nil
	})
	return g, err
}

func (d *decoder) node(where string, b []byte) (*Node, error) {
	nd := &Node{}
	err := fields(where, b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 2, 3, 4, 5, 7:
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			switch num {
			case 1:
				nd.Inputs = append(nd.Inputs, string(v))
			case 2:
				nd.Outputs = append(nd.Outputs, string(v))
			case 3:
				nd.Name = string(v)
			case 4:
				nd.OpType = string(v)
			case 5:
				a, err := d.attribute(fmt.Sprintf("%s.attribute[%d]", where, len(nd.Attrs)), v)
				if err != nil {
					return 0, err
				}
				nd.Attrs = append(nd.Attrs, a)
			case 7:
				nd.Domain = string(v)
			}
			return n, nil
		}
		return -1, nil
	})
	return nd, err
}

func (d *decoder) attribute(where string, b []byte) (*Attribute, error) {
	a := &Attribute{}
	var ints []uint64
	err := fields(where, b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 4, 9:
			v, n, err := bytesField(where, num, typ, b)
			switch num {
			case 1:
				a.Name = string(v)
			case 4:
				a.S = v
			case 9:
				a.Strings = append(a.Strings, v)
			}
			return n, err
		case 2:
			if typ != protowire.Fixed32Type {
				return 0, bad(where, "field f: wire type %d", typ)
			}
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return 0, bad(where, "field f: %v", protowire.ParseError(n))
			}
			a.F = math.Float32frombits(v)
			return n, nil
		case 3, 20:
			v, n, err := varintField(where, num, typ, b)
			if num == 3 {
				a.I = int64(v)
			} else {
				a.Type = AttrType(int32(v))
			}
			return n, err
		case 5, 10:
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			t, err := d.tensor(where+".t", v)
			if err != nil {
				return 0, err
			}
			if num == 5 {
				a.T = t
			} else {
				a.Tensors = append(a.Tensors, t)
			}
			return n, nil
		case 6, 11:
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			g, err := d.graph(where+".g", v)
			if err != nil {
				return 0, err
			}
			if num == 6 {
				a.G = g
			} else {
				a.Graphs = append(a.Graphs, g)
			}
			return n, nil
		case 7:
			return appendFixed32(where, num, typ, b, &a.Floats)
		case 8:
			return appendVarints(where, num, typ, b, &ints)
		}
		return -1, nil
	})
	if err != nil {
		return nil, err
	}
	if len(ints) > 0 {
		a.Ints = make([]int64, len(ints))
		for i, v := range ints {
			a.Ints[i] = int64(v)
		}
	}
	if a.Type == 0 { // very old files: infer from the field that is set
		switch {
		case a.T != nil:
			a.Type = AttrTensor
		case a.G != nil:
			a.Type = AttrGraph
		case a.Floats != nil:
			a.Type = AttrFloats
		case a.Ints != nil:
			a.Type = AttrInts
		case a.Strings != nil:
			a.Type = AttrStrings
		case a.S != nil:
			a.Type = AttrString
		}
	}
	return a, nil
}

func (d *decoder) tensor(where string, b []byte) (*Tensor, error) {
	t := &Tensor{}
	var dims, i32, i64, u64, f64 []uint64
	err := fields(where, b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1:
			return appendVarints(where, num, typ, b, &dims)
		case 2, 14:
			v, n, err := varintField(where, num, typ, b)
			if num == 2 {
				t.DataType = DataType(int32(v))
			} else {
				t.DataLocation = int32(v)
			}
			return n, err
		case 4:
			return appendFixed32(where, num, typ, b, &t.Floats)
		case 5:
			return appendVarints(where, num, typ, b, &i32)
		case 7:
			return appendVarints(where, num, typ, b, &i64)
		case 11:
			return appendVarints(where, num, typ, b, &u64)
		case 10:
			return appendFixed64(where, num, typ, b, &f64)
		case 6, 8, 9:
			v, n, err := bytesField(where, num, typ, b)
			switch num {
			case 6:
				t.Strings = append(t.Strings, v)
			case 8:
				t.Name = string(v)
			case 9:
				t.Raw = v
			}
			return n, err
		case 13:
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			var k, val string
			if err := fields(where+".external_data", v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
				if num == 1 || num == 2 {
					s, n, err := bytesField(where, num, typ, b)
					if num == 1 {
						k = string(s)
					} else {
						val = string(s)
					}
					return n, err
				}
				return -1, nil
			}); err != nil {
				return 0, err
			}
			if t.External == nil {
				t.External = map[string]string{}
			}
			t.External[k] = val
			return n, nil
		}
		return -1, nil
	})
	if err != nil {
		return nil, err
	}
	for _, v := range dims {
		if int64(v) < 0 {
			return nil, bad(where, "negative dimension %d", int64(v))
		}
		t.Dims = append(t.Dims, int64(v))
	}
	for _, v := range i32 {
		t.Int32s = append(t.Int32s, int32(v))
	}
	for _, v := range i64 {
		t.Int64s = append(t.Int64s, int64(v))
	}
	t.Uint64s = u64
	for _, v := range f64 {
		t.Doubles = append(t.Doubles, math.Float64frombits(v))
	}
	if t.Name == "" {
		t.Name = where
	}
	return t, nil
}

func (d *decoder) valueInfo(where string, b []byte) (*ValueInfo, error) {
	vi := &ValueInfo{}
	err := fields(where, b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 2:
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			if num == 1 {
				vi.Name = string(v)
			} else if vi.Type, err = d.typeProto(where+"."+vi.Name, v, 0); err != nil {
				return 0, err
			}
			return n, nil
		}
		return -1, nil
	})
	return vi, err
}

func (d *decoder) typeProto(where string, b []byte, depth int) (*Type, error) {
	if depth > maxDepth {
		return nil, bad(where, "types nested more than %d deep", maxDepth)
	}
	ty := &Type{}
	err := fields(where, b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1, 4, 5, 9: // tensor, sequence, map, optional
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			switch num {
			case 1:
				ty.Kind = KindTensor
				err = d.tensorType(where, v, ty)
			case 4, 9:
				ty.Kind = KindSequence
				if num == 9 {
					ty.Kind = KindOptional
				}
				err = fields(where, v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
					if num != 1 {
						return -1, nil
					}
					s, n, err := bytesField(where, num, typ, b)
					if err != nil {
						return 0, err
					}
					ty.Inner, err = d.typeProto(where, s, depth+1)
					return n, err
				})
			case 5:
				ty.Kind = KindMap
				err = fields(where, v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
					switch num {
					case 1:
						x, n, err := varintField(where, num, typ, b)
						ty.Key = DataType(int32(x))
						return n, err
					case 2:
						s, n, err := bytesField(where, num, typ, b)
						if err != nil {
							return 0, err
						}
						ty.Value, err = d.typeProto(where, s, depth+1)
						return n, err
					}
					return -1, nil
				})
			}
			return n, err
		}
		return -1, nil
	})
	return ty, err
}

func (d *decoder) tensorType(where string, b []byte, ty *Type) error {
	return fields(where, b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1:
			x, n, err := varintField(where, num, typ, b)
			ty.Elem = DataType(int32(x))
			return n, err
		case 2:
			v, n, err := bytesField(where, num, typ, b)
			if err != nil {
				return 0, err
			}
			ty.Shape = []Dim{}
			return n, fields(where+".shape", v, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
				if num != 1 {
					return -1, nil
				}
				dv, n, err := bytesField(where, num, typ, b)
				if err != nil {
					return 0, err
				}
				var dim Dim
				err = fields(where+".dim", dv, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
					switch num {
					case 1:
						x, n, err := varintField(where, num, typ, b)
						dim.Value, dim.Known = int64(x), true
						return n, err
					case 2:
						s, n, err := bytesField(where, num, typ, b)
						dim.Param = string(s)
						return n, err
					}
					return -1, nil
				})
				ty.Shape = append(ty.Shape, dim)
				return n, err
			})
		}
		return -1, nil
	})
}

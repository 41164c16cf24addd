package pyobj

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
)

// maxSkopsProtocol is the newest skops file protocol understood (skops
// 0.16 writes 2).
const maxSkopsProtocol = 2

// ReadSkops reads a skops file (a zip archive, held whole in data) and
// returns its root value. Every class, type and function the schema names
// goes through the same checks as pickle globals (skops' own trusted-type
// list is not used). Members may be stored or deflated; each is read at
// most once, and its declared and actual sizes count against
// Limits.MaxBytes.
func ReadSkops(data []byte, allow Allow, lim Limits) (v Value, err error) {
	defer recoverTo(&err, "skops")
	r := &skopsReader{
		b:          newBudget(lim),
		globals:    globals{allow: allow},
		containers: newContainers(),
		members:    make(map[string][]byte),
		arrays:     make(map[string]*Array),
		memo:       make(map[string]Value),
		building:   make(map[string]bool),
	}
	v, err = r.read(data)
	if err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			return nil, refused
		}
		return nil, fmt.Errorf("skops: %w", err)
	}
	return v, nil
}

// skopsReader builds values from a skops schema.
type skopsReader struct {
	b       *budget
	globals globals
	containers
	files    map[string]*zip.File
	protocol int

	members  map[string][]byte // members read so far
	arrays   map[string]*Array // .npy members read so far
	memo     map[string]Value  // values built, by __id__
	building map[string]bool   // __id__s of the nodes being built
}

func (r *skopsReader) read(data []byte) (Value, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// Member names are only looked up, never used as paths, so an
		// "insecure" name is harmless here.
		return nil, fmt.Errorf("not a zip file: %w", err)
	}
	if err := r.b.addValues(len(zr.File)); err != nil {
		return nil, err
	}
	r.files = make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if r.files[f.Name] != nil {
			return nil, fmt.Errorf("member %q appears twice", f.Name)
		}
		r.files[f.Name] = f
	}
	raw, err := r.member("schema.json")
	if err != nil {
		return nil, err
	}
	root, err := parseJSON(string(raw), r.b, r.jsonDepth())
	if err != nil {
		return nil, fmt.Errorf("schema.json: %w", err)
	}
	if err := r.checkProtocol(root); err != nil {
		return nil, err
	}
	v, err := r.node(root, 0)
	if err != nil {
		return nil, err
	}
	if err := checkGraph(v, r.b.lim.MaxDepth, func(Value) error { return nil }); err != nil {
		return nil, err
	}
	return v, nil
}

// jsonDepth is the JSON nesting allowed: a skops node takes up to three
// levels (node, content object, key) for one level of the result.
func (r *skopsReader) jsonDepth() int { return 3*r.b.lim.MaxDepth + 4 }

func (r *skopsReader) checkProtocol(root *jsonValue) error {
	p := root.get("protocol")
	if p == nil || p.kind != jsonNumber {
		return errors.New("schema.json has no integer protocol")
	}
	n, err := strconv.Atoi(p.s)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid skops protocol %s", p.s)
	}
	if n > maxSkopsProtocol {
		return fmt.Errorf("the file was written with skops protocol %d; this reader supports protocols up to %d", n, maxSkopsProtocol)
	}
	r.protocol = n
	return nil
}

// member returns the contents of a zip member, reading it once. Its
// declared size is checked against the budget before reading, and no more
// than that is read.
func (r *skopsReader) member(name string) ([]byte, error) {
	if b, ok := r.members[name]; ok {
		return b, nil
	}
	f := r.files[name]
	if f == nil {
		return nil, fmt.Errorf("member %q is missing", name)
	}
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return nil, fmt.Errorf("member %q uses compression method %d", name, f.Method)
	}
	size := f.UncompressedSize64
	if left := r.b.lim.MaxBytes - r.b.bytes; size > uint64(left) {
		return nil, fmt.Errorf("member %q is %d bytes: more than the %d bytes of MaxBytes left: %w", name, size, left, ErrLimit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(rc, int64(size)+1))
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	if uint64(n) != size {
		return nil, fmt.Errorf("member %q holds more or less than the %d bytes it declares", name, size)
	}
	if err := r.b.addBytes(n); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	r.members[name] = b
	return b, nil
}

// npy returns the array stored in an .npy member, reading it once.
func (r *skopsReader) npy(name string) (*Array, error) {
	if a, ok := r.arrays[name]; ok {
		return a, nil
	}
	raw, err := r.member(name)
	if err != nil {
		return nil, err
	}
	a, err := readNPY(raw, r.b, false)
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	r.arrays[name] = a
	return a, nil
}

// idKey returns the memo key of a node's __id__, or "" if it has none
// (skops does not memoize an id of 0 either).
func idKey(j *jsonValue) string {
	id := j.get("__id__")
	if id == nil {
		return ""
	}
	switch id.kind {
	case jsonNumber:
		if id.s == "0" {
			return ""
		}
		return "n" + id.s
	case jsonString:
		if id.s == "" {
			return ""
		}
		return "s" + id.s
	}
	return ""
}

// node builds the value of one schema node. Like skops, a node whose
// __id__ was built before is that earlier value.
func (r *skopsReader) node(j *jsonValue, depth int) (Value, error) {
	if depth > r.b.lim.MaxDepth {
		return nil, r.b.depthError()
	}
	if j == nil || j.kind != jsonObject {
		return nil, errors.New("schema node is not an object")
	}
	loader, ok := j.str("__loader__")
	if !ok {
		return nil, errors.New("schema node has no __loader__")
	}
	key := idKey(j)
	if key != "" {
		if v, ok := r.memo[key]; ok {
			return v, nil
		}
		if r.building[key] {
			return nil, errors.New("the schema refers to a node inside itself (a cycle)")
		}
	}
	if loader == "CachedNode" {
		return nil, fmt.Errorf("CachedNode refers to an unknown __id__")
	}
	module, ok1 := j.str("__module__")
	class, ok2 := j.str("__class__")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s has no __module__ or __class__", loader)
	}
	if err := r.b.addValues(1); err != nil {
		return nil, err
	}
	if key != "" {
		r.building[key] = true
	}
	v, err := r.build(j, loader, module, class, depth)
	if err != nil {
		return nil, err
	}
	if key != "" {
		delete(r.building, key)
		r.memo[key] = v
	}
	return v, nil
}

// child builds the node stored under key in j.
func (r *skopsReader) child(j *jsonValue, key string, depth int) (Value, error) {
	c := j.get(key)
	if c == nil {
		return nil, fmt.Errorf("node has no %q", key)
	}
	return r.node(c, depth+1)
}

// tupleChild builds the node under key in j, which must be a tuple.
func (r *skopsReader) tupleChild(j *jsonValue, key string, depth int) (Tuple, error) {
	v, err := r.child(j, key, depth)
	if err != nil {
		return nil, err
	}
	t, ok := v.(Tuple)
	if !ok {
		return nil, fmt.Errorf("%q is %s, not a tuple", key, typeName(v))
	}
	return t, nil
}

// class resolves the class a node names. Classes the readers handle
// themselves cannot be instantiated this way.
func (r *skopsReader) class(module, name, loader string) (*Global, error) {
	g, err := r.globals.resolve(module, name, "skops "+loader)
	if err != nil {
		return nil, err
	}
	if handled[g.String()] || typeToken(g.Module, g.Name) {
		return nil, fmt.Errorf("%s of %s is not supported", loader, g)
	}
	return g, nil
}

// builtinClass checks that a container node is of one of the given builtin
// types; any other class (a subclass) must be allowed.
func (r *skopsReader) builtinClass(module, name, loader string, want ...string) error {
	if module == "builtins" || module == "__builtin__" {
		for _, w := range want {
			if name == w {
				return nil
			}
		}
	}
	_, err := r.class(module, name, loader)
	return err
}

func (r *skopsReader) build(j *jsonValue, loader, module, class string, depth int) (Value, error) {
	switch loader {
	case "ObjectNode":
		g, err := r.class(module, class, loader)
		if err != nil {
			return nil, err
		}
		o := &Object{Class: g}
		if c := j.get("content"); c != nil && c.kind != jsonNull {
			if o.State, err = r.node(c, depth+1); err != nil {
				return nil, err
			}
		} else {
			o.State = &Dict{}
		}
		return o, nil

	case "DictNode":
		if module != "collections" || class != "OrderedDict" {
			if err := r.builtinClass(module, class, loader, "dict"); err != nil {
				return nil, err
			}
		}
		return r.dict(j, depth)

	case "DefaultDictNode":
		// collections.defaultdict: content.main is the dict (a DictNode),
		// content.default_factory a type, which must be allowed like any
		// other (LightGBM's wrappers keep their _best_score in one).
		if module != "collections" || class != "defaultdict" {
			return nil, fmt.Errorf("DefaultDictNode for %s.%s", module, class)
		}
		c := j.get("content")
		if c == nil || c.get("main") == nil {
			return nil, errors.New("DefaultDictNode has no content.main")
		}
		if f := c.get("default_factory"); f != nil && f.kind != jsonNull {
			if _, err := r.node(f, depth+1); err != nil {
				return nil, err
			}
		}
		d, err := r.node(c.get("main"), depth+1)
		if err != nil {
			return nil, err
		}
		if _, ok := d.(*Dict); !ok {
			return nil, fmt.Errorf("DefaultDictNode content.main is %s, not a dict", typeName(d))
		}
		return d, nil

	case "ListNode", "TupleNode", "SetNode":
		want := map[string][]string{"ListNode": {"list"}, "TupleNode": {"tuple"}, "SetNode": {"set", "frozenset"}}[loader]
		if err := r.builtinClass(module, class, loader, want...); err != nil {
			return nil, err
		}
		items, err := r.items(j.get("content"), depth)
		if err != nil {
			return nil, err
		}
		switch loader {
		case "ListNode":
			return &List{Items: items}, nil
		case "TupleNode":
			return Tuple(items), nil
		}
		set := &Set{}
		if err := r.addToSet(set, items); err != nil {
			return nil, err
		}
		return set, nil

	case "JsonNode":
		c, ok := j.str("content")
		if !ok {
			return nil, errors.New("JsonNode content is not a string")
		}
		jv, err := parseJSON(c, r.b, r.jsonDepth())
		if err != nil {
			return nil, fmt.Errorf("JsonNode content: %w", err)
		}
		return jsonToValue(jv, &r.containers)

	case "NdArrayNode":
		return r.ndarray(j, module, class, depth)

	case "DTypeNode":
		if normalise(module) != "numpy" || class != "dtype" {
			return nil, fmt.Errorf("DTypeNode of %s.%s", module, class)
		}
		v, err := r.child(j, "content", depth)
		if err != nil {
			return nil, err
		}
		a, ok := v.(*Array)
		if !ok || a.DType == nil {
			return nil, fmt.Errorf("DTypeNode content is %s, not an array", typeName(v))
		}
		return a.DType, nil

	case "TypeNode":
		return r.globals.resolve(module, class, "skops TypeNode")

	case "SliceNode":
		if err := r.builtinClass(module, class, loader, "slice"); err != nil {
			return nil, err
		}
		c := j.get("content")
		if c == nil || c.kind != jsonObject {
			return nil, errors.New("SliceNode content is not an object")
		}
		s := &Slice{}
		for _, f := range []struct {
			name string
			dst  *Value
		}{{"start", &s.Start}, {"stop", &s.Stop}, {"step", &s.Step}} {
			v := c.get(f.name)
			if v == nil || v.kind == jsonNull {
				continue
			}
			if v.kind != jsonNumber {
				return nil, fmt.Errorf("slice %s is not an integer", f.name)
			}
			n, err := strconv.ParseInt(v.s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("slice %s is not an integer", f.name)
			}
			*f.dst = n
		}
		return s, nil

	case "FunctionNode":
		if c := j.get("content"); r.protocol == 0 && c != nil {
			// Protocol 0 kept the names in content.
			m, ok1 := c.str("module_path")
			f, ok2 := c.str("function")
			if !ok1 || !ok2 {
				return nil, errors.New("malformed FunctionNode")
			}
			module, class = m, f
		}
		return r.globals.resolve(module, class, "skops FunctionNode")

	case "PartialNode":
		// Built like a pickled functools.partial: partial(func), then the
		// state (func, args, kwds, namespace).
		g, err := r.class(module, class, loader)
		if err != nil {
			return nil, err
		}
		c := j.get("content")
		state := make(Tuple, 4)
		for i, k := range []string{"func", "args", "kwds", "namespace"} {
			if state[i], err = r.child(c, k, depth); err != nil {
				return nil, err
			}
		}
		return &Object{Class: g, Args: []Value{state[0]}, State: state}, nil

	case "MethodNode":
		c := j.get("content")
		fn, ok := c.str("func")
		objNode := c.get("obj")
		if !ok || objNode == nil {
			return nil, errors.New("malformed MethodNode")
		}
		om, _ := objNode.str("__module__")
		oc, _ := objNode.str("__class__")
		if om != module || oc != class {
			return nil, fmt.Errorf("MethodNode of %s.%s bound to a %s.%s", module, class, om, oc)
		}
		g, err := r.class(module, class+"."+fn, loader)
		if err != nil {
			return nil, err
		}
		obj, err := r.node(objNode, depth+1)
		if err != nil {
			return nil, err
		}
		return &Object{Class: g, Args: []Value{obj}}, nil

	case "ConstructorFromReduceNode":
		g, err := r.class(module, class, loader)
		if err != nil {
			return nil, err
		}
		args, err := r.tupleChild(j, "content", depth)
		if err != nil {
			return nil, err
		}
		return &Object{Class: g, Args: args}, nil

	case "TreeNode", "LossNode":
		g, err := r.class(module, class, loader)
		if err != nil {
			return nil, err
		}
		args, err := r.tupleChild(j.get("__reduce__"), "args", depth)
		if err != nil {
			return nil, err
		}
		state, err := r.child(j, "content", depth)
		if err != nil {
			return nil, err
		}
		return &Object{Class: g, Args: args, State: state}, nil

	case "RandomStateNode":
		g, err := r.class(module, class, loader)
		if err != nil {
			return nil, err
		}
		state, err := r.child(j, "content", depth)
		if err != nil {
			return nil, err
		}
		return &Object{Class: g, State: state}, nil

	case "RandomGeneratorNode":
		g, err := r.class(module, class, loader)
		if err != nil {
			return nil, err
		}
		c := j.get("content")
		state := &Dict{}
		for _, k := range []string{"bit_generator", "seed_seq"} {
			v, err := r.child(c, k, depth)
			if err != nil {
				return nil, err
			}
			if err := r.setItem(state, k, v); err != nil {
				return nil, err
			}
		}
		return &Object{Class: g, State: state}, nil

	case "BytesNode", "BytearrayNode":
		if err := r.builtinClass(module, class, loader, "bytes", "bytearray"); err != nil {
			return nil, err
		}
		file, ok := j.str("file")
		if !ok {
			return nil, fmt.Errorf("%s has no file", loader)
		}
		b, err := r.member(file)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported skops node type %q (for %s.%s)", loader, module, class)
}

// items builds the nodes of a JSON array.
func (r *skopsReader) items(c *jsonValue, depth int) ([]Value, error) {
	if c == nil || c.kind != jsonArray {
		return nil, errors.New("container content is not a list")
	}
	items := make([]Value, len(c.items))
	for i, it := range c.items {
		v, err := r.node(it, depth+1)
		if err != nil {
			return nil, err
		}
		items[i] = v
	}
	return items, nil
}

// dict builds a DictNode: JSON keys are strings, and key_types says which
// type each one had.
func (r *skopsReader) dict(j *jsonValue, depth int) (Value, error) {
	c := j.get("content")
	if c == nil || c.kind != jsonObject {
		return nil, errors.New("DictNode content is not an object")
	}
	kt, err := r.child(j, "key_types", depth)
	if err != nil {
		return nil, err
	}
	types, ok := kt.(*List)
	if !ok {
		return nil, fmt.Errorf("DictNode key_types is %s, not a list", typeName(kt))
	}
	if len(types.Items) != len(c.keys) {
		return nil, fmt.Errorf("DictNode has %d keys and %d key_types", len(c.keys), len(types.Items))
	}
	d := &Dict{}
	for i, k := range c.keys {
		key, err := dictKey(k, types.Items[i])
		if err != nil {
			return nil, err
		}
		v, err := r.node(c.items[i], depth+1)
		if err != nil {
			return nil, err
		}
		if err := r.setItem(d, key, v); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// dictKey turns a JSON key back into the type skops recorded for it, as
// calling that type on the string does in Python.
func dictKey(k string, typ Value) (Value, error) {
	g, ok := typ.(*Global)
	if !ok {
		return nil, fmt.Errorf("dict key type is %s", typeName(typ))
	}
	kind := byte(0)
	switch g.Module {
	case "builtins":
		kind = map[string]byte{"str": 'U', "int": 'i', "float": 'f', "bool": 'b'}[g.Name]
	case "numpy":
		if s, ok := numpyScalars[g.Name]; ok && s.kind != 'V' && s.kind != 'O' && s.kind != 'S' {
			kind = s.kind
		}
	}
	switch kind {
	case 'U':
		return k, nil
	case 'i', 'u':
		if n, err := strconv.ParseInt(k, 10, 64); err == nil {
			return n, nil
		}
		if len(k) <= maxIntDigits+1 {
			if n, ok := new(big.Int).SetString(k, 10); ok {
				return bigOrInt(n), nil
			}
		}
	case 'f':
		if f, err := strconv.ParseFloat(k, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			return f, nil
		}
	case 'b':
		return k != "", nil // bool(str) in Python
	default:
		return nil, fmt.Errorf("dict keys of type %s are not supported", g)
	}
	return nil, fmt.Errorf("dict key %q is not a %s", k, g)
}

// ndarray builds an NdArrayNode: an .npy member, or for object arrays the
// elements (nested lists for several dimensions, as ndarray.tolist gives).
func (r *skopsReader) ndarray(j *jsonValue, module, class string, depth int) (Value, error) {
	typ, _ := j.str("type")
	switch typ {
	case "numpy":
		file, ok := j.str("file")
		if !ok {
			return nil, errors.New("NdArrayNode has no file")
		}
		a, err := r.npy(file)
		if err != nil {
			return nil, err
		}
		module = normalise(module)
		if module == "numpy" && class == "ndarray" {
			return a, nil
		}
		if s, ok := numpyScalars[class]; ok && module == "numpy" {
			if len(a.Shape) != 0 || a.DType.Kind != s.kind || (s.size != 0 && a.DType.Size != s.size) {
				return nil, fmt.Errorf("numpy.%s scalar stored as a %s array of shape %v", class, a.DType, a.Shape)
			}
			return a, nil
		}
		// An ndarray subclass: it must be allowed, and is read as an ndarray.
		if _, err := r.class(module, class, "NdArrayNode"); err != nil {
			return nil, err
		}
		return a, nil
	case "json":
		if normalise(module) != "numpy" || class != "ndarray" {
			return nil, fmt.Errorf("object NdArrayNode of %s.%s", module, class)
		}
		st, err := r.tupleChild(j, "shape", depth)
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(st))
		for i, x := range st {
			n, ok := x.(int64)
			if !ok || n < 0 || int64(int(n)) != n {
				return nil, fmt.Errorf("bad array dimension %v", x)
			}
			shape[i] = int(n)
		}
		if len(shape) == 0 || len(shape) > maxDims {
			return nil, fmt.Errorf("object array of %d dimensions", len(shape))
		}
		items, err := r.items(j.get("content"), depth)
		if err != nil {
			return nil, err
		}
		objs, err := r.flatten(items, shape)
		if err != nil {
			return nil, err
		}
		return &Array{DType: &DType{Kind: 'O', Size: 8}, Shape: shape, Objects: objs}, nil
	}
	return nil, fmt.Errorf("NdArrayNode of type %q", typ)
}

// flatten turns the nested lists of an object array into its elements in C
// order, checking them against shape.
func (r *skopsReader) flatten(items []Value, shape []int) ([]Value, error) {
	if len(items) != shape[0] {
		return nil, fmt.Errorf("object array of shape %v has %d rows", shape, len(items))
	}
	for k := 1; k < len(shape); k++ {
		n, ok := shapeLen(shape[:k+1], 1)
		if !ok {
			return nil, fmt.Errorf("bad array shape %v", shape)
		}
		if err := r.b.addValues(n); err != nil {
			return nil, err
		}
		next := make([]Value, 0, n)
		for _, it := range items {
			l, ok := it.(*List)
			if !ok || len(l.Items) != shape[k] {
				return nil, fmt.Errorf("object array rows do not match shape %v", shape)
			}
			next = append(next, l.Items...)
		}
		items = next
	}
	return items, nil
}

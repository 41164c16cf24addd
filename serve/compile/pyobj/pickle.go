package pyobj

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"
	"unicode/utf8"
)

// Pickle opcodes (CPython's Lib/pickle.py names).
const (
	opMark            = '('
	opStop            = '.'
	opPop             = '0'
	opPopMark         = '1'
	opDup             = '2'
	opBinint          = 'J'
	opBinint1         = 'K'
	opBinint2         = 'M'
	opNone            = 'N'
	opReduce          = 'R'
	opBinunicode      = 'X'
	opAppend          = 'a'
	opBuild           = 'b'
	opGlobal          = 'c'
	opDict            = 'd'
	opEmptyDict       = '}'
	opAppends         = 'e'
	opBinget          = 'h'
	opLongBinget      = 'j'
	opList            = 'l'
	opEmptyList       = ']'
	opBinput          = 'q'
	opLongBinput      = 'r'
	opSetitem         = 's'
	opTuple           = 't'
	opEmptyTuple      = ')'
	opSetitems        = 'u'
	opBinfloat        = 'G'
	opBinbytes        = 'B'
	opShortBinbytes   = 'C'
	opProto           = 0x80
	opNewobj          = 0x81
	opTuple1          = 0x85
	opTuple2          = 0x86
	opTuple3          = 0x87
	opNewtrue         = 0x88
	opNewfalse        = 0x89
	opLong1           = 0x8a
	opLong4           = 0x8b
	opShortBinunicode = 0x8c
	opBinunicode8     = 0x8d
	opBinbytes8       = 0x8e
	opEmptySet        = 0x8f
	opAdditems        = 0x90
	opFrozenset       = 0x91
	opNewobjEx        = 0x92
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
	opBytearray8      = 0x96
)

// refusedOps are opcodes that exist but that the reader does not accept.
var refusedOps = map[byte]string{
	'F': "FLOAT (protocol 0)", 'I': "INT (protocol 0)", 'L': "LONG (protocol 0)",
	'S': "STRING (protocol 0)", 'T': "BINSTRING (Python 2)", 'U': "SHORT_BINSTRING (Python 2)",
	'V': "UNICODE (protocol 0)", 'g': "GET (protocol 0)", 'p': "PUT (protocol 0)",
	'i': "INST", 'o': "OBJ", 'P': "PERSID", 'Q': "BINPERSID",
	0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
	0x97: "NEXT_BUFFER (out-of-band buffers)", 0x98: "READONLY_BUFFER (out-of-band buffers)",
}

const (
	maxLongBytes = 4096 // longest LONG1/LONG4 accepted
	maxLineBytes = 1024 // longest GLOBAL line accepted
)

// ReadPickle interprets a pickle stream (protocols 2 to 5) and returns the
// value it describes. It never imports or calls anything: globals are
// checked when the GLOBAL or STACK_GLOBAL opcode names them (see Allow), the
// numpy and builtin ones the reader knows are turned into Arrays, DTypes,
// Slices, bytes and sets, and every other allowed callable or class becomes
// an *Object. A global that is not allowed gives a *RefusedError.
func ReadPickle(data []byte, allow Allow, lim Limits) (v Value, err error) {
	defer recoverTo(&err, "pickle")
	d := &decoder{
		data:       data,
		b:          newBudget(lim),
		globals:    globals{allow: allow},
		memo:       make(map[int64]Value),
		pending:    make(map[any]bool),
		containers: newContainers(),
	}
	// Array data shares the bytes it came in, so a well-formed pickle
	// builds at most about as many bytes as it holds.
	if maxBytes := 2*int64(len(data)) + 1<<20; maxBytes < d.b.lim.MaxBytes {
		d.b.lim.MaxBytes = maxBytes
	}
	return d.run()
}

// decoder is the pickle virtual machine.
type decoder struct {
	data    []byte
	pos     int // next byte to read
	op      int // offset of the current opcode
	b       *budget
	globals globals

	stack []Value
	marks []int // stack lengths at each open MARK
	memo  map[int64]Value

	pending map[any]bool // arrays and dtypes still waiting for their BUILD
	containers
}

// errf returns an error located at the current opcode.
func (d *decoder) errf(format string, args ...any) error {
	return fmt.Errorf("pickle: offset %d: %s", d.op, fmt.Sprintf(format, args...))
}

// wrap locates err at the current opcode. Refusals are returned as they are.
func (d *decoder) wrap(err error) error {
	if _, ok := err.(*RefusedError); ok {
		return err
	}
	return fmt.Errorf("pickle: offset %d: %w", d.op, err)
}

func (d *decoder) run() (Value, error) {
	for {
		if d.pos >= len(d.data) {
			d.op = d.pos
			return nil, d.errf("truncated: no STOP opcode")
		}
		d.op = d.pos
		op := d.data[d.pos]
		d.pos++
		if op == opStop {
			v, err := d.pop()
			if err != nil {
				return nil, err
			}
			if err := d.finish(v); err != nil {
				return nil, err
			}
			return v, nil
		}
		if err := d.step(op); err != nil {
			return nil, err
		}
	}
}

// step executes one opcode other than STOP.
func (d *decoder) step(op byte) error {
	switch op {
	case opProto:
		p, err := d.read(1)
		if err != nil {
			return err
		}
		if p[0] < 2 || p[0] > 5 {
			return d.errf("unsupported pickle protocol %d (want 2 to 5)", p[0])
		}
		return nil
	case opFrame:
		n, err := d.uint(8)
		if err != nil {
			return err
		}
		if n > uint64(len(d.data)-d.pos) {
			return d.errf("truncated: FRAME of %d bytes, %d left", n, len(d.data)-d.pos)
		}
		return nil
	case opMark:
		if len(d.marks) >= d.b.lim.MaxDepth {
			return d.wrap(d.b.depthError())
		}
		d.marks = append(d.marks, len(d.stack))
		return nil
	case opPop:
		if len(d.stack) > d.base() {
			_, err := d.pop()
			return err
		}
		_, err := d.popMark()
		return err
	case opPopMark:
		_, err := d.popMark()
		return err
	case opDup:
		v, err := d.top()
		if err != nil {
			return err
		}
		return d.push(v)

	case opNone:
		return d.push(nil)
	case opNewtrue:
		return d.push(true)
	case opNewfalse:
		return d.push(false)
	case opBinint:
		n, err := d.uint(4)
		if err != nil {
			return err
		}
		return d.push(int64(int32(uint32(n))))
	case opBinint1:
		n, err := d.uint(1)
		if err != nil {
			return err
		}
		return d.push(int64(n))
	case opBinint2:
		n, err := d.uint(2)
		if err != nil {
			return err
		}
		return d.push(int64(n))
	case opLong1:
		n, err := d.uint(1)
		if err != nil {
			return err
		}
		return d.long(n)
	case opLong4:
		n, err := d.uint(4)
		if err != nil {
			return err
		}
		if int32(uint32(n)) < 0 {
			return d.errf("LONG4 with negative length")
		}
		return d.long(n)
	case opBinfloat:
		b, err := d.read(8)
		if err != nil {
			return err
		}
		return d.push(math.Float64frombits(binary.BigEndian.Uint64(b)))

	case opShortBinunicode:
		return d.lenPrefixed(1, true)
	case opBinunicode:
		return d.lenPrefixed(4, true)
	case opBinunicode8:
		return d.lenPrefixed(8, true)
	case opShortBinbytes:
		return d.lenPrefixed(1, false)
	case opBinbytes:
		return d.lenPrefixed(4, false)
	case opBinbytes8, opBytearray8:
		return d.lenPrefixed(8, false)

	case opEmptyTuple:
		return d.push(Tuple{})
	case opTuple:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		return d.push(Tuple(items))
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		if len(d.stack)-d.base() < n {
			return d.errf("stack underflow")
		}
		t := Tuple(slices.Clone(d.stack[len(d.stack)-n:]))
		clear(d.stack[len(d.stack)-n:])
		d.stack = d.stack[:len(d.stack)-n]
		return d.push(t)

	case opEmptyList:
		return d.push(&List{})
	case opList:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		return d.push(&List{Items: items})
	case opAppend:
		v, err := d.pop()
		if err != nil {
			return err
		}
		return d.appendTo([]Value{v})
	case opAppends:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		return d.appendTo(items)

	case opEmptyDict:
		return d.push(&Dict{})
	case opDict:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		dict := &Dict{}
		if err := d.setItems(dict, items); err != nil {
			return err
		}
		return d.push(dict)
	case opSetitem:
		v, err := d.pop()
		if err != nil {
			return err
		}
		k, err := d.pop()
		if err != nil {
			return err
		}
		return d.setItemsOnTop([]Value{k, v})
	case opSetitems:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		return d.setItemsOnTop(items)

	case opEmptySet:
		return d.push(&Set{})
	case opAdditems:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		t, err := d.top()
		if err != nil {
			return err
		}
		set, ok := t.(*Set)
		if !ok {
			return d.errf("ADDITEMS on %s", typeName(t))
		}
		if err := d.addToSet(set, items); err != nil {
			return d.errf("%v", err)
		}
		return nil
	case opFrozenset:
		items, err := d.popMark()
		if err != nil {
			return err
		}
		set := &Set{}
		if err := d.addToSet(set, items); err != nil {
			return d.errf("%v", err)
		}
		return d.push(set)

	case opBinput:
		n, err := d.uint(1)
		if err != nil {
			return err
		}
		return d.memoPut(int64(n))
	case opLongBinput:
		n, err := d.uint(4)
		if err != nil {
			return err
		}
		return d.memoPut(int64(n))
	case opMemoize:
		return d.memoPut(int64(len(d.memo)))
	case opBinget:
		n, err := d.uint(1)
		if err != nil {
			return err
		}
		return d.memoGet(int64(n))
	case opLongBinget:
		n, err := d.uint(4)
		if err != nil {
			return err
		}
		return d.memoGet(int64(n))

	case opGlobal:
		module, err := d.line()
		if err != nil {
			return err
		}
		name, err := d.line()
		if err != nil {
			return err
		}
		return d.global(module, name)
	case opStackGlobal:
		name, err := d.pop()
		if err != nil {
			return err
		}
		module, err := d.pop()
		if err != nil {
			return err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return d.errf("STACK_GLOBAL needs two strings, got %s and %s", typeName(module), typeName(name))
		}
		return d.global(m, n)

	case opReduce:
		args, err := d.pop()
		if err != nil {
			return err
		}
		fn, err := d.pop()
		if err != nil {
			return err
		}
		g, ok := fn.(*Global)
		if !ok {
			return d.errf("REDUCE calls %s, not a global", typeName(fn))
		}
		t, ok := args.(Tuple)
		if !ok {
			return d.errf("REDUCE arguments are %s, not a tuple", typeName(args))
		}
		v, err := d.call(g, t)
		if err != nil {
			return err
		}
		return d.push(v)
	case opNewobj, opNewobjEx:
		var kwargs *Dict
		if op == opNewobjEx {
			kw, err := d.pop()
			if err != nil {
				return err
			}
			var ok bool
			if kwargs, ok = kw.(*Dict); !ok {
				return d.errf("NEWOBJ_EX keyword arguments are %s, not a dict", typeName(kw))
			}
		}
		args, err := d.pop()
		if err != nil {
			return err
		}
		cls, err := d.pop()
		if err != nil {
			return err
		}
		g, ok := cls.(*Global)
		if !ok {
			return d.errf("NEWOBJ of %s, not a class", typeName(cls))
		}
		t, ok := args.(Tuple)
		if !ok {
			return d.errf("NEWOBJ arguments are %s, not a tuple", typeName(args))
		}
		if handled[g.String()] || typeToken(g.Module, g.Name) {
			return d.errf("NEWOBJ of %s is not supported", g)
		}
		obj := &Object{Class: g, Args: t}
		if kwargs.Len() > 0 {
			if err := d.b.addValues(len(t)); err != nil {
				return d.wrap(err)
			}
			obj.Args = append(slices.Clone(t), kwargs)
		}
		return d.push(obj)
	case opBuild:
		state, err := d.pop()
		if err != nil {
			return err
		}
		target, err := d.top()
		if err != nil {
			return err
		}
		return d.build(target, state)
	}
	if name, ok := refusedOps[op]; ok {
		return d.errf("opcode %s is not supported", name)
	}
	return d.errf("unknown opcode %#02x", op)
}

// read returns the next n bytes of input, not copied.
func (d *decoder) read(n uint64) ([]byte, error) {
	if left := uint64(len(d.data) - d.pos); n > left {
		return nil, d.errf("truncated: needs %d bytes, %d left", n, left)
	}
	b := d.data[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

// uint reads an n-byte little-endian unsigned integer.
func (d *decoder) uint(n int) (uint64, error) {
	b, err := d.read(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// line reads a newline-terminated text argument.
func (d *decoder) line() (string, error) {
	rest := d.data[d.pos:]
	if len(rest) > maxLineBytes {
		rest = rest[:maxLineBytes]
	}
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		return "", d.errf("GLOBAL argument is not a short line")
	}
	d.pos += i + 1
	return string(rest[:i]), nil
}

// lenPrefixed pushes a string (text) or bytes object whose length comes
// first in size bytes. The length is checked against the input left before
// anything is allocated.
func (d *decoder) lenPrefixed(size int, text bool) error {
	n, err := d.uint(size)
	if err != nil {
		return err
	}
	b, err := d.read(n)
	if err != nil {
		return err
	}
	if err := d.b.addBytes(int64(n)); err != nil {
		return d.wrap(err)
	}
	if text {
		if !utf8.Valid(b) {
			return d.errf("string is not valid UTF-8")
		}
		return d.push(string(b))
	}
	return d.push(bytes.Clone(b))
}

// long pushes an n-byte two's-complement little-endian integer.
func (d *decoder) long(n uint64) error {
	if n > maxLongBytes {
		return d.errf("integer of %d bytes is too long (at most %d)", n, maxLongBytes)
	}
	b, err := d.read(n)
	if err != nil {
		return err
	}
	if n <= 8 {
		var v uint64
		for i := int(n) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
			v |= ^uint64(0) << (8 * n) // sign-extend
		}
		return d.push(int64(v))
	}
	if err := d.b.addBytes(int64(n)); err != nil {
		return d.wrap(err)
	}
	be := make([]byte, n)
	for i := range be {
		be[i] = b[int(n)-1-i]
	}
	x := new(big.Int).SetBytes(be)
	if b[n-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	return d.push(bigOrInt(x))
}

// global resolves a GLOBAL or STACK_GLOBAL reference and pushes it.
func (d *decoder) global(module, name string) error {
	g, err := d.globals.resolve(module, name, fmt.Sprintf("pickle offset %d", d.op))
	if err != nil {
		return d.wrap(err)
	}
	return d.push(g)
}

// base is the stack length at the innermost open MARK.
func (d *decoder) base() int {
	if len(d.marks) == 0 {
		return 0
	}
	return d.marks[len(d.marks)-1]
}

func (d *decoder) push(v Value) error {
	if err := d.b.addValues(1); err != nil {
		return d.wrap(err)
	}
	d.stack = append(d.stack, v)
	return nil
}

func (d *decoder) pop() (Value, error) {
	if len(d.stack) <= d.base() {
		return nil, d.errf("stack underflow")
	}
	v := d.stack[len(d.stack)-1]
	d.stack[len(d.stack)-1] = nil
	d.stack = d.stack[:len(d.stack)-1]
	return v, nil
}

func (d *decoder) top() (Value, error) {
	if len(d.stack) <= d.base() {
		return nil, d.errf("stack underflow")
	}
	return d.stack[len(d.stack)-1], nil
}

// popMark removes and returns (as a new slice) the items pushed since the
// innermost MARK, and closes it.
func (d *decoder) popMark() ([]Value, error) {
	if len(d.marks) == 0 {
		return nil, d.errf("no MARK to pop")
	}
	m := d.marks[len(d.marks)-1]
	d.marks = d.marks[:len(d.marks)-1]
	items := slices.Clone(d.stack[m:])
	clear(d.stack[m:])
	d.stack = d.stack[:m]
	return items, nil
}

func (d *decoder) memoPut(idx int64) error {
	v, err := d.top()
	if err != nil {
		return err
	}
	if _, ok := d.memo[idx]; !ok && len(d.memo) >= d.b.lim.MaxMemo {
		return d.wrap(fmt.Errorf("more than %d memo entries (MaxMemo): %w", d.b.lim.MaxMemo, ErrLimit))
	}
	d.memo[idx] = v
	return nil
}

func (d *decoder) memoGet(idx int64) error {
	v, ok := d.memo[idx]
	if !ok {
		return d.errf("memo key %d not found", idx)
	}
	return d.push(v)
}

// appendTo implements APPEND and APPENDS on the list on top of the stack.
func (d *decoder) appendTo(items []Value) error {
	t, err := d.top()
	if err != nil {
		return err
	}
	l, ok := t.(*List)
	if !ok {
		return d.errf("APPEND to %s", typeName(t))
	}
	l.Items = append(l.Items, items...)
	return nil
}

// setItemsOnTop implements SETITEM and SETITEMS on the dict on top of the
// stack.
func (d *decoder) setItemsOnTop(items []Value) error {
	t, err := d.top()
	if err != nil {
		return err
	}
	dict, ok := t.(*Dict)
	if o, isObj := t.(*Object); isObj { // an instance of a dict subclass
		if o.Items == nil {
			o.Items = &Dict{}
		}
		dict, ok = o.Items, true
	}
	if !ok {
		return d.errf("SETITEM on %s", typeName(t))
	}
	return d.setItems(dict, items)
}

// setItems stores key, value, key, value... into dict.
func (d *decoder) setItems(dict *Dict, items []Value) error {
	if len(items)%2 != 0 {
		return d.errf("odd number of items for a dict")
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.setItem(dict, items[i], items[i+1]); err != nil {
			return d.errf("%v", err)
		}
	}
	return nil
}

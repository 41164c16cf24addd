package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Limits bound what Load reads.
type Limits struct {
	// MaxModelBytes is the largest model.onnx (default 1 GiB).
	MaxModelBytes int64
	// MaxExternalBytes is the most external tensor data in all (default 4 GiB).
	MaxExternalBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxModelBytes <= 0 {
		l.MaxModelBytes = 1 << 30
	}
	if l.MaxExternalBytes <= 0 {
		l.MaxExternalBytes = 4 << 30
	}
	return l
}

// Load reads the model file name in dir and the external data its tensors
// refer to. Every path is opened inside dir (os.Root): a location that is
// absolute, climbs out with "..", or goes through a symlink that leaves
// dir is refused.
func Load(dir, name string, lim Limits) (*Model, error) {
	lim = lim.withDefaults()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	data, err := readAll(root, name, lim.MaxModelBytes)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	budget := lim.MaxExternalBytes
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	err = m.Graph.eachTensor(func(t *Tensor) error {
		if t.DataLocation != 1 {
			return nil
		}
		return loadExternal(root, files, t, &budget)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func readAll(root *os.Root, name string, max int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("onnx: %s is not a regular file", name)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("onnx: %s is %d bytes, over the %d-byte limit", name, fi.Size(), max)
	}
	return io.ReadAll(io.LimitReader(f, max+1))
}

// eachTensor calls fn with every tensor of the graph: initializers and
// attribute tensors, in nested graphs too.
func (g *Graph) eachTensor(fn func(*Tensor) error) error {
	for _, t := range g.Initializers {
		if err := fn(t); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		for _, a := range n.Attrs {
			if a.T != nil {
				if err := fn(a.T); err != nil {
					return err
				}
			}
			for _, t := range a.Tensors {
				if err := fn(t); err != nil {
					return err
				}
			}
			if a.G != nil {
				if err := a.G.eachTensor(fn); err != nil {
					return err
				}
			}
			for _, sg := range a.Graphs {
				if err := sg.eachTensor(fn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ErrEscape is the error of an external data location outside the model's directory.
var ErrEscape = errors.New("onnx: external data outside the model directory")

func loadExternal(root *os.Root, files map[string]*os.File, t *Tensor, budget *int64) error {
	clean, err := location(t)
	if err != nil {
		return err
	}
	f := files[clean]
	if f == nil {
		if f, err = root.Open(clean); err != nil {
			if strings.Contains(err.Error(), "escapes") {
				return fmt.Errorf("%w: tensor %s: %q", ErrEscape, t.Name, t.External["location"])
			}
			return fmt.Errorf("onnx: tensor %s: external data: %w", t.Name, err)
		}
		files[clean] = f
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("onnx: tensor %s: external data %s is not a regular file", t.Name, clean)
	}
	off, length, err := span(t, fi.Size())
	if err != nil {
		return err
	}
	if length > *budget {
		return fmt.Errorf("onnx: tensor %s: external data over the %d-byte limit", t.Name, *budget)
	}
	*budget -= length
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return fmt.Errorf("onnx: tensor %s: external data: %w", t.Name, err)
	}
	t.Raw, t.DataLocation = buf, 0
	_, _, err = t.raw() // the data fits the dims and type
	return err
}

// Elements is the number of elements the tensor's dims describe.
func (t *Tensor) Elements() (int64, error) {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return 0, bad("tensor "+t.Name, "dims %v too large", t.Dims)
		}
		n *= d
	}
	return n, nil
}

func (t *Tensor) checkCount(got int) error {
	n, err := t.Elements()
	if err != nil {
		return err
	}
	if int64(got) != n {
		return bad("tensor "+t.Name, "%d elements for dims %v", got, t.Dims)
	}
	return nil
}

func (t *Tensor) raw() ([]byte, bool, error) {
	if t.DataLocation == 1 {
		return nil, false, bad("tensor "+t.Name, "external data not loaded")
	}
	if t.Raw == nil {
		return nil, false, nil
	}
	size := t.DataType.elemSize()
	if size == 0 || len(t.Raw)%size != 0 {
		return nil, false, bad("tensor "+t.Name, "raw_data of %d bytes for %s", len(t.Raw), t.DataType)
	}
	return t.Raw, true, t.checkCount(len(t.Raw) / size)
}

// Float32s returns a FLOAT tensor's values.
func (t *Tensor) Float32s() ([]float32, error) {
	if t.DataType != Float {
		return nil, bad("tensor "+t.Name, "is %s, want float", t.DataType)
	}
	raw, ok, err := t.raw()
	if err != nil || !ok {
		if err == nil {
			err = t.checkCount(len(t.Floats))
		}
		return t.Floats, err
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// Float64s returns a DOUBLE tensor's values.
func (t *Tensor) Float64s() ([]float64, error) {
	if t.DataType != Double {
		return nil, bad("tensor "+t.Name, "is %s, want double", t.DataType)
	}
	raw, ok, err := t.raw()
	if err != nil || !ok {
		if err == nil {
			err = t.checkCount(len(t.Doubles))
		}
		return t.Doubles, err
	}
	out := make([]float64, len(raw)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return out, nil
}

// Ints returns an integer or bool tensor's values as int64.
func (t *Tensor) Ints() ([]int64, error) {
	raw, ok, err := t.raw()
	if err != nil {
		return nil, err
	}
	if ok {
		size := t.DataType.elemSize()
		out := make([]int64, len(raw)/size)
		for i := range out {
			b := raw[i*size:]
			switch t.DataType {
			case Int8:
				out[i] = int64(int8(b[0]))
			case Uint8, Bool:
				out[i] = int64(b[0])
			case Int16:
				out[i] = int64(int16(binary.LittleEndian.Uint16(b)))
			case Uint16:
				out[i] = int64(binary.LittleEndian.Uint16(b))
			case Int32:
				out[i] = int64(int32(binary.LittleEndian.Uint32(b)))
			case Uint32:
				out[i] = int64(binary.LittleEndian.Uint32(b))
			case Int64, Uint64:
				out[i] = int64(binary.LittleEndian.Uint64(b))
			default:
				return nil, bad("tensor "+t.Name, "is %s, want an integer type", t.DataType)
			}
		}
		return out, nil
	}
	var out []int64
	switch t.DataType {
	case Int64:
		out = t.Int64s
	case Int8, Uint8, Int16, Uint16, Int32, Bool:
		out = make([]int64, len(t.Int32s))
		for i, v := range t.Int32s {
			out[i] = int64(v)
		}
	case Uint32, Uint64:
		out = make([]int64, len(t.Uint64s))
		for i, v := range t.Uint64s {
			out[i] = int64(v)
		}
	default:
		return nil, bad("tensor "+t.Name, "is %s, want an integer type", t.DataType)
	}
	return out, t.checkCount(len(out))
}

// StringValues returns a STRING tensor's values.
func (t *Tensor) StringValues() ([]string, error) {
	if t.DataType != String {
		return nil, bad("tensor "+t.Name, "is %s, want string", t.DataType)
	}
	out := make([]string, len(t.Strings))
	for i, s := range t.Strings {
		out[i] = string(s)
	}
	return out, t.checkCount(len(out))
}

// Package mlmodel reads MLflow's MLmodel file: the YAML document at the
// root of every logged model that names its flavors and its signature.
//
// Only what mlbox uses is typed (flavors, in order, with their fields;
// the signature; a few identifiers); everything else is ignored. The file
// is untrusted input: it is size-limited by the caller, and the YAML
// library bounds alias expansion.
package mlmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MLmodel is the part of an MLmodel file mlbox reads.
type MLmodel struct {
	// ArtifactPath is artifact_path as written (absolute in MLflow 3,
	// relative in 2.x); informational.
	ArtifactPath string
	// Flavors in the order the file lists them.
	Flavors []Flavor
	// Signature is nil when the file has none.
	Signature *Signature
	RunID     string
	// ModelID is model_id (MLflow 3 logged models), else model_uuid.
	ModelID       string
	MLflowVersion string
}

// Flavor is one entry under `flavors:`.
type Flavor struct {
	Name string
	// Fields holds the flavor's keys as the YAML library decodes them:
	// strings, ints, floats, bools, nil, []any and map[string]any.
	Fields map[string]any
}

// String returns a field as a string: a string as is, a number or bool
// formatted, "" when absent or null.
func (f *Flavor) String(key string) string {
	switch v := f.Fields[key].(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// Strings returns a field that is a list of strings (nil when absent,
// null or not such a list).
func (f *Flavor) Strings(key string) []string {
	l, ok := f.Fields[key].([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// Flavor returns the named flavor, or nil.
func (m *MLmodel) Flavor(name string) *Flavor {
	for i := range m.Flavors {
		if m.Flavors[i].Name == name {
			return &m.Flavors[i]
		}
	}
	return nil
}

// FlavorNames lists the flavors in file order.
func (m *MLmodel) FlavorNames() []string {
	out := make([]string, len(m.Flavors))
	for i, f := range m.Flavors {
		out[i] = f.Name
	}
	return out
}

// Signature is a model signature. MLflow writes its inputs and outputs as
// JSON text inside the YAML; each is either a column-based schema or a
// tensor-based one.
type Signature struct {
	Inputs  Schema
	Outputs Schema
}

// Schema is one side of a signature: Columns for a column-based schema,
// Tensors for a tensor-based one, neither when the side is absent.
type Schema struct {
	Columns []ColSpec
	Tensors []TensorSpec
}

// ColSpec is one column of a column-based schema.
type ColSpec struct {
	// Name is empty for unnamed columns.
	Name string
	// Type is MLflow's data type: double, float, long, integer, boolean,
	// string, binary, datetime; or array, object, map, any for the
	// compound types (whose details are not kept).
	Type     string
	Required bool
}

// TensorSpec is one tensor of a tensor-based schema.
type TensorSpec struct {
	Name  string
	DType string
	Shape []int
}

// Errors of Parse.
var (
	errNotMapping = errors.New("MLmodel is not a YAML mapping")
)

// Parse reads an MLmodel file.
func Parse(b []byte) (*MLmodel, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errNotMapping
		}
		return nil, fmt.Errorf("MLmodel is not valid YAML: %v", err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = resolve(root)
	if root.Kind != yaml.MappingNode {
		return nil, errNotMapping
	}
	m := &MLmodel{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, resolve(root.Content[i+1])
		switch k {
		case "artifact_path":
			m.ArtifactPath = scalar(v)
		case "run_id":
			m.RunID = scalar(v)
		case "model_id":
			m.ModelID = scalar(v)
		case "model_uuid":
			if m.ModelID == "" {
				m.ModelID = scalar(v)
			}
		case "mlflow_version":
			m.MLflowVersion = scalar(v)
		case "flavors":
			fl, err := parseFlavors(v)
			if err != nil {
				return nil, err
			}
			m.Flavors = fl
		case "signature":
			s, err := parseSignature(v)
			if err != nil {
				return nil, err
			}
			m.Signature = s
		}
	}
	return m, nil
}

// resolve follows an alias node to what it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// scalar is a scalar node's value; "" for null and for other kinds.
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func parseFlavors(n *yaml.Node) ([]Flavor, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("MLmodel: flavors is not a mapping")
	}
	var out []Flavor
	for i := 0; i+1 < len(n.Content); i += 2 {
		name := n.Content[i].Value
		f := Flavor{Name: name, Fields: map[string]any{}}
		v := resolve(n.Content[i+1])
		switch {
		case v.Kind == yaml.MappingNode:
			if err := v.Decode(&f.Fields); err != nil {
				return nil, fmt.Errorf("MLmodel: flavor %s: %v", name, err)
			}
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		default:
			return nil, fmt.Errorf("MLmodel: flavor %s is not a mapping", name)
		}
		out = append(out, f)
	}
	return out, nil
}

func parseSignature(n *yaml.Node) (*Signature, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("MLmodel: signature is not a mapping")
	}
	s := &Signature{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, resolve(n.Content[i+1])
		var dst *Schema
		switch k {
		case "inputs":
			dst = &s.Inputs
		case "outputs":
			dst = &s.Outputs
		default:
			continue
		}
		text := scalar(v)
		if text == "" {
			continue
		}
		sch, err := ParseSchema(text)
		if err != nil {
			return nil, fmt.Errorf("MLmodel: signature %s: %v", k, err)
		}
		*dst = sch
	}
	return s, nil
}

// ParseSchema reads one side of a signature, the JSON text MLflow writes
// (a list of column or tensor specs).
func ParseSchema(text string) (Schema, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return Schema{}, fmt.Errorf("not a list of specs: %v", err)
	}
	var s Schema
	for i, spec := range raw {
		var typ, name string
		if t, ok := spec["type"]; ok {
			if err := json.Unmarshal(t, &typ); err != nil {
				typ = "" // a compound type given as an object
			}
		}
		if n, ok := spec["name"]; ok {
			if err := json.Unmarshal(n, &name); err != nil {
				return Schema{}, fmt.Errorf("spec %d: name is not a string", i)
			}
		}
		if typ == "tensor" {
			var ts struct {
				DType string `json:"dtype"`
				Shape []int  `json:"shape"`
			}
			if err := json.Unmarshal(spec["tensor-spec"], &ts); err != nil {
				return Schema{}, fmt.Errorf("spec %d: bad tensor-spec: %v", i, err)
			}
			s.Tensors = append(s.Tensors, TensorSpec{Name: name, DType: ts.DType, Shape: ts.Shape})
			continue
		}
		if typ == "" {
			typ = "any"
		}
		required := true
		if r, ok := spec["required"]; ok {
			if err := json.Unmarshal(r, &required); err != nil {
				return Schema{}, fmt.Errorf("spec %d: required is not a boolean", i)
			}
		}
		s.Columns = append(s.Columns, ColSpec{Name: name, Type: strings.ToLower(typ), Required: required})
	}
	if len(s.Columns) > 0 && len(s.Tensors) > 0 {
		return Schema{}, errors.New("mixes column and tensor specs")
	}
	return s, nil
}

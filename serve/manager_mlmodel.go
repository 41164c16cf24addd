package serve

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// wasmFlavor is the `wasm` flavor of an MLmodel file (docs/wasm-abi.md §9).
type wasmFlavor struct {
	Module  string
	SHA256  string
	Profile string
	// Fields repeats the module metadata the flavor states (abi_version,
	// task, dtype, output_dtype, n_features, n_outputs, max_batch_rows),
	// as written, for the agreement check.
	Fields map[string]string
}

// errNoWasmFlavor: the MLmodel has flavors, none of them wasm.
var errNoWasmFlavor = errors.New("no wasm flavor")

// parseMLmodel reads the flavors of an MLmodel file. MLmodel is YAML, but
// only a small known part of it matters here: the block mapping under the
// top-level `flavors:` key, and the scalar fields of its `wasm:` entry. So
// this reads block-style YAML by indentation, with plain, 'single' and
// "double" quoted scalars and # comments, and nothing more; it returns the
// flavor names in order, and the wasm flavor or errNoWasmFlavor.
func parseMLmodel(b []byte) (*wasmFlavor, []string, error) {
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	var flavors []string
	var wasm *wasmFlavor
	inFlavors, inWasm := false, false
	flavorIndent, fieldIndent := -1, -1
	for n, raw := range lines {
		line := stripComment(raw)
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.Contains(line, "\t") && strings.TrimLeft(line, " ")[0] == '\t' {
			return nil, nil, fmt.Errorf("MLmodel line %d: tab indentation", n+1)
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, val, isMap := strings.Cut(strings.TrimSpace(line), ":")
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		if indent == 0 {
			inFlavors, inWasm = false, false
			if isMap && key == "flavors" {
				if val != "" {
					if val == "{}" {
						return nil, nil, errNoWasmFlavor
					}
					return nil, nil, fmt.Errorf("MLmodel line %d: flow-style flavors are not supported; write the flavors as a block mapping", n+1)
				}
				inFlavors = true
			}
			continue
		}
		if !inFlavors {
			continue
		}
		if flavorIndent < 0 {
			flavorIndent = indent
		}
		if indent < flavorIndent {
			return nil, nil, fmt.Errorf("MLmodel line %d: bad indentation under flavors", n+1)
		}
		if indent == flavorIndent {
			if !isMap || key == "" || strings.HasPrefix(key, "-") {
				return nil, nil, fmt.Errorf("MLmodel line %d: expected a flavor name under flavors", n+1)
			}
			name := unquoteYAML(key)
			flavors = append(flavors, name)
			inWasm = name == "wasm"
			if inWasm {
				wasm = &wasmFlavor{Fields: map[string]string{}}
				fieldIndent = -1
			}
			continue
		}
		if !inWasm {
			continue
		}
		if fieldIndent < 0 {
			fieldIndent = indent
		}
		if indent != fieldIndent || !isMap {
			continue // nested values of a wasm field: not used
		}
		v := unquoteYAML(val)
		switch key {
		case "module":
			wasm.Module = v
		case "sha256":
			wasm.SHA256 = strings.ToLower(v)
		case "profile":
			wasm.Profile = v
		case "abi_version", "task", "dtype", "output_dtype", "n_features", "n_outputs", "max_batch_rows":
			wasm.Fields[key] = v
		}
	}
	if wasm == nil {
		return nil, flavors, errNoWasmFlavor
	}
	if wasm.Module == "" {
		return nil, flavors, errors.New("the wasm flavor has no module field")
	}
	return wasm, flavors, nil
}

// stripComment removes a # comment that is outside quotes.
func stripComment(s string) string {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// unquoteYAML returns a scalar's value: 'single' (a doubled quote is a quote), "double"
// (with escapes), or plain as is.
func unquoteYAML(s string) string {
	if len(s) >= 2 {
		switch {
		case s[0] == '\'' && s[len(s)-1] == '\'':
			return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
		case s[0] == '"' && s[len(s)-1] == '"':
			if u, err := strconv.Unquote(s); err == nil {
				return u
			}
			return s[1 : len(s)-1]
		}
	}
	return s
}

// checkFlavor reports where the flavor's copy of the metadata disagrees
// with the module's own (the module is the source of truth, and a
// disagreement refuses the deploy).
func checkFlavor(f *wasmFlavor, m *Metadata) error {
	want := map[string]string{
		"abi_version":    strconv.Itoa(m.ABIVersion),
		"task":           string(m.Task),
		"dtype":          string(m.DType),
		"output_dtype":   string(m.OutputDType),
		"n_features":     strconv.Itoa(m.NFeatures),
		"n_outputs":      strconv.Itoa(m.NOutputs),
		"max_batch_rows": strconv.Itoa(m.MaxBatchRows),
	}
	var bad []string
	for _, k := range []string{"abi_version", "task", "dtype", "output_dtype", "n_features", "n_outputs", "max_batch_rows"} {
		if got, ok := f.Fields[k]; ok && got != "" && got != "null" && got != want[k] {
			bad = append(bad, fmt.Sprintf("%s is %s in MLmodel, %s in the module", k, got, want[k]))
		}
	}
	if len(bad) > 0 {
		return errors.New("the wasm flavor disagrees with the module's metadata: " + strings.Join(bad, "; "))
	}
	return nil
}

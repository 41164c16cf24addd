package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// ABIVersion is the version of the model ABI this package implements
// (docs/wasm-abi.md). A module announces its version through the
// mlbox_abi_version export and the abi_version metadata field; both must
// equal ABIVersion.
const ABIVersion = 1

// Names of the exports a model module must (or may) provide. See
// docs/wasm-abi.md for their contracts.
const (
	ExportMemory      = "memory"
	ExportABIVersion  = "mlbox_abi_version"
	ExportMetadataPtr = "mlbox_metadata_ptr"
	ExportMetadataLen = "mlbox_metadata_len"
	ExportInputPtr    = "mlbox_input_ptr"
	ExportOutputPtr   = "mlbox_output_ptr"
	ExportPredict     = "mlbox_predict"
	ExportErrorPtr    = "mlbox_error_ptr"
	ExportErrorLen    = "mlbox_error_len"
	// ExportInitialize is optional: a WASI reactor's initialiser (Go
	// -buildmode=c-shared, wasi-libc). When present it is called once per
	// instance, before any other export.
	ExportInitialize = "_initialize"
	// exportStart marks a WASI command module, which is rejected.
	exportStart = "_start"
)

// WASIModule is the only import module a model may import from.
const WASIModule = "wasi_snapshot_preview1"

// Limits the host enforces on what a module announces.
const (
	// MaxMetadataBytes bounds the metadata blob (category tables of
	// compiled models can be large).
	MaxMetadataBytes = 16 << 20
	// MaxErrorBytes bounds the error message read back from a module; a
	// longer message is truncated.
	MaxErrorBytes = 4096
	// MaxBatchRowsLimit bounds max_batch_rows.
	MaxBatchRowsLimit = 1 << 16
	// MaxColumns bounds n_features and n_outputs.
	MaxColumns = 1 << 16
)

var (
	i32 = api.ValueTypeI32
	// requiredExports lists every required function export with its
	// signature (params, results).
	requiredExports = []struct {
		name            string
		params, results []api.ValueType
	}{
		{ExportABIVersion, nil, []api.ValueType{i32}},
		{ExportMetadataPtr, nil, []api.ValueType{i32}},
		{ExportMetadataLen, nil, []api.ValueType{i32}},
		{ExportInputPtr, nil, []api.ValueType{i32}},
		{ExportOutputPtr, nil, []api.ValueType{i32}},
		{ExportPredict, []api.ValueType{i32}, []api.ValueType{i32}},
		{ExportErrorPtr, nil, []api.ValueType{i32}},
		{ExportErrorLen, nil, []api.ValueType{i32}},
	}
)

// DType is the element type of an input or output matrix.
type DType string

// The element types of ABI v1. Values are little-endian IEEE 754.
const (
	F32 DType = "f32"
	F64 DType = "f64"
)

// Size returns the size of one element in bytes (0 for an unknown type).
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F64:
		return 8
	}
	return 0
}

// Task says how to read a model's outputs.
type Task string

// The tasks of ABI v1.
const (
	// Classification: output k of a row is the score (usually the
	// probability) of class OutputNames[k]; the predicted label is the
	// arg max.
	Classification Task = "classification"
	// Regression: the outputs of a row are predicted values named by
	// OutputNames.
	Regression Task = "regression"
)

// Metadata is what a module says about itself, read once per Load from the
// JSON blob behind mlbox_metadata_ptr/len. Unknown fields are ignored so
// newer modules load on older hosts.
type Metadata struct {
	ABIVersion   int      `json:"abi_version"`
	Name         string   `json:"name,omitempty"`
	Task         Task     `json:"task"`
	DType        DType    `json:"dtype"`
	OutputDType  DType    `json:"output_dtype"`
	NFeatures    int      `json:"n_features"`
	FeatureNames []string `json:"feature_names,omitempty"`
	NOutputs     int      `json:"n_outputs"`
	// OutputNames are the class labels for classification, the output
	// names for regression.
	OutputNames  []string `json:"output_names,omitempty"`
	MaxBatchRows int      `json:"max_batch_rows"`
	// Producer is free text (toolchain, author), shown in listings.
	Producer string `json:"producer,omitempty"`

	// The fields below are optional (docs/wasm-abi.md §3); mlbox's model
	// compiler writes them.

	// Columns describe the input columns: their MLflow types, whether a
	// request must give them, and the category table of string columns.
	Columns []Column `json:"columns,omitempty"`
	// Labels are the class labels as JSON values, one per output (ints
	// stay ints, strings stay strings); classification only. Without
	// them the labels are output_names, as strings.
	Labels []json.RawMessage `json:"labels,omitempty"`
	// PredictFn says what /invocations answers: "predict" (labels or
	// values, the default), "predict_proba" or "predict_log_proba" (the
	// output matrix, or its logarithm; probabilities, classification
	// only).
	PredictFn string `json:"predict_fn,omitempty"`
	// NamedOutputs, when set, make /invocations answer the outputs by
	// name, as MLflow's ONNX flavor does: {"<label>": [...], "<scores>":
	// [...]} for a tensor input (instances, inputs), one record per row
	// for a DataFrame (dataframe_split, dataframe_records). ZipMap scores
	// are one {label: score} map a row.
	NamedOutputs *NamedOutputs `json:"named_outputs,omitempty"`
}

// NamedOutputs name a model's label and scores outputs (Metadata.NamedOutputs).
type NamedOutputs struct {
	Label  string `json:"label,omitempty"`
	Scores string `json:"scores"`
	ZipMap bool   `json:"zipmap,omitempty"`
	// Flat: the scores are a tensor [N], one value a row (not a list).
	Flat bool `json:"flat,omitempty"`
	// LabelIndex: the last output column is the index of the row's label
	// in Labels, computed by the model (a label that is not the arg max of
	// the scores); the scores are the other columns.
	LabelIndex bool `json:"label_index,omitempty"`
}

// ScoreColumns is the number of output columns that are scores: all of
// them but a label index (NamedOutputs.LabelIndex).
func (m *Metadata) ScoreColumns() int {
	if m.NamedOutputs != nil && m.NamedOutputs.LabelIndex {
		return m.NOutputs - 1
	}
	return m.NOutputs
}

// Column describes one input column (Metadata.Columns).
type Column struct {
	Name string `json:"name"`
	// Type is the MLflow column type: double, float, long, integer,
	// boolean or string.
	Type string `json:"type"`
	// Optional columns may be left out of a request; they are then NaN.
	Optional bool `json:"optional,omitempty"`
	// Categories is the code table of a string column: the host passes
	// the string Categories[i] as the number i, a string outside the table
	// as -1, and a missing value (null) as NaN.
	Categories []string `json:"categories,omitempty"`
}

// Predict functions (Metadata.PredictFn).
const (
	PredictFnPredict  = "predict"
	PredictFnProba    = "predict_proba"
	PredictFnLogProba = "predict_log_proba"
)

// MaxCategories bounds the category table of one column.
const MaxCategories = 1 << 20

// ParseMetadata decodes and validates a metadata blob.
func ParseMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("metadata is not valid JSON: %v", err)
	}
	if m.OutputDType == "" {
		m.OutputDType = F64
	}
	return m, m.Validate()
}

// Validate checks the metadata for consistency. The returned error names
// the offending field.
func (m *Metadata) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if m.ABIVersion != ABIVersion {
		add("abi_version is %d, this host implements %d", m.ABIVersion, ABIVersion)
	}
	switch m.Task {
	case Classification, Regression:
	case "":
		add("task is missing (want %q or %q)", Classification, Regression)
	default:
		add("task %q is unknown (want %q or %q)", m.Task, Classification, Regression)
	}
	if m.DType.Size() == 0 {
		add("dtype %q is unknown (want %q or %q)", m.DType, F32, F64)
	}
	if m.OutputDType.Size() == 0 {
		add("output_dtype %q is unknown (want %q or %q)", m.OutputDType, F32, F64)
	}
	if m.NFeatures < 1 || m.NFeatures > MaxColumns {
		add("n_features %d is out of range [1, %d]", m.NFeatures, MaxColumns)
	}
	if m.NOutputs < 1 || m.NOutputs > MaxColumns {
		add("n_outputs %d is out of range [1, %d]", m.NOutputs, MaxColumns)
	}
	if m.MaxBatchRows < 1 || m.MaxBatchRows > MaxBatchRowsLimit {
		add("max_batch_rows %d is out of range [1, %d]", m.MaxBatchRows, MaxBatchRowsLimit)
	}
	if m.FeatureNames != nil && len(m.FeatureNames) != m.NFeatures {
		add("feature_names has %d names for %d features", len(m.FeatureNames), m.NFeatures)
	}
	if m.OutputNames != nil && len(m.OutputNames) != m.NOutputs {
		add("output_names has %d names for %d outputs", len(m.OutputNames), m.NOutputs)
	}
	if m.Task == Classification && len(m.OutputNames) == 0 {
		add("output_names (the class labels) are required for classification")
	}
	if dup := duplicate(m.FeatureNames); dup != "" {
		add("feature_names repeats %q", dup)
	}
	if dup := duplicate(m.OutputNames); dup != "" {
		add("output_names repeats %q", dup)
	}
	if m.Columns != nil {
		if len(m.Columns) != m.NFeatures {
			add("columns has %d entries for %d features", len(m.Columns), m.NFeatures)
		} else {
			for i, c := range m.Columns {
				if m.FeatureNames != nil && c.Name != m.FeatureNames[i] {
					add("columns[%d] is %q, feature_names[%d] is %q", i, c.Name, i, m.FeatureNames[i])
				}
				switch c.Type {
				case "double", "float", "long", "integer", "boolean":
					if c.Categories != nil {
						add("columns[%d] (%s) has categories; only string columns have them", i, c.Type)
					}
				case "string":
					if len(c.Categories) > MaxCategories {
						add("columns[%d] has %d categories (at most %d)", i, len(c.Categories), MaxCategories)
					}
					if dup := duplicate(c.Categories); dup != "" {
						add("columns[%d] repeats the category %q", i, dup)
					}
				default:
					add("columns[%d] has type %q (want double, float, long, integer, boolean or string)", i, c.Type)
				}
			}
		}
	}
	if m.Labels != nil {
		if m.Task != Classification {
			add("labels are for classification")
		} else if len(m.Labels) != m.ScoreColumns() {
			add("labels has %d labels for %d outputs", len(m.Labels), m.ScoreColumns())
		}
		seen := map[string]bool{}
		for i, l := range m.Labels {
			var v any
			if err := json.Unmarshal(l, &v); err != nil {
				add("labels[%d] is not a JSON value", i)
				continue
			}
			switch v.(type) {
			case string, float64, bool, nil:
			default:
				add("labels[%d] is not a string, number, boolean or null", i)
			}
			if seen[string(l)] {
				add("labels repeats %s", l)
			}
			seen[string(l)] = true
		}
	}
	switch m.PredictFn {
	case "", PredictFnPredict:
	case PredictFnProba, PredictFnLogProba:
		if m.Task != Classification {
			add("predict_fn %s is for classification", m.PredictFn)
		}
	default:
		add("predict_fn %q is unknown (want %s, %s or %s)", m.PredictFn, PredictFnPredict, PredictFnProba, PredictFnLogProba)
	}
	if n := m.NamedOutputs; n != nil {
		switch {
		case n.Scores == "" || len(n.Scores) > 256 || len(n.Label) > 256:
			add("named_outputs needs a scores name (at most 256 bytes)")
		case (n.Label != "" || n.ZipMap) && (m.Task != Classification || len(m.Labels) == 0):
			add("named_outputs: a label output or zipmap is for classification with labels")
		case n.Label == n.Scores:
			add("named_outputs: label and scores have one name")
		case n.Flat && (n.ZipMap || m.NOutputs != 1):
			add("named_outputs: flat scores are one value a row")
		case n.LabelIndex && (n.Label == "" || n.Flat || m.NOutputs < 2):
			add("named_outputs: a label index needs a label output and a score column")
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func duplicate(names []string) string {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return n
		}
		seen[n] = true
	}
	return ""
}

// InputNames returns feature_names, or f0, f1, … when the module names
// none.
func (m *Metadata) InputNames() []string { return namesOr(m.FeatureNames, "f", m.NFeatures) }

// OutputColumns returns output_names, or y0, y1, … when the module names
// none.
func (m *Metadata) OutputColumns() []string { return namesOr(m.OutputNames, "y", m.NOutputs) }

func namesOr(names []string, prefix string, n int) []string {
	if len(names) == n {
		return slices.Clone(names)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// Signature returns the MLflow column-based signature of the model, as the
// JSON strings that go under signature.inputs and signature.outputs in
// MLmodel (docs/wasm-abi.md §9): one column per feature and per output,
// typed as columns says, else "double" for f64 and "float" for f32.
func (m *Metadata) Signature() (inputs, outputs string) {
	type col struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Required bool   `json:"required"`
	}
	cols := func(names []string, dt DType, spec []Column) string {
		typ := "double"
		if dt == F32 {
			typ = "float"
		}
		cs := make([]col, len(names))
		for i, n := range names {
			cs[i] = col{typ, n, true}
			if spec != nil {
				cs[i].Type, cs[i].Required = spec[i].Type, !spec[i].Optional
			}
		}
		b, _ := json.Marshal(cs) // cannot fail
		return string(b)
	}
	return cols(m.InputNames(), m.DType, m.Columns), cols(m.OutputColumns(), m.OutputDType, nil)
}

// inputBytes is the byte size of the input buffer at full batch.
func (m *Metadata) inputBytes() uint64 {
	return uint64(m.MaxBatchRows) * uint64(m.NFeatures) * uint64(m.DType.Size())
}

// outputBytes is the byte size of the output buffer at full batch.
func (m *Metadata) outputBytes() uint64 {
	return uint64(m.MaxBatchRows) * uint64(m.NOutputs) * uint64(m.OutputDType.Size())
}

// Sentinel errors. They are wrapped with %w, so test with errors.Is.
var (
	// ErrInvalidModule: Load rejected the module (compile error, missing or
	// mistyped export, forbidden import, bad metadata, failed warm-up).
	ErrInvalidModule = errors.New("invalid wasm model")
	// ErrInvalidInput: the caller's matrix does not fit the model (wrong
	// length, rows < 1, output buffer too small). No instance was used.
	ErrInvalidInput = errors.New("invalid input")
	// ErrClosed: the Model or Runtime is closed.
	ErrClosed = errors.New("serve: closed")
)

// ErrorKind classifies a failed call into a module.
type ErrorKind uint8

// The kinds of ModelError.
const (
	// KindTrap: the module trapped (unreachable, out-of-bounds access,
	// stack overflow, memory exhausted), or exited through WASI proc_exit
	// (a Go panic ends this way). The instance was discarded.
	KindTrap ErrorKind = iota + 1
	// KindTimeout: the call ran past RuntimeConfig.CallTimeout or the
	// caller's deadline and was interrupted. The instance was discarded.
	KindTimeout
	// KindCanceled: the caller's context was canceled during the call.
	// The instance was discarded.
	KindCanceled
	// KindBadOutput: mlbox_predict claimed success but wrote a different
	// number of values than rows × n_outputs, or its buffers are out of
	// bounds. The instance was discarded.
	KindBadOutput
	// KindModelReported: mlbox_predict returned a negative status; Msg is
	// the module's own message. The instance is healthy and was kept.
	KindModelReported
)

func (k ErrorKind) String() string {
	switch k {
	case KindTrap:
		return "trap"
	case KindTimeout:
		return "timeout"
	case KindCanceled:
		return "canceled"
	case KindBadOutput:
		return "bad output"
	case KindModelReported:
		return "reported error"
	}
	return fmt.Sprintf("ErrorKind(%d)", uint8(k))
}

// ModelError is the error of a Predict call that reached a module and
// failed there. Only that call fails; see ErrorKind for what happened to the
// instance.
type ModelError struct {
	Kind ErrorKind
	// Status is the negative value mlbox_predict returned (KindModelReported)
	// or the WASI exit code (KindTrap after proc_exit); 0 otherwise.
	Status int32
	// Msg is a one-line account: the module's message, or the trap and
	// the first line the module wrote to stdout/stderr, if any.
	Msg string
	// Output is what the module wrote to stdout/stderr before a trap,
	// bounded to 4 KiB (its start and its end), for logs: a Go panic's
	// message and goroutine dump end up here.
	Output string
	// Err is the underlying error (wazero's, or the context's), if any.
	Err error
}

func (e *ModelError) Error() string { return "model " + e.Kind.String() + ": " + e.Msg }

// Unwrap returns the underlying error, so errors.Is(err,
// context.DeadlineExceeded) holds for a timeout.
func (e *ModelError) Unwrap() error { return e.Err }

// invalid wraps ErrInvalidModule.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidModule, fmt.Sprintf(format, args...))
}

// sigString renders a wasm signature like func(i32) i32.
func sigString(params, results []api.ValueType) string {
	var b strings.Builder
	b.WriteString("func(")
	for i, p := range params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(p))
	}
	b.WriteString(")")
	switch len(results) {
	case 0:
	case 1:
		b.WriteString(" " + api.ValueTypeName(results[0]))
	default:
		b.WriteString(" (")
		for i, r := range results {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(api.ValueTypeName(r))
		}
		b.WriteString(")")
	}
	return b.String()
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package serve

// Request decoding for the inference endpoints. Numbers go straight from
// the request body into a reused []float64: a small JSON scanner reads the
// shapes the endpoints take, so the common requests allocate nothing. It
// validates what it reads (malformed JSON is a 400, as from encoding/json)
// and accepts what Python's json module writes: NaN, Infinity and
// -Infinity, and null (read as NaN).

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// inputError is a request the model cannot take: 400 BAD_REQUEST.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, a ...any) error { return &inputError{fmt.Sprintf(format, a...)} }

// scanner reads JSON from b.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) errf(format string, a ...any) error {
	return badInput("invalid JSON at offset %d: %s", s.i, fmt.Sprintf(format, a...))
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return s.errf("unexpected end of input, expected %q", c)
		}
		return s.errf("expected %q, found %q", c, s.b[s.i])
	}
	s.i++
	return nil
}

// end checks that only white space is left.
func (s *scanner) end() error {
	if s.ws(); s.i < len(s.b) {
		return s.errf("unexpected data after the top-level value")
	}
	return nil
}

// str reads a string and returns its raw content (between the quotes) and
// whether it holds escapes.
func (s *scanner) str() ([]byte, bool, error) {
	if err := s.expect('"'); err != nil {
		return nil, false, err
	}
	start, esc := s.i, false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], esc, nil
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				return nil, false, s.errf("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return nil, false, s.errf("bad \\u escape in string")
				}
				s.i += 6
			default:
				return nil, false, s.errf("bad escape in string")
			}
		case c < 0x20:
			return nil, false, s.errf("control character in string")
		default:
			s.i++
		}
	}
	return nil, false, s.errf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// key reads an object key and its colon; the returned bytes are the key's
// value (unescaped: a copy when it had escapes).
func (s *scanner) key() ([]byte, error) {
	raw, esc, err := s.str()
	if err != nil {
		return nil, err
	}
	if esc {
		var k string
		if err := json.Unmarshal(s.b[s.i-len(raw)-2:s.i], &k); err != nil {
			return nil, s.errf("bad string escape")
		}
		raw = []byte(k)
	}
	return raw, s.expect(':')
}

// more is called after a value inside an object or array: it consumes a
// comma (true) or the closing byte (false).
func (s *scanner) more(closing byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.i++
		return true, nil
	case closing:
		s.i++
		return false, nil
	}
	if s.i >= len(s.b) {
		return false, s.errf("unexpected end of input")
	}
	return false, s.errf("expected ',' or %q, found %q", closing, s.b[s.i])
}

// open consumes an opening bracket and reports whether the container is
// empty (its closing bracket consumed too).
func (s *scanner) open(opening, closing byte) (empty bool, err error) {
	if err := s.expect(opening); err != nil {
		return false, err
	}
	if s.peek() == closing {
		s.i++
		return true, nil
	}
	return false, nil
}

// skip reads over any value, checking that it is valid JSON.
func (s *scanner) skip() error {
	start := s.i
	switch c := s.peek(); c {
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		empty, err := s.open(c, closing)
		if err != nil || empty {
			return err
		}
		for {
			if c == '{' {
				if _, err := s.key(); err != nil {
					return err
				}
			}
			if err := s.skip(); err != nil {
				return err
			}
			more, err := s.more(closing)
			if err != nil || !more {
				return err
			}
		}
	case '"':
		_, _, err := s.str()
		return err
	default:
		s.token()
		if s.i == start || !json.Valid(s.b[start:s.i]) {
			if _, err := s.numAt(start); err == nil {
				return nil // NaN, Infinity
			}
			return s.errf("invalid value")
		}
		return nil
	}
}

// token advances over a bare token (number, true, false, null, NaN, …).
func (s *scanner) token() {
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.' {
			s.i++
			continue
		}
		return
	}
}

// num reads a number: a JSON number, null (NaN), or NaN, Infinity,
// -Infinity as Python writes them.
func (s *scanner) num() (float64, error) {
	s.ws()
	start := s.i
	s.token()
	return s.numAt(start)
}

func (s *scanner) numAt(start int) (float64, error) {
	tok := s.b[start:s.i]
	if len(tok) == 0 {
		if s.i < len(s.b) {
			if s.b[s.i] == '"' {
				return 0, badInput("non-numeric value at offset %d: inputs must be numbers", s.i)
			}
			return 0, s.errf("expected a number, found %q", s.b[s.i])
		}
		return 0, s.errf("unexpected end of input, expected a number")
	}
	switch string(tok) {
	case "null", "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	case "true", "false":
		return 0, badInput("non-numeric value %s at offset %d: inputs must be numbers", tok, start)
	}
	if !jsonNumber(tok) {
		s.i = start
		return 0, s.errf("invalid number %q", tok)
	}
	// tok is not retained by ParseFloat on success, and on failure the
	// error is replaced, so viewing the bytes as a string is safe.
	f, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, nil // ±Inf or 0, as encoding/json would not; close enough
		}
		s.i = start
		return 0, s.errf("invalid number %q", string(tok))
	}
	return f, nil
}

// value reads the value of input feature f (f < 0: a column the model
// does not take, read as a number): a number, or for a typed column what
// its type takes (docs/wasm-abi.md §3): a string column's string becomes
// its code (-1 outside the table), a boolean column's true/false 1/0.
func (s *scanner) value(lv *loadedVersion, f int) (float64, error) {
	if lv.cols == nil || f < 0 {
		return s.num()
	}
	ct := &lv.cols[f]
	switch ct.kind {
	case colString:
		if s.peek() != '"' {
			start := s.i
			s.token()
			if tok := s.b[start:s.i]; string(tok) == "null" || string(tok) == "NaN" {
				return math.NaN(), nil
			}
			s.i = start
			return 0, badInput("column %q takes strings, found %s", lv.meta.InputNames()[f], s.snippet())
		}
		raw, esc, err := s.str()
		if err != nil {
			return 0, err
		}
		code, ok := ct.codes[string(raw)]
		if esc {
			var v string
			if err := json.Unmarshal(s.b[s.i-len(raw)-2:s.i], &v); err != nil {
				return 0, s.errf("bad string escape")
			}
			code, ok = ct.codes[v]
		}
		if !ok {
			return -1, nil
		}
		return float64(code), nil
	case colBool:
		s.ws()
		start := s.i
		s.token()
		switch string(s.b[start:s.i]) {
		case "true":
			return 1, nil
		case "false":
			return 0, nil
		}
		s.i = start
	}
	return s.num()
}

// snippet is the value at the scanner, abbreviated, for messages.
func (s *scanner) snippet() string {
	s.ws()
	end := min(len(s.b), s.i+24)
	return strconv.Quote(string(s.b[s.i:end]))
}

// jsonNumber checks the JSON number grammar.
func jsonNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(b)
}

// matrix reads a 1-D array of values, or a 2-D array of rows of exactly
// ncols values, appending them to dst. Position j of a row is input
// feature fmap[j] (nil: feature j); the values of a 1-D array are the
// features of one row, or of one column when ncols is 1. It returns the
// values, the number of rows (of the 1-D array: its length) and whether
// it was 1-D.
func (s *scanner) matrix(dst []float64, ncols int, what string, lv *loadedVersion, fmap []int) ([]float64, int, bool, error) {
	feat := func(j int) int {
		if lv.cols == nil {
			return -1
		}
		if ncols == 1 {
			j = 0
		}
		if fmap != nil {
			if j < len(fmap) {
				return fmap[j]
			}
			return -1
		}
		if j < len(lv.cols) {
			return j
		}
		return -1
	}
	empty, err := s.open('[', ']')
	if err != nil {
		return dst, 0, false, err
	}
	if empty {
		return dst, 0, false, nil
	}
	if s.peek() != '[' { // 1-D
		n := 0
		for {
			v, err := s.value(lv, feat(n))
			if err != nil {
				if s.peek() == '[' || s.peek() == '{' {
					return dst, 0, false, badInput("%s mixes numbers and arrays", what)
				}
				return dst, 0, false, err
			}
			dst = append(dst, v)
			n++
			more, err := s.more(']')
			if err != nil {
				return dst, 0, false, err
			}
			if !more {
				return dst, n, true, nil
			}
		}
	}
	rows := 0
	for {
		if s.peek() != '[' {
			return dst, 0, false, badInput("%s: row %d is not an array of numbers", what, rows)
		}
		s.i++
		n := 0
		if s.peek() == ']' {
			s.i++
		} else {
			for {
				v, err := s.value(lv, feat(n))
				if err != nil {
					if c := s.peek(); c == '[' || c == '{' {
						return dst, 0, false, badInput("%s: row %d holds nested values; rows must be flat arrays of numbers", what, rows)
					}
					return dst, 0, false, err
				}
				dst = append(dst, v)
				n++
				more, err := s.more(']')
				if err != nil {
					return dst, 0, false, err
				}
				if !more {
					break
				}
			}
		}
		if n != ncols {
			return dst, 0, false, badInput("%s: row %d has %d values, expected %d", what, rows, n, ncols)
		}
		rows++
		more, err := s.more(']')
		if err != nil {
			return dst, 0, false, err
		}
		if !more {
			return dst, rows, false, nil
		}
	}
}

// flatRows interprets a 1-D array of n values for a model of nf features:
// one value per row for a single-feature model, else one row.
func flatRows(n, nf int, what string) (int, error) {
	switch {
	case nf == 1:
		return n, nil
	case n == nf:
		return 1, nil
	}
	return 0, badInput("%s is a flat list of %d values; the model takes rows of %d features", what, n, nf)
}

// decodePredict reads the /predict body {"data": [...]} (one row) or
// {"data": [[...], ...]} into st.in and returns the number of rows.
func decodePredict(body []byte, lv *loadedVersion, st *reqState) (int, error) {
	nf := lv.meta.NFeatures
	s := scanner{b: body}
	if s.peek() != '{' {
		return 0, badInput(`the body must be a JSON object {"data": [[...], ...]}`)
	}
	empty, _ := s.open('{', '}')
	rows, seen := 0, false
	for !empty {
		k, err := s.key()
		if err != nil {
			return 0, err
		}
		if string(k) != "data" {
			return 0, badInput(`unknown field %q: the body is {"data": [[...], ...]}`, k)
		}
		if s.peek() != '[' {
			return 0, badInput(`"data" must be an array of rows, or one row`)
		}
		var flat bool
		var n int
		st.in, n, flat, err = s.matrix(st.in[:0], nf, "data", lv, nil)
		if err != nil {
			return 0, err
		}
		rows, seen = n, true
		if flat {
			if n != nf {
				return 0, badInput("data has %d values; the model takes %d features (%s)", n, nf, lv.featureList())
			}
			rows = 1
		}
		more, err := s.more('}')
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
	}
	if err := s.end(); err != nil {
		return 0, err
	}
	if !seen {
		return 0, badInput(`missing field "data": the body is {"data": [[...], ...]}`)
	}
	if rows == 0 {
		return 0, badInput("data has no rows")
	}
	return rows, nil
}

// featureList names the features for messages, abbreviated.
func (lv *loadedVersion) featureList() string {
	names := lv.meta.InputNames()
	if len(names) > 8 {
		return strings.Join(names[:8], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

// The input formats of MLflow's scoring protocol.
var invocationFormats = []string{"dataframe_split", "dataframe_records", "instances", "inputs"}

const formatsMsg = "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}"

// decodeInvocations reads an /invocations JSON body into st.in and returns
// the number of rows.
func decodeInvocations(body []byte, lv *loadedVersion, st *reqState) (int, error) {
	s := scanner{b: body}
	if s.peek() != '{' {
		if err := (&scanner{b: body}).skip(); err != nil {
			return 0, err
		}
		return 0, badInput("%s. Received a JSON value that is not a dictionary.", formatsMsg)
	}
	type span struct{ from, to int }
	var spans [4]span
	found, llm := 0, false
	empty, _ := s.open('{', '}')
	for !empty {
		k, err := s.key()
		if err != nil {
			return 0, err
		}
		s.ws()
		from := s.i
		if err := s.skip(); err != nil {
			return 0, err
		}
		fi := -1
		for i, f := range invocationFormats {
			if string(k) == f {
				fi = i
			}
		}
		switch {
		case fi >= 0:
			if spans[fi].to == 0 {
				found++
			}
			spans[fi] = span{from, s.i}
		case string(k) == "params":
			if c := body[from]; c != '{' && !bytes.HasPrefix(body[from:], []byte("null")) {
				return 0, badInput("params must be a dictionary")
			}
		case string(k) == "messages" || string(k) == "prompt" || string(k) == "input":
			llm = true
		}
		more, err := s.more('}')
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
	}
	if err := s.end(); err != nil {
		return 0, err
	}
	if found != 1 {
		if found == 0 && llm {
			return 0, badInput("%s. LLM-style inputs (messages, prompt, input) are not supported by wasm models.", formatsMsg)
		}
		return 0, badInput("%s. Received dictionary with input fields: %s", formatsMsg, pyList(topKeys(body)))
	}
	var rows int
	var err error
	for i, sp := range spans {
		if sp.to == 0 {
			continue
		}
		sub := &scanner{b: body[:sp.to], i: sp.from}
		switch invocationFormats[i] {
		case "dataframe_split":
			st.frame = true
			rows, err = decodeSplit(sub, lv, st)
		case "dataframe_records":
			st.frame = true
			if sub.peek() != '[' {
				return 0, badInput("dataframe_records must be a list of records")
			}
			rows, err = decodeRecords(sub, lv, st, "dataframe_records")
		case "instances":
			rows, err = decodeTensor(sub, lv, st, "instances")
		case "inputs":
			if sub.peek() == '{' {
				rows, err = decodeColumns(sub, lv, st)
			} else {
				rows, err = decodeTensor(sub, lv, st, "inputs")
			}
		}
	}
	if err != nil {
		return 0, err
	}
	if rows == 0 {
		return 0, badInput("the input has no rows")
	}
	return rows, nil
}

// topKeys lists the keys of a JSON object that scanned without error.
func topKeys(body []byte) []string {
	s := scanner{b: body}
	var keys []string
	if empty, err := s.open('{', '}'); err != nil || empty {
		return keys
	}
	for {
		k, err := s.key()
		if err != nil || s.skip() != nil {
			return keys
		}
		keys = append(keys, string(k))
		if more, err := s.more('}'); err != nil || !more {
			return keys
		}
	}
}

func pyList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "'" + k + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// decodeSplit reads dataframe_split: {"columns": [...], "data": [[...]],
// "index": [...]}. Without columns, values are in feature order.
func decodeSplit(s *scanner, lv *loadedVersion, st *reqState) (int, error) {
	nf := lv.meta.NFeatures
	if s.peek() != '{' {
		return 0, badInput(`dataframe_split must be a dictionary {"columns": [...], "data": [[...]]}`)
	}
	var dataFrom, dataTo int
	hasCols := false
	st.cols = st.cols[:0]
	empty, _ := s.open('{', '}')
	for !empty {
		k, err := s.key()
		if err != nil {
			return 0, err
		}
		switch string(k) {
		case "columns":
			hasCols = true
			if st.cols, err = s.columns(lv, st.cols[:0], "dataframe_split.columns"); err != nil {
				return 0, err
			}
		case "data":
			s.ws()
			dataFrom = s.i
			if err := s.skip(); err != nil {
				return 0, err
			}
			dataTo = s.i
		case "index":
			if err := s.skip(); err != nil {
				return 0, err
			}
		default:
			return 0, badInput("dataframe_split may only hold columns, data and index; found %q", k)
		}
		more, err := s.more('}')
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
	}
	if dataTo == 0 {
		return 0, badInput("dataframe_split has no data")
	}
	d := &scanner{b: s.b[:dataTo], i: dataFrom}
	if d.peek() != '[' {
		return 0, badInput("dataframe_split.data must be a list of rows")
	}
	if !hasCols {
		var n int
		var flat bool
		var err error
		st.in, n, flat, err = d.matrix(st.in[:0], nf, "dataframe_split.data", lv, nil)
		if err != nil {
			return 0, err
		}
		if flat {
			return flatRows(n, nf, "dataframe_split.data")
		}
		return n, nil
	}
	if err := lv.covered(st.cols, st, "dataframe_split.columns"); err != nil {
		return 0, err
	}
	nc := len(st.cols)
	var n int
	var flat bool
	var err error
	st.tmp, n, flat, err = d.matrix(st.tmp[:0], nc, "dataframe_split.data", lv, st.cols)
	if err != nil {
		return 0, err
	}
	if flat {
		if nc != 1 {
			return 0, badInput("dataframe_split.data is a flat list, but there are %d columns", nc)
		}
	}
	st.in = scatter(st.in, st.tmp, n, st.cols, nf)
	lv.fillMissing(st.in, n, st.seen)
	return n, nil
}

// columns reads a list of column names and maps each to its feature index
// (-1: not a feature, ignored).
func (s *scanner) columns(lv *loadedVersion, cols []int, what string) ([]int, error) {
	if s.peek() != '[' {
		return cols, badInput("%s must be a list of names", what)
	}
	empty, _ := s.open('[', ']')
	for !empty {
		if s.peek() != '"' {
			return cols, badInput("%s must be a list of names", what)
		}
		raw, esc, err := s.str()
		if err != nil {
			return cols, err
		}
		idx, ok := lv.names[string(raw)]
		if esc {
			var name string
			if err := json.Unmarshal(s.b[s.i-len(raw)-2:s.i], &name); err != nil {
				return cols, s.errf("bad string escape")
			}
			idx, ok = lv.names[name]
		}
		if !ok {
			idx = -1
		}
		cols = append(cols, idx)
		more, err := s.more(']')
		if err != nil {
			return cols, err
		}
		if !more {
			break
		}
	}
	return cols, nil
}

// covered checks that cols names every required feature, and none twice;
// st.seen marks the features named.
func (lv *loadedVersion) covered(cols []int, st *reqState, what string) error {
	nf := lv.meta.NFeatures
	st.seen = resize(st.seen, nf)
	clear(st.seen)
	for _, c := range cols {
		if c < 0 {
			continue
		}
		if st.seen[c] != 0 {
			return badInput("%s names %q twice", what, lv.meta.InputNames()[c])
		}
		st.seen[c] = 1
	}
	for i, v := range st.seen {
		if v == 0 && !lv.optional(i) {
			return badInput("%s has no column %q; the model takes %s", what, lv.meta.InputNames()[i], lv.featureList())
		}
	}
	return nil
}

// fillMissing sets the optional features that seen does not mark to NaN
// in rows of in.
func (lv *loadedVersion) fillMissing(in []float64, rows int, seen []uint32) {
	if lv.cols == nil {
		return
	}
	nf := lv.meta.NFeatures
	for f, v := range seen {
		if v != 0 {
			continue
		}
		for r := 0; r < rows; r++ {
			in[r*nf+f] = math.NaN()
		}
	}
}

// scatter reorders rows of len(cols) values (src) into rows of nf features.
func scatter(dst, src []float64, rows int, cols []int, nf int) []float64 {
	dst = resize(dst, rows*nf)
	nc := len(cols)
	for r := 0; r < rows; r++ {
		for j, c := range cols {
			if c >= 0 {
				dst[r*nf+c] = src[r*nc+j]
			}
		}
	}
	return dst
}

func resize[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// decodeRecords reads a list of {column: value} objects.
func decodeRecords(s *scanner, lv *loadedVersion, st *reqState, what string) (int, error) {
	nf := lv.meta.NFeatures
	empty, err := s.open('[', ']')
	if err != nil {
		return 0, badInput("%s must be a list of records", what)
	}
	st.in = st.in[:0]
	st.seen = resize(st.seen, nf)
	clear(st.seen)
	rows := 0
	for !empty {
		if s.peek() != '{' {
			return 0, badInput("%s: record %d is not a dictionary", what, rows)
		}
		mark := uint32(rows + 1)
		base := len(st.in)
		for range nf {
			st.in = append(st.in, math.NaN())
		}
		emptyRec, _ := s.open('{', '}')
		for !emptyRec {
			k, err := s.key()
			if err != nil {
				return 0, err
			}
			idx, ok := lv.names[string(k)]
			if !ok {
				if err := s.skip(); err != nil {
					return 0, err
				}
			} else {
				v, err := s.value(lv, idx)
				if err != nil {
					return 0, badInput("%s: record %d, %q: %v", what, rows, k, err)
				}
				st.in[base+idx] = v
				st.seen[idx] = mark
			}
			more, err := s.more('}')
			if err != nil {
				return 0, err
			}
			if !more {
				break
			}
		}
		for i, v := range st.seen {
			if v != mark && !lv.optional(i) {
				return 0, badInput("%s: record %d has no value for %q", what, rows, lv.meta.InputNames()[i])
			}
		}
		rows++
		more, err := s.more(']')
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
	}
	return rows, nil
}

// decodeTensor reads instances or inputs given as a list: rows of numbers,
// a flat list, or (instances) a list of records.
func decodeTensor(s *scanner, lv *loadedVersion, st *reqState, what string) (int, error) {
	nf := lv.meta.NFeatures
	if s.peek() != '[' {
		return 0, badInput("%s must be a list", what)
	}
	save := s.i
	s.i++
	if s.peek() == '{' {
		s.i = save
		return decodeRecords(s, lv, st, what)
	}
	s.i = save
	var n int
	var flat bool
	var err error
	st.in, n, flat, err = s.matrix(st.in[:0], nf, what, lv, nil)
	if err != nil {
		return 0, err
	}
	if flat {
		return flatRows(n, nf, what)
	}
	return n, nil
}

// decodeColumns reads inputs in columnar form: {feature: [values...]}.
func decodeColumns(s *scanner, lv *loadedVersion, st *reqState) (int, error) {
	nf := lv.meta.NFeatures
	st.seen = resize(st.seen, nf)
	clear(st.seen)
	rows := -1
	empty, _ := s.open('{', '}')
	for !empty {
		k, err := s.key()
		if err != nil {
			return 0, err
		}
		idx, ok := lv.names[string(k)]
		if !ok {
			if err := s.skip(); err != nil {
				return 0, err
			}
		} else {
			if s.peek() != '[' {
				return 0, badInput("inputs.%s must be a list of values", k)
			}
			var n int
			var flat bool
			st.tmp, n, flat, err = s.matrix(st.tmp[:0], 1, "inputs."+string(k), lv, []int{idx})
			if err != nil {
				return 0, err
			}
			_ = flat // [v, v] and [[v], [v]] are both a column
			if rows < 0 {
				rows = n
				st.in = resize(st.in, rows*nf)
			} else if n != rows {
				return 0, badInput("inputs.%s has %d values, other columns have %d", k, n, rows)
			}
			for r := 0; r < n; r++ {
				st.in[r*nf+idx] = st.tmp[r]
			}
			st.seen[idx] = 1
		}
		more, err := s.more('}')
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
	}
	for i, v := range st.seen {
		if v == 0 && !lv.optional(i) {
			return 0, badInput("inputs has no column %q; the model takes %s", lv.meta.InputNames()[i], lv.featureList())
		}
	}
	if rows > 0 {
		lv.fillMissing(st.in, rows, st.seen)
	}
	return max(rows, 0), nil
}

// decodeCSV reads a text/csv body: a header row naming the columns, then
// one row per line. Empty cells are NaN.
func decodeCSV(body []byte, lv *loadedVersion, st *reqState) (int, error) {
	nf := lv.meta.NFeatures
	r := csv.NewReader(bytes.NewReader(body))
	r.ReuseRecord = true
	head, err := r.Read()
	if err == io.EOF {
		return 0, badInput("the CSV input is empty")
	}
	if err != nil {
		return 0, badInput("invalid CSV: %v", err)
	}
	st.cols = st.cols[:0]
	for _, h := range head {
		idx, ok := lv.names[strings.TrimSpace(h)]
		if !ok {
			idx = -1
		}
		st.cols = append(st.cols, idx)
	}
	if err := lv.covered(st.cols, st, "the CSV header"); err != nil {
		return 0, err
	}
	st.in = st.in[:0]
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, badInput("invalid CSV: %v", err)
		}
		base := len(st.in)
		for range nf {
			st.in = append(st.in, math.NaN())
		}
		for j, cell := range rec {
			if j >= len(st.cols) {
				break
			}
			c := st.cols[j]
			if c < 0 {
				continue
			}
			if lv.cols != nil && lv.cols[c].kind == colString {
				if cell != "" {
					code, ok := lv.cols[c].codes[cell]
					if !ok {
						code = -1
					}
					st.in[base+c] = float64(code)
				}
				continue
			}
			cell = strings.TrimSpace(cell)
			v := math.NaN()
			if lv.cols != nil && lv.cols[c].kind == colBool {
				switch strings.ToLower(cell) {
				case "true":
					cell = "1"
				case "false":
					cell = "0"
				}
			}
			if cell != "" {
				if v, err = strconv.ParseFloat(cell, 64); err != nil {
					return 0, badInput("CSV row %d, column %q: %q is not a number", rows+1, head[j], cell)
				}
			}
			st.in[base+c] = v
		}
		rows++
	}
	if rows == 0 {
		return 0, badInput("the CSV input has no rows")
	}
	return rows, nil
}

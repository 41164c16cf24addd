package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"mlbox/store"
)

// Requests follow protobuf-JSON rules as MLflow's server reads them: int64
// as number or string, doubles also as "NaN"/"Infinity"/"-Infinity", enums
// by name or number, unknown fields ignored. GET requests carry the same
// fields in the query string. The types below accept all those forms.

// optString is a string field that may be absent; numbers are accepted
// (experiment ids sent as numbers).
type optString struct {
	V   string
	Set bool
}

func (s *optString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		v, err := unquote(b)
		if err != nil {
			return err
		}
		s.V, s.Set = v, true
		return nil
	}
	if len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		s.V, s.Set = string(b), true
		return nil
	}
	if string(b) == "true" || string(b) == "false" {
		s.V, s.Set = string(b), true
		return nil
	}
	return invalidParam("expected a string, got " + abbrev(b))
}

// unquote decodes a JSON string literal. Plain printable ASCII without
// escapes, the usual case for ids, keys and numbers, is copied directly;
// anything else goes through encoding/json (escapes, UTF-8 repair).
func unquote(b []byte) (string, error) {
	if _, end, ok := scanPlainString(b, 0); ok && end == len(b) {
		return string(b[1 : end-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// optInt is an int64 field given as a number or a string.
type optInt struct {
	V   int64
	Set bool
}

func (n *optInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var err error
		if s, err = unquote(b); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return invalidParam("expected an integer, got " + abbrev(b))
		}
		v = int64(f)
	}
	n.V, n.Set = v, true
	return nil
}

// optFloat is a double given as a number or one of MLflow's strings.
type optFloat struct {
	V   float64
	Set bool
}

func (f *optFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := unquote(b)
		if err != nil {
			return err
		}
		switch s {
		case "NaN", "nan":
			f.V = math.NaN()
		case "Infinity", "inf", "Inf":
			f.V = math.Inf(1)
		case "-Infinity", "-inf", "-Inf":
			f.V = math.Inf(-1)
		default:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return invalidParam("expected a number, got " + abbrev(b))
			}
			f.V = v
		}
		f.Set = true
		return nil
	}
	if string(b) == "true" || string(b) == "false" {
		return invalidParam("expected a number, got " + abbrev(b))
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return invalidParam("expected a number, got " + abbrev(b))
	}
	f.V, f.Set = v, true
	return nil
}

// optBool accepts true/false and the strings "true"/"True"/"false".
type optBool struct {
	V   bool
	Set bool
}

func (o *optBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	switch strings.ToLower(s) {
	case "null":
		return nil
	case "true", "1":
		o.V, o.Set = true, true
	case "false", "0":
		o.V, o.Set = false, true
	default:
		return invalidParam("expected a boolean, got " + abbrev(b))
	}
	return nil
}

// strList is a repeated string field: a JSON array, or one string (GET
// query with a single value).
type strList []string

func (l *strList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var raw []optString
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		for _, r := range raw {
			*l = append(*l, r.V)
		}
		return nil
	}
	var one optString
	if err := one.UnmarshalJSON(b); err != nil {
		return err
	}
	*l = append(*l, one.V)
	return nil
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// decodeRequest reads an MLflow request into v: the query string for GET
// (and DELETE without a body), the JSON body otherwise.
func (a *App) decodeRequest(r *http.Request, v any) error {
	var body []byte
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		body = queryToJSON(r)
	} else {
		if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" && r.Method != http.MethodDelete {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt != "application/json" {
				return invalidParam("Bad Request. Content-Type header must be one of ['application/json'], found '" + ct + "'")
			}
		}
		var err error
		body, err = readLimitedBody(r, a.cfg.HTTP.MaxRequestBytes)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			if r.Method == http.MethodDelete && len(r.URL.RawQuery) > 0 {
				body = queryToJSON(r)
			} else {
				body = []byte("{}")
			}
		}
		// Very old clients send a JSON string that contains the JSON object.
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '"' {
			var inner string
			if json.Unmarshal(t, &inner) == nil {
				body = []byte(inner)
			}
		}
	}
	if handled, err := decodeFlat(body, v); handled {
		if err != nil {
			return decodeError(err)
		}
	} else if err := json.Unmarshal(body, v); err != nil {
		return decodeError(err)
	}
	if err := checkRequired(reflect.ValueOf(v).Elem()); err != nil {
		return err
	}
	return checkMaxLen(reflect.ValueOf(v).Elem(), "")
}

// checkMaxLen enforces the max:"N" struct tags of optString and strList
// fields (N characters), in nested structs and slices of structs too, with
// MLflow's message: 'models[0].model_id' exceeds the maximum length of 256
// characters. Ids and names that become bbolt keys carry such a tag, so an
// oversized one is a 400 before the store sees it.
func checkMaxLen(v reflect.Value, prefix string) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return checkMaxLen(v.Elem(), prefix)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return nil
		}
		for i := range v.Len() {
			if err := checkMaxLen(v.Index(i), prefix+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if f.Anonymous {
			path = prefix
		}
		fv := v.Field(i)
		if m := f.Tag.Get("max"); m != "" {
			limit, err := strconv.Atoi(m)
			if err != nil {
				panic("bad max tag on " + t.String() + "." + f.Name)
			}
			switch f.Type {
			case optStringType:
				if tooLong(fv.Field(0).String(), limit) {
					return store.TooLong(path, limit)
				}
			case strListType:
				for i := range fv.Len() {
					if tooLong(fv.Index(i).String(), limit) {
						return store.TooLong(path, limit)
					}
				}
			default:
				panic("max tag on a field that is neither optString nor strList: " + t.String() + "." + f.Name)
			}
			continue
		}
		if _, opt := optTypes[f.Type]; opt {
			continue
		}
		if err := checkMaxLen(fv, path); err != nil {
			return err
		}
	}
	return nil
}

var (
	optStringType = reflect.TypeFor[optString]()
	strListType   = reflect.TypeFor[strList]()
)

// tooLong reports whether s has more than limit characters.
func tooLong(s string, limit int) bool {
	return len(s) > limit && utf8.RuneCountInString(s) > limit
}

// pathParam returns the path wildcard name, refusing a value of more than
// limit characters (ids and names in URLs are bbolt keys too).
func pathParam(r *http.Request, name string, limit int) (string, error) {
	v := r.PathValue(name)
	if tooLong(v, limit) {
		return "", store.TooLong(name, limit)
	}
	return v, nil
}

// readLimitedBody reads a request body of at most limit bytes, into a buffer of
// the announced length when there is one. A body that ends early is a 400.
func readLimitedBody(r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, limit)
	var buf []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= limit && n <= 1<<20 {
		buf = make([]byte, n)
		_, err = io.ReadFull(body, buf)
	} else {
		buf, err = io.ReadAll(body)
	}
	var mbe *http.MaxBytesError
	if err != nil && !errors.As(err, &mbe) {
		return nil, &apiError{http.StatusBadRequest, "BAD_REQUEST", "could not read the request body: " + err.Error()}
	}
	return buf, err
}

// checkRequired reports the first optString field tagged required:"true"
// that is missing or empty, as MLflow's "Missing value for required
// parameter" error. Embedded structs are searched too.
func checkRequired(v reflect.Value) error {
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			if err := checkRequired(v.Field(i)); err != nil {
				return err
			}
			continue
		}
		if f.Tag.Get("required") != "true" {
			continue
		}
		if s, ok := v.Field(i).Interface().(optString); ok && (!s.Set || s.V == "") {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			return missingParam(name)
		}
	}
	return nil
}

// decodeError turns a JSON decoding error into INVALID_PARAMETER_VALUE.
func decodeError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return invalidParam("Invalid value for field '" + ute.Field + "': expected " + ute.Type.String())
	}
	return invalidParam("Malformed request body: " + err.Error())
}

func queryToJSON(r *http.Request) []byte {
	q := r.URL.Query()
	m := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) == 1 {
			m[k] = vs[0]
		} else {
			m[k] = vs
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// writeJSON writes a 200 JSON response.
func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, b)
	return nil
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var emptyObject = []byte("{}")

func writeEmpty(w http.ResponseWriter) error {
	writeRaw(w, http.StatusOK, emptyObject)
	return nil
}

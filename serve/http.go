package serve

// The inference endpoints, mounted by the app at /models/:
//
//	POST /models/{name}/predict                    {"data": [[...], ...]} or {"data": [...]}
//	POST /models/{name}/invocations                MLflow's scoring protocol
//	POST /models/{name}@{alias}/predict|invocations
//	POST /models/{name}/versions/{v}/predict|invocations
//	GET  /models/{name}[@{alias}], /models/{name}/versions/{v}
//	                                               what serves there: version, metadata, signature
//
// Both POST forms answer {"predictions": [...]}, one element per row: the
// class label (classification, the arg max of the outputs), the value
// (regression, one output) or the list of values (several outputs). With
// ?probabilities=true a classifier also returns "probabilities": one list
// of scores per row, in output_names order. Every answer carries the
// version that computed it in the Mlbox-Model-Version header.
//
// Errors are {"error_code": ..., "message": ...}: 400 BAD_REQUEST for input
// the model cannot take (shape, non-numeric values, a model that refuses
// the input), 404 RESOURCE_DOES_NOT_EXIST (no such model, alias, version,
// or nothing to serve), 409 INVALID_STATE (not a wasm model, disabled),
// 413 (body too large), 415 (content type), 429 REQUEST_LIMIT_EXCEEDED,
// 500 INTERNAL_ERROR (the model trapped), 503 TEMPORARILY_UNAVAILABLE,
// 504 DEADLINE_EXCEEDED (the model ran past its deadline).

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"mlbox/store"
	"mlbox/store/artifact"
)

// Header names set on inference responses.
const (
	HeaderModelVersion = "Mlbox-Model-Version"
)

var (
	hdrJSON      = []string{"application/json"}
	hdrNoSniff   = []string{"nosniff"}
	routePredict = "predict"
	routeInvoke  = "invocations"
)

type endpoint uint8

const (
	epInfo endpoint = iota
	epPredict
	epInvocations
)

// reqState holds one request's reused buffers.
type reqState struct {
	// frame: the request was a DataFrame (dataframe_split, dataframe_records,
	// CSV), which models with named outputs answer as records.
	frame bool
	body  []byte
	in    []float64
	tmp   []float64
	out   []float64
	resp  []byte
	cols  []int
	seen  []uint32
	ev    reqEvent
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// maxPooled bounds the buffers a pooled reqState keeps.
const maxPooled = 1 << 20

func (st *reqState) release() {
	if cap(st.body) > maxPooled {
		st.body = nil
	}
	if cap(st.resp) > maxPooled {
		st.resp = nil
	}
	if cap(st.in) > maxPooled/8 {
		st.in = nil
	}
	if cap(st.out) > maxPooled/8 {
		st.out = nil
	}
	if cap(st.tmp) > maxPooled/8 {
		st.tmp = nil
	}
	st.ev = reqEvent{}
	statePool.Put(st)
}

// reqEvent describes one served request, for the request log. Input and
// Output (the raw request and response bodies) and Inputs are only valid
// during the observer call.
type reqEvent struct {
	Time                                  time.Time
	Model, Version, Target, Route, Client string
	Status                                int
	Latency                               time.Duration
	Rows                                  int
	Input, Output                         []byte
	// Inputs are the decoded rows (NFeatures values each), when the
	// request got that far; Input may be nil when Inputs is set (shadow).
	Inputs    []float64
	NFeatures int
	Err       string
	// meta is the answering version's metadata (nil before one was
	// chosen): the request log masks positional inputs by its names.
	meta *Metadata
}

// Handler returns the inference endpoints, to be mounted at /models/.
func (m *Manager) Handler() http.Handler { return http.HandlerFunc(m.serveHTTP) }

func (m *Manager) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/models/")
	name, alias, version, ep, ok2 := parsePath(rest)
	if !ok || !ok2 {
		writeError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", "No inference endpoint at "+r.URL.Path+
			"; use /models/{name}/predict, /models/{name}/invocations, /models/{name}@{alias}/... or /models/{name}/versions/{version}/...")
		return
	}
	if ep == epInfo {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "BAD_REQUEST", "use GET")
			return
		}
		if m.admit(w, r, time.Now(), name, "") {
			m.serveInfo(w, r, name, alias, version)
		}
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "BAD_REQUEST", "use POST")
		return
	}
	m.infer(w, r, name, alias, version, ep)
}

// parsePath splits the path after /models/.
func parsePath(p string) (name, alias, version string, ep endpoint, ok bool) {
	seg, rest, _ := strings.Cut(p, "/")
	if seg == "" {
		return "", "", "", 0, false
	}
	if rest != "" && strings.HasPrefix(rest, "versions/") {
		v, tail, _ := strings.Cut(rest[len("versions/"):], "/")
		if v == "" || strings.Contains(seg, "@") {
			return "", "", "", 0, false
		}
		ep, ok := endpointOf(tail)
		return seg, "", v, ep, ok
	}
	name = seg
	if i := strings.LastIndexByte(seg, '@'); i >= 0 {
		name, alias = seg[:i], seg[i+1:]
		if name == "" || alias == "" {
			return "", "", "", 0, false
		}
	}
	ep, ok = endpointOf(rest)
	return name, alias, "", ep, ok
}

func endpointOf(s string) (endpoint, bool) {
	switch s {
	case "":
		return epInfo, true
	case "predict":
		return epPredict, true
	case "invocations":
		return epInvocations, true
	}
	return 0, false
}

// target is what serves one request.
type target struct {
	lv   *loadedVersion
	rm   *roleMetrics
	role Role
	rt   *routing // the deployment's routing (nil for explicit requests)
}

// resolve finds what serves a request.
func (m *Manager) resolve(ctx context.Context, name, alias, version string) (target, *Deployment, error) {
	if alias == "" && version == "" {
		d, err := m.ensure(ctx, name)
		if err != nil {
			return target{}, nil, err
		}
		r := d.route.Load()
		if r.main == nil {
			return target{}, d, r.why
		}
		s, role := r.pick()
		return target{lv: s.lv, rm: s.rm, role: role, rt: r}, d, nil
	}
	if alias != "" {
		v, err := m.resolveAlias(ctx, name, alias)
		if err != nil {
			return target{}, nil, err
		}
		version = v
	}
	lv, err := m.explicit(ctx, name, version)
	if err != nil {
		return target{}, nil, err
	}
	span := time.Duration(m.defaults.Rollback.Window)
	d := m.deployment(name)
	if d != nil {
		span = time.Duration(d.settings.Load().Rollback.Window)
	}
	return target{lv: lv, rm: lv.metrics(m.set, RoleExplicit, span), role: RoleExplicit}, d, nil
}

// admit applies the auth hook and the rate limit; it answers and returns
// false when the request may not proceed. A refused inference request to
// a model (route not "") goes into the request log.
func (m *Manager) admit(w http.ResponseWriter, r *http.Request, now time.Time, model, route string) bool {
	if check := *m.auth.Load(); check != nil {
		if err := check(r); err != nil {
			m.rejected("unauthorized")
			var he *HTTPError
			if errors.As(err, &he) {
				m.refuse(w, r, now, model, route, he.Status, he.Code, he.Msg)
			} else {
				m.refuse(w, r, now, model, route, http.StatusUnauthorized, "UNAUTHENTICATED", err.Error())
			}
			return false
		}
	}
	if ok, wait := m.limiter.allow(clientKey(r), now); !ok {
		m.rejected("rate_limit")
		secs := strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
		w.Header().Set("Retry-After", secs)
		m.refuse(w, r, now, model, route, http.StatusTooManyRequests, "REQUEST_LIMIT_EXCEEDED",
			"Too many requests from this client: the limit is "+strconv.FormatFloat(m.limiter.rate, 'g', -1, 64)+
				" per second (serve.rate_limit); retry after "+secs+"s")
		return false
	}
	return true
}

// refuse answers a request refused before it reached a model (auth, rate
// limit, size, content type) and records it in the request log, which
// keeps every failure: only for a model that has a deployment, so that
// requests to made-up names cannot create logs.
func (m *Manager) refuse(w http.ResponseWriter, r *http.Request, start time.Time, model, route string, status int, code, msg string) {
	body := appendError(nil, code, msg)
	if route != "" && m.deployment(model) != nil {
		m.obs.request(&reqEvent{Time: start, Model: model, Route: route, Client: clientIP(r), Status: status,
			Latency: time.Since(start), Output: body, Err: msg})
	}
	writeRaw(w, status, body)
}

func (m *Manager) infer(w http.ResponseWriter, r *http.Request, name, alias, version string, ep endpoint) {
	start := time.Now()
	route := routePredict
	if ep == epInvocations {
		route = routeInvoke
	}
	if !m.admit(w, r, start, name, route) {
		return
	}
	lim := &m.cfg.Limits
	csvBody := false
	ct := r.Header.Get("Content-Type")
	if ep == epPredict {
		if ct != "" && !isMediaType(ct, "application/json") {
			m.rejected("unsupported_media_type")
			m.refuse(w, r, start, name, route, http.StatusUnsupportedMediaType, "BAD_REQUEST", "Content-Type must be application/json, got "+strconv.Quote(ct))
			return
		}
	} else {
		switch {
		case isMediaType(ct, "application/json"):
		case isMediaType(ct, "text/csv"):
			csvBody = true
		default:
			m.rejected("unsupported_media_type")
			msg := "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '" + ct + "'."
			if m.deployment(name) != nil {
				m.obs.request(&reqEvent{Time: start, Model: name, Route: route, Client: clientIP(r), Status: http.StatusUnsupportedMediaType,
					Latency: time.Since(start), Output: []byte(msg), Err: msg})
			}
			// As MLflow's scoring server answers it: plain text.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnsupportedMediaType)
			_, _ = w.Write([]byte(msg + "\n"))
			return
		}
	}

	st := statePool.Get().(*reqState)
	defer st.release()
	limit := lim.MaxRequestBytes
	if limit <= 0 {
		limit = DefaultMaxRequestBytes
	}
	var err error
	st.body, err = readBody(r, st.body, limit)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			m.rejected("too_large")
			m.refuse(w, r, start, name, route, http.StatusRequestEntityTooLarge, "INVALID_PARAMETER_VALUE",
				"Request body too large: the limit is "+strconv.FormatInt(limit, 10)+" bytes (serve.max_request_bytes)")
			return
		}
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", "reading the request body: "+err.Error())
		return
	}
	probs := false
	if r.URL.RawQuery != "" {
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
			probs, _ = strconv.ParseBool(q.Get("probabilities"))
		}
	}

	ctx, cancel := context.WithTimeout(r.Context(), m.cfg.RequestTimeout)
	defer cancel()

	var (
		tgt         target
		d           *Deployment
		rows        int
		modelCalled bool
	)
	var inflight *metrics.Gauge
	defer func() {
		if inflight != nil {
			inflight.Dec()
		}
	}()
	for attempt := 0; ; attempt++ {
		prev := tgt.lv
		tgt, d, err = m.resolve(ctx, name, alias, version)
		if err != nil {
			break
		}
		if inflight == nil && d != nil {
			inflight = d.inflight
			inflight.Inc()
		}
		if prev == nil || !sameInputs(&prev.meta, &tgt.lv.meta) {
			st.frame = csvBody
			switch {
			case csvBody:
				rows, err = decodeCSV(st.body, tgt.lv, st)
			case ep == epPredict:
				rows, err = decodePredict(st.body, tgt.lv, st)
			default:
				rows, err = decodeInvocations(st.body, tgt.lv, st)
			}
			if err != nil {
				break
			}
		}
		nf, no := tgt.lv.meta.NFeatures, tgt.lv.meta.NOutputs
		st.out = resize(st.out, rows*no)
		modelCalled = true
		err = tgt.lv.m.PredictInto(ctx, st.out, st.in[:rows*nf], rows)
		// A version closed under us was swapped out (or evicted) between
		// resolving and calling: serve the request with what replaced it.
		if errors.Is(err, ErrClosed) && attempt < 4 && !m.closed.Load() {
			modelCalled = false
			continue
		}
		break
	}
	if d != nil {
		d.requests.Add(1)
	}
	ev := &st.ev
	ev.Time, ev.Model, ev.Route, ev.Client = start, name, route, clientIP(r)
	ev.Input = st.body
	if err != nil {
		status, code, msg := errorStatus(err)
		if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
			m.log.Warn("serve: inference failed", "model", name, "version", versionOf(tgt), "status", status, "error", err)
		}
		if tgt.lv != nil {
			h := w.Header()
			h[HeaderModelVersion] = tgt.lv.hdr
		}
		st.resp = appendError(st.resp[:0], code, msg)
		// Recorded before the answer goes out, so a client that got it sees
		// it counted.
		lat := time.Since(start)
		if tgt.lv != nil {
			var me *ModelError
			kind := ErrorKind(0)
			if errors.As(err, &me) {
				kind = me.Kind
			}
			called := modelCalled && status != 499
			tgt.rm.observe(start.Add(lat), status, lat, rows, kind, called)
			ev.Version, ev.Target, ev.meta = tgt.lv.version, tgt.role.String(), &tgt.lv.meta
		}
		ev.Status, ev.Latency, ev.Output, ev.Err = status, lat, st.resp, msg
		if d != nil || tgt.lv != nil { // not for names that are not models
			m.obs.request(ev)
		}
		writeRaw(w, status, st.resp)
		return
	}
	lv := tgt.lv
	nf := lv.meta.NFeatures
	if ep == epInvocations && lv.meta.NamedOutputs != nil {
		st.resp = lv.appendNamed(st.resp[:0], st.out[:rows*lv.meta.NOutputs], rows, st.frame)
	} else {
		st.resp = lv.appendResponse(st.resp[:0], st.out[:rows*lv.meta.NOutputs], rows, probs, ep == epInvocations)
	}
	lat := time.Since(start)
	tgt.rm.observe(start.Add(lat), http.StatusOK, lat, rows, 0, true)
	in := st.in[:rows*nf]
	m.obs.inputs(lv, in, nf)
	ev.Version, ev.Target, ev.Status, ev.Latency, ev.Rows = lv.version, tgt.role.String(), http.StatusOK, lat, rows
	ev.Output, ev.Inputs, ev.NFeatures, ev.meta = st.resp, in, nf, &lv.meta
	m.obs.request(ev)
	if tgt.rt != nil && tgt.rt.shadow != nil {
		m.mirror(d, tgt.rt, lv, in, rows, route, ev.Client)
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNoSniff
	h[HeaderModelVersion] = lv.hdr
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(st.resp)
}

func versionOf(t target) string {
	if t.lv == nil {
		return ""
	}
	return t.lv.version
}

// sameInputs reports whether two versions read their input the same way,
// so a decoded request can be reused.
func sameInputs(a, b *Metadata) bool {
	if a.NFeatures != b.NFeatures || len(a.FeatureNames) != len(b.FeatureNames) {
		return false
	}
	for i := range a.FeatureNames {
		if a.FeatureNames[i] != b.FeatureNames[i] {
			return false
		}
	}
	return true
}

// isMediaType reports whether the Content-Type ct is want, with no
// parameter but charset=utf-8 (as MLflow's scoring server requires).
func isMediaType(ct, want string) bool {
	if ct == want {
		return true
	}
	if !strings.HasPrefix(strings.ToLower(ct), want) {
		return false
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != want {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

func (m *Manager) rejected(reason string) {
	m.set.GetOrCreateCounter(metricRejected + `{reason="` + reason + `"}`).Inc()
}

// errorStatus maps an inference error to its HTTP status and error code.
func errorStatus(err error) (int, string, string) {
	var he *HTTPError
	var ie *inputError
	var me *ModelError
	switch {
	case errors.As(err, &he):
		return he.Status, he.Code, he.Msg
	case errors.As(err, &ie):
		return http.StatusBadRequest, "BAD_REQUEST", ie.msg
	case errors.As(err, &me):
		switch me.Kind {
		case KindModelReported:
			return http.StatusBadRequest, "BAD_REQUEST", "The model refused the input: " + me.Msg
		case KindTimeout:
			return http.StatusGatewayTimeout, "DEADLINE_EXCEEDED", "The model ran past its deadline: " + me.Msg
		case KindCanceled:
			return 499, "CANCELLED", "request cancelled"
		}
		return http.StatusInternalServerError, "INTERNAL_ERROR", "The model failed (" + me.Kind.String() + "): " + me.Msg
	case errors.Is(err, ErrInvalidInput):
		return http.StatusBadRequest, "BAD_REQUEST", err.Error()
	case errors.Is(err, ErrNoTarget):
		return http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", err.Error()
	case errors.Is(err, ErrNotServable), errors.Is(err, ErrDisabled), errors.Is(err, ErrInvalidModule):
		return http.StatusConflict, "INVALID_STATE", err.Error()
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE", "the model is being replaced or the server is shutting down; retry"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "DEADLINE_EXCEEDED", "Request processing time exceeded the limit (serve.request_timeout)"
	case errors.Is(err, context.Canceled):
		return 499, "CANCELLED", "request cancelled"
	case errors.Is(err, artifact.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE", err.Error()
	}
	switch store.KindOf(err) {
	case store.KindNotFound:
		return http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", err.Error()
	case store.KindInvalid, store.KindBadRequest:
		return http.StatusBadRequest, "INVALID_PARAMETER_VALUE", err.Error()
	}
	return http.StatusInternalServerError, "INTERNAL_ERROR", "internal error: " + err.Error()
}

func appendError(b []byte, code, msg string) []byte {
	b = append(b, `{"error_code":`...)
	b = strconv.AppendQuote(b, code)
	b = append(b, `,"message":`...)
	mb, _ := json.Marshal(msg)
	b = append(b, mb...)
	return append(b, '}')
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["X-Content-Type-Options"] = hdrNoSniff
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes {"error_code": code, "message": msg}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeRaw(w, status, appendError(nil, code, msg))
}

// appendResponse encodes {"predictions": [...]} (and "probabilities").
// For /invocations (invoke), a model whose predict_fn is predict_proba
// answers the output matrix as MLflow does, and predict_log_proba its
// logarithm (out is overwritten).
func (lv *loadedVersion) appendResponse(b []byte, out []float64, rows int, probs, invoke bool) []byte {
	no, ns := lv.meta.NOutputs, lv.meta.ScoreColumns()
	if invoke && (lv.meta.PredictFn == PredictFnProba || lv.meta.PredictFn == PredictFnLogProba) {
		if lv.meta.PredictFn == PredictFnLogProba {
			for i, v := range out {
				out[i] = math.Log(v)
			}
		}
		b = append(b, `{"predictions":`...)
		b = appendMatrix(b, out, rows, ns, no, lv.outBits)
		return append(b, '}')
	}
	b = append(b, `{"predictions":[`...)
	switch {
	case lv.labels != nil:
		for r := 0; r < rows; r++ {
			if r > 0 {
				b = append(b, ',')
			}
			b = append(b, lv.label(out[r*no:(r+1)*no])...)
		}
		b = append(b, ']')
		if probs {
			b = append(b, `,"probabilities":`...)
			b = appendMatrix(b, out, rows, ns, no, lv.outBits)
		}
	case no == 1:
		for r := 0; r < rows; r++ {
			if r > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, out[r], lv.outBits)
		}
		b = append(b, ']')
	default:
		b = appendMatrix(b[:len(b)-1], out, rows, no, no, lv.outBits)
	}
	return append(b, '}')
}

// label is the label of a row of outputs: the one the model's label index
// names (NamedOutputs.LabelIndex), else the arg max of the scores.
func (lv *loadedVersion) label(row []float64) []byte {
	if n := lv.meta.NamedOutputs; n != nil && n.LabelIndex {
		if i := row[len(row)-1]; i >= 0 && i < float64(len(lv.labels)) && i == math.Trunc(i) {
			return lv.labels[int(i)]
		}
		row = row[:len(row)-1] // not an index (a wrong module): the arg max
	}
	return lv.labels[argmax(row)]
}

// appendNamed encodes /invocations for a model with named outputs (ONNX)
// as MLflow's ONNX flavor answers: for a tensor input the dict of outputs,
// {"predictions": {"<label>": [...], "<scores>": [[...]]}}; for a
// DataFrame one record per row, {"predictions": [{"<label>": L,
// "<scores>": ...}]}. ZipMap scores are a {label: score} map a row. (For a
// DataFrame, MLflow fails on a label next to a probability matrix, "All
// arrays must be of the same length"; mlbox answers each row's list.)
func (lv *loadedVersion) appendNamed(b []byte, out []float64, rows int, frame bool) []byte {
	no, ns, n := lv.meta.NOutputs, lv.meta.ScoreColumns(), lv.meta.NamedOutputs
	label := lv.labels != nil && n.Label != ""
	// row encodes row r's scores: a {label: score} map (ZipMap) or a list.
	row := func(b []byte, r int) []byte {
		vals := out[r*no : r*no+ns]
		if n.Flat {
			return appendFloat(b, vals[0], lv.outBits)
		}
		open, end := byte('['), byte(']')
		if n.ZipMap && lv.labels != nil {
			open, end = '{', '}'
		}
		b = append(b, open)
		for k, v := range vals {
			if k > 0 {
				b = append(b, ',')
			}
			if open == '{' {
				if l := lv.labels[k]; len(l) > 0 && l[0] == '"' {
					b = append(b, l...)
				} else {
					b = strconv.AppendQuote(b, string(l))
				}
				b = append(b, ':')
			}
			b = appendFloat(b, v, lv.outBits)
		}
		return append(b, end)
	}
	b = append(b, `{"predictions":`...)
	if frame {
		b = append(b, '[')
		first := true
		for r := 0; r < rows; r++ {
			if label || n.ZipMap || no == 1 {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = append(b, '{')
				if label {
					b = strconv.AppendQuote(b, n.Label)
					b = append(b, ':')
					b = append(b, lv.label(out[r*no:(r+1)*no])...)
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, n.Scores)
				b = append(b, ':')
				switch {
				case no == 1 && !n.ZipMap:
					b = appendFloat(b, out[r], lv.outBits)
				default:
					b = row(b, r)
				}
				b = append(b, '}')
				continue
			}
			// A regressor of several outputs: MLflow flattens them, one record each.
			for k := 0; k < no; k++ {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = append(b, '{')
				b = strconv.AppendQuote(b, n.Scores)
				b = append(b, ':')
				b = appendFloat(b, out[r*no+k], lv.outBits)
				b = append(b, '}')
			}
		}
		return append(b, "]}"...)
	}
	b = append(b, '{')
	if label {
		b = strconv.AppendQuote(b, n.Label)
		b = append(b, ":["...)
		for r := 0; r < rows; r++ {
			if r > 0 {
				b = append(b, ',')
			}
			b = append(b, lv.label(out[r*no:(r+1)*no])...)
		}
		b = append(b, "],"...)
	}
	b = strconv.AppendQuote(b, n.Scores)
	b = append(b, ":["...)
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		b = row(b, r)
	}
	return append(b, "]}}"...)
}

// argmax returns the index of the largest value (NaN never wins).
func argmax(row []float64) int {
	best := 0
	for k := 1; k < len(row); k++ {
		if row[k] > row[best] || row[best] != row[best] && row[k] == row[k] {
			best = k
		}
	}
	return best
}

// appendMatrix encodes rows × cols values as a JSON list of lists; row r
// starts at out[r*stride].
func appendMatrix(b []byte, out []float64, rows, cols, stride, bits int) []byte {
	b = append(b, '[')
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for k := 0; k < cols; k++ {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, out[r*stride+k], bits)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendFloat writes v as a JSON number; NaN and ±Inf, which JSON cannot
// hold, become null.
func appendFloat(b []byte, v float64, bits int) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	if bits == 32 {
		return strconv.AppendFloat(b, float64(float32(v)), 'g', -1, 32)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// ---- info ----

// Info describes what serves at an endpoint (GET /models/{name}...).
type Info struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Role      string    `json:"role"`
	Target    string    `json:"target,omitempty"`
	SHA256    string    `json:"sha256"`
	LoadedAt  time.Time `json:"loaded_at"`
	Metadata  Metadata  `json:"metadata"`
	Signature struct {
		Inputs  string `json:"inputs"`
		Outputs string `json:"outputs"`
	} `json:"signature"`
	Canary *struct {
		Version string  `json:"version"`
		Share   float64 `json:"share"`
	} `json:"canary,omitempty"`
}

func (m *Manager) serveInfo(w http.ResponseWriter, r *http.Request, name, alias, version string) {
	ctx, cancel := context.WithTimeout(r.Context(), m.cfg.RequestTimeout)
	defer cancel()
	tgt, d, err := m.resolve(ctx, name, alias, version)
	if err != nil {
		status, code, msg := errorStatus(err)
		writeError(w, status, code, msg)
		return
	}
	lv := tgt.lv
	info := Info{Name: name, Version: lv.version, Role: tgt.role.String(), SHA256: lv.sha, LoadedAt: lv.loadedAt, Metadata: lv.meta}
	info.Signature.Inputs, info.Signature.Outputs = lv.meta.Signature()
	if tgt.rt != nil {
		info.Role, info.Target = RoleMain.String(), tgt.rt.main.target
		info.Version, info.SHA256, info.LoadedAt, info.Metadata = tgt.rt.main.lv.version, tgt.rt.main.lv.sha, tgt.rt.main.lv.loadedAt, tgt.rt.main.lv.meta
		info.Signature.Inputs, info.Signature.Outputs = tgt.rt.main.lv.meta.Signature()
		if c := tgt.rt.canary; c != nil {
			info.Canary = &struct {
				Version string  `json:"version"`
				Share   float64 `json:"share"`
			}{c.lv.version, tgt.rt.canaryShare}
		}
	} else if alias != "" {
		info.Target = "alias " + alias
	}
	_ = d
	b, _ := json.Marshal(info)
	writeRaw(w, http.StatusOK, b)
}

// ---- shadow ----

// shadowJob is one mirrored request.
type shadowJob struct {
	d      *Deployment
	s      *slot
	from   *loadedVersion // the version that served it (its input layout)
	in     []float64
	rows   int
	route  string
	client string
}

var shadowPool = sync.Pool{New: func() any { return new(shadowJob) }}

// mirror queues a copy of a served request for the shadow version; when
// the queue is full the copy is dropped (and counted).
func (m *Manager) mirror(d *Deployment, r *routing, from *loadedVersion, in []float64, rows int, route, client string) {
	if r.shadowShare < 1 && rand.Float64() >= r.shadowShare {
		return
	}
	j := shadowPool.Get().(*shadowJob)
	j.d, j.s, j.from, j.rows, j.route, j.client = d, r.shadow, from, rows, route, client
	j.in = append(j.in[:0], in...)
	select {
	case m.shadowQ <- j:
	default:
		d.shadowDropped.Inc()
		j.release()
	}
}

func (j *shadowJob) release() {
	j.d, j.s, j.from = nil, nil, nil
	if cap(j.in) > maxPooled/8 {
		j.in = nil
	}
	shadowPool.Put(j)
}

func (m *Manager) shadowWorker() {
	defer m.wg.Done()
	var out, in []float64
	var resp []byte
	var ev reqEvent
	for {
		select {
		case <-m.ctx.Done():
			return
		case j := <-m.shadowQ:
			out, in, resp = m.runShadow(j, out, in, resp, &ev)
			j.release()
		}
	}
}

// runShadow predicts a mirrored request on the shadow version and records
// the outcome; the answer goes nowhere else.
func (m *Manager) runShadow(j *shadowJob, out, in []float64, resp []byte, ev *reqEvent) ([]float64, []float64, []byte) {
	lv := j.s.lv
	nf, no := lv.meta.NFeatures, lv.meta.NOutputs
	start := time.Now()
	var err error
	if sameInputs(&j.from.meta, &lv.meta) {
		in = append(in[:0], j.in...)
	} else {
		in, err = relayout(in[:0], j.in, j.rows, &j.from.meta, lv)
	}
	status := http.StatusOK
	kind := ErrorKind(0)
	called := false
	if err == nil {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.RequestTimeout)
		out = resize(out, j.rows*no)
		called = true
		err = lv.m.PredictInto(ctx, out, in, j.rows)
		cancel()
	}
	msg := ""
	if err != nil {
		if errors.Is(err, ErrClosed) || m.ctx.Err() != nil {
			return out, in, resp // swapped out or shutting down: not the version's fault
		}
		var me *ModelError
		if errors.As(err, &me) {
			kind = me.Kind
		}
		status, _, msg = errorStatus(err)
		resp = appendError(resp[:0], "", msg)
	} else {
		resp = lv.appendResponse(resp[:0], out[:j.rows*no], j.rows, false, j.route == routeInvoke)
		m.obs.inputs(lv, in, nf)
	}
	lat := time.Since(start)
	j.s.rm.observe(start.Add(lat), status, lat, j.rows, kind, called)
	*ev = reqEvent{Time: start, Model: j.d.name, Version: lv.version, Target: RoleShadow.String(), Route: j.route,
		Client: j.client, Status: status, Latency: lat, Rows: j.rows, Output: resp, Inputs: in, NFeatures: nf, Err: msg, meta: &lv.meta}
	m.obs.request(ev)
	return out, in, resp
}

// relayout reorders rows from one version's feature order to another's, by
// feature name.
func relayout(dst, src []float64, rows int, from *Metadata, to *loadedVersion) ([]float64, error) {
	fromNames := from.InputNames()
	nfFrom, nfTo := from.NFeatures, to.meta.NFeatures
	cols := make([]int, nfTo)
	for i := range cols {
		cols[i] = -1
	}
	for j, n := range fromNames {
		if k, ok := to.names[n]; ok {
			cols[k] = j
		}
	}
	for k, j := range cols {
		if j < 0 {
			return dst, badInput("the shadow version takes feature %q, which the serving version does not", to.meta.InputNames()[k])
		}
	}
	dst = resize(dst, rows*nfTo)
	for r := 0; r < rows; r++ {
		for k, j := range cols {
			dst[r*nfTo+k] = src[r*nfFrom+j]
		}
	}
	return dst, nil
}

// DefaultHandler serves POST /predict at the root (as /models/{name}/predict):
// for the model named (defaultModel), else for the one model being
// served. With none or several it answers 400 and lists them.
func (m *Manager) DefaultHandler(defaultModel string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := defaultModel
		if name == "" {
			var serving []string
			for _, d := range m.Deployments() {
				if d.reconciled.Load() && d.route.Load().main != nil {
					serving = append(serving, d.name)
				}
			}
			switch len(serving) {
			case 1:
				name = serving[0]
			case 0:
				writeError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE",
					"POST /predict serves the one model being served, and none is; register a model and set its alias (see GET /api/mlbox/v1/deployments)")
				return
			default:
				if len(serving) > 20 {
					serving = append(serving[:20], "…")
				}
				writeError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE",
					"POST /predict serves the one model being served, and "+strconv.Itoa(len(serving))+" are ("+strings.Join(serving, ", ")+
						"); use POST /models/{name}/predict, or set serve.default_model")
				return
			}
		}
		m.infer(w, r, name, "", "", epPredict)
	})
}

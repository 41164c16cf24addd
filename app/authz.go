package app

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mlbox/store"
)

// Who a request comes from (authentication, in the middleware) and what
// it may do (authorization, per route, from the route's policy).

// principal is an authenticated caller.
type principal struct {
	user  *store.User // nil for the service token
	admin bool
	name  string // for audit entries and approvals
	// token is the access token the request came with (tokens.go);
	// models, set for an inference-only token, the models it may call.
	token  *store.Token
	models []string
	// session is the UI login session the request came with (session.go),
	// csrf the token its state-changing requests must carry.
	session *store.Token
	csrf    string
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf returns the caller of r, or nil when anonymous.
func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// actorOf names the caller for audit entries: the user, "service" for
// the service token, "" without authentication.
func actorOf(r *http.Request) string {
	if p := principalOf(r); p != nil {
		return p.name
	}
	return ""
}

var errInferenceOnly = &apiError{http.StatusForbidden, "PERMISSION_DENIED", "Permission denied: an inference-only token calls /models/<name>/... of the models it names, nothing else"}

var errPermissionDenied = &apiError{http.StatusForbidden, "PERMISSION_DENIED", "Permission denied"}

// authOn reports whether requests are authenticated at all.
func (a *App) authOn() bool { return a.cfg.HTTP.AuthToken != "" || a.acct != nil }

// authenticate finds who r comes from. ok is false for credentials that
// are present but wrong (never treated as anonymous); p is nil for a
// request without credentials.
func (a *App) authenticate(r *http.Request, token [32]byte) (p *principal, ok bool) {
	if p, handled, ok := a.proxyPrincipal(r); handled {
		return p, ok
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return a.sessionPrincipal(r), true
	}
	scheme, cred, found := strings.Cut(h, " ")
	if !found {
		return nil, false
	}
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		if a.cfg.HTTP.AuthToken != "" && tokenMatches(cred, token) {
			return &principal{admin: true, name: "service"}, true
		}
		if a.jobToken != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(a.jobToken)) == 1 {
			return &principal{admin: true, name: "scheduler"}, true
		}
		if a.acct != nil && isAccessToken(cred) {
			if t, u, good := a.acct.checkToken(cred, time.Now()); good && t.Kind == "" {
				if len(t.Models) > 0 {
					return &principal{user: u, name: u.Username, token: t, models: t.Models}, true
				}
				return &principal{user: u, admin: u.IsAdmin, name: u.Username, token: t}, true
			}
		}
		return nil, false
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return nil, false
		}
		user, pw, found := strings.Cut(string(raw), ":")
		if !found {
			return nil, false
		}
		if a.acct != nil {
			if u, good := a.acct.verify(r.Context(), user, pw); good {
				return &principal{user: u, admin: u.IsAdmin, name: u.Username}, true
			}
		}
		// The service token as the password, with any user name.
		if a.cfg.HTTP.AuthToken != "" && tokenMatches(pw, token) {
			return &principal{admin: true, name: "service"}, true
		}
		return nil, false
	}
	return nil, false
}

// guard enforces a route's policy (installed by the router when
// authentication is on).
func (a *App) guard(_ string, pol policy, next http.Handler) http.Handler {
	if pol.Access == accessPublic {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if p == nil {
			a.challenge(w, r)
			a.writeError(w, r, errUnauthenticated)
			return
		}
		if p.models != nil { // an inference-only token
			if !a.inferenceAllows(r, p, pol) {
				a.writeError(w, r, errInferenceOnly)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !p.admin {
			switch pol.Access {
			case accessAdmin:
				a.writeError(w, r, errPermissionDenied)
				return
			case accessResource:
				if err := a.authorize(r, p, pol); err != nil {
					a.writeError(w, r, err)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authorize checks a resource policy for a user who is not an admin.
func (a *App) authorize(r *http.Request, p *principal, pol policy) error {
	if p.user == nil || a.acct == nil {
		return errPermissionDenied
	}
	typ, id, err := a.resourceOf(r, pol)
	if err != nil {
		return err
	}
	if typ == "" { // the request names nothing: the handler answers its 400
		return nil
	}
	if !a.acct.effective(p.user.ID, typ, id).can(pol.Need) {
		return errPermissionDenied
	}
	return nil
}

// resourceOf finds the resource a request acts on: its permission type
// and id. An unknown run or logged model is denied (no existence oracle);
// an experiment or model is judged by its id, existing or not (the
// handler answers 404), as MLflow does.
func (a *App) resourceOf(r *http.Request, pol policy) (typ, id string, err error) {
	ctx := r.Context()
	switch pol.Res {
	case resExperiment:
		v, ok := a.param(r, pol.From)
		if !ok {
			return "", "", nil
		}
		return "experiment", v, nil
	case resRun:
		v, ok := a.param(r, "run_id")
		if !ok || v == "" {
			if v, ok = a.param(r, "run_uuid"); !ok {
				return "", "", nil
			}
		}
		exp, err := a.store.RunExperiment(ctx, v)
		if err != nil {
			return "", "", errPermissionDenied
		}
		return "experiment", exp, nil
	case resLoggedModel:
		m, err := a.store.GetLoggedModel(ctx, r.PathValue("model_id"), true)
		if err != nil {
			return "", "", errPermissionDenied
		}
		return "experiment", m.Info.ExperimentID, nil
	case resArtifactPath:
		v, _ := a.param(r, pol.From)
		seg, _, _ := strings.Cut(strings.TrimPrefix(v, "/"), "/")
		if seg == "" || strings.Trim(seg, "0123456789") != "" {
			// Not under an experiment: judged by the default permission.
			return "experiment", "", nil
		}
		return "experiment", seg, nil
	case resModel:
		v, ok := a.param(r, pol.From)
		if !ok {
			return "", "", nil
		}
		return "registered_model", v, nil
	case resServedModel:
		rest := strings.TrimPrefix(r.URL.Path, "/models/")
		name, _, _ := strings.Cut(rest, "/")
		if i := strings.LastIndexByte(name, '@'); i >= 0 {
			name = name[:i]
		}
		return "registered_model", name, nil
	case resDefaultModel:
		return "registered_model", a.cfg.Serve.DefaultModel, nil
	}
	return "", "", errPermissionDenied
}

// param reads a request parameter the way the handlers do: a {path}
// value, the query of a GET, else the JSON body (which stays readable
// for the handler), else the query.
func (a *App) param(r *http.Request, name string) (string, bool) {
	if strings.HasPrefix(name, "{") {
		v := r.PathValue(strings.Trim(name, "{}"))
		return v, v != ""
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if m := a.bodyFields(r); m != nil {
			if raw, ok := m[name]; ok {
				var s string
				if json.Unmarshal(raw, &s) == nil {
					return s, true
				}
				if n := strings.TrimSpace(string(raw)); n != "" && n != "null" {
					return strings.Trim(n, `"`), true
				}
				return "", false
			}
			return "", false
		}
	}
	q := r.URL.Query()
	if !q.Has(name) {
		return "", false
	}
	return q.Get(name), true
}

type bodyFieldsKey struct{}

// bodyFields parses a JSON object body once per request, leaving the body
// to be read again; nil when it is not one.
func (a *App) bodyFields(r *http.Request) map[string]json.RawMessage {
	if m, ok := r.Context().Value(bodyFieldsKey{}).(map[string]json.RawMessage); ok {
		return m
	}
	limit := a.cfg.HTTP.MaxRequestBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || int64(len(body)) > limit {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	*r = *r.WithContext(context.WithValue(r.Context(), bodyFieldsKey{}, m))
	return m
}

type readCloser struct {
	io.Reader
	io.Closer
}

// canRead reports whether the caller of r may read a resource (for the
// handlers that filter what they return).
func (a *App) canRead(r *http.Request, typ, id string) bool {
	p := principalOf(r)
	if !a.authOn() || (p != nil && p.admin) {
		return true
	}
	if p == nil || p.user == nil || a.acct == nil {
		return false
	}
	return a.acct.effective(p.user.ID, typ, id).can(capRead)
}

// filtering reports whether results must be filtered for the caller (a
// user who is not an admin).
func (a *App) filtering(r *http.Request) bool {
	if a.acct == nil {
		return false
	}
	p := principalOf(r)
	return p == nil || !p.admin
}

// granted records the creator's MANAGE on what they just created (an
// experiment, a registered model), as MLflow does; admins too.
func (a *App) granted(r *http.Request, typ, id string) error {
	p := principalOf(r)
	if a.acct == nil || p == nil || p.user == nil {
		return nil
	}
	return a.acct.grant(r.Context(), p.user, typ, id, "MANAGE", true)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// readableExperiments keeps the experiment ids the caller may read (runs
// and logged-model searches filter their experiment_ids first, so pages
// stay whole). It returns ids unchanged when nothing is filtered.
func (a *App) readableExperiments(r *http.Request, ids []string) []string {
	if !a.filtering(r) {
		return ids
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if a.canRead(r, "experiment", id) {
			out = append(out, id)
		}
	}
	return out
}

// refill pages through a search until it holds max results the caller
// may see or the search ends, as MLflow's app does for experiments and
// registered models: the page token it returns resumes right after the
// last result examined, so a page may come back short (or empty) while
// more follow.
func refill[T any](max int, token string, fetch func(n int, token string) ([]T, string, error), keep func(T) bool) ([]T, string, error) {
	var out []T
	for {
		items, next, err := fetch(max-len(out), token)
		if err != nil {
			return nil, "", err
		}
		for _, it := range items {
			if keep(it) {
				out = append(out, it)
			}
		}
		if len(out) >= max || next == "" || len(items) == 0 {
			return out, next, nil
		}
		token = next
	}
}

// modelType is the permission namespace of a registered model: prompts
// (tagged mlflow.prompt.is_prompt) have their own.
func modelType(tags []store.Tag) string {
	for _, t := range tags {
		if t.Key == "mlflow.prompt.is_prompt" && t.Value == "true" {
			return "prompt"
		}
	}
	return "registered_model"
}

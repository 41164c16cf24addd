package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"mlbox/store"
)

// Access tokens, for clients that should not hold a password:
//
//   - personal tokens act as their user, with the user's permissions (CI
//     jobs, notebooks: MLFLOW_TRACKING_TOKEN);
//   - inference-only tokens name registered models and call nothing but
//     /models/<name>/... of those (and POST /predict when the default model
//     is one of them), so a serving client holds no write rights. Their
//     user must still have USE on the model when the call is made.
//
// A token is "mlbox_<id>_<secret>": the id finds it, and only a SHA-256
// digest of the 256-bit secret is stored (a key-derivation function adds
// nothing to a random secret of that size, and would cost every request).
// Tokens are named, expire (90 days unless asked otherwise; 0 days: never)
// and are revoked by deleting them. They are managed with a password (or
// a UI session), never with a token, so a leaked token cannot mint or
// extend tokens.

const (
	tokenPrefix        = "mlbox_"
	defaultTokenDays   = 90
	maxTokenDays       = 3650
	maxTokensPerUser   = 100
	maxTokenNameLen    = 100
	maxTokenModels     = 100
	tokenTouchInterval = time.Minute
)

// newTokenSecret returns a new token's id, its secret's digest and the
// token as the client sends it.
func newTokenSecret() (id, digest, full string) {
	var idb [8]byte
	var sec [32]byte
	rand.Read(idb[:])
	rand.Read(sec[:])
	id = hex.EncodeToString(idb[:])
	s := base64.RawURLEncoding.EncodeToString(sec[:])
	return id, tokenDigest(s), tokenPrefix + id + "_" + s
}

func tokenDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// tokenParts splits a token into its id and secret (ok false when it has
// not the shape of one).
func tokenParts(cred string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(cred, tokenPrefix)
	if !found {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && len(id) == 16
}

// isAccessToken reports whether cred has the shape of an access token.
func isAccessToken(cred string) bool { return strings.HasPrefix(cred, tokenPrefix) }

// checkToken finds the token cred is and its user; ok is false for an
// unknown, wrong or expired token.
func (ac *accounts) checkToken(cred string, now time.Time) (t *store.Token, u *store.User, ok bool) {
	id, secret, found := tokenParts(cred)
	if !found {
		return nil, nil, false
	}
	ac.mu.RLock()
	t = ac.tokens[id]
	if t != nil {
		u = ac.byID[t.UserID]
	}
	ac.mu.RUnlock()
	d := tokenDigest(secret)
	if t == nil || u == nil || subtle.ConstantTimeCompare([]byte(d), []byte(t.SecretHash)) != 1 {
		return nil, nil, false
	}
	ms := now.UnixMilli()
	if t.ExpiresMs != 0 && ms >= t.ExpiresMs {
		return nil, nil, false
	}
	if ms-t.LastUsedMs >= tokenTouchInterval.Milliseconds() {
		ac.touchToken(t.ID, ms)
	}
	return t, u, true
}

// touchToken records a use in memory at once and in the store in the
// background (at most once a minute a token).
func (ac *accounts) touchToken(id string, ms int64) {
	ac.mu.Lock()
	t := ac.tokens[id]
	if t == nil || ms-t.LastUsedMs < tokenTouchInterval.Milliseconds() {
		ac.mu.Unlock()
		return
	}
	c := *t
	c.LastUsedMs = ms
	ac.tokens[id] = &c
	ac.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ac.st.TouchToken(ctx, id, ms) // best effort: a record of use, not of rights
	}()
}

// createToken stores a new token for t.UserID and returns it with the
// secret to hand out (once).
func (ac *accounts) createToken(ctx context.Context, t store.Token) (store.Token, string, error) {
	if t.Kind == "" { // access tokens: unique names, a bounded number (sessions: pruneSessions)
		mine := ac.tokensOf(t.UserID, "")
		for _, o := range mine {
			if o.Name == t.Name {
				return store.Token{}, "", &apiError{400, "RESOURCE_ALREADY_EXISTS", fmt.Sprintf("A token named '%s' already exists for this user", t.Name)}
			}
		}
		if len(mine) >= maxTokensPerUser {
			return store.Token{}, "", &apiError{400, "RESOURCE_LIMIT_EXCEEDED", fmt.Sprintf("A user may hold at most %d tokens: revoke some first", maxTokensPerUser)}
		}
	}
	id, digest, full := newTokenSecret()
	t.ID, t.SecretHash = id, digest
	err := ac.change(ctx, func() error { return ac.st.PutToken(ctx, t) }, func() {
		c := t
		ac.tokens[id] = &c
	})
	if err != nil {
		return store.Token{}, "", err
	}
	return t, full, nil
}

func (ac *accounts) token(id string) *store.Token {
	ac.mu.RLock()
	defer ac.mu.RUnlock()
	return ac.tokens[id]
}

func (ac *accounts) deleteToken(ctx context.Context, id string) error {
	return ac.change(ctx, func() error { return ac.st.DeleteToken(ctx, id) }, func() { delete(ac.tokens, id) })
}

// tokensOf lists the tokens of a kind ("" access tokens, "session") of a
// user (all users when user is 0), oldest first.
func (ac *accounts) tokensOf(user int64, kind string) []store.Token {
	ac.mu.RLock()
	var out []store.Token
	for _, t := range ac.tokens {
		if t.Kind == kind && (user == 0 || t.UserID == user) {
			out = append(out, *t)
		}
	}
	ac.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedMs != out[j].CreatedMs {
			return out[i].CreatedMs < out[j].CreatedMs
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// --- authorization of inference-only tokens ---

// inferenceAllows reports whether an inference-only token may make a
// request under pol: only inference on a model it names, whose owner may
// USE it.
func (a *App) inferenceAllows(r *http.Request, p *principal, pol policy) bool {
	if pol.Access != accessResource || (pol.Res != resServedModel && pol.Res != resDefaultModel) {
		return false
	}
	_, name, err := a.resourceOf(r, pol)
	if err != nil || name == "" || !slices.Contains(p.models, name) {
		return false
	}
	return p.user != nil && (p.user.IsAdmin || a.acct.effective(p.user.ID, "registered_model", name).can(capUse))
}

// --- API: /api/mlbox/v1/tokens ---

func (a *App) tokenRoutes() {
	const p = "/api/mlbox/v1/tokens"
	a.mux.HandleFunc("GET "+p, a.wrap(a.accountsOnly(a.listTokens)))
	a.mux.HandleFunc("POST "+p, a.wrap(a.accountsOnly(a.createTokenAPI)))
	a.mux.HandleFunc("DELETE "+p+"/{id}", a.wrap(a.accountsOnly(a.revokeToken)))
	a.mux.HandleFunc("GET /api/mlbox/v1/auth/audit", a.wrap(a.accountsOnly(a.listAuthAudit)))
}

var errTokenManagesTokens = &apiError{http.StatusForbidden, "PERMISSION_DENIED",
	"Tokens are managed with a user name and password (or from the UI), not with a token"}

// tokenManager is the caller of a token API request: a user (or the
// service token) authenticated without an access token.
func tokenManager(r *http.Request) (*principal, error) {
	p := principalOf(r)
	if p == nil {
		return nil, errUnauthenticated
	}
	if p.token != nil {
		return nil, errTokenManagesTokens
	}
	return p, nil
}

// tokenJSON is a token as the API shows it (never its secret).
func (a *App) tokenJSON(t store.Token) map[string]any {
	m := map[string]any{"id": t.ID, "name": t.Name, "kind": "personal", "created_ms": t.CreatedMs}
	if u := a.acct.userByID(t.UserID); u != nil {
		m["user"] = u.Username
	}
	if len(t.Models) > 0 {
		m["kind"] = "inference"
		m["models"] = t.Models
	}
	if t.ExpiresMs != 0 {
		m["expires_ms"] = t.ExpiresMs
	}
	if t.LastUsedMs != 0 {
		m["last_used_ms"] = t.LastUsedMs
	}
	if t.Description != "" {
		m["description"] = t.Description
	}
	return m
}

func (a *App) createTokenAPI(w http.ResponseWriter, r *http.Request) error {
	p, err := tokenManager(r)
	if err != nil {
		return err
	}
	var req struct {
		Name          optString `json:"name" required:"true" max:"100"`
		User          optString `json:"user" max:"255"`
		ExpiresInDays optInt    `json:"expires_in_days"`
		Models        strList   `json:"models" max:"256"`
		Description   optString `json:"description" max:"1000"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name.V)
	if name == "" {
		return invalidParam("Missing value for required parameter 'name'.")
	}
	owner := p.user
	if req.User.Set && (owner == nil || req.User.V != owner.Username) {
		if !p.admin {
			return &apiError{http.StatusForbidden, "PERMISSION_DENIED", "Only admins create tokens for other users"}
		}
		if owner, err = a.targetUser(req.User.V); err != nil {
			return err
		}
	}
	if owner == nil {
		return invalidParam("The service token has no user: name the token's owner in 'user'")
	}
	days := int64(defaultTokenDays)
	if req.ExpiresInDays.Set {
		days = req.ExpiresInDays.V
	}
	if days < 0 || days > maxTokenDays {
		return invalidParam(fmt.Sprintf("expires_in_days must be between 0 (never expires) and %d, got %d", maxTokenDays, days))
	}
	if len(req.Models) > maxTokenModels {
		return invalidParam(fmt.Sprintf("An inference token names at most %d models", maxTokenModels))
	}
	var models []string
	for _, m := range req.Models {
		if m == "" {
			return invalidParam("models: a model name is empty")
		}
		if !slices.Contains(models, m) {
			models = append(models, m)
		}
		// The creator must be able to use what the token will: no token
		// reaches further than its maker.
		if !p.admin && !a.acct.effective(p.user.ID, "registered_model", m).can(capUse) {
			return &apiError{http.StatusForbidden, "PERMISSION_DENIED", fmt.Sprintf("You need USE on registered model '%s' to create a token for it", m)}
		}
	}
	now := time.Now()
	t := store.Token{UserID: owner.ID, Name: name, CreatedMs: now.UnixMilli(), Models: models, Description: req.Description.V}
	if days > 0 {
		t.ExpiresMs = now.Add(time.Duration(days) * 24 * time.Hour).UnixMilli()
	}
	t, secret, err := a.acct.createToken(r.Context(), t)
	if err != nil {
		return err
	}
	detail := "personal"
	if len(models) > 0 {
		detail = "inference: " + strings.Join(models, ",")
	}
	a.authAudit(r, "token.created", owner.Username, name+" ("+t.ID+", "+detail+")")
	w.WriteHeader(http.StatusCreated)
	return writeJSON(w, map[string]any{"token": a.tokenJSON(t), "secret": secret})
}

func (a *App) listTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := tokenManager(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var user int64
	switch {
	case q.Has("user"):
		u, err := a.targetUser(q.Get("user"))
		if err != nil {
			if !p.admin {
				return errPermissionDenied
			}
			return err
		}
		if !p.admin && (p.user == nil || p.user.ID != u.ID) {
			return errPermissionDenied
		}
		user = u.ID
	case p.admin && q.Get("all") == "true":
	case p.user != nil:
		user = p.user.ID
	default:
		return invalidParam("The service token has no tokens of its own: list with all=true or user=<name>")
	}
	list := a.acct.tokensOf(user, "")
	out := make([]map[string]any, 0, len(list))
	for _, t := range list {
		out = append(out, a.tokenJSON(t))
	}
	return writeJSON(w, map[string]any{"tokens": out})
}

func (a *App) revokeToken(w http.ResponseWriter, r *http.Request) error {
	p, err := tokenManager(r)
	if err != nil {
		return err
	}
	id, err := pathParam(r, "id", 64)
	if err != nil {
		return err
	}
	t := a.acct.token(id)
	if t == nil || t.Kind != "" || (!p.admin && (p.user == nil || p.user.ID != t.UserID)) {
		// Someone else's token is not found either: ids are no oracle.
		return store.NotFoundf("Token '%s' not found", id)
	}
	if err := a.acct.deleteToken(r.Context(), id); err != nil {
		return err
	}
	owner := ""
	if u := a.acct.userByID(t.UserID); u != nil {
		owner = u.Username
	}
	a.authAudit(r, "token.revoked", owner, t.Name+" ("+t.ID+")")
	return writeJSON(w, map[string]any{})
}

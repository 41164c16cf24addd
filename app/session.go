package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"mlbox/store"
)

// UI login sessions (with auth.enabled). POST /api/mlbox/v1/session checks
// a user name and password and sets a cookie holding a session secret:
// HttpOnly (page scripts cannot read it), SameSite=Lax (other sites'
// forms and scripts do not send it) and Secure under TLS. A session is an
// access token of kind "session", stored as a digest like the others, so
// it survives restarts and logging out revokes it at once.
//
// State-changing requests authenticated by the cookie must also carry the
// session's CSRF token in X-CSRF-Token, which the login answer (and GET
// /api/mlbox/v1/session) hands to the page: a token derived from the
// session secret, which another site cannot read. That comes on top of
// the Origin check (origin.go).
//
// The UI marks its requests with X-Requested-With: mlbox-ui; their 401s
// carry no WWW-Authenticate challenge, so the browser shows the UI's login
// page instead of its own prompt.

const (
	sessionCookie      = "mlbox_session"
	csrfHeader         = "X-CSRF-Token"
	uiRequestHeader    = "X-Requested-With"
	uiRequestValue     = "mlbox-ui"
	maxSessionsPerUser = 20
)

// csrfFor is the CSRF token of a session secret.
func csrfFor(secret string) string {
	sum := sha256.Sum256([]byte("mlbox-csrf\x00" + secret))
	return hex.EncodeToString(sum[:16])
}

// sessionPrincipal authenticates a session cookie; nil for none, an
// unknown, revoked or expired session (the request is then anonymous: a
// stale cookie must not lock anyone out of public pages).
func (a *App) sessionPrincipal(r *http.Request) *principal {
	c, err := r.Cookie(sessionCookie)
	if err != nil || a.acct == nil || !isAccessToken(c.Value) {
		return nil
	}
	t, u, ok := a.acct.checkToken(c.Value, time.Now())
	if !ok || t.Kind != "session" {
		return nil
	}
	_, secret, _ := tokenParts(c.Value)
	return &principal{user: u, admin: u.IsAdmin, name: u.Username, session: t, csrf: csrfFor(secret)}
}

// csrfOK reports whether a request may go on as far as CSRF goes: only
// state-changing requests authenticated by the session cookie need the
// token.
func csrfOK(r *http.Request, p *principal) bool {
	if p == nil || p.session == nil || safeMethod(r.Method) {
		return true
	}
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf)) == 1
}

var errCSRF = &apiError{http.StatusForbidden, "PERMISSION_DENIED",
	"Missing or wrong CSRF token: a request authenticated by the session cookie must send the X-CSRF-Token the login answered with"}

// challenge adds the Basic challenge to a 401, except for the UI's own
// requests while accounts are on (the UI shows its login page).
func (a *App) challenge(w http.ResponseWriter, r *http.Request) {
	if a.acct != nil && r.Header.Get(uiRequestHeader) == uiRequestValue {
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="mlbox", charset="UTF-8"`)
}

// secureRequest reports whether the client reached mlbox over TLS: its own,
// or the trusted proxy's (X-Forwarded-Proto).
func (a *App) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return a.proxy != nil && a.proxy.trusted(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (a *App) sessionRoutes() {
	const p = "/api/mlbox/v1/session"
	a.mux.HandleFunc("GET "+p, a.wrap(a.getSession))
	a.mux.HandleFunc("POST "+p, a.wrap(a.accountsOnly(a.login)))
	a.mux.HandleFunc("DELETE "+p, a.wrap(a.accountsOnly(a.logout)))
}

// getSession tells the UI how authentication works here and who the
// caller is.
func (a *App) getSession(w http.ResponseWriter, r *http.Request) error {
	mode := "none"
	switch {
	case a.acct != nil:
		mode = "accounts"
	case a.cfg.HTTP.AuthToken != "":
		mode = "token"
	}
	out := map[string]any{"auth": mode, "authenticated": false}
	p := principalOf(r)
	if mode == "none" {
		out["authenticated"] = true
	}
	if p != nil {
		out["authenticated"] = true
		out["is_admin"] = p.admin
		if p.user != nil {
			out["user"] = userJSON(p.user)
		}
		if p.session != nil {
			out["csrf_token"] = p.csrf
			out["expires_ms"] = p.session.ExpiresMs
		}
	}
	return writeJSON(w, out)
}

var errWrongLogin = &apiError{http.StatusUnauthorized, "UNAUTHENTICATED", "Wrong user name or password"}

func (a *App) login(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username optString `json:"username" required:"true" max:"255"`
		Password optString `json:"password" required:"true" max:"1024"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	key := clientKey(a.clientAddr(r))
	if d := a.limiter.lockedFor(key); d > 0 {
		w.Header().Set("Retry-After", itoa(int64((d+time.Second-1)/time.Second)))
		return errLockedOut
	}
	u, ok := a.acct.verify(r.Context(), req.Username.V, req.Password.V)
	if !ok {
		a.limiter.failed(key, r.RemoteAddr)
		a.authAudit(r, "login.failed", req.Username.V, "")
		return errWrongLogin
	}
	a.limiter.succeeded(key)
	now := time.Now()
	a.pruneSessions(r.Context(), u.ID, now)
	ua := r.UserAgent()
	if len(ua) > 200 {
		ua = ua[:200]
	}
	t, secret, err := a.acct.createToken(r.Context(), store.Token{Kind: "session", UserID: u.ID, Name: "session",
		CreatedMs: now.UnixMilli(), ExpiresMs: now.Add(a.cfg.Auth.SessionLifetime).UnixMilli(), Description: ua})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.secureRequest(r), Expires: time.UnixMilli(t.ExpiresMs)})
	w.Header().Set("Cache-Control", "no-store")
	r = r.WithContext(withPrincipal(r.Context(), &principal{user: u, name: u.Username}))
	a.authAudit(r, "login", u.Username, "session "+t.ID)
	_, raw, _ := tokenParts(secret)
	return writeJSON(w, map[string]any{"user": userJSON(u), "is_admin": u.IsAdmin, "csrf_token": csrfFor(raw), "expires_ms": t.ExpiresMs})
}

// pruneSessions drops a user's expired sessions, and the oldest beyond
// maxSessionsPerUser-1, before a new login.
func (a *App) pruneSessions(ctx context.Context, user int64, now time.Time) {
	mine := a.acct.tokensOf(user, "session") // oldest first
	for i, t := range mine {
		if len(mine)-i >= maxSessionsPerUser || (t.ExpiresMs != 0 && now.UnixMilli() >= t.ExpiresMs) {
			_ = a.acct.deleteToken(ctx, t.ID) // already gone is fine
		}
	}
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.secureRequest(r), MaxAge: -1})
	if p != nil && p.session != nil {
		if err := a.acct.deleteToken(r.Context(), p.session.ID); err != nil && store.KindOf(err) != store.KindNotFound {
			return err
		}
		a.authAudit(r, "logout", p.name, "session "+p.session.ID)
	}
	return writeJSON(w, map[string]any{})
}

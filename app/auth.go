package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// Authentication is one shared token (http.auth_token), accepted the two
// ways MLflow's client sends credentials:
//
//   - Authorization: Bearer <token>, from MLFLOW_TRACKING_TOKEN;
//   - HTTP Basic with the token as the password and any user name, from
//     MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, which is also
//     what a browser sends after the login prompt the 401 triggers.
//
// It covers everything on the port (API, artifacts, inference, /metrics,
// the UI) except the health checks, which orchestrators call without
// credentials.

const minAuthTokenLen = 16

var errUnauthenticated = &apiError{http.StatusUnauthorized, "UNAUTHENTICATED",
	"Authentication required: send the token as 'Authorization: Bearer <token>' (MLFLOW_TRACKING_TOKEN) or as the HTTP Basic password (MLFLOW_TRACKING_PASSWORD)"}

// errLockedOut answers every request from a client address locked out
// after too many wrong credentials (ratelimit.go); Retry-After says when
// to come back.
var errLockedOut = &apiError{http.StatusTooManyRequests, "REQUEST_LIMIT_EXCEEDED",
	"Too many failed authentication attempts from this address: try again after the time in Retry-After (http.auth_max_failures)"}

func authExempt(path string) bool {
	switch path {
	case "/health", "/livez", "/readyz":
		return true
	}
	return false
}

// authorized reports whether r carries the token. Comparing digests keeps
// the comparison constant-time whatever the lengths.
func authorized(r *http.Request, want [sha256.Size]byte) bool {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok {
		return false
	}
	cred = strings.TrimSpace(cred)
	var got string
	switch strings.ToLower(scheme) {
	case "bearer":
		got = cred
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return false
		}
		_, pw, ok := strings.Cut(string(raw), ":")
		if !ok {
			return false
		}
		got = pw
	default:
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

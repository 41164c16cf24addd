package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// Authentication is by accounts (auth.enabled: users and passwords sent as
// HTTP Basic; accounts.go, authz.go) and by one shared service token
// (http.auth_token) with an admin's rights, accepted the two ways MLflow's
// client sends credentials:
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
	"Authentication required: send a user name and password as HTTP Basic (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD), or a token as 'Authorization: Bearer <token>' (MLFLOW_TRACKING_TOKEN)"}

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

// tokenMatches reports whether got is the service token. Comparing
// digests keeps the comparison constant-time whatever the lengths.
func tokenMatches(got string, want [sha256.Size]byte) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

package app

import (
	"net/http"
	"strings"
)

// router is the server's ServeMux, with an access policy declared for
// every route (policy.go). Registering a route without one panics, so a
// new route cannot ship unguarded: the server would not start and every
// test would fail.
type router struct {
	mux    *http.ServeMux
	guard  func(pattern string, p policy, h http.Handler) http.Handler
	routes []routeInfo
}

// routeInfo is one registered route and its policy (the route × role
// test walks these).
type routeInfo struct {
	Pattern string
	Policy  policy
}

func newRouter() *router { return &router{mux: http.NewServeMux()} }

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// HandleFunc registers h for pattern under the pattern's declared policy.
func (rt *router) HandleFunc(pattern string, h http.HandlerFunc) { rt.Handle(pattern, h) }

// Handle registers h for pattern under the pattern's declared policy.
func (rt *router) Handle(pattern string, h http.Handler) {
	p, ok := policyFor(pattern)
	if !ok {
		panic("app: route " + pattern + " has no access policy: declare one in app/policy.go")
	}
	rt.routes = append(rt.routes, routeInfo{pattern, p})
	if rt.guard != nil {
		h = rt.guard(pattern, p, h)
	}
	rt.mux.Handle(pattern, h)
}

// apiPrefixes are the prefixes one route is served under; policies are
// declared for the path after them.
var apiPrefixes = []string{
	"/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts",
	"/api/2.0/mlflow", "/ajax-api/2.0/mlflow",
	"/api/3.0/mlflow", "/ajax-api/3.0/mlflow",
}

// policyKey turns "POST /ajax-api/2.0/mlflow/runs/create" into
// "POST mlflow:/runs/create" (and the artifact prefixes into "artifacts:").
func policyKey(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	for _, p := range apiPrefixes {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			ns := "mlflow:"
			if strings.HasSuffix(p, "-artifacts") {
				ns = "artifacts:"
			}
			path = ns + rest
			break
		}
	}
	if method == "" {
		return path
	}
	return method + " " + path
}

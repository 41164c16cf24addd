package app

// Cross-origin writes (CSRF). A browser attaches the credentials it holds
// for mlbox (HTTP Basic after the login prompt) to any request a page sends
// to mlbox, from whatever site the page came from, and a "simple" request
// (a form, or fetch with a text body or none) goes out without a CORS
// preflight. So any web page a logged-in user (or a user of an
// unauthenticated mlbox on localhost) opens could create, change or delete
// things. Browsers say where a request comes from (Origin, Referer,
// Sec-Fetch-Site); state-changing requests from another site are refused
// with 403 PERMISSION_DENIED unless the site is in http.cors_allowed_origins.
// Requests that carry none of these headers are not from a browser page
// (the MLflow client, curl, scripts) and are not affected.
//
// Origins in http.cors_allowed_origins also get CORS answers (preflight and
// Access-Control-Allow-Origin), so a web app there can call the API with an
// explicit Authorization header. Credentials are never allowed by CORS
// (no Access-Control-Allow-Credentials): a browser's cached Basic login
// cannot be used to read responses from another origin.

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// originPolicy holds http.cors_allowed_origins.
type originPolicy struct {
	any     bool            // "*": every origin
	allowed map[string]bool // normalized origins
}

func newOriginPolicy(list []string) *originPolicy {
	p := &originPolicy{allowed: map[string]bool{}}
	for _, o := range list {
		if strings.TrimSpace(o) == "*" {
			p.any = true
			continue
		}
		if n, err := normalizeOrigin(o); err == nil { // Validate reported the others
			p.allowed[n] = true
		}
	}
	return p
}

// normalizeOrigin turns "HTTPS://App.Example.com:443" into
// "https://app.example.com": an origin as browsers send it.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", errors.New(`must be an origin such as "https://app.example.com" or "http://host:8080", or "*"`)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be scheme://host[:port] only, without a path, query or user")
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == defaultPort(scheme) {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// allows reports whether a browser origin is in the configured list.
func (p *originPolicy) allows(origin string) bool {
	if p.any {
		return true
	}
	n, err := normalizeOrigin(origin)
	return err == nil && p.allowed[n]
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossSite returns the other site a state-changing browser request comes
// from ("" when it is same-origin, not from a browser page, or safe).
func (p *originPolicy) crossSite(r *http.Request) string {
	if safeMethod(r.Method) {
		return ""
	}
	origin := r.Header.Get("Origin")
	source := origin
	if source == "" {
		// Older browsers, and some cases of newer ones, send no Origin:
		// the Referer names the page instead.
		if ref, err := url.Parse(r.Header.Get("Referer")); err == nil && ref.Scheme != "" && ref.Host != "" {
			source = ref.Scheme + "://" + ref.Host
		}
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		// The browser itself says the request comes from this origin (or
		// from the user, through the address bar or a bookmark). This also
		// holds behind a proxy that rewrites the Host header.
		return ""
	case "same-site", "cross-site":
		if source == "" {
			source = "(another site)"
		}
		if p.allows(source) {
			return ""
		}
		return source
	}
	if source == "" {
		return "" // not a browser page: the MLflow client, curl, scripts
	}
	if source != "null" && sameHost(source, r.Host) {
		return ""
	}
	if p.allows(source) {
		return ""
	}
	return source
}

// sameHost reports whether the origin names the host (and port) the request
// was sent to. Without a port in Host (the default port, or a proxy in
// front), the origin must not name a port other than its scheme's default:
// the scheme a proxy terminated is unknown here.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	hHost, hPort, err := net.SplitHostPort(host)
	if err != nil {
		hHost, hPort = strings.Trim(host, "[]"), ""
	}
	if !strings.EqualFold(u.Hostname(), hHost) {
		return false
	}
	oPort := u.Port()
	if hPort == "" {
		return oPort == "" || oPort == defaultPort(strings.ToLower(u.Scheme))
	}
	if oPort == "" {
		oPort = defaultPort(strings.ToLower(u.Scheme))
	}
	return oPort == hPort
}

// errCrossOrigin is the answer to a refused cross-origin write.
func errCrossOrigin(source string) error {
	return &apiError{http.StatusForbidden, "PERMISSION_DENIED",
		"Cross-origin request refused: a page from " + source + ", another origin than this server's, may not change anything here " +
			"(list the origin in http.cors_allowed_origins to allow it)"}
}

// corsPreflight answers a CORS preflight from an allowed origin and
// reports whether it did. Preflights carry no credentials, so this runs
// before authentication; they reveal nothing but this policy.
func (p *originPolicy) corsPreflight(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if r.Method != http.MethodOptions || origin == "" || r.Header.Get("Access-Control-Request-Method") == "" || !p.allows(origin) {
		return false
	}
	h := w.Header()
	p.corsHeaders(h, origin)
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// corsHeaders lets an allowed origin read the response.
func (p *originPolicy) corsHeaders(h http.Header, origin string) {
	h.Add("Vary", "Origin")
	if p.any {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
}

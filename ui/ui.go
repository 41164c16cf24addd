//go:build !no_ui

// Package ui serves mlbox's embedded web UI: a single-page app whose
// sources are in ui/src and whose build (make ui: one JavaScript bundle and
// one stylesheet) is committed in ui/dist. It talks to the MLflow API under
// /ajax-api/2.0/mlflow.
//
// Build with the no_ui tag to leave the UI out of the binary; Handler then
// serves a one-line plain-text page instead.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed all:dist
var distFS embed.FS

// Handler returns the http.Handler that serves the UI. Mount it at "/"; the
// API prefixes (/api/, /ajax-api/, ...) must be routed elsewhere first.
//
// Exact files in dist are served as they are; any other path gets index.html
// (SPA fallback; the app routes on the URL fragment). Every response carries
// a strict Content-Security-Policy and the other headers in securityHeaders.
//
// Caching: file names are not content-hashed (assets/app.js), so everything is sent with "Cache-Control: no-cache" and a strong ETag
// derived from the content, and revalidations get 304. Files under assets/
// whose name carries a content hash (app.0123abcd.js) would get a year-long
// immutable lifetime instead; none do today.
func Handler() http.Handler {
	sub, err := fs.Sub(distFS, "dist")
	if err != nil {
		panic("ui: embedded dist missing: " + err.Error())
	}
	h, err := newHandler(sub)
	if err != nil {
		panic("ui: " + err.Error())
	}
	return h
}

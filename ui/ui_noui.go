//go:build no_ui

// Package ui would serve mlbox's embedded web UI; this binary was built with
// the no_ui tag, so Handler only explains that the UI is absent.
package ui

import "net/http"

// Handler returns a handler that answers every request with a short
// plain-text page saying the UI is not built into this binary. The API is
// unaffected.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write([]byte("mlbox: UI not built into this binary (built with the no_ui tag).\n" +
				"The MLflow API is served under /api/2.0/mlflow/.\n"))
		}
	})
}

//go:build !no_ui

package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

// ContentSecurityPolicy is sent with every UI response. The app has no inline
// scripts or styles (the chart sets SVG presentation attributes, which CSP
// does not treat as inline style), loads nothing from other origins and only
// talks to its own origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; " +
	"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNoCache   = "no-cache"
	// baseTag is rewritten in index.html when it is served as the SPA
	// fallback for a deeper path, so that its relative asset URLs still
	// resolve to the UI root (see fallbackIndex).
	baseTag = `<base href="./">`
)

// hashedName matches asset file names that carry a content hash, such as
// app.0123abcd.js or chunk-0123abcdef.css; only those are immutable.
var hashedName = regexp.MustCompile(`[.-][0-9a-fA-F]{8,64}\.[A-Za-z0-9]+$`)

// Content types by extension. A fixed table, so the result does not depend on
// the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".txt":   "text/plain; charset=utf-8",
	".md":    "text/plain; charset=utf-8",
}

type asset struct {
	data  []byte
	gz    []byte // gzip-compressed data, nil when not worth it
	etag  string // quoted strong validator of data
	ctype string
	cache string
}

type handler struct {
	files map[string]*asset // slash-separated names relative to dist, no leading "/"
	index *asset
}

// newHandler loads every regular file of fsys into memory (dist is small and
// embedded anyway) and precomputes validators and gzip variants.
func newHandler(fsys fs.FS) (*handler, error) {
	h := &handler{files: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		h.files[name] = newAsset(name, data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.index = h.files["index.html"]
	if h.index == nil {
		return nil, errors.New("dist has no index.html")
	}
	return h, nil
}

func newAsset(name string, data []byte) *asset {
	sum := sha256.Sum256(data)
	a := &asset{
		data:  data,
		etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
		ctype: contentTypes[strings.ToLower(path.Ext(name))],
		cache: cacheNoCache,
	}
	if a.ctype == "" {
		a.ctype = "application/octet-stream"
	}
	if strings.HasPrefix(name, "assets/") && hashedName.MatchString(path.Base(name)) {
		a.cache = cacheImmutable
	}
	if compressible(a.ctype) && len(data) > 512 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(data)
		zw.Close()
		if buf.Len() < len(data)*9/10 {
			a.gz = buf.Bytes()
		}
	}
	return a
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") ||
		strings.HasPrefix(ctype, "image/svg")
}

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	if a := h.files[name]; a != nil {
		serveAsset(w, r, a)
		return
	}
	if name == "assets" || strings.HasPrefix(name, "assets/") {
		// A missing script or stylesheet must not be answered with HTML: the
		// browser would report a confusing MIME error instead of a 404.
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	serveAsset(w, r, h.fallbackIndex(r))
}

// fallbackIndex is index.html for a request to some deeper path such as
// /experiments/1 or /a/b/. index.html refers to its scripts relatively (so the
// UI also works behind a reverse proxy under a path prefix) through
// <base href="./">; here that base is pointed back at the UI root ("../" per
// directory level of the requested path), and the app then turns the path
// into a #/ route.
func (h *handler) fallbackIndex(r *http.Request) *asset {
	depth := strings.Count(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if depth == 0 {
		return h.index
	}
	base := `<base href="` + strings.Repeat("../", depth) + `">`
	return &asset{
		data:  bytes.Replace(h.index.data, []byte(baseTag), []byte(base), 1),
		etag:  strings.TrimSuffix(h.index.etag, `"`) + fmt.Sprintf("-d%d", depth) + `"`,
		ctype: h.index.ctype,
		cache: cacheNoCache,
	}
}

func serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", a.cache)
	data, etag := a.data, a.etag
	if a.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			data = a.gz
			etag = strings.TrimSuffix(etag, `"`) + `-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304, handles HEAD and Range,
	// and sets Content-Length. A zero modtime leaves Last-Modified out: the
	// ETag is the only validator.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// acceptsGzip reports whether the Accept-Encoding header lists gzip without
// q=0.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				return false
			}
			return true
		}
	}
	return false
}

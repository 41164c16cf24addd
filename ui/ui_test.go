//go:build !no_ui

package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkSecurityHeaders(t *testing.T, r *http.Response) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestCSPIsStrict(t *testing.T) {
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'",
		"img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, d+";") && !strings.HasSuffix(ContentSecurityPolicy, d) {
			t.Errorf("CSP lacks %q", d)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe-") {
		t.Errorf("CSP allows unsafe sources: %s", ContentSecurityPolicy)
	}
}

func TestIndex(t *testing.T) {
	h := Handler()
	for _, target := range []string{"/", "/index.html"} {
		r := do(t, h, "GET", target, nil)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", target, r.StatusCode)
		}
		checkSecurityHeaders(t, r)
		if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("index Cache-Control %q, want no-cache", cc)
		}
		if r.Header.Get("ETag") == "" {
			t.Error("no ETag on index")
		}
		b := body(t, r)
		if !strings.Contains(b, `<script type="module" src="assets/app.js"></script>`) {
			t.Errorf("index does not load the app:\n%s", b)
		}
		if !strings.Contains(b, baseTag) {
			t.Errorf("index at the root must keep %s", baseTag)
		}
	}
}

func TestSPAFallback(t *testing.T) {
	h := Handler()
	cases := []struct{ target, base string }{
		{"/experiments", `<base href="./">`},
		{"/experiments/1", `<base href="../">`},
		{"/models/iris/versions/2", `<base href="../../../">`},
		{"/runs/abc/", `<base href="../../">`},
		{"/no-such-file.js", `<base href="./">`},
		{"/%2e%2e/ui.go", `<base href="../">`}, // index.html, never a source file
	}
	for _, c := range cases {
		r := do(t, h, "GET", c.target, nil)
		if r.StatusCode != 200 {
			t.Errorf("GET %s: %d", c.target, r.StatusCode)
			continue
		}
		checkSecurityHeaders(t, r)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", c.target, ct)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", c.target, cc)
		}
		b := body(t, r)
		if !strings.Contains(b, c.base) || !strings.Contains(b, "assets/app.js") {
			t.Errorf("GET %s: want index.html with %s, got:\n%s", c.target, c.base, b)
		}
	}
	// Different documents must not share a validator.
	e1 := do(t, h, "GET", "/", nil).Header.Get("ETag")
	e2 := do(t, h, "GET", "/a/b", nil).Header.Get("ETag")
	if e1 == e2 {
		t.Errorf("fallback at depth 1 has the root's ETag %s", e1)
	}
}

func TestAssets(t *testing.T) {
	h := Handler()
	cases := map[string]string{
		"/assets/app.js":    "text/javascript; charset=utf-8",
		"/assets/style.css": "text/css; charset=utf-8",
		"/favicon.svg":      "image/svg+xml",
	}
	for target, ct := range cases {
		r := do(t, h, "GET", target, nil)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", target, r.StatusCode)
		}
		checkSecurityHeaders(t, r)
		if got := r.Header.Get("Content-Type"); got != ct {
			t.Errorf("GET %s: Content-Type %q, want %q", target, got, ct)
		}
		// Hand-written files have no hash in their name: revalidate each time.
		if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", target, cc)
		}
		if strings.Contains(body(t, r), "<!doctype html>") {
			t.Errorf("GET %s returned index.html", target)
		}
	}
}

func TestMissingAssetIs404(t *testing.T) {
	h := Handler()
	for _, target := range []string{"/assets/nope.js", "/assets/", "/assets"} {
		r := do(t, h, "GET", target, nil)
		if r.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", target, r.StatusCode)
		}
		checkSecurityHeaders(t, r)
	}
}

func TestConditionalGet(t *testing.T) {
	h := Handler()
	for _, target := range []string{"/", "/assets/app.js", "/experiments/1"} {
		r := do(t, h, "GET", target, nil)
		etag := r.Header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
			t.Fatalf("GET %s: bad ETag %q", target, etag)
		}
		r2 := do(t, h, "GET", target, map[string]string{"If-None-Match": etag})
		if r2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d, want 304", target, r2.StatusCode)
		}
		r3 := do(t, h, "GET", target, map[string]string{"If-None-Match": `"other"`})
		if r3.StatusCode != 200 {
			t.Errorf("GET %s with stale If-None-Match: %d", target, r3.StatusCode)
		}
	}
}

func TestGzip(t *testing.T) {
	h := Handler()
	plain := body(t, do(t, h, "GET", "/assets/style.css", nil))
	r := do(t, h, "GET", "/assets/style.css", map[string]string{"Accept-Encoding": "br, gzip"})
	if r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip for a client that accepts it: %v", r.Header)
	}
	if !strings.Contains(r.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary = %q", r.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if string(unz) != plain {
		t.Error("gzip body differs from the plain one")
	}
	if r.Header.Get("ETag") == do(t, h, "GET", "/assets/style.css", nil).Header.Get("ETag") {
		t.Error("gzip and identity representations share an ETag")
	}
	r = do(t, h, "GET", "/assets/style.css", map[string]string{"Accept-Encoding": "gzip;q=0"})
	if r.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent despite q=0")
	}
}

func TestMethods(t *testing.T) {
	h := Handler()
	r := do(t, h, "HEAD", "/assets/app.js", nil)
	if r.StatusCode != 200 || body(t, r) != "" || r.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d %v", r.StatusCode, r.Header)
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		r := do(t, h, m, "/", nil)
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %d Allow=%q", m, r.StatusCode, r.Header.Get("Allow"))
		}
	}
}

func TestHashedAssetsAreImmutable(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":                {Data: []byte("<!doctype html><base href=\"./\"><p>x</p>")},
		"assets/app.0123abcd.js":    {Data: []byte("export {}")},
		"assets/chunk-89abcdef.css": {Data: []byte("p{}")},
		"assets/plain.js":           {Data: []byte("export {}")},
		"logo.0123abcd.svg":         {Data: []byte("<svg/>")},
	}
	h, err := newHandler(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/assets/app.0123abcd.js":    cacheImmutable,
		"/assets/chunk-89abcdef.css": cacheImmutable,
		"/assets/plain.js":           cacheNoCache,
		"/logo.0123abcd.svg":         cacheNoCache, // not under assets/
		"/":                          cacheNoCache,
		"/some/route":                cacheNoCache,
	}
	for target, cc := range want {
		r := do(t, h, "GET", target, nil)
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != cc {
			t.Errorf("GET %s: %d Cache-Control %q, want %q", target, r.StatusCode, r.Header.Get("Cache-Control"), cc)
		}
	}
	if _, err := newHandler(fstest.MapFS{"a.js": {Data: []byte("x")}}); err == nil {
		t.Error("newHandler accepted a dist without index.html")
	}
}

// The checks below read the embedded sources: they keep the hand-written app
// within the CSP and free of HTML injection sinks, without a browser.

func distFiles(t *testing.T) map[string][]byte {
	t.Helper()
	sub, err := fs.Sub(distFS, "dist")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out[p], _ = fs.ReadFile(sub, p)
		}
		return err
	})
	return out
}

func TestIndexHasNoInlineCode(t *testing.T) {
	idx := string(distFiles(t)["index.html"])
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script>`).FindAllStringSubmatch(idx, -1) {
		if strings.TrimSpace(m[1]) != "" || !strings.Contains(m[0], "src=") {
			t.Errorf("inline script in index.html: %s", m[0])
		}
	}
	for _, re := range []string{`(?i)<style\b`, `(?i)\sstyle\s*=`, `(?i)\son[a-z]+\s*=`, `(?i)javascript:`} {
		if loc := regexp.MustCompile(re).FindString(idx); loc != "" {
			t.Errorf("index.html has %q, which the CSP forbids", loc)
		}
	}
}

// srcFiles returns the UI's sources (ui/src), which `make ui` bundles
// into dist.
func srcFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := fs.WalkDir(os.DirFS("src"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("src", p))
		files[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no sources under ui/src")
	}
	return files
}

func TestSourcesAvoidInjectionSinks(t *testing.T) {
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|dangerouslySetInnerHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*['"]style['"]|\.style\.cssText|\bstyle=\{?\s*['"]`)
	n := 0
	for name, data := range srcFiles(t) {
		if ext := path.Ext(name); ext != ".js" && ext != ".jsx" {
			continue
		}
		n++
		if m := sinks.FindString(string(data)); m != "" {
			t.Errorf("src/%s uses %q: render text through JSX and style with classes", name, m)
		}
	}
	if n == 0 {
		t.Error("no JavaScript sources found")
	}
}

func TestNoOutboundURLs(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	check := func(where string, files map[string][]byte) {
		for name, data := range files {
			switch path.Ext(name) {
			case ".js", ".jsx", ".css", ".html", ".svg":
			default:
				continue
			}
			for _, m := range url.FindAllString(string(data), -1) {
				if m == "http://www.w3.org" { // SVG/XLink namespaces, not requests
					continue
				}
				t.Errorf("%s/%s refers to an outside URL %q (the UI must make no outbound requests)", where, name, m)
			}
		}
	}
	check("src", srcFiles(t))
	check("dist", distFiles(t))
}

// The bundle is one self-contained module: it imports nothing, so no
// request goes anywhere but assets/app.js.
func TestBundleIsSelfContained(t *testing.T) {
	files := distFiles(t)
	app, ok := files["assets/app.js"]
	if !ok {
		t.Fatal("dist has no assets/app.js: run make ui")
	}
	if m := regexp.MustCompile(`(?:^|[;}\n])\s*import\s*[{*"'\w]|\bimport\(`).Find(app); m != nil {
		t.Errorf("assets/app.js still imports modules (%q): it should be one bundle", m)
	}
	if !bytes.Contains(files["index.html"], []byte(`src="assets/app.js"`)) {
		t.Error("index.html does not load assets/app.js")
	}
	if _, ok := files["assets/style.css"]; !ok {
		t.Error("dist has no assets/style.css")
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const modelsUsage = `Usage:
  mlbox models download [--tracking-uri URL] MODEL_URI DIR
  mlbox models compile [-o model.wasm] MODEL_DIR
  mlbox models log --experiment NAME [--register MODEL] [--alias ALIAS] [--profile profile.json] FILE.wasm
  mlbox models profile [--bins 10] [--label COL] [--out profile.json] data.csv
  mlbox models rollback [--alias champion] NAME

Run "mlbox models COMMAND -h" for a command's flags.

download:
MODEL_URI is models:/NAME@ALIAS, models:/NAME/STAGE (None, Staging,
Production, Archived, or latest) or models:/NAME/VERSION. The version's
artifacts are fetched through the server's artifact proxy into DIR.
--tracking-uri defaults to $MLFLOW_TRACKING_URI, else http://127.0.0.1:5000.
Credentials: MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (basic) or
MLFLOW_TRACKING_TOKEN (bearer), as the MLflow client sends them.
`

func cmdModels(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, modelsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "download":
		return cmdModelsDownload(args[1:], stdout, stderr)
	}
	if h, ok := extraModelCommands[args[0]]; ok {
		return h(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "mlbox models: unknown command %q\n\n%s", args[0], modelsUsage)
	return 2
}

// extraModelCommands lets other files add `mlbox models <cmd>` subcommands.
var extraModelCommands = map[string]func(args []string, stdout, stderr io.Writer) int{}

// restClient speaks MLflow's REST API to a tracking server.
type restClient struct {
	base string
	http *http.Client
}

func newRESTClient(uri string) (*restClient, error) {
	if uri == "" {
		uri = os.Getenv("MLFLOW_TRACKING_URI")
	}
	if uri == "" {
		uri = "http://127.0.0.1:5000"
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracking URI must be http(s)://host[:port][/prefix], got %q", uri)
	}
	return &restClient{base: strings.TrimSuffix(uri, "/"), http: &http.Client{Timeout: 0}}, nil
}

func (c *restClient) do(ctx context.Context, method, p string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+p, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if u, pw := os.Getenv("MLFLOW_TRACKING_USERNAME"), os.Getenv("MLFLOW_TRACKING_PASSWORD"); u != "" && pw != "" {
		req.SetBasicAuth(u, pw)
	} else if tok := os.Getenv("MLFLOW_TRACKING_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return c.http.Do(req)
}

// call does a JSON API call and decodes the response into out (may be nil).
// A non-200 answer is a *restError naming the method and path.
func (c *restClient) call(ctx context.Context, method, p string, in, out any) error {
	return c.callAs(ctx, method+" "+p, method, p, in, out)
}

// callAs is call with what to name in an error.
func (c *restClient) callAs(ctx context.Context, what, method, p string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, p, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return newRESTError(what, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// restError is an MLflow error response.
type restError struct {
	Status int
	Code   string
	Msg    string
	what   string // e.g. "GET /api/..."; "" leaves it out of the message
}

// newRESTError reads an error answer: MLflow's {"error_code", "message"},
// else the body as text.
func newRESTError(what string, status int, raw []byte) *restError {
	e := &restError{Status: status, what: what}
	var body struct {
		Code string `json:"error_code"`
		Msg  string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Code != "" {
		e.Code, e.Msg = body.Code, body.Msg
	} else {
		e.Msg = strings.TrimSpace(string(raw))
	}
	return e
}

func (e *restError) Error() string {
	msg := fmt.Sprintf("HTTP %d: %s", e.Status, e.Msg)
	if e.Code != "" {
		msg = e.Code + ": " + e.Msg
	}
	if e.what == "" {
		return msg
	}
	return e.what + ": " + msg
}

type modelVersionJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Stage   string `json:"current_stage"`
}

var (
	reAliasURI = regexp.MustCompile(`^models:/([^/@]+)@([\w\-]+)$`)
	rePathURI  = regexp.MustCompile(`^models:/([^/@]+)/([^/]+)$`)
)

// resolveModelURI turns a models:/ URI into (name, version).
func (c *restClient) resolveModelURI(ctx context.Context, uri string) (string, string, error) {
	if m := reAliasURI.FindStringSubmatch(uri); m != nil {
		var out struct {
			MV modelVersionJSON `json:"model_version"`
		}
		q := url.Values{"name": {m[1]}, "alias": {m[2]}}
		if err := c.call(ctx, "GET", "/api/2.0/mlflow/registered-models/alias?"+q.Encode(), nil, &out); err != nil {
			return "", "", err
		}
		return out.MV.Name, out.MV.Version, nil
	}
	m := rePathURI.FindStringSubmatch(uri)
	if m == nil {
		return "", "", fmt.Errorf("unsupported model URI %q: use models:/NAME@ALIAS, models:/NAME/STAGE or models:/NAME/VERSION", uri)
	}
	name, sel := m[1], m[2]
	if regexp.MustCompile(`^\d+$`).MatchString(sel) {
		return name, sel, nil
	}
	body := map[string]any{"name": name}
	if !strings.EqualFold(sel, "latest") {
		body["stages"] = []string{sel}
	}
	var out struct {
		Versions []modelVersionJSON `json:"model_versions"`
	}
	if err := c.call(ctx, "POST", "/api/2.0/mlflow/registered-models/get-latest-versions", body, &out); err != nil {
		return "", "", err
	}
	best := ""
	for _, v := range out.Versions {
		if best == "" || len(v.Version) > len(best) || (len(v.Version) == len(best) && v.Version > best) {
			best = v.Version
		}
	}
	if best == "" {
		return "", "", fmt.Errorf("model %q has no version in stage %q", name, sel)
	}
	return name, best, nil
}

// downloadTree fetches every file under the proxied artifact path p into dir.
func (c *restClient) downloadTree(ctx context.Context, p, dir string, onFile func(rel string, n int64)) error {
	var walk func(rel string) error
	walk = func(rel string) error {
		var out struct {
			Files []struct {
				Path  string `json:"path"`
				IsDir bool   `json:"is_dir"`
			} `json:"files"`
		}
		q := url.Values{"path": {path.Join(p, rel)}}
		if err := c.call(ctx, "GET", "/api/2.0/mlflow-artifacts/artifacts?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		for _, f := range out.Files {
			name := path.Base(f.Path)
			if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
				return fmt.Errorf("server listed an unsafe name %q", f.Path)
			}
			child := path.Join(rel, name)
			if f.IsDir {
				if err := walk(child); err != nil {
					return err
				}
				continue
			}
			n, err := c.downloadFile(ctx, path.Join(p, child), filepath.Join(dir, filepath.FromSlash(child)))
			if err != nil {
				return err
			}
			if onFile != nil {
				onFile(child, n)
			}
		}
		return nil
	}
	return walk("")
}

func (c *restClient) downloadFile(ctx context.Context, p, dst string) (int64, error) {
	resp, err := c.do(ctx, "GET", "/api/2.0/mlflow-artifacts/artifacts/"+escapeSegments(p), nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("GET %s: HTTP %d: %s", p, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".mlbox-dl-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, err
	}
	return n, nil
}

func escapeSegments(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func cmdModelsDownload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlbox models download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	uri := fs.String("tracking-uri", "", "tracking server URL (default $MLFLOW_TRACKING_URI, else http://127.0.0.1:5000)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	fs.Usage = func() { fmt.Fprint(stderr, modelsUsage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	modelURI, dir := fs.Arg(0), fs.Arg(1)
	c, err := newRESTClient(*uri)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox models download:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := downloadModel(ctx, c, modelURI, dir, stdout); err != nil {
		fmt.Fprintln(stderr, "mlbox models download:", err)
		return 1
	}
	return 0
}

func downloadModel(ctx context.Context, c *restClient, modelURI, dir string, stdout io.Writer) error {
	name, version, err := c.resolveModelURI(ctx, modelURI)
	if err != nil {
		return err
	}
	var dl struct {
		URI string `json:"artifact_uri"`
	}
	q := url.Values{"name": {name}, "version": {version}}
	if err := c.call(ctx, "GET", "/api/2.0/mlflow/model-versions/get-download-uri?"+q.Encode(), nil, &dl); err != nil {
		return err
	}
	p, ok := strings.CutPrefix(dl.URI, "mlflow-artifacts:")
	if !ok {
		return fmt.Errorf("version %s of %s is stored at %q, which is not served by the artifact proxy", version, name, dl.URI)
	}
	p = strings.TrimLeft(p, "/")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, total := 0, int64(0)
	err = c.downloadTree(ctx, p, dir, func(rel string, n int64) { files++; total += n })
	if err != nil {
		return err
	}
	if files == 0 {
		return errors.New("the version has no artifacts")
	}
	fmt.Fprintf(stdout, "downloaded %s version %s (%d files, %d bytes) to %s\n", name, version, files, total, dir)
	return nil
}

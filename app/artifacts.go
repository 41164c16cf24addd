package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"mlbox/store/artifact"
)

// The artifact proxy (MLflow's mlflow-artifacts API): clients never talk
// to the storage backend themselves.

const multipartUnsupported = "Multipart upload is not supported for the current artifact repository"

func (a *App) artifactRoutes() {
	for _, p := range []string{"/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"} {
		a.mux.HandleFunc("PUT "+p+"/artifacts/{path...}", a.wrap(a.uploadArtifact))
		a.mux.HandleFunc("GET "+p+"/artifacts/{path...}", a.wrap(a.downloadArtifact))
		a.mux.HandleFunc("GET "+p+"/artifacts", a.wrap(a.listArtifacts))
		a.mux.HandleFunc("DELETE "+p+"/artifacts/{path...}", a.wrap(a.deleteArtifact))
		a.mux.HandleFunc("POST "+p+"/mpu/create/{path...}", a.wrap(a.mpuCreate))
		a.mux.HandleFunc("POST "+p+"/mpu/complete/{path...}", a.wrap(a.mpuComplete))
		a.mux.HandleFunc("POST "+p+"/mpu/abort/{path...}", a.wrap(a.mpuAbort))
		a.mux.HandleFunc("PUT "+p+"/mpu/part/{path...}", a.wrap(a.mpuPart))
	}
	a.mlflowRead("/artifacts/list", a.listRunArtifacts)
}

// artifactPath cleans the {path...} wildcard.
func artifactPath(r *http.Request) (string, error) {
	p, err := artifact.CleanPath(r.PathValue("path"))
	if err != nil {
		return "", invalidParam("Invalid path: " + err.Error())
	}
	return p, nil
}

func (a *App) uploadArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := artifactPath(r)
	if err != nil {
		return err
	}
	if p == "" {
		return invalidParam("Invalid path: a file path is required")
	}
	if a.uploadSpliced(w, r, p) {
		return nil
	}
	if err := a.arts.Put(r.Context(), p, r.Body, r.ContentLength); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) downloadArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := artifactPath(r)
	if err != nil {
		return err
	}
	if p == "" {
		return a.listArtifacts(w, r)
	}
	obj, err := a.arts.Open(r.Context(), p)
	if err != nil {
		if errors.Is(err, artifact.ErrNotExist) {
			return &apiError{http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "File " + p + " does not exist"}
		}
		return err
	}
	defer obj.Close()
	name := path.Base(p)
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("X-Content-Type-Options", "nosniff")
	// Artifacts are user data served from the UI's origin: never let one run script.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	if f, ok := obj.(interface{ OSFile() *os.File }); ok {
		http.ServeContent(w, r, "", obj.ModTime(), f.OSFile()) // sendfile(2) path
		return nil
	}
	http.ServeContent(w, r, "", obj.ModTime(), sizedSeeker{obj})
	return nil
}

// sizedSeeker lets ServeContent learn the size without a Seek to the end
// (which costs an extra request on S3).
type sizedSeeker struct{ artifact.Object }

func (s sizedSeeker) Seek(off int64, whence int) (int64, error) {
	if whence == 2 && off == 0 {
		return s.Object.Size(), nil
	}
	return s.Object.Seek(off, whence)
}

type fileInfoJSON struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

func (a *App) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	p, err := artifact.CleanPath(strings.TrimPrefix(r.URL.Query().Get("path"), "/"))
	if err != nil {
		return invalidParam("Invalid path: " + err.Error())
	}
	entries, err := a.arts.List(r.Context(), p)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return writeEmpty(w)
	}
	return writeJSON(w, map[string]any{"files": fileInfos(entries, "")})
}

func (a *App) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := artifactPath(r)
	if err != nil {
		return err
	}
	if p == "" {
		return invalidParam("Invalid path: refusing to delete the artifact root")
	}
	if err := a.arts.Delete(r.Context(), p); err != nil {
		return err
	}
	return writeEmpty(w)
}

type mpuReq struct {
	Path     optString `json:"path"`
	NumParts optInt    `json:"num_parts"`
	UploadID optString `json:"upload_id"`
	Parts    []struct {
		PartNumber optInt    `json:"part_number"`
		ETag       optString `json:"etag"`
		URL        optString `json:"url"`
	} `json:"parts"`
}

// mpuTarget decodes a multipart request: the object is <dir>/<basename(path)>.
func (a *App) mpuTarget(r *http.Request) (string, *mpuReq, error) {
	dir, err := artifactPath(r)
	if err != nil {
		return "", nil, err
	}
	var req mpuReq
	if err := a.decodeRequest(r, &req); err != nil {
		return "", nil, err
	}
	if err := require("path", req.Path); err != nil {
		return "", nil, err
	}
	base := path.Base(strings.ReplaceAll(req.Path.V, "\\", "/"))
	target, err := artifact.CleanPath(strings.TrimPrefix(path.Join(dir, base), "/"))
	if err != nil || base == "." || base == "/" || base == ".." {
		return "", nil, invalidParam("Invalid path: " + req.Path.V)
	}
	return target, &req, nil
}

func (a *App) mpuCreate(w http.ResponseWriter, r *http.Request) error {
	target, req, err := a.mpuTarget(r)
	if err != nil {
		return err
	}
	if req.NumParts.V < 1 || req.NumParts.V > 10000 {
		return invalidParam("num_parts must be between 1 and 10000")
	}
	id, err := a.arts.CreateMultipart(r.Context(), target)
	if errors.Is(err, artifact.ErrNotSupported) {
		return &apiError{http.StatusNotImplemented, "NOT_IMPLEMENTED", multipartUnsupported}
	}
	if err != nil {
		return err
	}
	type cred struct {
		URL        string            `json:"url"`
		PartNumber int64             `json:"part_number"`
		Headers    map[string]string `json:"headers"`
	}
	base := requestBaseURL(r) + strings.TrimSuffix(r.URL.Path[:strings.Index(r.URL.Path, "/mpu/create/")], "/") + "/mpu/part/" + escapePath(target)
	creds := make([]cred, 0, req.NumParts.V)
	for i := int64(1); i <= req.NumParts.V; i++ {
		q := url.Values{"upload_id": {id}, "part_number": {strconv.FormatInt(i, 10)}}
		creds = append(creds, cred{URL: base + "?" + q.Encode(), PartNumber: i, Headers: map[string]string{}})
	}
	return writeJSON(w, map[string]any{"upload_id": id, "credentials": creds})
}

// mpuPart receives one part, PUT by the client to the URL mpuCreate gave it.
func (a *App) mpuPart(w http.ResponseWriter, r *http.Request) error {
	p, err := artifactPath(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("part_number"))
	if err != nil || n < 1 || n > 10000 || q.Get("upload_id") == "" {
		return invalidParam("upload_id and a part_number between 1 and 10000 are required")
	}
	etag, err := a.arts.UploadPart(r.Context(), p, q.Get("upload_id"), n, r.Body, r.ContentLength)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag)
	return writeEmpty(w)
}

func (a *App) mpuComplete(w http.ResponseWriter, r *http.Request) error {
	target, req, err := a.mpuTarget(r)
	if err != nil {
		return err
	}
	if err := require("upload_id", req.UploadID); err != nil {
		return err
	}
	if len(req.Parts) == 0 {
		return missingParam("parts")
	}
	parts := make([]artifact.Part, 0, len(req.Parts))
	for _, p := range req.Parts {
		parts = append(parts, artifact.Part{Number: int(p.PartNumber.V), ETag: p.ETag.V})
	}
	if err := a.arts.CompleteMultipart(r.Context(), target, req.UploadID.V, parts); err != nil {
		return err
	}
	return writeEmpty(w)
}

func (a *App) mpuAbort(w http.ResponseWriter, r *http.Request) error {
	target, req, err := a.mpuTarget(r)
	if err != nil {
		return err
	}
	if err := require("upload_id", req.UploadID); err != nil {
		return err
	}
	if err := a.arts.AbortMultipart(r.Context(), target, req.UploadID.V); err != nil {
		return err
	}
	return writeEmpty(w)
}

func requestBaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// listRunArtifacts is /mlflow/artifacts/list: run-relative full paths.
func (a *App) listRunArtifacts(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDReq
		Path optString `json:"path"`
	}
	if err := a.decodeRequest(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	run, err := a.store.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	resp, err := a.listUnderRoot(r.Context(), run.Info.ArtifactURI, req.Path.V)
	if err != nil {
		return err
	}
	return writeJSON(w, resp)
}

// proxiedPath maps an mlflow-artifacts: URI onto its storage-relative path.
func proxiedPath(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "mlflow-artifacts:")
	if !ok {
		return "", false
	}
	if after, ok := strings.CutPrefix(rest, "//"); ok { // mlflow-artifacts://host:port/path
		rest = ""
		if i := strings.Index(after, "/"); i >= 0 {
			rest = after[i:]
		}
	}
	p, err := artifact.CleanPath(strings.TrimLeft(rest, "/"))
	return p, err == nil
}

// listUnderRoot lists dir (relative to an artifact root URI) for the UI
// listings: {root_uri, files: [{path relative to the root, is_dir, file_size}]}.
func (a *App) listUnderRoot(ctx context.Context, rootURI, dir string) (map[string]any, error) {
	resp := map[string]any{"root_uri": rootURI}
	root, ok := proxiedPath(rootURI)
	if !ok {
		return resp, nil
	}
	rel, err := artifact.CleanPath(strings.Trim(dir, "/"))
	if err != nil {
		return nil, invalidParam("Invalid path: " + err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	entries, err := a.arts.List(ctx, path.Join(root, rel))
	if err != nil {
		return nil, err
	}
	if len(entries) > 0 {
		resp["files"] = fileInfos(entries, rel)
	}
	return resp, nil
}

// fileInfos converts entries to MLflow FileInfo JSON with paths under prefix.
func fileInfos(entries []artifact.Entry, prefix string) []fileInfoJSON {
	files := make([]fileInfoJSON, 0, len(entries))
	for _, e := range entries {
		fi := fileInfoJSON{Path: path.Join(prefix, e.Name), IsDir: e.IsDir}
		if !e.IsDir {
			sz := e.Size
			fi.FileSize = &sz
		}
		files = append(files, fi)
	}
	return files
}

// spliceMin: local uploads at least this large bypass the HTTP server's body
// reader (see uploadSpliced).
const spliceMin = 8 << 20

// uploadSpliced takes over the connection of a large HTTP/1.1 upload to
// the local backend, so the body goes from the socket to the file with
// splice(2) instead of being copied through user space twice. It answers
// on the connection itself and closes it. It reports false, having done
// nothing, when the request does not qualify.
func (a *App) uploadSpliced(w http.ResponseWriter, r *http.Request, p string) bool {
	if _, local := a.localArtifacts(); !local || r.ContentLength < spliceMin || r.ProtoMajor != 1 ||
		len(r.TransferEncoding) > 0 || r.Header.Get("Expect") != "" {
		return false
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	defer conn.Close()
	buffered, _ := brw.Reader.Peek(min(brw.Reader.Buffered(), int(min(r.ContentLength, 1<<30))))
	// An idle deadline, as for every request body (slowclient.go): the
	// upload goes on while bytes arrive, at any size and speed.
	body := &artifact.ConnBody{Prefix: bytes.Clone(buffered), Conn: conn, N: r.ContentLength,
		Idle: a.cfg.HTTP.ReadBodyTimeout}
	status, resp := http.StatusOK, emptyObject
	err = a.arts.Put(context.WithoutCancel(r.Context()), p, body, r.ContentLength)
	_ = conn.SetDeadline(time.Now().Add(max(a.cfg.HTTP.ReadBodyTimeout, 10*time.Second))) // for the answer
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &bodyTimeoutError{d: a.cfg.HTTP.ReadBodyTimeout, cause: err} // the client stalled: 408
	}
	if err != nil {
		ae := toAPIError(err)
		status = ae.Status
		resp, _ = json.Marshal(map[string]string{"error_code": ae.Code, "message": ae.Msg})
		if status >= 500 && status != http.StatusServiceUnavailable {
			a.log.Error("upload failed", "path", p, "err", err)
		}
	}
	fmt.Fprintf(brw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), len(resp))
	_, _ = brw.Write(resp)
	_ = brw.Flush()
	return true
}

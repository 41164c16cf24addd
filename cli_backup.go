package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"mlbox/internal/units"
	"mlbox/store"
	"mlbox/store/archive"
)

const backupUsage = `usage: mlbox backup [--tracking-uri URL] [--force] [--include-s3] [--metadata-only] FILE|-

Backs up a running server into one archive (a tar; "-" writes it to
stdout): a consistent snapshot of the metadata, the artifacts, and a
manifest with the SHA-256 of every file. The server keeps serving;
artifact deletions wait until the artifacts are copied, so every artifact
the snapshot refers to is in the archive. The archive's structure is
checked as it arrives (complete, every file the size the manifest says),
and a file gets its name only when it passes; mlbox verify checks every
checksum of what is on disk.

With the S3 artifact backend the archive lists the bucket's objects (path
and size); --include-s3 copies the objects too.

--metadata-only writes only the metadata file (mlbox.db), as older versions did:
put it in place of <data_dir>/mlbox.db (and delete <data_dir>/metrics-wal/).

Restore with: mlbox restore FILE --data-dir DIR. Check with: mlbox verify FILE.

--tracking-uri defaults to $MLFLOW_TRACKING_URI, else http://127.0.0.1:5000;
credentials come from MLFLOW_TRACKING_TOKEN (or _USERNAME/_PASSWORD).
`

func cmdBackup(args []string, stdout, stderr io.Writer) int {
	fs, uri, _ := cliFlags("mlbox backup", stderr)
	force := fs.Bool("force", false, "overwrite FILE if it exists")
	includeS3 := fs.Bool("include-s3", false, "copy the S3 artifact objects into the archive (not only their list)")
	metaOnly := fs.Bool("metadata-only", false, "write only the metadata file (mlbox.db), no archive")
	dst, code, ok := oneArg(fs, args, backupUsage, stderr)
	if !ok {
		return code
	}
	if dst != "-" {
		if _, err := os.Stat(dst); err == nil && !*force {
			fmt.Fprintf(stderr, "mlbox backup: %s exists (--force overwrites it)\n", dst)
			return 1
		}
	}
	c, err := newRESTClient(*uri)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox backup:", err)
		return 2
	}
	ctx, stop := cliSignalContext()
	defer stop()
	start := time.Now()
	if *metaOnly {
		if dst == "-" {
			fmt.Fprintln(stderr, "mlbox backup: --metadata-only needs a FILE")
			return 2
		}
		n, err := fetchBackup(ctx, c, dst)
		if err != nil {
			fmt.Fprintln(stderr, "mlbox backup:", err)
			return 1
		}
		fmt.Fprintf(stdout, "backup: %s (%d bytes, metadata only, checked) in %s\n", dst, n, time.Since(start).Round(time.Millisecond))
		return 0
	}
	man, n, err := fetchArchive(ctx, c, dst, *includeS3, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox backup:", err)
		return 1
	}
	out := stdout
	if dst == "-" {
		out = stderr
	}
	el := time.Since(start)
	fmt.Fprintf(out, "backup: %s: %s in %s (%s), checked: metadata %s, %d artifacts (%s)",
		dst, units.Bytes(n), el.Round(time.Millisecond), fmtRate(n, el), units.Bytes(man.Files[0].Size), man.Artifacts, units.Bytes(man.ArtifactBytes))
	if len(man.Objects) > 0 {
		fmt.Fprintf(out, ", %d S3 objects listed, not copied (--include-s3 copies them)", len(man.Objects))
	}
	fmt.Fprintln(out)
	return 0
}

// fetchArchive streams the server's archive to dst (a temp file renamed
// into place, or stdout for "-"), checking it on the way.
func fetchArchive(ctx context.Context, c *restClient, dst string, includeS3 bool, stdout, stderr io.Writer) (archive.Manifest, int64, error) {
	q := "?format=archive"
	if includeS3 {
		q += "&include_s3=true"
	}
	resp, err := c.do(ctx, "GET", "/api/mlbox/v1/backup"+q, nil, "")
	if err != nil {
		return archive.Manifest{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return archive.Manifest{}, 0, newRESTError("", resp.StatusCode, raw)
	}
	var w io.Writer = stdout
	var tmp *os.File
	if dst != "-" {
		tmp, err = os.CreateTemp(filepath.Dir(dst), ".mlbox-backup-*")
		if err != nil {
			return archive.Manifest{}, 0, err
		}
		defer os.Remove(tmp.Name()) // no-op after the rename
		defer tmp.Close()
		w = tmp
	}
	cw := &countingWriter{w: w}
	prog := startProgress(stderr, "backup", &cw.n, nil)
	tee := io.TeeReader(resp.Body, cw)
	_, man, err := archive.ReadStructure(tee, func(archive.Header, archive.Entry) error { return nil })
	if err == nil {
		_, err = io.Copy(cw, resp.Body) // the tar's end blocks
	}
	prog()
	if err != nil {
		if errors.Is(err, archive.ErrCorrupt) {
			err = fmt.Errorf("the server's archive failed its check (the server log says why): %w", err)
		}
		return man, cw.n.Load(), err
	}
	if tmp == nil {
		return man, cw.n.Load(), nil
	}
	if err := tmp.Sync(); err != nil {
		return man, cw.n.Load(), err
	}
	if err := tmp.Close(); err != nil {
		return man, cw.n.Load(), err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return man, cw.n.Load(), err
	}
	syncDir(filepath.Dir(dst))
	return man, cw.n.Load(), nil
}

type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// startProgress prints "<what>: N MiB (R MiB/s)[, F files]" on stderr
// every 200 ms while stderr is a terminal; the returned function clears
// the line and stops.
func startProgress(stderr io.Writer, what string, bytes *atomic.Int64, files *atomic.Int64) func() {
	start := time.Now()
	return startLine(stderr, func() string {
		n := bytes.Load()
		line := fmt.Sprintf("%s: %s (%s)", what, units.Bytes(n), fmtRate(n, time.Since(start)))
		if files != nil {
			line += fmt.Sprintf(", %d files", files.Load())
		}
		return line
	})
}

// startLine redraws line() on stderr every 200 ms while stderr is a
// terminal; the returned function clears the line and stops.
func startLine(stderr io.Writer, line func() string) func() {
	f, ok := stderr.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(f, "\r\033[K"+line())
			}
		}
	}()
	return func() { close(done); <-stopped }
}

func fmtRate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB/s", float64(n)/(1<<20)/d.Seconds())
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// fetchBackup downloads the metadata snapshot next to dst, checks it, and
// renames it into place only when it is complete and consistent.
func fetchBackup(ctx context.Context, c *restClient, dst string) (int64, error) {
	resp, err := c.do(ctx, "GET", "/api/mlbox/v1/backup", nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, newRESTError("", resp.StatusCode, raw)
	}
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, ".mlbox-backup-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := io.Copy(tmp, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("short copy: %d of %d bytes", n, resp.ContentLength)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := store.VerifyFile(tmp.Name()); err != nil {
		return 0, fmt.Errorf("the copy failed its check: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, err
	}
	syncDir(dir)
	return n, nil
}

const verifyUsage = `usage: mlbox verify ARCHIVE|-

Checks a backup archive without restoring it: every file against its
SHA-256 and size in the manifest, nothing missing or extra, and the
metadata snapshot's integrity (bbolt's consistency check). Exit status 0
when the archive is sound; otherwise the message names what is wrong.
`

// oneArg parses a command's flags and its one argument; code is the exit
// status to return when ok is false (0 after --help, 2 for bad usage).
func oneArg(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) (arg string, code int, ok bool) {
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return "", 0, false
	}
	if err != nil {
		return "", 2, false
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, usage)
		return "", 2, false
	}
	return pos[0], 0, true
}

func cmdVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlbox verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src, code, ok := oneArg(fs, args, verifyUsage, stderr)
	if !ok {
		return code
	}
	in, closeIn, err := openArchive(src)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox verify:", err)
		return 1
	}
	defer closeIn()
	tmpDir, err := os.MkdirTemp("", "mlbox-verify-")
	if err != nil {
		fmt.Fprintln(stderr, "mlbox verify:", err)
		return 1
	}
	defer os.RemoveAll(tmpDir)
	start := time.Now()
	h, man, err := unpack(in, tmpDir, false, nil, nil)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox verify:", err)
		return 1
	}
	fmt.Fprintf(stdout, "verify: %s is sound: made %s by mlbox %s (schema %d), metadata %s, %d artifacts (%s)",
		src, time.UnixMilli(h.CreatedMs).UTC().Format(time.RFC3339), h.MlboxVersion, h.Schema, units.Bytes(man.Files[0].Size), man.Artifacts, units.Bytes(man.ArtifactBytes))
	if len(man.Objects) > 0 {
		fmt.Fprintf(stdout, ", %d S3 objects listed (not in the archive)", len(man.Objects))
	}
	fmt.Fprintf(stdout, "; checked in %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}

// unpack reads an archive, checking every checksum, into dir: the
// metadata as dir/mlbox.db (then bbolt's consistency check on it) and,
// with artifacts, each artifact under dir/artifacts. nbytes and nfiles,
// when set, count what was written.
func unpack(in io.Reader, dir string, artifacts bool, nbytes, nfiles *atomic.Int64) (archive.Header, archive.Manifest, error) {
	dbPath := filepath.Join(dir, store.DBFileName)
	h, man, err := archive.Read(in, func(_ archive.Header, e archive.Entry) error {
		p := dbPath
		if e.Name != archive.DBName {
			if !artifacts {
				return nil
			}
			p = filepath.Join(dir, "artifacts", filepath.FromSlash(e.ArtifactPath()))
		}
		if err := writeFileFrom(p, e.R); err != nil {
			return err
		}
		if nbytes != nil {
			nbytes.Add(e.Size)
			nfiles.Add(1)
		}
		return nil
	})
	if err == nil {
		if verr := store.VerifyFile(dbPath); verr != nil {
			err = fmt.Errorf("%w: %s: %v", archive.ErrCorrupt, archive.DBName, verr)
		}
	}
	return h, man, err
}

func openArchive(p string) (io.Reader, func(), error) {
	if p == "-" {
		return os.Stdin, func() {}, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// writeFileFrom writes r to p (made with its parents). It does not fsync:
// restore syncs everything once at the end (syncFS).
func writeFileFrom(p string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

const restoreUsage = `usage: mlbox restore --data-dir DIR [--artifact-root DIR] [--force] ARCHIVE|-

Restores a backup archive (mlbox backup) into a data directory for a
server that is not running: the metadata as DIR/mlbox.db and the artifacts
under DIR/artifacts (the default artifacts.root; --artifact-root puts them
elsewhere). Everything is unpacked into DIR first, checked against the
manifest and bbolt's consistency check, and only then moved into place:
a damaged archive leaves DIR as it was.

DIR must be empty or absent; --force restores over an existing data dir
(its mlbox.db and metric log are replaced; artifacts of the same path are
overwritten). An archive of an S3-backed server without --include-s3 has
no artifacts: they are still in the bucket; point artifacts.s3 at it.
`

func cmdRestore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlbox restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the data directory to restore into (required)")
	artRoot := fs.String("artifact-root", "", "where the artifacts go (default DIR/artifacts)")
	force := fs.Bool("force", false, "restore into a data dir that is not empty")
	src, code, ok := oneArg(fs, args, restoreUsage, stderr)
	if !ok {
		return code
	}
	if *dataDir == "" {
		fmt.Fprint(stderr, restoreUsage)
		return 2
	}
	if err := restoreArchive(src, *dataDir, *artRoot, *force, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "mlbox restore:", err)
		return 1
	}
	return 0
}

func restoreArchive(src, dataDir, artRoot string, force bool, stdout, stderr io.Writer) error {
	if artRoot == "" {
		artRoot = filepath.Join(dataDir, "artifacts")
	}
	if ents, err := os.ReadDir(dataDir); err == nil && len(ents) > 0 && !force {
		return fmt.Errorf("%s is not empty (--force restores over it; stop its server first)", dataDir)
	} else if err != nil && !os.IsNotExist(err) {
		return err
	}
	in, closeIn, err := openArchive(src)
	if err != nil {
		return err
	}
	defer closeIn()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(dataDir, ".mlbox-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	start := time.Now()
	var nbytes, nfiles atomic.Int64
	prog := startProgress(stderr, "restore", &nbytes, &nfiles)
	h, man, err := unpack(in, stage, true, &nbytes, &nfiles)
	prog()
	if err != nil {
		return fmt.Errorf("%w; nothing was restored", err)
	}
	if h.Schema > store.SchemaVersion {
		return fmt.Errorf("the archive's metadata has schema %d, newer than this mlbox's %d: restore it with a newer mlbox", h.Schema, store.SchemaVersion)
	}
	// On disk before anything moves into place.
	syncFS(stage)
	// Into place: the artifacts, then the metadata (the server's entry point).
	if err := moveTree(filepath.Join(stage, "artifacts"), artRoot); err != nil {
		return fmt.Errorf("moving the artifacts into %s: %w", artRoot, err)
	}
	os.RemoveAll(filepath.Join(dataDir, "metrics-wal"))
	if err := os.Rename(filepath.Join(stage, store.DBFileName), filepath.Join(dataDir, store.DBFileName)); err != nil {
		return err
	}
	syncDir(dataDir)
	syncDir(filepath.Dir(artRoot))
	el := time.Since(start)
	fmt.Fprintf(stdout, "restore: %s into %s in %s (%s): metadata %s, %d artifacts (%s) under %s\n", src, dataDir,
		el.Round(time.Millisecond), fmtRate(nbytes.Load(), el), units.Bytes(man.Files[0].Size), man.Artifacts, units.Bytes(man.ArtifactBytes), artRoot)
	if len(man.Objects) > 0 {
		fmt.Fprintf(stdout, "restore: the %d artifacts of the S3 bucket were listed, not copied: configure artifacts.s3 to use that bucket\n", len(man.Objects))
	}
	return nil
}

// moveTree moves every file under src to the same path under dst
// (renames: src and dst are on one file system when dst is in the data
// dir; else it copies).
func moveTree(src, dst string) error {
	if _, err := os.Stat(src); os.IsNotExist(err) {
		return os.MkdirAll(dst, 0o700)
	}
	if _, err := os.Stat(dst); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := os.Rename(src, dst); err == nil {
			return nil
		}
	}
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if err := os.Rename(p, target); err == nil {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeFileFrom(target, f)
	})
}

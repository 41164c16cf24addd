package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mlbox/store"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

const backupUsage = `usage: mlbox backup [--tracking-uri URL] [--force] FILE

Copies a running server's metadata (mlbox.db, with the metric log flushed
into it first) to FILE: one consistent snapshot, taken while the server
keeps serving. The copy is checked (bbolt's consistency check) before it
gets its name. Artifacts are not included: back up the artifact root or
bucket separately. To restore, stop the server, put FILE in place of
<data_dir>/mlbox.db, delete <data_dir>/metrics-wal/, and start it.

--tracking-uri defaults to $MLFLOW_TRACKING_URI, else http://127.0.0.1:5000;
credentials come from MLFLOW_TRACKING_TOKEN (or _USERNAME/_PASSWORD).
`

func cmdBackup(args []string, stdout, stderr io.Writer) int {
	fs, uri, _ := cliFlags("mlbox backup", stderr)
	force := fs.Bool("force", false, "overwrite FILE if it exists")
	fs.Usage = func() { fmt.Fprint(stderr, backupUsage) }
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, backupUsage)
		return 2
	}
	dst := pos[0]
	if _, err := os.Stat(dst); err == nil && !*force {
		fmt.Fprintf(stderr, "mlbox backup: %s exists (--force overwrites it)\n", dst)
		return 1
	}
	c, err := newRESTClient(*uri)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox backup:", err)
		return 2
	}
	ctx, stop := cliSignalContext()
	defer stop()
	start := time.Now()
	n, err := fetchBackup(ctx, c, dst)
	if err != nil {
		fmt.Fprintln(stderr, "mlbox backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "backup: %s (%d bytes, checked) in %s\n", dst, n, time.Since(start).Round(time.Millisecond))
	return 0
}

// fetchBackup downloads the snapshot next to dst, checks it, and renames
// it into place only when it is complete and consistent.
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
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}

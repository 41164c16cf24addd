package scheduler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mlbox/store"
)

// execBackup runs a backup job: an archive of the server (Options.Backup)
// written to a temp file in the job's directory, synced and renamed to
// mlbox-<job>-<UTC time>.tar; then the job's archives beyond Keep, oldest
// first, are deleted. A failure leaves no partial archive and deletes
// nothing.
func (s *Scheduler) execBackup(ctx context.Context, job store.Job, run *store.JobRun, out *capture) {
	fail := func(err error) {
		if ctx.Err() != nil {
			run.Status, run.Error = interruptedStatus(ctx)
		} else {
			run.Status, run.Error = store.JobFailed, err.Error()
		}
		fmt.Fprintf(out, "error: %v\n", err)
	}
	spec := job.Backup
	if s.opts.Backup == nil {
		fail(fmt.Errorf("backups are not available in this process"))
		return
	}
	if err := os.MkdirAll(spec.Dir, 0o700); err != nil {
		fail(err)
		return
	}
	prefix := "mlbox-" + job.Name + "-"
	name := prefix + time.Now().UTC().Format("20060102-150405") + fmt.Sprintf("-%d.tar", run.Number)
	final := filepath.Join(spec.Dir, name)
	tmp, err := os.CreateTemp(spec.Dir, ".mlbox-backup-*")
	if err != nil {
		fail(err)
		return
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	start := time.Now()
	summary, err := s.opts.Backup(ctx, tmp, spec.IncludeS3)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		fail(fmt.Errorf("backup to %s: %w", spec.Dir, err))
		return
	}
	if d, err := os.Open(spec.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	size := int64(0)
	if fi, err := os.Stat(final); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(out, "wrote %s (%d bytes) in %s: %s\n", final, size, time.Since(start).Round(time.Millisecond), summary)

	keep := spec.Keep
	if keep == 0 {
		keep = store.DefaultBackupKeep
	}
	ents, err := os.ReadDir(spec.Dir)
	if err != nil {
		fail(fmt.Errorf("listing %s to keep %d archives: %w", spec.Dir, keep, err))
		return
	}
	var mine []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ".tar") {
			mine = append(mine, n)
		}
	}
	// Names sort by time (UTC, fixed width); the run number breaks ties.
	slices.SortFunc(mine, func(a, b string) int { return strings.Compare(archiveKey(a, prefix), archiveKey(b, prefix)) })
	for len(mine) > keep {
		old := filepath.Join(spec.Dir, mine[0])
		if err := os.Remove(old); err != nil {
			fail(fmt.Errorf("removing an old archive: %w", err))
			return
		}
		fmt.Fprintf(out, "removed %s (keep %d)\n", old, keep)
		mine = mine[1:]
	}
	run.Status = store.JobSucceeded
}

// archiveKey orders "mlbox-<job>-<yyyymmdd-hhmmss>-<run>.tar" names by
// time, then run number.
func archiveKey(name, prefix string) string {
	rest := strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".tar")
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		return rest[:i] + fmt.Sprintf("-%012s", rest[i+1:])
	}
	return rest
}

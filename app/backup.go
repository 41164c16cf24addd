package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"mlbox/store"
	"mlbox/store/archive"
	"mlbox/store/artifact"
)

// Backups with the artifacts: GET /api/mlbox/v1/backup?format=archive
// streams a store/archive tar: the metadata snapshot, then every artifact
// (the local backend's files; with S3, the objects with include_s3=true,
// else a list of them), then the manifest of checksums.
//
// Consistent: the snapshot is taken first, and artifact deletions (the
// API's, retention's) wait until the artifacts are copied, so every
// artifact the snapshot refers to is in the archive. Artifacts written
// after the snapshot may be in it too; nothing refers to them.

// deleteGuard makes artifact deletions wait while a backup copies the
// artifacts.
type deleteGuard struct {
	artifact.Store
	mu *sync.RWMutex
}

func (g deleteGuard) Delete(ctx context.Context, p string) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.Store.Delete(ctx, p)
}

// localArtifacts returns the local backend, if that is the one in use.
func (a *App) localArtifacts() (*artifact.Local, bool) {
	s := a.arts
	if g, ok := s.(deleteGuard); ok {
		s = g.Store
	}
	l, ok := s.(*artifact.Local)
	return l, ok
}

func (a *App) backupArchive(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", `attachment; filename="mlbox-`+time.Now().UTC().Format("20060102-150405")+`.tar"`)
	h.Set("Cache-Control", "no-store")
	if _, err := a.writeArchive(r.Context(), w, r.URL.Query().Get("include_s3") == "true"); err != nil {
		// Part of the archive may be out: cut the connection, so the client
		// sees a truncated archive (no manifest), never a good-looking one.
		a.log.Error("backup failed while streaming", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// backupJob is the scheduler's Options.Backup: an archive to w and a
// one-line summary.
func (a *App) backupJob(ctx context.Context, w io.Writer, includeS3 bool) (string, error) {
	man, err := a.writeArchive(ctx, w, includeS3)
	if err != nil {
		return "", err
	}
	sum := fmt.Sprintf("metadata %d bytes, %d artifacts (%d bytes)", man.Files[0].Size, man.Artifacts, man.ArtifactBytes)
	if len(man.Objects) > 0 {
		sum += fmt.Sprintf(", %d S3 objects listed", len(man.Objects))
	}
	return sum, nil
}

// writeArchive writes a backup archive to w.
func (a *App) writeArchive(ctx context.Context, w io.Writer, includeS3 bool) (archive.Manifest, error) {
	_, local := a.localArtifacts()
	backend := "s3"
	if local {
		backend = "local"
	}
	withObjects := local || includeS3
	start := time.Now()
	// Artifact deletions wait from before the snapshot until the artifacts
	// are copied.
	a.backupMu.Lock()
	defer a.backupMu.Unlock()
	aw, err := archive.NewWriter(w, archive.Header{CreatedMs: time.Now().UnixMilli(), MlboxVersion: BuildVersion(),
		Schema: store.SchemaVersion, ArtifactBackend: backend, ArtifactsIn: withObjects})
	if err != nil {
		return archive.Manifest{}, err
	}
	var dbw io.Writer
	_, err = a.store.Backup(ctx, func(size int64) io.Writer {
		dbw = aw.DBWriter(size)
		return dbw
	})
	if dbw == nil {
		if err == nil {
			err = errors.New("no snapshot")
		}
		return archive.Manifest{}, err
	}
	if err := aw.FinishDB(err); err != nil {
		return archive.Manifest{}, err
	}
	err = a.arts.Walk(ctx, "", func(p string, size int64, _ time.Time) error {
		if !withObjects {
			aw.ListObject(p, size)
			return nil
		}
		obj, err := a.arts.Open(ctx, p)
		if errors.Is(err, artifact.ErrNotExist) {
			return nil // replaced meanwhile, or written after the walk listed it
		}
		if err != nil {
			return err
		}
		defer obj.Close()
		return aw.AddArtifact(p, obj.Size(), obj)
	})
	if err != nil {
		return archive.Manifest{}, err
	}
	man, err := aw.Close()
	if err != nil {
		return man, err
	}
	a.log.Info("backup written", "artifacts", man.Artifacts, "artifact_bytes", man.ArtifactBytes, "objects_listed", len(man.Objects),
		"duration", time.Since(start).Round(time.Millisecond).String())
	return man, nil
}

// Package archive is mlbox's backup format: one tar stream holding a
// consistent metadata snapshot and the artifacts, with a checksum of
// every file.
//
// The entries, in order:
//
//	mlbox-backup.json   Header: what made the archive and what it holds
//	mlbox.db            the metadata snapshot (a bbolt file)
//	artifacts/<path>    each artifact file (local backend; S3 with its objects)
//	MANIFEST.json       Manifest: every file above with size and SHA-256,
//	                    and the S3 objects listed but not included
//
// The manifest comes last so that an archive is written in one pass (to a
// pipe or stdout); a reader checks each file against it at the end. A
// plain tar, so `tar -x` can take one apart by hand.
package archive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
	"sync"
	"time"
)

const (
	Format       = "mlbox-backup"
	Version      = 1
	HeaderName   = "mlbox-backup.json"
	DBName       = "mlbox.db"
	ArtifactsDir = "artifacts/"
	ManifestName = "MANIFEST.json"
)

// Header describes an archive.
type Header struct {
	Format          string `json:"format"`
	Version         int    `json:"version"`
	CreatedMs       int64  `json:"created_ms"`
	MlboxVersion    string `json:"mlbox_version"`
	Schema          int    `json:"schema"`
	ArtifactBackend string `json:"artifact_backend"`   // "local" or "s3"
	ArtifactsIn     bool   `json:"artifacts_included"` // false: S3 objects listed in the manifest only
}

// File is a file of the archive with its checksum.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Object is an artifact listed but not included (S3 without its objects).
type Object struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Manifest lists what the archive holds.
type Manifest struct {
	Files   []File   `json:"files"`
	Objects []Object `json:"objects,omitempty"`
	// Artifacts and ArtifactBytes count the artifact files included.
	Artifacts     int   `json:"artifacts"`
	ArtifactBytes int64 `json:"artifact_bytes"`
}

// Writer writes an archive.
type Writer struct {
	tw     *tar.Writer
	man    Manifest
	mtime  time.Time
	err    error
	dbPipe *io.PipeWriter
	dbDone chan error
}

// NewWriter starts an archive on w with its header.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format, h.Version = Format, Version
	aw := &Writer{tw: tar.NewWriter(w), mtime: time.UnixMilli(h.CreatedMs).UTC()}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := aw.add(HeaderName, int64(len(b)+1), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}, false); err != nil {
		return nil, err
	}
	return aw, nil
}

// add writes one file of size bytes, produced by fill, and records it in
// the manifest (unless it is the manifest itself).
func (aw *Writer) add(name string, size int64, fill func(io.Writer) error, record bool) error {
	if aw.err != nil {
		return aw.err
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: aw.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		aw.err = err
		return err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(aw.tw, h)}
	if err := fill(cw); err != nil {
		aw.err = err
		return err
	}
	if cw.n != size {
		aw.err = fmt.Errorf("archive: %s: wrote %d bytes, announced %d", name, cw.n, size)
		return aw.err
	}
	if record {
		aw.man.Files = append(aw.man.Files, File{Path: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	return nil
}

// AddDB writes the metadata snapshot.
func (aw *Writer) AddDB(size int64, fill func(io.Writer) error) error {
	return aw.add(DBName, size, fill, true)
}

// DBWriter starts the metadata snapshot of size bytes for a producer that
// writes it itself (bbolt's Tx.WriteTo); FinishDB ends it.
func (aw *Writer) DBWriter(size int64) io.Writer {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- aw.add(DBName, size, func(w io.Writer) error {
			_, err := io.Copy(w, pr)
			return err
		}, true)
		pr.Close()
	}()
	aw.dbPipe, aw.dbDone = pw, done
	return pw
}

// FinishDB ends the snapshot started with DBWriter; err is the producer's.
func (aw *Writer) FinishDB(err error) error {
	aw.dbPipe.CloseWithError(err)
	if werr := <-aw.dbDone; err == nil {
		err = werr
	}
	return err
}

// AddArtifact writes one artifact file (path relative to the artifact root).
func (aw *Writer) AddArtifact(p string, size int64, r io.Reader) error {
	if err := aw.add(ArtifactsDir+p, size, func(w io.Writer) error {
		// Large reads: fewer writes down the stream (HTTP chunks, syscalls).
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		_, err := io.CopyBuffer(w, struct{ io.Reader }{r}, *bp)
		return err
	}, true); err != nil {
		return err
	}
	aw.man.Artifacts++
	aw.man.ArtifactBytes += size
	return nil
}

// ListObject records an artifact that is not included.
func (aw *Writer) ListObject(p string, size int64) {
	aw.man.Objects = append(aw.man.Objects, Object{Path: p, Size: size})
}

// Close writes the manifest and ends the archive; it returns the manifest.
func (aw *Writer) Close() (Manifest, error) {
	if aw.err != nil {
		return aw.man, aw.err
	}
	b, err := json.MarshalIndent(&aw.man, "", " ")
	if err != nil {
		return aw.man, err
	}
	if err := aw.add(ManifestName, int64(len(b)), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, false); err != nil {
		return aw.man, err
	}
	return aw.man, aw.tw.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// ErrCorrupt wraps every problem Read finds with an archive.
var ErrCorrupt = errors.New("archive is damaged")

// Entry is a file of an archive as Read hands it over.
type Entry struct {
	Name string // the archive's name: mlbox.db or artifacts/<path>
	Size int64
	R    io.Reader // the contents, hashed as they are read
}

// ArtifactPath is the artifact path of an artifacts/ entry ("" for others).
func (e Entry) ArtifactPath() string {
	p, ok := strings.CutPrefix(e.Name, ArtifactsDir)
	if !ok {
		return ""
	}
	return p
}

// Read reads an archive from r: its header, then every file through fn
// (which may read the entry's contents or not; what it leaves is read
// and hashed anyway), then the manifest, against which every file's size
// and checksum are checked. Any problem is an ErrCorrupt naming the file.
// fn sees files before they are checked: a caller writing them out must
// discard what it wrote when Read fails.
func Read(r io.Reader, fn func(Header, Entry) error) (Header, Manifest, error) {
	return read(r, fn, true)
}

// ReadStructure is Read without the checksums: the archive is complete
// and well formed, and every file has the size the manifest says. For a
// stream just received from the server that computed the checksums (mlbox
// backup); `mlbox verify` checks the checksums of what is on disk.
func ReadStructure(r io.Reader, fn func(Header, Entry) error) (Header, Manifest, error) {
	return read(r, fn, false)
}

func read(r io.Reader, fn func(Header, Entry) error, sums bool) (Header, Manifest, error) {
	var h Header
	var man Manifest
	tr := tar.NewReader(r)
	type seen struct {
		size int64
		sum  string
	}
	got := map[string]seen{}
	var order []string
	first := true
	sawManifest := false
	for {
		th, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, man, fmt.Errorf("%w: reading the tar stream after %d files: %v", ErrCorrupt, len(order), err)
		}
		if sawManifest {
			return h, man, fmt.Errorf("%w: %s after the manifest", ErrCorrupt, th.Name)
		}
		if th.Typeflag != tar.TypeReg {
			return h, man, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, th.Name)
		}
		if first {
			if th.Name != HeaderName {
				return h, man, fmt.Errorf("%w: the first file is %q, not %s (not an mlbox backup?)", ErrCorrupt, th.Name, HeaderName)
			}
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&h); err != nil || h.Format != Format {
				return h, man, fmt.Errorf("%w: %s is not an mlbox backup header", ErrCorrupt, HeaderName)
			}
			if h.Version != Version {
				return h, man, fmt.Errorf("%w: archive format version %d; this mlbox reads version %d", ErrCorrupt, h.Version, Version)
			}
			first = false
			continue
		}
		if th.Name == ManifestName {
			if err := json.NewDecoder(io.LimitReader(tr, 1<<30)).Decode(&man); err != nil {
				return h, man, fmt.Errorf("%w: %s: %v", ErrCorrupt, ManifestName, err)
			}
			sawManifest = true
			continue
		}
		if th.Name != DBName && !validArtifactName(th.Name) {
			return h, man, fmt.Errorf("%w: unexpected file %q", ErrCorrupt, th.Name)
		}
		if _, dup := got[th.Name]; dup {
			return h, man, fmt.Errorf("%w: %s appears twice", ErrCorrupt, th.Name)
		}
		var hs hash.Hash = nopHash{}
		if sums {
			hs = sha256.New()
		}
		hr := &hashReader{r: tr, h: hs}
		if err := fn(h, Entry{Name: th.Name, Size: th.Size, R: hr}); err != nil {
			return h, man, err
		}
		if _, err := io.Copy(io.Discard, hr); err != nil {
			return h, man, fmt.Errorf("%w: %s: %v", ErrCorrupt, th.Name, err)
		}
		if hr.n != th.Size {
			return h, man, fmt.Errorf("%w: %s: %d of %d bytes", ErrCorrupt, th.Name, hr.n, th.Size)
		}
		got[th.Name] = seen{th.Size, hex.EncodeToString(hs.Sum(nil))}
		order = append(order, th.Name)
	}
	if first {
		return h, man, fmt.Errorf("%w: empty archive", ErrCorrupt)
	}
	if !sawManifest {
		return h, man, fmt.Errorf("%w: no %s at the end (the archive is truncated)", ErrCorrupt, ManifestName)
	}
	listed := map[string]bool{}
	for _, f := range man.Files {
		listed[f.Path] = true
		s, ok := got[f.Path]
		switch {
		case !ok:
			return h, man, fmt.Errorf("%w: %s is listed in the manifest but missing", ErrCorrupt, f.Path)
		case s.size != f.Size:
			return h, man, fmt.Errorf("%w: %s is %d bytes, the manifest says %d", ErrCorrupt, f.Path, s.size, f.Size)
		case sums && s.sum != f.SHA256:
			return h, man, fmt.Errorf("%w: %s does not match its SHA-256 in the manifest (its contents changed)", ErrCorrupt, f.Path)
		}
	}
	for _, name := range order {
		if !listed[name] {
			return h, man, fmt.Errorf("%w: %s is not in the manifest", ErrCorrupt, name)
		}
	}
	if _, ok := got[DBName]; !ok {
		return h, man, fmt.Errorf("%w: no %s", ErrCorrupt, DBName)
	}
	return h, man, nil
}

// nopHash stands in for SHA-256 when checksums are not checked.
type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 64 }

type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	return n, err
}

// validArtifactName accepts artifacts/<clean relative path>.
func validArtifactName(name string) bool {
	p, ok := strings.CutPrefix(name, ArtifactsDir)
	if !ok || p == "" || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) || path.IsAbs(p) || path.Clean(p) != p {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return false
		}
	}
	return true
}

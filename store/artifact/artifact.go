// Package artifact stores MLflow artifacts behind one interface with two
// backends: a local directory (Local) and an S3-compatible bucket (S3).
//
// All paths handed to a Store are storage-relative, slash-separated paths such
// as "1/<run_id>/artifacts/model/MLmodel". They are validated with CleanPath
// by every method; callers may validate early with CleanPath themselves to map
// ErrInvalidPath to a 400 before touching storage.
//
// Memory: everything is streamed. Local uses a 256 KiB copy buffer per Put.
// S3 Put buffers at most one part (16 MiB, or size/9999 rounded up to a MiB
// for known sizes above ~156 GiB) per in-flight upload; objects of unknown
// size are therefore limited to 10000*16 MiB ≈ 156 GiB. Reads stream the
// HTTP response body directly.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	// ErrNotExist is returned by Open (and multipart calls on an unknown upload)
	// when the artifact does not exist or is a directory.
	ErrNotExist = errors.New("artifact does not exist")
	// ErrInvalidPath is returned for unsafe or malformed paths, and for paths
	// that would escape the store root through symlinks. It is wrapped with
	// detail via fmt.Errorf("%w: ...").
	ErrInvalidPath = errors.New("invalid path")
	// ErrNotSupported is returned by multipart calls on the local backend.
	ErrNotSupported = errors.New("not supported")
	// ErrUnavailable wraps backend failures that are not the caller's fault:
	// S3 unreachable, misconfigured, authentication failures, missing bucket,
	// timeouts. The proxy maps it to 503 TEMPORARILY_UNAVAILABLE.
	ErrUnavailable = errors.New("artifact storage unavailable")
)

// Limits enforced by CleanPath.
const (
	MaxPathLen    = 1024 // bytes, whole cleaned path (S3 key limit)
	MaxSegmentLen = 255  // bytes, one path segment (NAME_MAX)
)

// CleanPath validates and normalizes a storage-relative path.
//
// Rejected with ErrInvalidPath: ".." segments, absolute paths (leading "/"),
// Windows drive letters ("C:" starting the first segment), backslashes, "#",
// NUL and other control characters, invalid UTF-8, segments longer than
// MaxSegmentLen and paths longer than MaxPathLen.
// Normalized: empty segments ("a//b", trailing "/") and "." segments are
// dropped. "" (and ".") mean the root and return "".
// The result never starts or ends with "/" and contains no "." or ".."
// segment.
func CleanPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if !utf8.ValidString(p) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidPath)
	}
	for _, r := range p {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "", fmt.Errorf("%w: control character", ErrInvalidPath)
		case r == '\\':
			return "", fmt.Errorf("%w: backslash", ErrInvalidPath)
		case r == '#':
			return "", fmt.Errorf("%w: '#'", ErrInvalidPath)
		case r == utf8.RuneError:
			return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidPath)
		}
	}
	if p[0] == '/' {
		return "", fmt.Errorf("%w: absolute path", ErrInvalidPath)
	}
	var b strings.Builder
	b.Grow(len(p))
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: '..' segment", ErrInvalidPath)
		}
		if len(seg) > MaxSegmentLen {
			return "", fmt.Errorf("%w: path segment longer than %d bytes", ErrInvalidPath, MaxSegmentLen)
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(seg)
	}
	out := b.String()
	// Checked after normalisation so "./C:/x" cannot slip through.
	if len(out) >= 2 && out[1] == ':' && isASCIILetter(out[0]) {
		return "", fmt.Errorf("%w: drive letter", ErrInvalidPath)
	}
	if len(out) > MaxPathLen {
		return "", fmt.Errorf("%w: path longer than %d bytes", ErrInvalidPath, MaxPathLen)
	}
	return out, nil
}

func isASCIILetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// Entry is one direct child returned by List. Name is the basename only;
// Size is 0 for directories.
type Entry struct {
	Name  string
	IsDir bool
	Size  int64
}

// Object is an open artifact. It is usable with http.ServeContent (Range
// support through Seek). Reads are bounded by the context given to Open.
type Object interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// Part identifies an uploaded multipart part.
type Part struct {
	Number int
	ETag   string
}

// Store is an artifact storage backend. Implementations are safe for
// concurrent use.
type Store interface {
	// Put streams r to path atomically (readers never observe a partial
	// file) and overwrites any existing file. size is the body length or -1
	// if unknown. Parent directories are implied/created.
	Put(ctx context.Context, path string, r io.Reader, size int64) error
	// Open opens a file for reading. ErrNotExist if missing or a directory.
	Open(ctx context.Context, path string) (Object, error)
	// List returns the direct children of dir sorted by name. A missing dir
	// or a path that is a file yields (nil, nil).
	List(ctx context.Context, dir string) ([]Entry, error)
	// Delete removes a file or a whole tree under path. Missing → nil.
	// Deleting the root ("") is refused with ErrInvalidPath.
	Delete(ctx context.Context, path string) error
	// Walk calls fn for every file under dir (recursively) with its path
	// relative to the store root. A missing dir or a file path → no calls.
	// An error from fn stops the walk and is returned.
	Walk(ctx context.Context, dir string, fn func(path string, size int64, mod time.Time) error) error

	// Multipart uploads (S3 only; Local returns ErrNotSupported).
	CreateMultipart(ctx context.Context, path string) (uploadID string, err error)
	UploadPart(ctx context.Context, path, uploadID string, number int, r io.Reader, size int64) (etag string, err error)
	CompleteMultipart(ctx context.Context, path, uploadID string, parts []Part) error
	AbortMultipart(ctx context.Context, path, uploadID string) error

	// Ready checks the backend is usable. Bounded by ctx.
	Ready(ctx context.Context) error
	Close() error
}

// ctxReader makes a blocking copy loop notice context cancellation between
// reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

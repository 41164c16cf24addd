package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TempPrefix is the name prefix of in-progress upload files. Such files are
// never listed, walked or opened, and paths using the prefix are rejected.
const TempPrefix = ".mlbox-tmp-"

const copyBufSize = 256 << 10

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// Local stores artifacts in a directory. Every filesystem access goes through
// an os.Root, so nothing outside the root is ever read or written, even
// through symlinks; a symlink that would leave the root yields
// ErrInvalidPath.
type Local struct {
	dir  string
	root *os.Root
}

var _ Store = (*Local)(nil)

// NewLocal opens (creating it with mode 0700 if needed) the directory root.
func NewLocal(root string) (*Local, error) {
	if root == "" {
		return nil, errors.New("artifact: empty local root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("artifact: local root: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("artifact: create local root: %w", err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("artifact: open local root: %w", err)
	}
	return &Local{dir: abs, root: r}, nil
}

// Dir returns the absolute path of the root directory.
func (l *Local) Dir() string { return l.dir }

// clean validates p and returns it slash-separated (as used in results) and
// as a name for the os.Root ("." for the root).
func (l *Local) clean(p string) (rel, name string, err error) {
	rel, err = CleanPath(p)
	if err != nil {
		return "", "", err
	}
	if rel == "" {
		return "", ".", nil
	}
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(seg, TempPrefix) {
			return "", "", fmt.Errorf("%w: reserved name %q", ErrInvalidPath, seg)
		}
	}
	return rel, filepath.FromSlash(rel), nil
}

// isEscape reports whether err is os.Root's refusal to leave the root
// (the sentinel is unexported, so match on its text) or a symlink loop.
func isEscape(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ELOOP) {
		return true
	}
	return strings.Contains(err.Error(), "path escapes from parent")
}

func escapeErr(p string, err error) error {
	return fmt.Errorf("%w: %q resolves outside the artifact root: %v", ErrInvalidPath, p, err)
}

func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }

// Put writes r to a hidden temp file in the destination directory, fsyncs
// it, renames it into place and fsyncs the directory.
func (l *Local) Put(ctx context.Context, p string, r io.Reader, size int64) (err error) {
	rel, name, err := l.clean(p)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("%w: empty file path", ErrInvalidPath)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dirName := filepath.Dir(name)
	if dirName != "." {
		if err := l.root.MkdirAll(dirName, 0o700); err != nil {
			switch {
			case isEscape(err):
				return escapeErr(p, err)
			case isNotDir(err) || errors.Is(err, fs.ErrExist):
				return fmt.Errorf("%w: a parent of %q is a file", ErrInvalidPath, rel)
			}
			return fmt.Errorf("artifact: mkdir: %w", err)
		}
	}
	var f *os.File
	var tmp string
	for range 5 {
		tmp = filepath.Join(dirName, TempPrefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err = l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		if isEscape(err) {
			return escapeErr(p, err)
		}
		return fmt.Errorf("artifact: create temp file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			l.root.Remove(tmp)
		}
	}()

	var n int64
	if cb, ok := r.(*ConnBody); ok && size == cb.N {
		// Straight from the socket (see ConnBody); the caller bounds it
		// with the connection's deadline.
		n, err = cb.writeTo(f)
	} else {
		bp := copyBufPool.Get().(*[]byte)
		defer copyBufPool.Put(bp)
		src := io.Reader(ctxReader{ctx, r})
		if size >= 0 {
			src = io.LimitReader(src, size+1)
		}
		// struct wrapper hides (*os.File).ReadFrom so the pooled buffer and
		// the context check are used.
		n, err = io.CopyBuffer(struct{ io.Writer }{f}, src, *bp)
	}
	if err != nil {
		return fmt.Errorf("artifact: write %q: %w", rel, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("artifact: write %q: body is %d bytes, expected %d", rel, n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("artifact: fsync %q: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("artifact: close %q: %w", rel, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.root.Rename(tmp, name); err != nil {
		l.root.Remove(tmp)
		done = true
		switch {
		case isEscape(err):
			return escapeErr(p, err)
		case errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY):
			return fmt.Errorf("%w: %q is a directory", ErrInvalidPath, rel)
		}
		return fmt.Errorf("artifact: rename %q: %w", rel, err)
	}
	done = true
	if d, err := l.root.Open(dirName); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("artifact: fsync dir of %q: %w", rel, err)
		}
	}
	return nil
}

type localObject struct {
	*os.File
	size int64
	mod  time.Time
}

func (o *localObject) Size() int64 { return o.size }

// OSFile exposes the open file, so the HTTP layer can send it with sendfile(2).
func (o *localObject) OSFile() *os.File   { return o.File }
func (o *localObject) ModTime() time.Time { return o.mod }

// Open opens a regular file. Directories, missing files and special files
// yield ErrNotExist.
func (l *Local) Open(ctx context.Context, p string) (Object, error) {
	rel, name, err := l.clean(p)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	notExist := fmt.Errorf("%w: %q", ErrNotExist, rel)
	// Stat first so FIFOs and devices are never opened (opening a FIFO blocks).
	fi, err := l.root.Stat(name)
	if err != nil {
		if isEscape(err) {
			return nil, escapeErr(p, err)
		}
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil, notExist
		}
		return nil, fmt.Errorf("artifact: stat %q: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notExist
	}
	f, err := l.root.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		if isEscape(err) {
			return nil, escapeErr(p, err)
		}
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil, notExist
		}
		return nil, fmt.Errorf("artifact: open %q: %w", rel, err)
	}
	fi, err = f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, notExist
	}
	return &localObject{File: f, size: fi.Size(), mod: fi.ModTime()}, nil
}

// openDir opens name as a directory; (nil, nil) if it is missing or not a
// directory.
func (l *Local) openDir(p, name string) (*os.File, error) {
	d, err := l.root.Open(name)
	if err != nil {
		if isEscape(err) {
			return nil, escapeErr(p, err)
		}
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("artifact: open dir %q: %w", p, err)
	}
	fi, err := d.Stat()
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("artifact: stat dir %q: %w", p, err)
	}
	if !fi.IsDir() {
		d.Close()
		return nil, nil
	}
	return d, nil
}

// entryInfo resolves a directory entry: symlinks are followed inside the
// root only; entries that escape, dangle, are special files or are hidden
// temp files are skipped (ok=false).
func (l *Local) entryInfo(dirName string, de fs.DirEntry) (fi fs.FileInfo, viaLink, ok bool) {
	n := de.Name()
	if strings.HasPrefix(n, TempPrefix) {
		return nil, false, false
	}
	if _, err := CleanPath(n); err != nil || n == "." || n == ".." {
		return nil, false, false // not addressable through the API
	}
	var err error
	switch {
	case de.Type()&fs.ModeSymlink != 0:
		viaLink = true
		fi, err = l.root.Stat(filepath.Join(dirName, n))
	case de.IsDir():
		return dirInfo{de}, false, true // no stat: the walk only needs the name
	default:
		fi, err = de.Info()
	}
	if err != nil {
		return nil, false, false
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, false, false
	}
	return fi, viaLink, true
}

// dirInfo is the FileInfo of a directory entry known to be a directory,
// without the stat call behind fs.DirEntry.Info.
type dirInfo struct{ fs.DirEntry }

func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) Sys() any           { return nil }

// List returns the direct children of dir sorted by name.
func (l *Local) List(ctx context.Context, dir string) ([]Entry, error) {
	_, name, err := l.clean(dir)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := l.openDir(dir, name)
	if d == nil || err != nil {
		return nil, err
	}
	defer d.Close()
	des, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("artifact: list %q: %w", dir, err)
	}
	var out []Entry
	for _, de := range des {
		fi, _, ok := l.entryInfo(name, de)
		if !ok {
			continue
		}
		e := Entry{Name: de.Name(), IsDir: fi.IsDir()}
		if !e.IsDir {
			e.Size = fi.Size()
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete removes a file or a tree. A symlink is removed itself, never its
// target.
func (l *Local) Delete(ctx context.Context, p string) error {
	rel, name, err := l.clean(p)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("%w: refusing to delete the artifact root", ErrInvalidPath)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.root.RemoveAll(name); err != nil {
		switch {
		case isEscape(err):
			return escapeErr(p, err)
		case errors.Is(err, fs.ErrNotExist) || isNotDir(err):
			return nil
		}
		return fmt.Errorf("artifact: delete %q: %w", rel, err)
	}
	return nil
}

// Walk calls fn for every regular file under dir, in lexical order.
// Symlinks to files inside the root are reported; symlinked directories are
// not descended into (no loops, no double counting).
func (l *Local) Walk(ctx context.Context, dir string, fn func(path string, size int64, mod time.Time) error) error {
	rel, name, err := l.clean(dir)
	if err != nil {
		return err
	}
	return l.walk(ctx, dir, rel, name, fn)
}

func (l *Local) walk(ctx context.Context, p, rel, name string, fn func(string, int64, time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := l.openDir(p, name)
	if d == nil || err != nil {
		return err
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("artifact: walk %q: %w", rel, err)
	}
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, de := range des {
		fi, viaLink, ok := l.entryInfo(name, de)
		if !ok {
			continue
		}
		childRel := path.Join(rel, de.Name())
		if fi.IsDir() {
			if viaLink {
				continue
			}
			if err := l.walk(ctx, childRel, childRel, filepath.FromSlash(childRel), fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(childRel, fi.Size(), fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// RemoveStaleTemp deletes upload temp files older than olderThan left behind
// by a crash. Call it at startup or periodically; it returns how many files
// were removed.
func (l *Local) RemoveStaleTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	n := 0
	err := fs.WalkDir(l.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), TempPrefix) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			return nil
		}
		if l.root.Remove(filepath.FromSlash(p)) == nil {
			n++
		}
		return nil
	})
	return n, err
}

// Ready checks that the root directory still exists at its path and is
// writable.
func (l *Local) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	want, err := os.Stat(l.dir)
	if err != nil {
		return fmt.Errorf("artifact: local root %s: %w", l.dir, err)
	}
	have, err := l.root.Stat(".")
	if err != nil || !os.SameFile(want, have) {
		return fmt.Errorf("artifact: local root %s was removed or replaced", l.dir)
	}
	name := TempPrefix + "ready-" + strconv.FormatUint(rand.Uint64(), 36)
	f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("artifact: local root %s not writable: %w", l.dir, err)
	}
	f.Close()
	if err := l.root.Remove(name); err != nil {
		return fmt.Errorf("artifact: local root %s: %w", l.dir, err)
	}
	return nil
}

// Close releases the root directory handle.
func (l *Local) Close() error { return l.root.Close() }

func (l *Local) CreateMultipart(context.Context, string) (string, error) {
	return "", fmt.Errorf("%w: multipart upload on local storage", ErrNotSupported)
}

func (l *Local) UploadPart(context.Context, string, string, int, io.Reader, int64) (string, error) {
	return "", fmt.Errorf("%w: multipart upload on local storage", ErrNotSupported)
}

func (l *Local) CompleteMultipart(context.Context, string, string, []Part) error {
	return fmt.Errorf("%w: multipart upload on local storage", ErrNotSupported)
}

func (l *Local) AbortMultipart(context.Context, string, string) error {
	return fmt.Errorf("%w: multipart upload on local storage", ErrNotSupported)
}

//go:build unix

package artifact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newLocal(t *testing.T) *Local {
	t.Helper()
	st, err := NewLocal(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestLocalConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) Store { return newLocal(t) }, false)
}

func TestNewLocalCreatesRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	st, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("root: %v %v", fi.Mode(), err)
	}
	if st.Dir() != dir {
		t.Fatalf("Dir = %q", st.Dir())
	}
	if _, err := NewLocal(""); err == nil {
		t.Fatal("NewLocal('') succeeded")
	}
}

// rawFiles lists every name under root, hidden or not.
func rawFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestLocalAtomicity(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	boom := errors.New("boom")
	// Fails mid-stream after 3 MiB: nothing may be left, not even a temp.
	err := st.Put(ctx, "1/r/artifacts/big.bin", &errAfterReader{n: 3 << 20, err: boom}, 10<<20)
	if !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want wrapped boom", err)
	}
	if got := rawFiles(t, st.Dir()); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	// An existing file is untouched by a failed overwrite.
	put(t, st, "1/r/artifacts/big.bin", "good")
	if err := st.Put(ctx, "1/r/artifacts/big.bin", &errAfterReader{n: 1 << 20, err: boom}, -1); err == nil {
		t.Fatal("Put succeeded")
	}
	if got := read(t, st, "1/r/artifacts/big.bin"); got != "good" {
		t.Fatalf("got %q", got)
	}
	if got := rawFiles(t, st.Dir()); len(got) != 1 {
		t.Fatalf("files: %v", got)
	}
	// Body longer than the announced size is refused too.
	if err := st.Put(ctx, "long", strings.NewReader("0123456789"), 5); err == nil {
		t.Fatal("long Put succeeded")
	}
	// Concurrent readers see either the old or the new content, never a
	// partial file: a reader opened before an overwrite keeps the old one.
	obj, err := st.Open(ctx, "1/r/artifacts/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, "1/r/artifacts/big.bin", "replacement")
	buf := make([]byte, 16)
	n, _ := obj.Read(buf)
	obj.Close()
	if string(buf[:n]) != "good" {
		t.Fatalf("old reader saw %q", buf[:n])
	}
}

func TestLocalTempHidden(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	put(t, st, "d/visible", "v")
	tmp := filepath.Join(st.Dir(), "d", TempPrefix+"crashed")
	if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	es, err := st.List(ctx, "d")
	if err != nil || len(es) != 1 || es[0].Name != "visible" {
		t.Fatalf("List = %+v, %v", es, err)
	}
	if got := walkAll(t, st, ""); len(got) != 1 {
		t.Fatalf("Walk = %+v", got)
	}
	if _, err := st.Open(ctx, "d/"+TempPrefix+"crashed"); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("Open(temp) = %v", err)
	}
	if err := st.Put(ctx, "d/"+TempPrefix+"x", strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("Put(temp) = %v", err)
	}
	// Fresh temp files survive the sweep, stale ones are removed.
	if n, err := st.RemoveStaleTemp(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("RemoveStaleTemp = %d, %v", n, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(tmp, old, old)
	if n, err := st.RemoveStaleTemp(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp = %d, %v", n, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temp still there: %v", err)
	}
}

func TestLocalSymlinkEscape(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := st.Dir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "1", "run"), 0o700))
	must(os.Symlink(outside, filepath.Join(root, "1", "run", "linkdir")))    // absolute dir link
	must(os.Symlink(secret, filepath.Join(root, "1", "run", "linkfile")))    // absolute file link
	must(os.Symlink("../../..", filepath.Join(root, "1", "run", "up")))      // relative escape
	must(os.Symlink("../../../../", filepath.Join(root, "1", "run", "up2"))) // further up
	must(os.Symlink("loop", filepath.Join(root, "1", "run", "loop")))        // self loop
	put(t, st, "1/run/real/inside", "ok")
	must(os.Symlink("real", filepath.Join(root, "1", "run", "alias")))            // stays inside
	must(os.Symlink("real/inside", filepath.Join(root, "1", "run", "aliasfile"))) // stays inside

	for _, p := range []string{
		"1/run/linkdir/secret", "1/run/linkfile", "1/run/up/" + filepath.Base(root) + "/1/run/real/inside",
		"1/run/up2/etc/passwd", "1/run/loop",
	} {
		if _, err := st.Open(ctx, p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Open(%q) = %v, want ErrInvalidPath", p, err)
		}
	}
	for _, p := range []string{"1/run/linkdir/new", "1/run/linkdir/sub/new", "1/run/up/escaped"} {
		if err := st.Put(ctx, p, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Put(%q) = %v, want ErrInvalidPath", p, err)
		}
	}
	for _, p := range []string{"1/run/linkdir", "1/run/up"} {
		if _, err := st.List(ctx, p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("List(%q) = %v, want ErrInvalidPath", p, err)
		}
	}
	if err := st.Delete(ctx, "1/run/linkdir/secret"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Delete through link = %v", err)
	}
	if es, _ := os.ReadDir(outside); len(es) != 1 {
		t.Fatalf("outside dir modified: %v", es)
	}
	if b, _ := os.ReadFile(secret); string(b) != "top secret" {
		t.Fatal("secret modified")
	}
	// Escaping links are not listed; inside links resolve.
	es, err := st.List(ctx, "1/run")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ","); got != "alias,aliasfile,real" {
		t.Fatalf("List = %v", got)
	}
	if got := read(t, st, "1/run/alias/inside"); got != "ok" {
		t.Fatalf("alias read %q", got)
	}
	if got := read(t, st, "1/run/aliasfile"); got != "ok" {
		t.Fatalf("aliasfile read %q", got)
	}
	// Walk reports the real file and the in-root file link, never descends
	// into linked directories, never reports escaping links.
	got := walkAll(t, st, "")
	want := []walked{{"1/run/aliasfile", 2}, {"1/run/real/inside", 2}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Walk = %+v", got)
	}
	// Deleting a link removes the link, not the target.
	if err := st.Delete(ctx, "1/run/linkdir"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "1/run/linkfile"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "top secret" {
		t.Fatal("secret removed")
	}
	// A whole-tree delete containing escaping links leaves the outside alone.
	if err := st.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "top secret" {
		t.Fatal("secret removed by tree delete")
	}
}

func TestLocalConflicts(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	put(t, st, "a/file", "f")
	if err := st.Put(ctx, "a/file/child", strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("Put under a file = %v", err)
	}
	put(t, st, "a/dir/x", "x")
	if err := st.Put(ctx, "a/dir", strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("Put onto a dir = %v", err)
	}
	if got := rawFiles(t, st.Dir()); len(got) != 2 {
		t.Fatalf("files: %v", got)
	}
}

func TestLocalSpecialFiles(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	if err := syscall.Mkfifo(filepath.Join(st.Dir(), "fifo"), 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { _, err := st.Open(ctx, "fifo"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotExist) {
			t.Fatalf("Open(fifo) = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Open(fifo) blocked")
	}
	if es, err := st.List(ctx, ""); err != nil || len(es) != 0 {
		t.Fatalf("List = %+v, %v", es, err)
	}
}

func TestLocalReady(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	if err := st.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rawFiles(t, st.Dir()); len(got) != 0 {
		t.Fatalf("Ready left files: %v", got)
	}
	if err := os.RemoveAll(st.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(ctx); err == nil {
		t.Fatal("Ready succeeded with root removed")
	}
}

func TestLocalCancelledPut(t *testing.T) {
	st := newLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfterReader{n: 1 << 20, cancel: cancel}
	if err := st.Put(ctx, "c/f", r, -1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v", err)
	}
	if got := rawFiles(t, st.Dir()); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

// cancelAfterReader cancels the context after n bytes and keeps producing.
type cancelAfterReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancelAfterReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	r.n -= len(p)
	return len(p), nil
}

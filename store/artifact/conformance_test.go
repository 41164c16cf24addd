package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func put(t *testing.T, st Store, p, content string) {
	t.Helper()
	if err := st.Put(context.Background(), p, strings.NewReader(content), int64(len(content))); err != nil {
		t.Fatalf("Put(%q): %v", p, err)
	}
}

func read(t *testing.T, st Store, p string) string {
	t.Helper()
	obj, err := st.Open(context.Background(), p)
	if err != nil {
		t.Fatalf("Open(%q): %v", p, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %q: %v", p, err)
	}
	if obj.Size() != int64(len(b)) {
		t.Fatalf("Open(%q).Size() = %d, read %d bytes", p, obj.Size(), len(b))
	}
	return string(b)
}

type walked struct {
	Path string
	Size int64
}

func walkAll(t *testing.T, st Store, dir string) []walked {
	t.Helper()
	var out []walked
	err := st.Walk(context.Background(), dir, func(p string, size int64, mod time.Time) error {
		if mod.IsZero() {
			t.Errorf("Walk: %q has zero mod time", p)
		}
		out = append(out, walked{p, size})
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%q): %v", dir, err)
	}
	slices.SortFunc(out, func(a, b walked) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// errAfterReader returns n bytes of data and then err.
type errAfterReader struct {
	n   int
	err error
}

func (r *errAfterReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

// runConformance exercises the Store contract. newStore must return an
// empty store.
func runConformance(t *testing.T, newStore func(t *testing.T) Store, multipart bool) {
	ctx := context.Background()

	t.Run("PutOpen", func(t *testing.T) {
		st := newStore(t)
		before := time.Now().Add(-time.Minute)
		put(t, st, "1/run/artifacts/model/MLmodel", "flavors: {}\n")
		if got := read(t, st, "1/run/artifacts/model/MLmodel"); got != "flavors: {}\n" {
			t.Fatalf("got %q", got)
		}
		// Same path through normalisation.
		if got := read(t, st, "1//run/./artifacts/model/MLmodel"); got != "flavors: {}\n" {
			t.Fatalf("got %q", got)
		}
		obj, err := st.Open(ctx, "1/run/artifacts/model/MLmodel")
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		if mt := obj.ModTime(); mt.Before(before) || mt.After(time.Now().Add(time.Minute)) {
			t.Errorf("ModTime = %v", mt)
		}
	})

	t.Run("EmptyAndUnknownSize", func(t *testing.T) {
		st := newStore(t)
		put(t, st, "e/empty", "")
		if got := read(t, st, "e/empty"); got != "" {
			t.Fatalf("got %q", got)
		}
		if err := st.Put(ctx, "e/unknown", strings.NewReader("streamed body"), -1); err != nil {
			t.Fatal(err)
		}
		if got := read(t, st, "e/unknown"); got != "streamed body" {
			t.Fatalf("got %q", got)
		}
		if err := st.Put(ctx, "e/unknown-empty", strings.NewReader(""), -1); err != nil {
			t.Fatal(err)
		}
		if got := read(t, st, "e/unknown-empty"); got != "" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("RangeSeek", func(t *testing.T) {
		st := newStore(t)
		var buf bytes.Buffer
		for i := range 1000 {
			buf.WriteByte(byte('a' + i%26))
		}
		data := buf.String()
		put(t, st, "r/data.bin", data)
		obj, err := st.Open(ctx, "r/data.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		check := func(off int64, whence, n int, wantPos int64) {
			t.Helper()
			pos, err := obj.Seek(off, whence)
			if err != nil || pos != wantPos {
				t.Fatalf("Seek(%d,%d) = %d, %v; want %d", off, whence, pos, err, wantPos)
			}
			got := make([]byte, n)
			if _, err := io.ReadFull(obj, got); err != nil {
				t.Fatalf("read at %d: %v", pos, err)
			}
			if string(got) != data[pos:pos+int64(n)] {
				t.Fatalf("read at %d = %q want %q", pos, got, data[pos:pos+int64(n)])
			}
		}
		check(0, io.SeekStart, 10, 0)
		check(5, io.SeekCurrent, 20, 15) // 10+5
		check(500, io.SeekStart, 100, 500)
		check(-10, io.SeekEnd, 10, 990)
		check(3, io.SeekStart, 997, 3)
		if n, err := obj.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("read at EOF = %d, %v", n, err)
		}
		if _, err := obj.Seek(-1, io.SeekStart); err == nil {
			t.Fatal("negative seek succeeded")
		}

		// http.ServeContent with a Range request.
		obj2, err := st.Open(ctx, "r/data.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer obj2.Close()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("Range", "bytes=100-149")
		http.ServeContent(rec, req, "data.bin", obj2.ModTime(), obj2)
		if rec.Code != http.StatusPartialContent || rec.Body.String() != data[100:150] {
			t.Fatalf("ServeContent range: %d %q", rec.Code, rec.Body.String())
		}
		rec = httptest.NewRecorder()
		req = httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("Range", "bytes=0-9,990-")
		obj2.Seek(0, io.SeekStart)
		http.ServeContent(rec, req, "data.bin", obj2.ModTime(), obj2)
		if rec.Code != http.StatusPartialContent || !strings.Contains(rec.Body.String(), data[990:]) {
			t.Fatalf("ServeContent multi-range: %d", rec.Code)
		}
		rec = httptest.NewRecorder()
		obj2.Seek(0, io.SeekStart)
		http.ServeContent(rec, httptest.NewRequest(http.MethodGet, "/x", nil), "data.bin", obj2.ModTime(), obj2)
		if rec.Code != http.StatusOK || rec.Body.String() != data {
			t.Fatalf("ServeContent full: %d len %d", rec.Code, rec.Body.Len())
		}
	})

	t.Run("List", func(t *testing.T) {
		st := newStore(t)
		put(t, st, "d/a.txt", "abc")
		put(t, st, "d/b/c.txt", "c")
		put(t, st, "d/b/deeper/d.txt", "dd")
		put(t, st, "d/z", "zzzz")
		put(t, st, "d/bb/x", "x")
		put(t, st, "top", "t")
		list := func(dir string) []Entry {
			t.Helper()
			es, err := st.List(ctx, dir)
			if err != nil {
				t.Fatalf("List(%q): %v", dir, err)
			}
			return es
		}
		want := []Entry{{"a.txt", false, 3}, {"b", true, 0}, {"bb", true, 0}, {"z", false, 4}}
		if got := list("d"); !slices.Equal(got, want) {
			t.Fatalf("List(d) = %+v\nwant %+v", got, want)
		}
		if got := list("d/"); !slices.Equal(got, want) {
			t.Fatalf("List(d/) = %+v", got)
		}
		if got, want := list("d/b"), []Entry{{"c.txt", false, 1}, {"deeper", true, 0}}; !slices.Equal(got, want) {
			t.Fatalf("List(d/b) = %+v", got)
		}
		if got, want := list(""), []Entry{{"d", true, 0}, {"top", false, 1}}; !slices.Equal(got, want) {
			t.Fatalf("List('') = %+v", got)
		}
		if got := list("missing"); got != nil {
			t.Fatalf("List(missing) = %+v", got)
		}
		if got := list("d/a.txt"); got != nil {
			t.Fatalf("List(file) = %+v", got)
		}
		if got := list("d/a.txt/x"); got != nil {
			t.Fatalf("List(file/x) = %+v", got)
		}
	})

	t.Run("OpenErrors", func(t *testing.T) {
		st := newStore(t)
		put(t, st, "o/dir/f", "f")
		for _, p := range []string{"o/missing", "o/dir", "o", "", "o/dir/f/g"} {
			if _, err := st.Open(ctx, p); !errors.Is(err, ErrNotExist) {
				t.Errorf("Open(%q) = %v, want ErrNotExist", p, err)
			}
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		st := newStore(t)
		put(t, st, "w/f", "first version, long")
		put(t, st, "w/f", "second")
		if got := read(t, st, "w/f"); got != "second" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		st := newStore(t)
		put(t, st, "x/keep", "k")
		put(t, st, "x/f", "f")
		put(t, st, "x/tree/a", "a")
		put(t, st, "x/tree/sub/b", "b")
		put(t, st, "x/treex/c", "c") // sibling sharing the name prefix
		put(t, st, "x/tree.txt", "t")
		if err := st.Delete(ctx, "x/f"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Open(ctx, "x/f"); !errors.Is(err, ErrNotExist) {
			t.Fatalf("after delete: %v", err)
		}
		if err := st.Delete(ctx, "x/tree"); err != nil {
			t.Fatal(err)
		}
		if es, _ := st.List(ctx, "x/tree"); es != nil {
			t.Fatalf("tree still listed: %+v", es)
		}
		want := []walked{{"x/keep", 1}, {"x/tree.txt", 1}, {"x/treex/c", 1}}
		if got := walkAll(t, st, "x"); !slices.Equal(got, want) {
			t.Fatalf("after tree delete: %+v", got)
		}
		for _, p := range []string{"x/missing", "nothing/at/all", "x/keep/child"} {
			if err := st.Delete(ctx, p); err != nil {
				t.Fatalf("Delete(%q) = %v", p, err)
			}
		}
		if err := st.Delete(ctx, ""); !errors.Is(err, ErrInvalidPath) {
			t.Fatalf("Delete(root) = %v", err)
		}
		if got := read(t, st, "x/keep"); got != "k" {
			t.Fatal("x/keep damaged")
		}
	})

	t.Run("Walk", func(t *testing.T) {
		st := newStore(t)
		put(t, st, "1/r1/artifacts/a", "aa")
		put(t, st, "1/r1/artifacts/m/b", "b")
		put(t, st, "1/r2/artifacts/c", "ccc")
		put(t, st, "2/x", "x")
		want := []walked{{"1/r1/artifacts/a", 2}, {"1/r1/artifacts/m/b", 1}, {"1/r2/artifacts/c", 3}}
		if got := walkAll(t, st, "1"); !slices.Equal(got, want) {
			t.Fatalf("Walk(1) = %+v", got)
		}
		if got := walkAll(t, st, ""); len(got) != 4 {
			t.Fatalf("Walk('') = %+v", got)
		}
		if got := walkAll(t, st, "nope"); got != nil {
			t.Fatalf("Walk(missing) = %+v", got)
		}
		if got := walkAll(t, st, "2/x"); got != nil {
			t.Fatalf("Walk(file) = %+v", got)
		}
		stop := errors.New("stop")
		n := 0
		err := st.Walk(ctx, "", func(string, int64, time.Time) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Walk stop: %v after %d", err, n)
		}
	})

	t.Run("InvalidPaths", func(t *testing.T) {
		st := newStore(t)
		for _, p := range []string{"../x", "a/../../x", "/abs", "C:/x", `a\b`, "a#b", "a\x00b", ".."} {
			if err := st.Put(ctx, p, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidPath) {
				t.Errorf("Put(%q) = %v", p, err)
			}
			if _, err := st.Open(ctx, p); !errors.Is(err, ErrInvalidPath) {
				t.Errorf("Open(%q) = %v", p, err)
			}
			if _, err := st.List(ctx, p); !errors.Is(err, ErrInvalidPath) {
				t.Errorf("List(%q) = %v", p, err)
			}
			if err := st.Delete(ctx, p); !errors.Is(err, ErrInvalidPath) {
				t.Errorf("Delete(%q) = %v", p, err)
			}
			if err := st.Walk(ctx, p, func(string, int64, time.Time) error { return nil }); !errors.Is(err, ErrInvalidPath) {
				t.Errorf("Walk(%q) = %v", p, err)
			}
		}
		if err := st.Put(ctx, "", strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Put('') = %v", err)
		}
	})

	t.Run("FailedPut", func(t *testing.T) {
		st := newStore(t)
		put(t, st, "f/existing", "old")
		boom := errors.New("client went away")
		if err := st.Put(ctx, "f/existing", &errAfterReader{n: 100 << 10, err: boom}, -1); err == nil {
			t.Fatal("Put with failing reader succeeded")
		} else if errors.Is(err, ErrUnavailable) {
			t.Fatalf("failing body reported as unavailable: %v", err)
		}
		if err := st.Put(ctx, "f/new", &errAfterReader{n: 100 << 10, err: boom}, 1<<20); err == nil {
			t.Fatal("Put with failing reader succeeded")
		}
		// Body shorter than the announced size.
		if err := st.Put(ctx, "f/short", strings.NewReader("12345"), 10); err == nil {
			t.Fatal("short Put succeeded")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := st.Put(cctx, "f/cancelled", strings.NewReader("x"), 1); err == nil {
			t.Fatal("Put with cancelled ctx succeeded")
		}
		if got := read(t, st, "f/existing"); got != "old" {
			t.Fatalf("existing file damaged: %q", got)
		}
		if got, want := walkAll(t, st, ""), []walked{{"f/existing", 3}}; !slices.Equal(got, want) {
			t.Fatalf("leftovers: %+v", got)
		}
		if es, err := st.List(ctx, "f"); err != nil || len(es) != 1 {
			t.Fatalf("List = %+v, %v", es, err)
		}
	})

	t.Run("Multipart", func(t *testing.T) {
		st := newStore(t)
		if !multipart {
			_, err := st.CreateMultipart(ctx, "m/big")
			if !errors.Is(err, ErrNotSupported) {
				t.Fatalf("CreateMultipart = %v", err)
			}
			if _, err := st.UploadPart(ctx, "m/big", "id", 1, strings.NewReader("x"), 1); !errors.Is(err, ErrNotSupported) {
				t.Fatalf("UploadPart = %v", err)
			}
			if err := st.CompleteMultipart(ctx, "m/big", "id", nil); !errors.Is(err, ErrNotSupported) {
				t.Fatalf("CompleteMultipart = %v", err)
			}
			if err := st.AbortMultipart(ctx, "m/big", "id"); !errors.Is(err, ErrNotSupported) {
				t.Fatalf("AbortMultipart = %v", err)
			}
			return
		}
		part1 := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16) // 5 MiB: S3 minimum for non-last parts
		part2 := []byte("tail part")
		id, err := st.CreateMultipart(ctx, "m/big")
		if err != nil {
			t.Fatal(err)
		}
		// Upload out of order; Complete must sort.
		e2, err := st.UploadPart(ctx, "m/big", id, 2, bytes.NewReader(part2), int64(len(part2)))
		if err != nil {
			t.Fatal(err)
		}
		e1, err := st.UploadPart(ctx, "m/big", id, 1, bytes.NewReader(part1), int64(len(part1)))
		if err != nil {
			t.Fatal(err)
		}
		if e1 == "" || e2 == "" {
			t.Fatal("empty etag")
		}
		if _, err := st.Open(ctx, "m/big"); !errors.Is(err, ErrNotExist) {
			t.Fatalf("object visible before complete: %v", err)
		}
		if err := st.CompleteMultipart(ctx, "m/big", id, []Part{{2, e2}, {1, `"` + e1 + `"`}}); err != nil {
			t.Fatal(err)
		}
		got := read(t, st, "m/big")
		want := string(part1) + string(part2)
		if sha256.Sum256([]byte(got)) != sha256.Sum256([]byte(want)) {
			t.Fatalf("multipart content mismatch: len %d want %d", len(got), len(want))
		}

		// Abort.
		id2, err := st.CreateMultipart(ctx, "m/aborted")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UploadPart(ctx, "m/aborted", id2, 1, bytes.NewReader(part2), int64(len(part2))); err != nil {
			t.Fatal(err)
		}
		if err := st.AbortMultipart(ctx, "m/aborted", id2); err != nil {
			t.Fatal(err)
		}
		if err := st.AbortMultipart(ctx, "m/aborted", id2); err != nil {
			t.Fatalf("second abort: %v", err)
		}
		if _, err := st.UploadPart(ctx, "m/aborted", id2, 2, bytes.NewReader(part2), int64(len(part2))); !errors.Is(err, ErrNotExist) {
			t.Fatalf("UploadPart after abort = %v", err)
		}
		if err := st.CompleteMultipart(ctx, "m/aborted", id2, []Part{{1, "x"}}); !errors.Is(err, ErrNotExist) {
			t.Fatalf("Complete after abort = %v", err)
		}
		if _, err := st.Open(ctx, "m/aborted"); !errors.Is(err, ErrNotExist) {
			t.Fatalf("aborted object exists: %v", err)
		}
		if _, err := st.CreateMultipart(ctx, "../x"); !errors.Is(err, ErrInvalidPath) {
			t.Fatalf("CreateMultipart(../x) = %v", err)
		}
	})

	t.Run("Ready", func(t *testing.T) {
		st := newStore(t)
		if err := st.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

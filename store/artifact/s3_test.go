package artifact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mlbox/internal/miniotest"
)

var bucketSeq atomic.Int64

func uniqueBucket() string {
	return fmt.Sprintf("mlbox-t%d-%d", bucketSeq.Add(1), rand.IntN(1e9))
}

func newS3(t testing.TB, srv *miniotest.Server, prefix string) *S3 {
	t.Helper()
	st, err := NewS3(S3Config{
		Endpoint:     srv.Endpoint,
		Bucket:       uniqueBucket(),
		Prefix:       prefix,
		AccessKey:    srv.AccessKey,
		SecretKey:    srv.SecretKey,
		CreateBucket: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestS3Conformance(t *testing.T) {
	srv := miniotest.Start(t)
	for _, prefix := range []string{"", "/some/prefix/"} {
		t.Run(fmt.Sprintf("prefix=%q", prefix), func(t *testing.T) {
			runConformance(t, func(t *testing.T) Store { return newS3(t, srv, prefix) }, true)
		})
	}
}

func TestS3Keys(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	st := newS3(t, srv, "/pre/fix/")
	put(t, st, "1/run/artifacts/f", "data")
	if k, _ := st.Key("1/run/artifacts/f"); k != "pre/fix/1/run/artifacts/f" {
		t.Fatalf("Key = %q", k)
	}
	if _, err := st.Client().StatObject(ctx, st.Bucket(), "pre/fix/1/run/artifacts/f", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object not at prefixed key: %v", err)
	}
	// Objects outside the prefix are invisible; keys that are not valid
	// artifact paths are skipped by List and Walk.
	for _, k := range []string{"other/x", "pre/fixed/x", `pre/fix/1/bad\name`, "pre/fix/1/dirmarker/"} {
		if _, err := st.Client().PutObject(ctx, st.Bucket(), k, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	es, err := st.List(ctx, "")
	if err != nil || len(es) != 1 || es[0] != (Entry{"1", true, 0}) {
		t.Fatalf("List('') = %+v, %v", es, err)
	}
	es, err = st.List(ctx, "1")
	if err != nil || len(es) != 2 || es[0] != (Entry{"dirmarker", true, 0}) || es[1] != (Entry{"run", true, 0}) {
		t.Fatalf("List(1) = %+v, %v", es, err)
	}
	if es, err := st.List(ctx, "1/dirmarker"); err != nil || len(es) != 0 {
		t.Fatalf("List(dirmarker) = %+v, %v", es, err)
	}
	if got := walkAll(t, st, ""); len(got) != 1 || got[0].Path != "1/run/artifacts/f" {
		t.Fatalf("Walk = %+v", got)
	}
	// Presigned GET works with a plain HTTP client.
	u, err := st.PresignGet(ctx, "1/run/artifacts/f", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.String(), "pre/fix/1/run/artifacts/f") {
		t.Fatalf("presigned URL %s", u)
	}
}

// S3 has no real directories: "a/file/child" next to an object "a/file" is
// refused by some servers (older MinIO: XMinioParentIsObject →
// ErrInvalidPath) and accepted by others (AWS; current MinIO accepts it
// but, on a single drive, lists only the file). Either way the file stays
// readable and Delete removes both.
func TestS3FileAndDirSameName(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	st := newS3(t, srv, "")
	put(t, st, "a/file", "f")
	err := st.Put(ctx, "a/file/child", strings.NewReader("x"), 1)
	if err != nil && !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("Put under an object = %v", err)
	}
	if got := read(t, st, "a/file"); got != "f" {
		t.Fatalf("read %q", got)
	}
	if err := st.Delete(ctx, "a/file"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/file", "a/file/child"} {
		if _, err := st.Open(ctx, p); !errors.Is(err, ErrNotExist) {
			t.Fatalf("Open(%q) after delete = %v", p, err)
		}
	}
}

func TestS3BucketErrors(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	missing, err := NewS3(S3Config{Endpoint: "http://" + srv.Endpoint, Bucket: "does-not-exist", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Ready(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready(missing bucket) = %v", err)
	}
	if _, err := missing.Open(ctx, "x"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open(missing bucket) = %v", err)
	}
	if _, err := missing.List(ctx, ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("List(missing bucket) = %v", err)
	}
	if err := missing.Put(ctx, "x", strings.NewReader("x"), 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put(missing bucket) = %v", err)
	}

	bad, err := NewS3(S3Config{Endpoint: srv.Endpoint, Bucket: "whatever", AccessKey: srv.AccessKey, SecretKey: "wrong-secret", CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Ready(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready(bad creds) = %v", err)
	}
	if _, err := bad.Open(ctx, "x"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open(bad creds) = %v", err)
	}
}

func TestNewS3Config(t *testing.T) {
	for _, c := range []S3Config{
		{Endpoint: "", Bucket: "b"},
		{Endpoint: "h:9000", Bucket: ""},
		{Endpoint: "h:9000", Bucket: "Bad_Bucket"},
		{Endpoint: "ftp://h", Bucket: "bucket"},
		{Endpoint: "http://h/path", Bucket: "bucket"},
		{Endpoint: "h:9000", Bucket: "bucket", Prefix: "a/../.."},
	} {
		if _, err := NewS3(c); err == nil {
			t.Errorf("NewS3(%+v) succeeded", c)
		}
	}
	st, err := NewS3(S3Config{Endpoint: "https://s3.example.com", Bucket: "bucket", Prefix: "//x//y//"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.cfg.Secure || st.cfg.Endpoint != "s3.example.com" || st.prefix != "x/y" || st.timeout != DefaultRequestTimeout {
		t.Fatalf("parsed %+v prefix %q", st.cfg, st.prefix)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestS3Unreachable(t *testing.T) {
	st, err := NewS3(S3Config{Endpoint: closedPort(t), Bucket: "bucket", AccessKey: "a", SecretKey: "b", CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bound := func(name string, f func() error) {
		t.Helper()
		start := time.Now()
		err := f()
		d := time.Since(start)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s = %v, want ErrUnavailable", name, err)
		}
		if d > 5*time.Second {
			t.Errorf("%s took %s", name, d)
		}
		t.Logf("%s: %s: %v", name, d.Round(time.Millisecond), err)
	}
	bound("Ready", func() error { return st.Ready(ctx) })
	bound("Put", func() error { return st.Put(ctx, "a/b", strings.NewReader("hello"), 5) })
	bound("PutUnknownSize", func() error { return st.Put(ctx, "a/b", strings.NewReader("hello"), -1) })
	bound("Open", func() error { _, err := st.Open(ctx, "a/b"); return err })
	bound("List", func() error { _, err := st.List(ctx, "a"); return err })
	bound("Delete", func() error { return st.Delete(ctx, "a") })
	bound("Walk", func() error { return st.Walk(ctx, "", func(string, int64, time.Time) error { return nil }) })
	bound("CreateMultipart", func() error { _, err := st.CreateMultipart(ctx, "a/b"); return err })
}

// A server that accepts connections but never answers must not hang the
// metadata calls past RequestTimeout.
func TestS3Blackhole(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	st, err := NewS3(S3Config{Endpoint: l.Addr().String(), Bucket: "bucket", AccessKey: "a", SecretKey: "b", Region: "us-east-1", RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"Ready": func() error { return st.Ready(ctx) },
		"Open":  func() error { _, err := st.Open(ctx, "x"); return err },
		"List":  func() error { _, err := st.List(ctx, ""); return err },
	} {
		start := time.Now()
		err := f()
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %s", name, d)
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s = %v, want ErrUnavailable", name, err)
		}
	}
	// A streamed Put is bounded by its ctx.
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	if err := st.Put(cctx, "x", bytes.NewReader(make([]byte, 1000)), 1000); err == nil {
		t.Fatal("Put succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Put took %s", d)
	}
}

func TestS3ReadWhileOverwritten(t *testing.T) {
	srv := miniotest.Start(t)
	st := newS3(t, srv, "")
	ctx := context.Background()
	put(t, st, "f", "original content")
	obj, err := st.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	put(t, st, "f", "replaced")
	// The reader is pinned to the ETag seen at Open: it must fail rather
	// than return a mix of versions.
	if b, err := io.ReadAll(obj); err == nil {
		t.Fatalf("read %q from a replaced object without error", b)
	}
}

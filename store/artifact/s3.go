package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3Config configures an S3-compatible backend.
type S3Config struct {
	// Endpoint is "host[:port]"; an "http://" or "https://" scheme is also
	// accepted and then decides Secure.
	Endpoint string
	Bucket   string
	// Prefix is prepended to every key ("prefix/path"); leading and trailing
	// slashes are ignored, "" means the bucket root.
	Prefix string
	// AccessKey/SecretKey; when both are empty, credentials come from the
	// environment (AWS_* / MINIO_* variables, ~/.aws/credentials).
	AccessKey, SecretKey string
	// Region; empty lets the client discover it (one extra request per
	// bucket, cached).
	Region       string
	Secure       bool
	CreateBucket bool
	// RequestTimeout bounds each metadata request (stat, list page, delete,
	// bucket checks, multipart create/abort). 0 → DefaultRequestTimeout.
	// Streams (Put bodies, Open reads) are bounded by their ctx only.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout is used when S3Config.RequestTimeout is 0.
const DefaultRequestTimeout = 10 * time.Second

const (
	// s3PartSize is the part size for streamed uploads; it is also the
	// per-Put memory bound (one part buffer). Uploads of unknown size are
	// limited to 10000 parts, i.e. ~156 GiB.
	s3PartSize = 16 << 20
	// s3StreamThreads part buffers are uploaded concurrently by Put.
	s3StreamThreads = 2
	s3MaxParts      = 10000
	s3MaxRetries    = 3
	s3DialTimout    = 5 * time.Second
)

// S3 stores artifacts in an S3-compatible bucket under an optional prefix.
type S3 struct {
	cfg     S3Config
	prefix  string // cleaned, no leading/trailing slash
	timeout time.Duration
	tr      *http.Transport
	client  *minio.Client
	core    *minio.Core
}

var _ Store = (*S3)(nil)

// NewS3 validates cfg and builds a client. It does not dial; Ready does.
func NewS3(cfg S3Config) (*S3, error) {
	endpoint := strings.TrimSpace(cfg.Endpoint)
	secure := cfg.Secure
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("artifact: s3 endpoint %q: %w", cfg.Endpoint, err)
		}
		switch u.Scheme {
		case "http":
			secure = false
		case "https":
			secure = true
		default:
			return nil, fmt.Errorf("artifact: s3 endpoint %q: unsupported scheme", cfg.Endpoint)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("artifact: s3 endpoint %q must not have a path", cfg.Endpoint)
		}
		endpoint = u.Host
	}
	if endpoint == "" {
		return nil, errors.New("artifact: s3 endpoint is empty")
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("artifact: s3 bucket %q: %w", cfg.Bucket, err)
	}
	prefix, err := CleanPath(strings.Trim(cfg.Prefix, "/"))
	if err != nil {
		return nil, fmt.Errorf("artifact: s3 prefix %q: %w", cfg.Prefix, err)
	}
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}

	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("artifact: s3 transport: %w", err)
	}
	tr.DialContext = (&net.Dialer{Timeout: min(s3DialTimout, timeout), KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = min(10*time.Second, timeout)
	// Bounds the wait for response headers after a request body has been
	// sent (a stalled server). Generous: CompleteMultipartUpload and large
	// part PUTs may take a while to be acknowledged.
	tr.ResponseHeaderTimeout = max(3*timeout, 30*time.Second)
	tr.IdleConnTimeout = 90 * time.Second

	var creds *credentials.Credentials
	if cfg.AccessKey == "" && cfg.SecretKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{},
		})
	} else {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	}
	opts := &minio.Options{
		Creds:      creds,
		Secure:     secure,
		Transport:  tr,
		Region:     cfg.Region,
		MaxRetries: s3MaxRetries,
	}
	client, err := minio.New(endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("artifact: s3 client: %w", err)
	}
	client.SetAppInfo("mlbox", "1")
	cfg.Endpoint = endpoint
	cfg.Secure = secure
	return &S3{
		cfg:     cfg,
		prefix:  prefix,
		timeout: timeout,
		tr:      tr,
		client:  client,
		core:    &minio.Core{Client: client},
	}, nil
}

// Client exposes the underlying minio client (e.g. for presigning).
func (s *S3) Client() *minio.Client { return s.client }

// Bucket returns the configured bucket name.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Key returns the object key for a storage-relative path.
func (s *S3) Key(p string) (string, error) {
	rel, err := CleanPath(p)
	if err != nil {
		return "", err
	}
	return s.key(rel), nil
}

func (s *S3) key(rel string) string {
	switch {
	case s.prefix == "":
		return rel
	case rel == "":
		return s.prefix
	}
	return s.prefix + "/" + rel
}

// dirPrefix is the listing prefix for the children of rel.
func (s *S3) dirPrefix(rel string) string {
	if k := s.key(rel); k != "" {
		return k + "/"
	}
	return ""
}

func (s *S3) metaCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// mapErr classifies an error from minio-go. ctx is the caller's context: if
// the caller gave up, the context error is returned as is.
func (s *S3) mapErr(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("artifact: s3 %s %q: %w", op, key, ctx.Err())
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" {
		switch er.Code {
		case minio.NoSuchKey, minio.NoSuchUpload:
			return fmt.Errorf("%w: s3 %s %q: %s", ErrNotExist, op, key, er.Message)
		case "XMinioParentIsObject", "XMinioObjectExistsAsDirectory":
			return fmt.Errorf("%w: s3 %s %q: %s", ErrInvalidPath, op, key, er.Message)
		case minio.NoSuchBucket, minio.AccessDenied, minio.InvalidAccessKeyID, minio.SignatureDoesNotMatch,
			minio.InvalidRegion, minio.AuthorizationHeaderMalformed, "ExpiredToken", "InvalidToken",
			"XMinioServerNotInitialized", "XMinioStorageFull", "SlowDown", "SlowDownRead", "SlowDownWrite",
			"ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed":
			return fmt.Errorf("%w: s3 %s %q: %s: %s", ErrUnavailable, op, key, er.Code, er.Message)
		}
		if er.StatusCode >= 500 || er.StatusCode == http.StatusForbidden || er.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%w: s3 %s %q: %s: %s", ErrUnavailable, op, key, er.Code, er.Message)
		}
		return fmt.Errorf("artifact: s3 %s %q: %w", op, key, err)
	}
	// Transport-level failures: refused, DNS, TLS, timeouts, resets.
	return fmt.Errorf("%w: s3 %s %q: %w", ErrUnavailable, op, key, err)
}

func errCode(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return ""
}

// recReader records what happened to the caller's body so that a failing
// body is reported as such rather than as a storage outage.
type recReader struct {
	r   io.Reader
	n   int64
	eof bool
	err error
}

func (r *recReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	switch {
	case err == io.EOF:
		r.eof = true
	case err != nil && r.err == nil:
		r.err = err
	}
	return n, err
}

func (s *S3) bodyErr(ctx context.Context, op, key string, rr *recReader, size int64, err error) error {
	if rr.err != nil {
		return fmt.Errorf("artifact: s3 %s %q: reading body: %w", op, key, rr.err)
	}
	if size >= 0 && rr.eof && rr.n < size {
		return fmt.Errorf("artifact: s3 %s %q: body is %d bytes, expected %d", op, key, rr.n, size)
	}
	return s.mapErr(ctx, op, key, err)
}

func partSizeFor(size int64) uint64 {
	ps := int64(s3PartSize)
	if size > ps*s3MaxParts {
		ps = (size + s3MaxParts - 1) / s3MaxParts
		ps = (ps + (1<<20 - 1)) &^ (1<<20 - 1)
	}
	return uint64(ps)
}

// Put uploads r. Known sizes up to 16 MiB go as one streamed PUT; larger or
// unknown sizes as a multipart upload buffering one 16 MiB part at a time.
func (s *S3) Put(ctx context.Context, p string, r io.Reader, size int64) error {
	rel, err := CleanPath(p)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("%w: empty file path", ErrInvalidPath)
	}
	key := s.key(rel)
	// recReader also hides io.ReaderAt/io.Seeker, so minio-go never tries
	// its parallel ReaderAt uploader (NumThreads part buffers).
	rr := &recReader{r: r}
	opts := minio.PutObjectOptions{PartSize: partSizeFor(size)}
	if !s.cfg.Secure {
		// Without TLS minio-go would SHA-256 every byte for a signed
		// payload, the proxy's biggest CPU cost; the connection is not
		// protected anyway. With TLS the payload is never hashed.
		opts.DisableContentSha256 = true
	}
	if size < 0 || size > int64(opts.PartSize) {
		// Fill parts from the body one after another but upload them in
		// parallel, so reading from the client overlaps sending to S3.
		// Memory: s3StreamThreads part buffers per upload in flight.
		opts.ConcurrentStreamParts = true
		opts.NumThreads = s3StreamThreads
	}
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, key, rr, size, opts); err != nil {
		return s.bodyErr(ctx, "put", key, rr, size, err)
	}
	return nil
}

// Open stats the object (bounded by RequestTimeout) and returns a lazy
// reader: the GET is issued on the first Read and re-issued with a Range
// after a Seek. Reads are pinned to the stat'ed ETag.
func (s *S3) Open(ctx context.Context, p string) (Object, error) {
	rel, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	if rel == "" {
		return nil, fmt.Errorf("%w: %q is a directory", ErrNotExist, p)
	}
	key := s.key(rel)
	mctx, cancel := s.metaCtx(ctx)
	defer cancel()
	info, err := s.client.StatObject(mctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return nil, s.mapErr(ctx, "stat", key, err)
	}
	return &s3Object{s: s, ctx: ctx, key: key, size: info.Size, mod: info.LastModified, etag: info.ETag}, nil
}

type s3Object struct {
	s      *S3
	ctx    context.Context
	key    string
	size   int64
	mod    time.Time
	etag   string
	off    int64
	body   io.ReadCloser
	closed bool
}

func (o *s3Object) Size() int64        { return o.size }
func (o *s3Object) ModTime() time.Time { return o.mod }

func (o *s3Object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	if o.off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		var opts minio.GetObjectOptions
		if o.off > 0 {
			if err := opts.SetRange(o.off, 0); err != nil {
				return 0, err
			}
		}
		if o.etag != "" {
			opts.SetMatchETag(o.etag)
		}
		body, _, _, err := o.s.core.GetObject(o.ctx, o.s.cfg.Bucket, o.key, opts)
		if err != nil {
			if errCode(err) == minio.PreconditionFailed {
				return 0, fmt.Errorf("artifact: s3 get %q: object changed while being read", o.key)
			}
			return 0, o.s.mapErr(o.ctx, "get", o.key, err)
		}
		o.body = body
	}
	if rem := o.size - o.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if err == nil {
		if o.off >= o.size {
			o.closeBody()
		}
		return n, nil
	}
	o.closeBody()
	if err == io.EOF {
		if o.off < o.size {
			return n, io.ErrUnexpectedEOF
		}
		return n, io.EOF
	}
	return n, o.s.mapErr(o.ctx, "get", o.key, err)
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, os.ErrClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, errors.New("artifact: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("artifact: negative seek position")
	}
	if abs != o.off {
		o.closeBody()
		o.off = abs
	}
	return abs, nil
}

func (o *s3Object) closeBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

func (o *s3Object) Close() error {
	o.closeBody()
	o.closed = true
	return nil
}

// idleCtx derives a context that is cancelled when kick has not been called
// for d: a multi-page listing is bounded per page, not in total.
type idleCtx struct {
	context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	d      time.Duration
}

var errIdleTimeout = errors.New("s3 listing timed out")

func newIdleCtx(parent context.Context, d time.Duration) *idleCtx {
	ctx, cancel := context.WithCancelCause(parent)
	ic := &idleCtx{Context: ctx, cancel: cancel, d: d}
	ic.timer = time.AfterFunc(d, func() { cancel(fmt.Errorf("%w after %s", errIdleTimeout, d)) })
	return ic
}

func (c *idleCtx) kick()  { c.timer.Reset(c.d) }
func (c *idleCtx) pause() { c.timer.Stop() }
func (c *idleCtx) stop()  { c.timer.Stop(); c.cancel(nil) }

// listErr maps a listing error, reporting an idle timeout as unavailable.
func (s *S3) listErr(parent context.Context, ic *idleCtx, op, key string, err error) error {
	if parent.Err() == nil {
		if cause := context.Cause(ic); errors.Is(cause, errIdleTimeout) {
			return fmt.Errorf("%w: s3 %s %q: %w", ErrUnavailable, op, key, cause)
		}
	}
	return s.mapErr(parent, op, key, err)
}

// each lists objects under prefix and calls fn for each until fn returns
// false or an error, draining the listing goroutine.
func (s *S3) each(ctx context.Context, op, prefix string, recursive bool, fn func(minio.ObjectInfo) (bool, error)) error {
	ic := newIdleCtx(ctx, s.timeout)
	defer ic.stop()
	ch := s.client.ListObjects(ic, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: recursive})
	defer func() {
		ic.cancel(nil)
		for range ch {
		}
	}()
	for obj := range ch {
		if obj.Err != nil {
			return s.listErr(ctx, ic, op, prefix, obj.Err)
		}
		// The caller's work (e.g. GC deleting per file) is not storage
		// latency: pause the idle timer while fn runs.
		ic.pause()
		more, err := fn(obj)
		if err != nil || !more {
			return err
		}
		ic.kick()
	}
	if err := ic.Err(); err != nil {
		return s.listErr(ctx, ic, op, prefix, err)
	}
	return nil
}

// List lists the direct children of dir (delimiter "/" listing; directories
// are common prefixes).
func (s *S3) List(ctx context.Context, dir string) ([]Entry, error) {
	rel, err := CleanPath(dir)
	if err != nil {
		return nil, err
	}
	prefix := s.dirPrefix(rel)
	var out []Entry
	err = s.each(ctx, "list", prefix, false, func(obj minio.ObjectInfo) (bool, error) {
		name := strings.TrimPrefix(obj.Key, prefix)
		isDir := strings.HasSuffix(name, "/")
		name = strings.TrimSuffix(name, "/")
		if name == "" || strings.Contains(name, "/") {
			return true, nil // directory marker object of dir itself
		}
		if c, err := CleanPath(name); err != nil || c != name {
			return true, nil // not addressable through the API
		}
		e := Entry{Name: name, IsDir: isDir}
		if !isDir {
			e.Size = obj.Size
		}
		out = append(out, e)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete removes the object at path and every object under path + "/".
func (s *S3) Delete(ctx context.Context, p string) error {
	rel, err := CleanPath(p)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("%w: refusing to delete the artifact root", ErrInvalidPath)
	}
	key := s.key(rel)
	mctx, cancel := s.metaCtx(ctx)
	err = s.client.RemoveObject(mctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
	cancel()
	if err != nil && errCode(err) != minio.NoSuchKey {
		return s.mapErr(ctx, "delete", key, err)
	}

	prefix := key + "/"
	ic := newIdleCtx(ctx, s.timeout)
	defer ic.stop()
	objs := make(chan minio.ObjectInfo)
	var listErr error
	go func() {
		defer close(objs)
		for obj := range s.client.ListObjects(ic, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				if listErr == nil {
					listErr = obj.Err
				}
				continue // keep draining the listing
			}
			if listErr != nil {
				continue
			}
			ic.kick()
			select {
			case objs <- obj:
			case <-ic.Done():
				listErr = ic.Err()
			}
		}
	}()
	var rmErr error
	for re := range s.client.RemoveObjects(ic, s.cfg.Bucket, objs, minio.RemoveObjectsOptions{}) {
		ic.kick()
		if rmErr == nil && re.Err != nil && errCode(re.Err) != minio.NoSuchKey {
			rmErr = re.Err
		}
	}
	// RemoveObjects has returned, so the producer goroutine has closed objs.
	for range objs {
	}
	if listErr != nil {
		return s.listErr(ctx, ic, "delete", prefix, listErr)
	}
	if rmErr != nil {
		return s.listErr(ctx, ic, "delete", prefix, rmErr)
	}
	// A cancelled listing may end without an error item: never report a
	// partial delete as success.
	if err := ic.Err(); err != nil {
		return s.listErr(ctx, ic, "delete", prefix, err)
	}
	return nil
}

// Walk calls fn for every object under dir + "/".
func (s *S3) Walk(ctx context.Context, dir string, fn func(path string, size int64, mod time.Time) error) error {
	rel, err := CleanPath(dir)
	if err != nil {
		return err
	}
	prefix := s.dirPrefix(rel)
	rootPrefix := s.dirPrefix("")
	return s.each(ctx, "walk", prefix, true, func(obj minio.ObjectInfo) (bool, error) {
		if strings.HasSuffix(obj.Key, "/") {
			return true, nil
		}
		r := strings.TrimPrefix(obj.Key, rootPrefix)
		if c, err := CleanPath(r); err != nil || c != r || r == "" {
			return true, nil
		}
		if err := fn(r, obj.Size, obj.LastModified); err != nil {
			return false, err
		}
		return true, nil
	})
}

// CreateMultipart starts a multipart upload for path.
func (s *S3) CreateMultipart(ctx context.Context, p string) (string, error) {
	rel, err := CleanPath(p)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", fmt.Errorf("%w: empty file path", ErrInvalidPath)
	}
	key := s.key(rel)
	mctx, cancel := s.metaCtx(ctx)
	defer cancel()
	id, err := s.core.NewMultipartUpload(mctx, s.cfg.Bucket, key, minio.PutObjectOptions{})
	if err != nil {
		return "", s.mapErr(ctx, "create multipart", key, err)
	}
	return id, nil
}

func (s *S3) mpuArgs(p, uploadID string) (string, error) {
	rel, err := CleanPath(p)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", fmt.Errorf("%w: empty file path", ErrInvalidPath)
	}
	if uploadID == "" {
		return "", fmt.Errorf("%w: empty upload id", ErrNotExist)
	}
	return s.key(rel), nil
}

// UploadPart streams one part (size must be known; parts other than the
// last must be at least 5 MiB on S3).
func (s *S3) UploadPart(ctx context.Context, p, uploadID string, number int, r io.Reader, size int64) (string, error) {
	key, err := s.mpuArgs(p, uploadID)
	if err != nil {
		return "", err
	}
	if number < 1 || number > s3MaxParts {
		return "", fmt.Errorf("artifact: part number %d out of range 1..%d", number, s3MaxParts)
	}
	if size < 0 {
		return "", errors.New("artifact: part size must be known")
	}
	rr := &recReader{r: r}
	part, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, key, uploadID, number, rr, size, minio.PutObjectPartOptions{})
	if err != nil {
		return "", s.bodyErr(ctx, "upload part", key, rr, size, err)
	}
	return part.ETag, nil
}

// CompleteMultipart assembles the parts (sorted by number).
func (s *S3) CompleteMultipart(ctx context.Context, p, uploadID string, parts []Part) error {
	key, err := s.mpuArgs(p, uploadID)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("artifact: complete multipart: no parts")
	}
	cp := make([]minio.CompletePart, len(parts))
	for i, pt := range parts {
		cp[i] = minio.CompletePart{PartNumber: pt.Number, ETag: strings.Trim(pt.ETag, `"`)}
	}
	slices.SortFunc(cp, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	// Assembling many parts can take a while server-side.
	cctx, cancel := context.WithTimeout(ctx, 10*s.timeout)
	defer cancel()
	if _, err := s.core.CompleteMultipartUpload(cctx, s.cfg.Bucket, key, uploadID, cp, minio.PutObjectOptions{}); err != nil {
		return s.mapErr(ctx, "complete multipart", key, err)
	}
	return nil
}

// AbortMultipart aborts an upload; an unknown upload is not an error.
func (s *S3) AbortMultipart(ctx context.Context, p, uploadID string) error {
	key, err := s.mpuArgs(p, uploadID)
	if err != nil {
		return err
	}
	mctx, cancel := s.metaCtx(ctx)
	defer cancel()
	if err := s.core.AbortMultipartUpload(mctx, s.cfg.Bucket, key, uploadID); err != nil && errCode(err) != minio.NoSuchUpload {
		return s.mapErr(ctx, "abort multipart", key, err)
	}
	return nil
}

// PresignGet returns a time-limited GET URL for path (for the proxy's
// presigned download endpoint). The object is not checked.
func (s *S3) PresignGet(ctx context.Context, p string, expiry time.Duration) (*url.URL, error) {
	rel, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	key := s.key(rel)
	mctx, cancel := s.metaCtx(ctx)
	defer cancel()
	u, err := s.client.PresignedGetObject(mctx, s.cfg.Bucket, key, expiry, nil)
	if err != nil {
		return nil, s.mapErr(ctx, "presign", key, err)
	}
	return u, nil
}

// PresignUploadPart returns a time-limited URL a client can PUT one part to.
func (s *S3) PresignUploadPart(ctx context.Context, p, uploadID string, number int, expiry time.Duration) (*url.URL, error) {
	key, err := s.mpuArgs(p, uploadID)
	if err != nil {
		return nil, err
	}
	q := url.Values{"partNumber": {strconv.Itoa(number)}, "uploadId": {uploadID}}
	mctx, cancel := s.metaCtx(ctx)
	defer cancel()
	u, err := s.client.Presign(mctx, http.MethodPut, s.cfg.Bucket, key, expiry, q)
	if err != nil {
		return nil, s.mapErr(ctx, "presign", key, err)
	}
	return u, nil
}

// Ready checks the bucket is reachable (creating it if configured).
func (s *S3) Ready(ctx context.Context) error {
	mctx, cancel := s.metaCtx(ctx)
	defer cancel()
	ok, err := s.client.BucketExists(mctx, s.cfg.Bucket)
	if err != nil {
		return s.mapErr(ctx, "bucket exists", s.cfg.Bucket, err)
	}
	if ok {
		return nil
	}
	if !s.cfg.CreateBucket {
		return fmt.Errorf("%w: s3 bucket %q does not exist", ErrUnavailable, s.cfg.Bucket)
	}
	err = s.client.MakeBucket(mctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	if err != nil {
		switch errCode(err) {
		case minio.BucketAlreadyOwnedByYou:
			return nil
		}
		return s.mapErr(ctx, "make bucket", s.cfg.Bucket, err)
	}
	return nil
}

// Close releases idle connections.
func (s *S3) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

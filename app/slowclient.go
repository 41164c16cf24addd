package app

// Slow and greedy clients. Each open connection costs a goroutine and
// buffers, and net/http has no timeout on request bodies unless
// http.Server.ReadTimeout is set, which is a total deadline for the whole
// request and would cut off a large upload. So:
//
//   - Headers: http.read_header_timeout, a total deadline (http.Server).
//   - Bodies: http.read_body_timeout, an idle deadline. Before each read of
//     the request body the connection's read deadline is moved to now +
//     the timeout, so an upload of any size goes on as long as bytes keep
//     arriving, and a client that stops sending is dropped. The deadline is
//     also set when the request starts, which covers the bytes net/http
//     reads on its own after a handler that did not read the body (to reuse
//     the connection). Once the body has been read to its end the deadline
//     is left alone: net/http then watches the idle connection for the
//     client going away, and a deadline there would cancel long responses.
//     Large local uploads bypass the body reader (splice(2), see
//     uploadSpliced); artifact.ConnBody keeps the same idle deadline on
//     the socket itself.
//   - Connections: at most http.max_conns_per_client open connections per
//     client address (IPv6: per /64); more are closed as soon as they are
//     accepted, counted, and logged at most once a minute.

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// idleBody is a request body whose reads each move the connection's read
// deadline to now + d.
type idleBody struct {
	io.ReadCloser
	rc        *http.ResponseController
	d         time.Duration
	done      bool // read to its end or failed: deadline no longer ours
	onTimeout func()
}

func (b *idleBody) Read(p []byte) (int, error) {
	if !b.done {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if b.onTimeout != nil {
				b.onTimeout()
			}
			err = &bodyTimeoutError{d: b.d, cause: err}
		}
	}
	return n, err
}

// bodyTimeoutError is a body read cut off by http.read_body_timeout. It
// unwraps to an apiError (408, the client's fault, not a server error) and
// to the deadline error.
type bodyTimeoutError struct {
	d     time.Duration
	cause error
}

func (e *bodyTimeoutError) Error() string {
	return "request body: nothing received for " + e.d.String() + " (http.read_body_timeout)"
}

func (e *bodyTimeoutError) Timeout() bool { return true }

func (e *bodyTimeoutError) Unwrap() []error {
	return []error{&apiError{http.StatusRequestTimeout, "BAD_REQUEST", e.Error()}, e.cause}
}

// guardBody puts the idle read timeout on r's body; w must be the
// server's ResponseWriter (or one that unwraps to it).
func guardBody(w http.ResponseWriter, r *http.Request, d time.Duration, onTimeout func()) {
	if d <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return // not a server connection (tests with a recorder)
	}
	r.Body = &idleBody{ReadCloser: r.Body, rc: rc, d: d, onTimeout: onTimeout}
}

// connLimiter is a listener that keeps at most max connections open per
// client address.
type connLimiter struct {
	net.Listener
	max int
	log *slog.Logger

	mu      sync.Mutex
	open    map[netip.Addr]int
	total   int
	logged  time.Time // last log line about refused connections
	pending int       // refusals since that line

	mRefused *metrics.Counter
}

// connLimitLogEvery bounds the log lines about refused connections.
const connLimitLogEvery = time.Minute

func newConnLimiter(ln net.Listener, max int, log *slog.Logger, set *metrics.Set) *connLimiter {
	l := &connLimiter{Listener: ln, max: max, log: log, open: map[netip.Addr]int{}}
	if set != nil {
		l.mRefused = set.GetOrCreateCounter(`mlbox_http_connections_refused_total`)
		set.GetOrCreateGauge(`mlbox_http_connections_open`, func() float64 {
			l.mu.Lock()
			defer l.mu.Unlock()
			return float64(l.total)
		})
	}
	return l
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr().String())
		l.mu.Lock()
		if l.max > 0 && key.IsValid() && l.open[key] >= l.max {
			l.refuse(key)
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[key]++
		l.total++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// refuse counts and (at most once per connLimitLogEvery) logs a refused
// connection. Called with l.mu held.
func (l *connLimiter) refuse(key netip.Addr) {
	inc(l.mRefused)
	l.pending++
	if now := time.Now(); now.Sub(l.logged) >= connLimitLogEvery {
		l.log.Warn("refusing connections: too many open from one client address (http.max_conns_per_client)",
			"client", key.String(), "limit", l.max, "refused_since_last_line", l.pending)
		l.logged, l.pending = now, 0
	}
}

func (l *connLimiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.open[key] - 1; n > 0 {
		l.open[key] = n
	} else {
		delete(l.open, key)
	}
}

// limitedConn gives its slot back when closed. It keeps the methods
// net/http looks for on the connection: ReadFrom (sendfile for artifact
// downloads) and CloseWrite (graceful close).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

package serve

import (
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenCheck authorises an inference request. It returns nil to let the
// request through; an error refuses it with 401 UNAUTHENTICATED, or with
// the status and code of an *HTTPError. The app sets it; the default
// (nil) allows every request. This hook is where real authentication
// (tokens, users and permissions) will plug in, for the inference routes
// as for the rest of the API.
type TokenCheck func(r *http.Request) error

// Limits protect the inference endpoints.
type Limits struct {
	// MaxRequestBytes caps a request body; larger requests get 413.
	// 0 means 8 MiB.
	MaxRequestBytes int64
	// RateLimit is the sustained number of requests per second allowed to
	// one client (its bearer token if it sends one, else its IP address);
	// 0 turns rate limiting off. Requests over it get 429 with Retry-After.
	RateLimit float64
	// RateBurst is how many requests a client may send at once before the
	// rate applies; 0 means max(1, ceil(RateLimit)).
	RateBurst int
	// TokenCheck authorises requests; nil allows all.
	TokenCheck TokenCheck
}

// DefaultMaxRequestBytes is the body limit when Limits.MaxRequestBytes is 0.
const DefaultMaxRequestBytes = 8 << 20

// HTTPError is an error with the HTTP status and MLflow-style error code it
// should be answered with.
type HTTPError struct {
	Status int
	Code   string
	Msg    string
}

func (e *HTTPError) Error() string { return e.Msg }

// limiter is a token bucket per client. Clients are keyed by a 64-bit
// hash, so tokens are not kept in memory; idle buckets are swept.
type limiter struct {
	rate  float64 // tokens per second; 0 = off
	burst float64

	mu        sync.Mutex
	buckets   map[uint64]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	b := float64(burst)
	if burst <= 0 {
		b = math.Max(1, math.Ceil(rate))
	}
	return &limiter{rate: rate, burst: b, buckets: map[uint64]*bucket{}}
}

// allow takes a token for client key; when there is none it returns false
// and how long until there will be one.
func (l *limiter) allow(key uint64, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute || len(l.buckets) > 100000 {
		l.sweepLocked(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// sweepLocked drops buckets that have refilled (their clients are idle).
func (l *limiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) > full {
			delete(l.buckets, k)
		}
	}
}

// clientKey identifies the client for rate limiting: a hash of its bearer
// token when it sends one, else of its IP address. It allocates nothing.
func clientKey(r *http.Request) uint64 {
	if tok, ok := bearer(r); ok {
		return fnv64("t:", tok)
	}
	return fnv64("ip:", clientIP(r))
}

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header["Authorization"]
	if len(h) == 0 {
		return "", false
	}
	v := h[0]
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	return "", false
}

// clientIP is the request's remote IP address (without the port).
// Forwarding headers are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func fnv64(prefix, s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(prefix); i++ {
		h = (h ^ uint64(prefix[i])) * 1099511628211
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// errTooLarge: the body is over Limits.MaxRequestBytes.
var errTooLarge = errors.New("request body too large")

// readBody reads r's body into buf (reused; grown as needed) up to limit
// bytes. A longer body fails with errTooLarge.
func readBody(r *http.Request, buf []byte, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return buf[:0], errTooLarge
	}
	buf = buf[:0]
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength+1 {
		buf = make([]byte, 0, r.ContentLength+1) // +1: room to see EOF
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, errTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

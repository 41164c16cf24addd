package app

// Brute-force protection for http.auth_token. Every request with wrong
// credentials (a bearer token or Basic password that does not match) counts
// against its client address; http.auth_max_failures of them within
// http.auth_failure_window lock the address out for http.auth_lockout,
// doubled for each further lockout of the same address (up to an hour).
// While locked out, every request from the address but the health checks
// gets 429 REQUEST_LIMIT_EXCEEDED with Retry-After, also one with the right
// token: otherwise an attacker would learn from the status which guess was
// right, and the lockout would slow nothing. Other addresses are not
// affected.
//
// The client address is the TCP peer (mlbox has no trusted-proxy setting):
// behind a reverse proxy every client shares the proxy's address, so one
// guesser locks everybody out for the lockout's duration. Rate-limit at the
// proxy then, or set auth_max_failures = 0.
//
// Memory is bounded: at most authStateMax addresses are tracked, idle
// entries are dropped after authStateTTL, and when the table is full the
// least recently seen entry goes. IPv6 clients are tracked by /64, since one
// host commonly holds a whole /64.

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

const (
	authStateMax   = 10000     // addresses tracked at most
	authStateTTL   = time.Hour // an address without failures for this long is forgotten (and its lockout doubling with it)
	authLockoutMax = time.Hour // cap on the doubled lockout (unless http.auth_lockout is longer)
)

type authState struct {
	fails    int       // failures in the current window
	first    time.Time // start of the current window
	until    time.Time // locked out until
	lockouts int       // lockouts so far, for the doubling
	last     time.Time // last failure
}

type authLimiter struct {
	max     int
	window  time.Duration
	lockout time.Duration
	log     *slog.Logger
	now     func() time.Time

	n     atomic.Int64 // len(m), read without the lock on the hot path
	mu    sync.Mutex
	m     map[netip.Addr]*authState
	swept time.Time

	mFailures, mLockouts, mRefused *metrics.Counter
}

func newAuthLimiter(cfg HTTPConfig, log *slog.Logger, set *metrics.Set) *authLimiter {
	l := &authLimiter{max: cfg.AuthMaxFailures, window: cfg.AuthFailureWindow, lockout: cfg.AuthLockout, log: log,
		now: time.Now, m: map[netip.Addr]*authState{}}
	if set != nil {
		l.mFailures = set.GetOrCreateCounter(`mlbox_http_auth_failures_total`)
		l.mLockouts = set.GetOrCreateCounter(`mlbox_http_auth_lockouts_total`)
		l.mRefused = set.GetOrCreateCounter(`mlbox_http_auth_locked_requests_total`)
	}
	return l
}

// clientKey is the address a client is tracked by: the IPv4 address, or
// the /64 of an IPv6 address. The zero Addr (not an IP peer, such as a unix
// socket) is not tracked.
func clientKey(remoteAddr string) netip.Addr {
	ip, ok := peerAddr(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip
}

// lockedFor returns how long key stays locked out (0: not locked).
func (l *authLimiter) lockedFor(key netip.Addr) time.Duration {
	if l.max <= 0 || !key.IsValid() || l.n.Load() == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.m[key]
	if s == nil {
		return 0
	}
	if d := s.until.Sub(l.now()); d > 0 {
		inc(l.mRefused)
		return d
	}
	return 0
}

// failed records a failed credential check from key.
func (l *authLimiter) failed(key netip.Addr, remoteAddr string) {
	inc(l.mFailures)
	if l.max <= 0 || !key.IsValid() {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.m) >= authStateMax {
		l.sweep(now)
	}
	s := l.m[key]
	if s == nil {
		s = &authState{first: now}
		l.m[key] = s
		l.n.Store(int64(len(l.m)))
	}
	s.last = now
	if now.Before(s.until) {
		return // already locked out (a request that raced the lockout)
	}
	if now.Sub(s.first) > l.window {
		s.fails, s.first = 0, now
	}
	s.fails++
	if s.fails < l.max {
		return
	}
	d := l.lockout
	for i := 0; i < s.lockouts && d < max(authLockoutMax, l.lockout); i++ {
		d *= 2
	}
	d = min(d, max(authLockoutMax, l.lockout))
	s.lockouts++
	s.fails, s.until = 0, now.Add(d)
	inc(l.mLockouts)
	l.log.Warn("too many failed authentication attempts: client locked out",
		"client", key.String(), "remote_addr", remoteAddr, "failures", l.max, "window", l.window.String(),
		"lockout", d.String(), "lockouts", s.lockouts)
}

// succeeded clears key's count of failures (not its lockout history).
func (l *authLimiter) succeeded(key netip.Addr) {
	if l.max <= 0 || !key.IsValid() || l.n.Load() == 0 {
		return
	}
	l.mu.Lock()
	if s := l.m[key]; s != nil {
		s.fails = 0
	}
	l.mu.Unlock()
}

// sweep drops forgotten entries and, if the table is still full, the least
// recently seen one. Called with l.mu held.
func (l *authLimiter) sweep(now time.Time) {
	l.swept = now
	for k, s := range l.m {
		if now.After(s.until) && now.Sub(s.last) > max(authStateTTL, l.window) {
			delete(l.m, k)
		}
	}
	for len(l.m) >= authStateMax {
		var oldest netip.Addr
		var at time.Time
		for k, s := range l.m {
			if !oldest.IsValid() || s.last.Before(at) {
				oldest, at = k, s.last
			}
		}
		delete(l.m, oldest)
	}
	l.n.Store(int64(len(l.m)))
}

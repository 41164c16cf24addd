package app

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"mlbox/store"
)

// The trusted-proxy mode: behind an authenticating reverse proxy (OAuth2
// Proxy, Keycloak's gatekeeper, an nginx with auth_request), the proxy
// names the user in a header. mlbox believes the header only on requests
// whose peer address is in auth.proxy.trusted_cidrs; from anywhere else it
// is ignored and the request authenticates as usual (a password, a token,
// or nothing). A name seen for the first time becomes a user (Source
// "proxy", no password) with the default permission; auth.proxy.admin_groups
// makes the members of those groups admins.
//
// The proxy must set the headers itself, replacing what the client sent
// (nginx's proxy_set_header does; see docs/auth.md).

type proxyAuth struct {
	nets                []netip.Prefix
	user, email, groups string
	adminGroups         []string
}

func newProxyAuth(c ProxyConfig) (*proxyAuth, error) {
	if len(c.TrustedCIDRs) == 0 {
		return nil, nil
	}
	nets, err := parseCIDRs(c.TrustedCIDRs)
	if err != nil {
		return nil, err
	}
	return &proxyAuth{nets: nets, user: c.UserHeader, email: c.EmailHeader, groups: c.GroupsHeader, adminGroups: c.AdminGroups}, nil
}

// parseCIDRs reads prefixes ("10.0.0.0/8") and single addresses
// ("127.0.0.1", "::1").
func parseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// peerAddr is the address of "ip:port" or "ip" (no zone, IPv4 unmapped).
func peerAddr(remoteAddr string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		a, err := netip.ParseAddr(remoteAddr)
		return a.WithZone("").Unmap(), err == nil
	}
	return ap.Addr().WithZone("").Unmap(), true
}

// trusted reports whether the request's peer is the proxy.
func (px *proxyAuth) trusted(r *http.Request) bool {
	a, ok := peerAddr(r.RemoteAddr)
	if !ok {
		return false
	}
	for _, n := range px.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address the rate limiter counts failures against:
// behind the proxy, the client the proxy names last in X-Forwarded-For
// (the one it appended), so that one client's wrong passwords do not lock
// out everyone behind the proxy.
func (a *App) clientAddr(r *http.Request) string {
	if a.proxy != nil && a.proxy.trusted(r) {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return ip.String()
			}
		}
	}
	return r.RemoteAddr
}

// proxyName returns the user the proxy names, "" when the request does not
// come from the proxy or names nobody.
func (px *proxyAuth) name(r *http.Request) string {
	if px.user != "" {
		if v := strings.TrimSpace(r.Header.Get(px.user)); v != "" {
			return v
		}
	}
	if px.email != "" {
		return strings.TrimSpace(r.Header.Get(px.email))
	}
	return ""
}

// isAdmin reports whether the request's groups include an admin group.
func (px *proxyAuth) isAdmin(r *http.Request) bool {
	if px.groups == "" || len(px.adminGroups) == 0 {
		return false
	}
	for _, v := range r.Header.Values(px.groups) {
		for _, g := range strings.Split(v, ",") {
			if slices.Contains(px.adminGroups, strings.TrimSpace(g)) {
				return true
			}
		}
	}
	return false
}

const maxProxyNameLen = 255

// validProxyName refuses names no proxy would send: empty, too long, not
// UTF-8, with control characters, or shaped like mlbox's own roles.
func validProxyName(s string) bool {
	if s == "" || len(s) > maxProxyNameLen || !utf8.ValidString(s) || strings.HasPrefix(s, ownRolePrefix) {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// proxyPrincipal authenticates a request the proxy names a user in: ok is
// false for a name that is not valid (or a user that cannot be created);
// handled is false when the request is not the proxy's to judge.
func (a *App) proxyPrincipal(r *http.Request) (p *principal, handled, ok bool) {
	px := a.proxy
	if px == nil || a.acct == nil || !px.trusted(r) {
		return nil, false, false
	}
	name := px.name(r)
	if name == "" {
		return nil, false, false
	}
	if !validProxyName(name) {
		return nil, true, false
	}
	admin := px.isAdmin(r)
	u, err := a.proxyUser(r.Context(), name, admin)
	if err != nil {
		a.log.Warn("trusted proxy: cannot use the named user", "user", name, "err", err)
		return nil, true, false
	}
	return &principal{user: u, admin: u.IsAdmin || admin, name: u.Username}, true, true
}

// proxyUser finds the user the proxy names, creating it on first sight;
// a user the proxy created follows the admin groups.
func (a *App) proxyUser(ctx context.Context, name string, admin bool) (*store.User, error) {
	ctx = context.WithoutCancel(ctx)
	u := a.acct.user(name)
	if u == nil {
		nu, err := a.acct.createUser(ctx, name, "", admin, "proxy")
		if err == nil {
			a.recordAuthAudit(ctx, store.AuthAuditEntry{Action: "user.created", Actor: "proxy", Target: name, Detail: fmt.Sprintf("first sight behind the trusted proxy (admin %v)", admin)})
			return nu, nil
		}
		if u = a.acct.user(name); u == nil { // not created concurrently
			return nil, err
		}
	}
	if u.Source == "proxy" && len(a.proxy.adminGroups) > 0 && u.IsAdmin != admin {
		if err := a.acct.setAdmin(ctx, name, admin); err != nil {
			return nil, err
		}
		a.recordAuthAudit(ctx, store.AuthAuditEntry{Action: "user.admin_changed", Actor: "proxy", Target: name, Detail: fmt.Sprintf("%v (groups)", admin)})
		u = a.acct.user(name)
	}
	return u, nil
}

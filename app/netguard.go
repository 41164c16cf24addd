package app

// Webhook target policy (server-side request forgery). A webhook makes the
// server send a POST, and the test call returns part of the answer, so a
// webhook pointing at 127.0.0.1, a LAN service or 169.254.169.254 (cloud
// metadata) would let anyone who can create one probe and read services
// that only the server can reach.
//
// The policy is enforced where it cannot be bypassed: in the dialer's
// Control hook, on the address actually being connected to, after DNS
// resolution. Every connection of a delivery, a retry, a replay or a test
// call passes through it, so a name that resolves to 127.0.0.1, a name that
// is rebound after the webhook was created, an IPv4-mapped or NAT64 spelling
// of a private address and an HTTP proxy are all covered. Redirects are never
// followed (a 3xx is a failed delivery), so a public receiver cannot bounce
// the request elsewhere. The check at create and update time is only early
// feedback on the same rule.
//
// Refused by default: everything publicAddr says is not a globally routable
// unicast address. webhooks.allow_cidrs opens chosen ranges;
// webhooks.allow_private opens everything.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"mlbox/store"
)

// errBlockedAddress is returned when the policy refuses the address dialled.
// The message does not name the address: the test call returns it, and what
// an internal name resolves to is not the caller's business.
var errBlockedAddress = errors.New("webhook target address is not public: refused by the webhook target policy (see webhooks.allow_cidrs)")

// targetPolicy decides which addresses webhook deliveries may connect to.
type targetPolicy struct {
	allowAll bool           // webhooks.allow_private
	allow    []netip.Prefix // webhooks.allow_cidrs
}

func newTargetPolicy(cfg WebhookConfig) targetPolicy {
	p := targetPolicy{allowAll: cfg.AllowPrivate}
	for _, s := range cfg.AllowCIDRs {
		if pf, err := parseCIDR(s); err == nil { // Validate reported the others
			p.allow = append(p.allow, pf)
		}
	}
	return p
}

// parseCIDR reads "10.0.0.0/8", "fd00::/8" or a single address.
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not a CIDR such as 10.0.0.0/8 or fd00::/8")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("not a CIDR such as 10.0.0.0/8 or fd00::/8, nor an IP address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// permits reports whether a connection to ip is allowed.
func (p targetPolicy) permits(ip netip.Addr) bool {
	if p.allowAll {
		return true
	}
	ip = ip.WithZone("")
	forms := []netip.Addr{ip, ip.Unmap()}
	if v4, ok := nat64Embedded(ip); ok {
		forms = append(forms, v4)
	}
	for _, pf := range p.allow {
		for _, f := range forms {
			if pf.Contains(f) {
				return true
			}
		}
	}
	return publicAddr(ip)
}

// control is the dialer's Control hook: it runs for every connection
// attempt, on the resolved IP address, before connect(2).
func (p targetPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !p.permits(ap.Addr()) {
		return errBlockedAddress
	}
	return nil
}

// configure applies a webhook configuration: the target policy and the
// HTTP client that enforces it. resolver nil means the system resolver.
func (w *webhooks) configure(cfg WebhookConfig, resolver *net.Resolver) {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	w.cfg = cfg
	w.policy = newTargetPolicy(cfg)
	w.resolver = resolver
	w.client = newWebhookClient(cfg, w.policy, resolver)
}

func newWebhookClient(cfg WebhookConfig, policy targetPolicy, resolver *net.Resolver) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second, Resolver: resolver, Control: policy.control}
	return &http.Client{
		Transport: &http.Transport{
			// No proxy: a proxy would be the address dialled, hiding the
			// target from the check, and edge boxes deliver on their LAN.
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          32,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   cfg.Timeout,
			ResponseHeaderTimeout: cfg.Timeout,
		},
		// Redirects are not followed: a 3xx is a failed delivery. Following
		// them would let a public URL bounce the request (and, for the test
		// call, its response) to another target.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// nonPublic lists special-purpose ranges (IANA registries) that netip's
// predicates and the 2000::/3 rule below do not already cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments, Teredo (2001::/32) included
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("2002::/16"),     // 6to4 (embeds any IPv4 address)
	netip.MustParsePrefix("3fff::/20"),     // documentation
}

// globalUnicast6 is the only IPv6 space allocated for global unicast; the
// rest (IPv4-compatible ::a.b.c.d, ULA fc00::/7, link-local fe80::/10,
// site-local fec0::/10, discard 100::/64, SRv6 5f00::/16, ...) is not.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// nat64WellKnown is RFC 6052's NAT64 prefix: 64:ff9b::a.b.c.d reaches the
// IPv4 address a.b.c.d through a translator, so it is as public as that.
var nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")

func nat64Embedded(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() || ip.Is4In6() || !nat64WellKnown.Contains(ip) {
		return netip.Addr{}, false
	}
	b := ip.As16()
	return netip.AddrFrom4([4]byte(b[12:])), true
}

// publicAddr reports whether ip is a globally routable unicast address.
// IPv4-mapped IPv6 addresses and NAT64 addresses are judged by the IPv4
// address they carry.
func publicAddr(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if v4, ok := nat64Embedded(ip); ok {
		ip = v4
	}
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

func (w *webhooks) schemeAllowed(raw string) error {
	p, err := url.Parse(raw)
	if err != nil {
		return store.Invalidf("Invalid webhook URL '%s': %v", raw, err)
	}
	if !slices.Contains(w.cfg.AllowedSchemes, p.Scheme) {
		return store.Invalidf("Invalid webhook URL '%s': scheme '%s' is not allowed (webhooks.allowed_schemes = %s)", raw, p.Scheme, strings.Join(w.cfg.AllowedSchemes, ", "))
	}
	return nil
}

// checkTarget validates a URL given to create or update: its form, its
// scheme, and the target policy on the host: a literal address, or every
// address the name resolves to now. A name that does not resolve now is
// accepted (an offline box can still be configured); every connection is
// checked again when it is made, which is what actually protects.
func (w *webhooks) checkTarget(ctx context.Context, raw string) error {
	if err := store.ValidateWebhookURL(raw); err != nil {
		return err
	}
	if err := w.schemeAllowed(raw); err != nil {
		return err
	}
	if w.policy.allowAll {
		return nil
	}
	p, _ := url.Parse(raw)
	host := p.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, _ = w.resolver.LookupNetIP(rctx, "ip", host)
	}
	for _, ip := range addrs {
		if !w.policy.permits(ip) {
			return store.Invalidf("Invalid webhook URL '%s': host '%s' is not a public address, and webhook targets must be public "+
				"(open chosen ranges with webhooks.allow_cidrs)", raw, host)
		}
	}
	return nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

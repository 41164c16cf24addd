package app

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mlbox/store"
)

// testDNS is a DNS server on 127.0.0.1 answering A queries from a table
// (AAAA: no data; other names: NXDOMAIN). Webhook tests resolve through it,
// so a made-up name can resolve to loopback, and to something else later.
type testDNS struct {
	mu sync.Mutex
	a  map[string]netip.Addr
}

func (d *testDNS) set(name, ip string) {
	d.mu.Lock()
	d.a[name] = netip.MustParseAddr(ip)
	d.mu.Unlock()
}

func (d *testDNS) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	var labels []string
	for {
		if i >= len(q) {
			return nil
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l&0xC0 != 0 || i+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i:i+l]))
		i += l
	}
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	i += 4
	d.mu.Lock()
	ip, ok := d.a[strings.ToLower(strings.Join(labels, "."))]
	d.mu.Unlock()
	rcode, answers := byte(0), 0
	if !ok {
		rcode = 3 // NXDOMAIN
	} else if qtype == 1 && ip.Is4() {
		answers = 1
	}
	resp := []byte{q[0], q[1], 0x84 | q[2]&0x01, 0x80 | rcode, 0, 1, 0, byte(answers), 0, 0, 0, 0}
	resp = append(resp, q[12:i]...)
	if answers == 1 {
		v4 := ip.As4()
		resp = append(resp, 0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4)
		resp = append(resp, v4[:]...)
	}
	return resp
}

// startTestDNS serves the table until the test binary exits and returns a
// resolver that asks it (after /etc/hosts, so localhost is loopback).
func startTestDNS(table map[string]string) (*testDNS, *net.Resolver) {
	d := &testDNS{a: map[string]netip.Addr{}}
	for n, ip := range table {
		d.set(n, ip)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := d.answer(buf[:n]); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	addr := pc.LocalAddr().String()
	return d, &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
}

// testResolver answers for the webhook tests: internal.mlbox-test is
// loopback, example.com public, rebind.mlbox-test whatever a test sets.
var testDNSServer, testResolver = startTestDNS(map[string]string{
	"internal.mlbox-test": "127.0.0.1",
	"example.com":         "93.184.215.14",
	"rebind.mlbox-test":   "93.184.215.14",
})

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// secretBody is what an internal service answers: more than the test call
// may return.
var secretBody = "internal-secret:" + strings.Repeat("S", 1000)

// serveOn starts h on addr with a counting listener.
func serveOn(t *testing.T, addr string, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	cl := &countingListener{Listener: ln}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cl
}

func secretService(t *testing.T, addr string) (port string, accepts *countingListener) {
	t.Helper()
	srv, cl := serveOn(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(secretBody))
	}))
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return port, cl
}

// ssrfHooks: the default target policy, quick retries.
func ssrfHooks(c *WebhookConfig) {
	c.BackoffBase = 2 * time.Millisecond
	c.BackoffMax = 10 * time.Millisecond
	c.MaxAttempts = 3
	c.Timeout = 2 * time.Second
}

func testCall(t *testing.T, s *testServer, id string) map[string]any {
	t.Helper()
	return s.must(t, "POST", api+"/webhooks/"+id+"/test", map[string]any{})["result"].(map[string]any)
}

// TestWebhookSSRF: with the default policy, no way of naming an internal
// service reaches it: not at creation, not through the test call, not by
// delivery, whether the webhook was created through the API or was already
// stored (created before an upgrade, or under another policy).
func TestWebhookSSRF(t *testing.T) {
	port, v4 := secretService(t, "127.0.0.1:0")
	port6, v6 := secretService(t, "[::1]:0")
	s := startHookServer(t, "", ssrfHooks)
	targets := []string{
		"http://127.0.0.1:" + port + "/",
		"http://localhost:" + port + "/",
		"http://internal.mlbox-test:" + port + "/", // resolves to 127.0.0.1 (test DNS)
		"http://[::1]:" + port6 + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/", // IPv4-mapped
		"http://[::ffff:7f00:1]:" + port + "/",
		"http://[64:ff9b::7f00:1]:" + port + "/", // NAT64 of 127.0.0.1
		"http://0.0.0.0:" + port + "/",           // Linux connects this to the local host
		"http://[::]:" + port6 + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1]/",
		"http://10.1.2.3/",
		"http://172.16.0.1/",
		"http://192.168.1.1/",
		"http://100.64.0.1/",
		"http://[fd00::1]/",
	}
	st := s.App.Store()
	ids := map[string]string{}
	for i, u := range targets {
		st, m, raw := s.call(t, "POST", api+"/webhooks", map[string]any{"name": "x", "url": u, "events": events("REGISTERED_MODEL/CREATED")})
		if st != 400 || m["error_code"] != "INVALID_PARAMETER_VALUE" || !strings.Contains(raw, "not a public address") {
			t.Errorf("create %s: %d %s", u, st, raw)
		}
		_ = i
	}
	// Stored anyway: the test call and deliveries check each connection.
	for i, u := range targets {
		wh, err := st.CreateWebhook(context.Background(), store.WebhookSpec{Name: "stored-" + string(rune('a'+i)), URL: u,
			Events: []store.WebhookEvent{{Entity: "REGISTERED_MODEL", Action: "CREATED"}}})
		if err != nil {
			t.Fatalf("store %s: %v", u, err)
		}
		ids[u] = wh.WebhookID
		res := testCall(t, s, wh.WebhookID)
		if res["success"] != false || res["response_status"] != nil || res["response_body"] != nil ||
			!strings.Contains(res["error_message"].(string), "not public") {
			t.Errorf("test call %s: %+v", u, res)
		}
		// Changing a webhook's URL to such a target is refused too.
		if code, _, raw := s.call(t, "PATCH", api+"/webhooks/"+wh.WebhookID, map[string]any{"url": u}); code != 400 {
			t.Errorf("update to %s: %d %s", u, code, raw)
		}
	}
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "ssrf"})
	for u, id := range ids {
		d := waitDelivery(t, s, id, func(map[string]any) bool { return true })
		if d["status"] != store.DeliveryFailed || d["attempts"].(float64) != 1 || !strings.Contains(d["last_error"].(string), "not public") {
			t.Errorf("delivery to %s: %+v", u, d)
		}
	}
	if n := v4.n.Load() + v6.n.Load(); n != 0 {
		t.Fatalf("the internal service accepted %d connections", n)
	}

	// DNS rebinding: a name that was public when the webhook was created
	// and resolves to loopback when it is called.
	testDNSServer.set("rebind.mlbox-test", "93.184.215.14")
	t.Cleanup(func() { testDNSServer.set("rebind.mlbox-test", "93.184.215.14") })
	wh := createHook(t, s, map[string]any{"name": "rebind", "url": "http://rebind.mlbox-test:" + port + "/", "events": events("JOB/FAILED")})
	testDNSServer.set("rebind.mlbox-test", "127.0.0.1")
	if res := testCall(t, s, wh["webhook_id"].(string)); res["success"] != false || !strings.Contains(res["error_message"].(string), "not public") {
		t.Errorf("rebound name: %+v", res)
	}
	if n := v4.n.Load(); n != 0 {
		t.Fatalf("the internal service accepted %d connections after rebinding", n)
	}
}

// TestWebhookRedirectToInternal: an allowed receiver answering 302 to an
// internal service does not get the request (nor the test call's reflected
// body) there: redirects are not followed.
func TestWebhookRedirectToInternal(t *testing.T) {
	port, secret := secretService(t, "127.0.0.1:0")
	front, frontAccepts := serveOn(t, "127.0.0.2:0", http.RedirectHandler("http://127.0.0.1:"+port+"/", http.StatusFound))
	s := startHookServer(t, "", ssrfHooks, func(c *WebhookConfig) { c.AllowCIDRs = []string{"127.0.0.2/32"} })
	wh := createHook(t, s, map[string]any{"name": "front", "url": front.URL + "/hook", "events": events("REGISTERED_MODEL/CREATED")})
	id := wh["webhook_id"].(string)
	res := testCall(t, s, id)
	if body, _ := res["response_body"].(string); res["success"] != false || res["response_status"].(float64) != 302 || strings.Contains(body, "internal-secret") {
		t.Fatalf("test call: %+v", res)
	}
	s.must(t, "POST", api+"/registered-models/create", map[string]any{"name": "redir"})
	d := waitDelivery(t, s, id, func(map[string]any) bool { return true })
	if d["status"] != store.DeliveryFailed {
		t.Fatalf("delivery: %+v", d)
	}
	if frontAccepts.n.Load() == 0 || secret.n.Load() != 0 {
		t.Fatalf("front accepted %d, internal service %d", frontAccepts.n.Load(), secret.n.Load())
	}
}

// TestWebhookAllowList: webhooks.allow_cidrs (and allow_private) open
// internal targets on purpose; the test call then returns a short prefix of
// the answer.
func TestWebhookAllowList(t *testing.T) {
	port, v4 := secretService(t, "127.0.0.1:0")
	port6, v6 := secretService(t, "[::1]:0")
	s := startHookServer(t, "", ssrfHooks, func(c *WebhookConfig) { c.AllowCIDRs = []string{"127.0.0.0/8", "::1"} })
	for _, u := range []string{"http://internal.mlbox-test:" + port + "/", "http://localhost:" + port + "/", "http://[::1]:" + port6 + "/"} {
		wh := createHook(t, s, map[string]any{"name": "ok", "url": u, "events": events("JOB/FAILED")})
		res := testCall(t, s, wh["webhook_id"].(string))
		body, _ := res["response_body"].(string)
		if res["success"] != true || res["response_status"].(float64) != 200 || body != secretBody[:testResponseBytes] {
			t.Errorf("%s: %+v", u, res)
		}
	}
	// Outside the allowed ranges: still refused.
	if code, _, raw := s.call(t, "POST", api+"/webhooks", map[string]any{"name": "x", "url": "http://169.254.169.254/", "events": events("JOB/FAILED")}); code != 400 {
		t.Errorf("metadata address with 127.0.0.0/8 allowed: %d %s", code, raw)
	}
	if v4.n.Load() == 0 || v6.n.Load() == 0 {
		t.Fatalf("allowed targets not reached: %d %d", v4.n.Load(), v6.n.Load())
	}

	open := startHookServer(t, "", ssrfHooks, func(c *WebhookConfig) { c.AllowPrivate = true })
	wh := createHook(t, open, map[string]any{"name": "ok", "url": "http://127.0.0.1:" + port + "/", "events": events("JOB/FAILED")})
	if res := testCall(t, open, wh["webhook_id"].(string)); res["success"] != true {
		t.Fatalf("allow_private: %+v", res)
	}
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "93.184.215.14": true, "::ffff:8.8.8.8": true, "64:ff9b::808:808": true,
		"127.0.0.1": false, "127.1.2.3": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.0.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "224.0.0.1": false, "255.255.255.255": false, "198.18.0.1": false, "192.88.99.1": false,
		"::1": false, "::": false, "fe80::1": false, "fe80::1%eth0": false, "fd00::1": false, "fc00::1": false, "fec0::1": false,
		"::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false, "::ffff:10.0.0.1": false, "::7f00:1": false,
		"64:ff9b::7f00:1": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b:1::1": false,
		"2002:c0a8:101::1": false, "2001::1": false, "2001:db8::1": false, "3fff::1": false, "5f00::1": false, "100::1": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v", addr, got)
		}
	}
}

func TestTargetPolicy(t *testing.T) {
	p := newTargetPolicy(WebhookConfig{AllowCIDRs: []string{"10.0.0.0/8", "192.168.1.7", "fd00::/8"}})
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "64:ff9b::a01:203": true, "192.168.1.7": true, "192.168.1.8": false,
		"fd12::1": true, "127.0.0.1": false, "169.254.169.254": false, "8.8.8.8": true,
	} {
		if got := p.permits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("permits(%s) = %v", addr, got)
		}
	}
	if err := p.control("tcp4", "127.0.0.1:80", nil); err != errBlockedAddress {
		t.Errorf("control(127.0.0.1:80) = %v", err)
	}
	if err := p.control("tcp4", "10.0.0.1:80", nil); err != nil {
		t.Errorf("control(10.0.0.1:80) = %v", err)
	}
	if !newTargetPolicy(WebhookConfig{AllowPrivate: true}).permits(netip.MustParseAddr("127.0.0.1")) {
		t.Error("allow_private does not allow loopback")
	}
	c := DefaultWebhookConfig()
	c.AllowCIDRs = []string{"10.0.0.0/33", "nope", "fe80::1%eth0", "10.0.0.0/8"}
	if p := strings.Join(c.Validate(), "\n"); strings.Count(p, "webhooks.allow_cidrs") != 3 {
		t.Errorf("allow_cidrs problems:\n%s", p)
	}
}

package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mlbox test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate for 127.0.0.1 with serial to certFile and
// its key to keyFile.
func (ca *testCA) issue(t testing.TB, serial int64, certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(serial) * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLSServeAndReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, 2, certFile, keyFile)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile = certFile, keyFile
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := serveTest(t, a, "127.0.0.1:0")
	url := strings.Replace(s.URL, "http://", "https://", 1)

	serialOf := func(resp *http.Response) int64 { return resp.TLS.PeerCertificates[0].SerialNumber.Int64() }
	// One client keeps its connection open across the reload.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}
	kept := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(c *http.Client, path string) *http.Response {
		t.Helper()
		resp, err := c.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := get(kept, "/health")
	if resp.StatusCode != 200 || serialOf(resp) != 2 || resp.ProtoMajor != 2 {
		t.Fatalf("over TLS: %d serial %d %s", resp.StatusCode, serialOf(resp), resp.Proto)
	}
	// Plain HTTP on the TLS port is refused.
	if r, err := http.Get(s.URL + "/health"); err == nil && r.StatusCode == 200 {
		t.Fatal("plain HTTP answered on the TLS port")
	}
	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(url + "/health"); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	// Broken files: the reload fails, the certificate in use stays.
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	if err := a.ReloadTLS(); err == nil {
		t.Fatal("reloading a broken certificate succeeded")
	}
	fresh := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}, Timeout: 10 * time.Second}
	}
	if r := get(fresh(), "/health"); serialOf(r) != 2 {
		t.Fatalf("after a failed reload: serial %d", serialOf(r))
	}
	// A new certificate: new connections get it, the open one goes on.
	ca.issue(t, 3, certFile, keyFile)
	if err := a.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if r := get(fresh(), "/health"); serialOf(r) != 3 {
		t.Fatalf("after the reload: serial %d", serialOf(r))
	}
	if r := get(kept, "/api/2.0/mlflow/experiments/search?max_results=1"); r.StatusCode != 200 || serialOf(r) != 2 {
		t.Fatalf("the open connection: %d serial %d", r.StatusCode, serialOf(r))
	}
	mr, err := fresh().Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mr.Body)
	mr.Body.Close()
	for _, want := range []string{`mlbox_tls_reloads_total{result="ok"} 1`, `mlbox_tls_reloads_total{result="error"} 1`, "mlbox_tls_certificate_expiry_timestamp_seconds "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.TLSCertFile = "/nonexistent/cert.pem"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "set both or neither") {
		t.Fatalf("cert without key: %v", err)
	}
	cfg.HTTP.TLSKeyFile = "/nonexistent/key.pem"
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "http.tls_cert_file") {
		t.Fatalf("missing files: %v", err)
	}
	a, err := New(func() Config { c := DefaultConfig(); c.DataDir = t.TempDir(); return c }(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.ReloadTLS(); err != errNoTLS {
		t.Fatalf("reload without TLS: %v", err)
	}
}

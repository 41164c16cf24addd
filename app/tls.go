package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// TLS from a certificate and key file (http.tls_cert_file,
// http.tls_key_file): TLS 1.2 at least, HTTP/2 offered. Reload swaps in
// the files' current contents (mlbox server does it on SIGHUP): new
// handshakes get the new certificate, connections already open go on with
// theirs, and files that do not load leave the old certificate in place.

type certHolder struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func newCertHolder(certFile, keyFile string) (*certHolder, error) {
	h := &certHolder{certFile: certFile, keyFile: keyFile}
	if err := h.load(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *certHolder) load() error {
	c, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return fmt.Errorf("http.tls_cert_file / http.tls_key_file: %w", err)
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return fmt.Errorf("http.tls_cert_file: %w", err)
		}
	}
	h.cur.Store(&c)
	return nil
}

func (h *certHolder) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.cur.Load(), nil
}

func (h *certHolder) notAfter() time.Time {
	if c := h.cur.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// tlsConfig is the server's TLS configuration.
func (h *certHolder) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: h.get,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// openTLS loads the certificate when TLS is configured.
func (a *App) openTLS() error {
	c := a.cfg.HTTP
	if c.TLSCertFile == "" && c.TLSKeyFile == "" {
		return nil
	}
	h, err := newCertHolder(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return err
	}
	a.tls = h
	a.metrics.NewGauge("mlbox_tls_certificate_expiry_timestamp_seconds", func() float64 {
		return float64(h.notAfter().Unix())
	})
	return nil
}

// TLS reports whether the server serves HTTPS.
func (a *App) TLS() bool { return a.tls != nil }

var errNoTLS = errors.New("TLS is not configured (http.tls_cert_file)")

// ReloadTLS reads the certificate and key files again. On error the
// certificate in use stays.
func (a *App) ReloadTLS() error {
	if a.tls == nil {
		return errNoTLS
	}
	if err := a.tls.load(); err != nil {
		a.tlsReloads.failed.Inc()
		a.log.Error("TLS certificate not reloaded; keeping the one in use", "err", err)
		return err
	}
	a.tlsReloads.ok.Inc()
	a.log.Info("TLS certificate reloaded", "cert", a.tls.certFile, "not_after", a.tls.notAfter().UTC().Format(time.RFC3339))
	return nil
}

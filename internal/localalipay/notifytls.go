package localalipay

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
)

// pinnedCerts are serving certificates a notify_url may present even when
// no public CA vouches for them or they name another host: the MCP server
// in local mode serving HTTPS with its own --tls-cert, whose receiver the
// local Alipay reaches as https://127.0.0.1:port.
type pinnedCerts struct {
	mu   sync.Mutex
	ders [][]byte
}

func (p *pinnedCerts) add(der []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.ders {
		if bytes.Equal(d, der) {
			return
		}
	}
	p.ders = append(p.ders, bytes.Clone(der))
}

func (p *pinnedCerts) has(der []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.ders {
		if bytes.Equal(d, der) {
			return true
		}
	}
	return false
}

// TrustNotifyCertificate makes the notifier of this process accept a
// notify_url whose server presents exactly this certificate (DER, the leaf)
// whatever its issuer and names. Every other HTTPS notify_url is verified
// as usual, against the system's CAs and the URL's host.
//
// Notifications are delivered by whichever process sharing the data
// directory claims them first; only this one trusts the certificate.
func (s *Server) TrustNotifyCertificate(der []byte) {
	s.pinned.add(der)
}

// newNotifyClient is the HTTP client of the notifier: no redirects (a
// notify_url must not redirect, notes §7.7), a bounded attempt, and TLS
// verified as usual or against a pinned certificate.
func (s *Server) newNotifyClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is not skipped: VerifyConnection does it, with the
		// pinned certificates as the one addition.
		InsecureSkipVerify: true,
		VerifyConnection:   s.verifyNotifyTLS,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       notifyTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// verifyNotifyTLS accepts a pinned leaf, or a chain to the system's CAs
// valid for the host dialled.
func (s *Server) verifyNotifyTLS(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("notify_url 的服务器没有出示证书 / the notify_url's server presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if s.pinned.has(leaf.Raw) {
		return nil
	}
	opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := leaf.Verify(opts)
	return err
}

package awssim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// balancerCertLocked returns the certificate every simulated HTTPS
// listener presents, made once per simulator: self-signed, for
// *.elb.amazonaws.com and 127.0.0.1. (On AWS it is the listener's
// SSLCertificateId from ACM or IAM, which the simulator does not keep.)
// Clients of the simulator's HTTPS listeners skip verification.
func (s *Sim) balancerCertLocked() (tls.Certificate, error) {
	if s.lbCert != nil {
		return *s.lbCert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "*.elb.amazonaws.com", Organization: []string{"Ferry's AWS simulator"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		DNSNames:     []string{"*.elb.amazonaws.com", "*." + s.opts.Region + ".elb.amazonaws.com", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("balancer certificate: %w", err)
	}
	s.lbCert = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return *s.lbCert, nil
}

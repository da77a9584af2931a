package roles

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	sha2 "crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// DBTLS is the databases' TLS identity in an environment: a CA whose
// certificate web, worker and replica servers trust (RecipeParams.DBCA),
// and a certificate it signs for each database server's address, which
// stunnel (checkIP/checkHost) and the replica's libpq (verify-full) check.
//
// Every key and certificate is derived from the replication password
// (HKDF-SHA256 into ECDSA P-256 keys, signed per RFC 6979, fixed serials
// and validity), so that they are the same each time: each run of a recipe
// writes the same files (no change), a baked image
// trusts the CA of the servers provisioned before or after it, and nothing
// beyond the environment's secrets has to be kept. Changing the
// replication password changes the CA: provision the database servers
// again and bake the groups' image again.
//
// Not Ed25519: a certificate signed with it names no hash, and libpq's
// SCRAM channel binding (tls-server-end-point) fails on it ("could not
// find digest for NID UNDEF").
type DBTLS struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	der  []byte
}

// The certificates' fixed validity, part of what makes them deterministic.
var (
	dbTLSNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	dbTLSNotAfter  = time.Date(2124, 1, 1, 0, 0, 0, 0, time.UTC)
)

// NewDBTLS derives the databases' CA from the replication password.
func NewDBTLS(replicationPassword string) (DBTLS, error) {
	if !secretRE.MatchString(replicationPassword) {
		return DBTLS{}, fmt.Errorf("database TLS: secret %s: want 16 to 128 of A-Z a-z 0-9 _ -", SecretReplication)
	}
	key, err := deriveKey(replicationPassword, "ferry database CA")
	if err != nil {
		return DBTLS{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ferry database CA"},
		NotBefore:             dbTLSNotBefore,
		NotAfter:              dbTLSNotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	// A nil rand: the serial is given, and ECDSA signs per RFC 6979.
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return DBTLS{}, fmt.Errorf("database TLS: the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return DBTLS{}, fmt.Errorf("database TLS: the CA: %w", err)
	}
	return DBTLS{key: key, cert: cert, der: der}, nil
}

// CA returns the CA's certificate (PEM): RecipeParams.DBCA.
func (d DBTLS) CA() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.der}))
}

// Server returns the certificate (PEM) and private key (PKCS #8 PEM) of
// the database server at address (an IPv4 address or a host name, which
// the certificate names).
func (d DBTLS) Server(address string) (certPEM, keyPEM string, err error) {
	if !hostRE.MatchString(address) {
		return "", "", fmt.Errorf("database TLS: server address %q is not an IPv4 address or host name", address)
	}
	raw, err := d.key.Bytes()
	if err != nil {
		return "", "", fmt.Errorf("database TLS: %w", err)
	}
	key, err := deriveKey(string(raw), "ferry database server "+address)
	if err != nil {
		return "", "", err
	}
	sum := sha2.Sum256([]byte(address))
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(sum[:16]),
		Subject:      pkix.Name{CommonName: address},
		NotBefore:    dbTLSNotBefore,
		NotAfter:     dbTLSNotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(address); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{address}
	}
	der, err := x509.CreateCertificate(nil, tmpl, d.cert, key.Public(), d.key)
	if err != nil {
		return "", "", fmt.Errorf("database TLS: the certificate of %s: %w", address, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("database TLS: the key of %s: %w", address, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), nil
}

// The environment variables that carry a database server's certificate
// and key to its recipe, each the base64 of its PEM (one line, as
// remote.Command.Env needs); the key is a secret like the passwords.
const (
	EnvDBTLSCert = "FERRY_DB_TLS_CERT"
	EnvDBTLSKey  = "FERRY_DB_TLS_KEY"
)

// ServerEnv returns EnvDBTLSCert and EnvDBTLSKey for the database server
// at address.
func (d DBTLS) ServerEnv(address string) (map[string]string, error) {
	cert, key, err := d.Server(address)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		EnvDBTLSCert: base64.StdEncoding.EncodeToString([]byte(cert)),
		EnvDBTLSKey:  base64.StdEncoding.EncodeToString([]byte(key)),
	}, nil
}

// deriveKey derives a P-256 key from secret and label: the first HKDF
// output that is a valid scalar (all but a 2^-32 share of them are).
func deriveKey(secret, label string) (*ecdsa.PrivateKey, error) {
	for i := range 16 {
		raw, err := hkdf.Key(sha2.New, []byte(secret), nil, fmt.Sprintf("%s %d", label, i), 32)
		if err != nil {
			return nil, fmt.Errorf("database TLS: %w", err)
		}
		if key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw); err == nil {
			return key, nil
		}
	}
	return nil, errors.New("database TLS: no P-256 key derived")
}

// checkCA checks that pemText is one CA certificate.
func checkCA(pemText string) error {
	b, rest := pem.Decode([]byte(pemText))
	if b == nil || b.Type != "CERTIFICATE" {
		return errors.New("database CA: not a PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return errors.New("database CA: more than one PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("database CA: %w", err)
	}
	if !c.IsCA {
		return errors.New("database CA: the certificate is not a CA's")
	}
	return nil
}

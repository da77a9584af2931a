package roles_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/roles"
)

// The databases' certificates verify against the CA derived from the same
// replication password for the address they were made for, and for no
// other address or CA; deriving again gives the same bytes (a recipe's
// second run changes nothing).
func TestDBTLS(t *testing.T) {
	d, err := roles.NewDBTLS("replication-password-0123")
	if err != nil {
		t.Fatal(err)
	}
	other, err := roles.NewDBTLS("replication-password-4567")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := roles.NewDBTLS("replication-password-0123")
	if d.CA() != again.CA() {
		t.Error("the CA differs between two derivations from one password")
	}
	if d.CA() == other.CA() {
		t.Error("two passwords gave one CA")
	}
	pool := func(ca string) *x509.CertPool {
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM([]byte(ca)) {
			t.Fatalf("CA not PEM: %q", ca)
		}
		return p
	}
	for _, tc := range []struct {
		name, addr, checkAs, ca string
		ok                      bool
	}{
		{"its own address", "10.0.1.5", "10.0.1.5", d.CA(), true},
		{"a host name", "db.internal", "db.internal", d.CA(), true},
		{"another address", "10.0.1.5", "10.0.1.6", d.CA(), false},
		{"another environment's CA", "10.0.1.5", "10.0.1.5", other.CA(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM, err := d.Server(tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			c2, k2, _ := d.Server(tc.addr)
			if c2 != certPEM || k2 != keyPEM {
				t.Error("the server's certificate or key differs between two derivations")
			}
			pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			// SCRAM's channel binding hashes the certificate with its
			// signature's hash: there must be one.
			if leaf.SignatureAlgorithm != x509.ECDSAWithSHA256 {
				t.Errorf("signature algorithm %v, want ECDSA with SHA-256", leaf.SignatureAlgorithm)
			}
			_, err = leaf.Verify(x509.VerifyOptions{Roots: pool(tc.ca), DNSName: tc.checkAs})
			if (err == nil) != tc.ok {
				t.Errorf("verify %s as %s: %v, want ok=%v", tc.addr, tc.checkAs, err, tc.ok)
			}
		})
	}
	env, err := d.ServerEnv("10.0.1.5")
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(env[roles.EnvDBTLSKey])
	if b, _ := pem.Decode(key); err != nil || b == nil || b.Type != "PRIVATE KEY" || strings.Contains(env[roles.EnvDBTLSKey], "\n") {
		t.Errorf("%s is not one line of base64 of a PEM key", roles.EnvDBTLSKey)
	}
	if _, err := roles.NewDBTLS("short"); err == nil {
		t.Error("a weak replication password was taken")
	}
}

// A web, worker or replica server cannot be made without the CA it checks
// the databases with; the others can.
func TestBundleNeedsTheDatabaseCA(t *testing.T) {
	p := params()
	p.DBCA = ""
	for _, r := range []roles.Role{roles.Web, roles.Worker, roles.DBReplica} {
		if _, err := roles.NewRecipes().Bundle(p, roles.RecipeHost{Address: "172.31.0.7", Roles: []roles.Role{r}}); err == nil || !strings.Contains(err.Error(), "database CA") {
			t.Errorf("%s without DBCA: %v, want the database CA named", r, err)
		}
	}
	for _, r := range []roles.Role{roles.DBPrimary, roles.Cache} {
		if _, err := roles.NewRecipes().Bundle(p, roles.RecipeHost{Address: "172.31.0.7", Roles: []roles.Role{r}}); err != nil {
			t.Errorf("%s without DBCA: %v", r, err)
		}
	}
}

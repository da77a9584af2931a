package awssim

import (
	"crypto/ed25519"
	"crypto/md5" //nolint:gosec // EC2's fingerprint of imported RSA keys
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // EC2's fingerprint of RSA keys it makes
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"
)

// Key pairs: CreateKeyPair returns a private key whose public half and
// fingerprint the account keeps (RSA: SHA-1 of the PKCS#8 DER; ED25519:
// SHA-256); ImportKeyPair takes a public key (RSA: MD5 of the DER);
// duplicates and unknown names have EC2's codes.
// AWS: API_CreateKeyPair, API_ImportKeyPair, verify-keys, errors-overview.
func TestKeyPairs(t *testing.T) {
	e := newEnv(t, fastOptions())

	rsaKey := try(e.ec2.CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("deploy")})).must(t)
	block, _ := pem.Decode([]byte(aws.ToString(rsaKey.KeyMaterial)))
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("rsa key material is not PKCS#1 PEM: %q", aws.ToString(rsaKey.KeyMaterial)[:40])
	}
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	if sum := sha1.Sum(pkcs8); aws.ToString(rsaKey.KeyFingerprint) != colonHex(sum[:]) || priv.N.BitLen() != 2048 { //nolint:gosec
		t.Errorf("rsa fingerprint %s, %d bits", aws.ToString(rsaKey.KeyFingerprint), priv.N.BitLen())
	}

	edKey := try(e.ec2.CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("ed"), KeyType: ec2types.KeyTypeEd25519})).must(t)
	signer, err := ssh.ParsePrivateKey([]byte(aws.ToString(edKey.KeyMaterial)))
	if err != nil {
		t.Fatalf("ed25519 key material: %v", err)
	}
	if want := strings.TrimPrefix(ssh.FingerprintSHA256(signer.PublicKey()), "SHA256:"); strings.TrimRight(aws.ToString(edKey.KeyFingerprint), "=") != want {
		t.Errorf("ed25519 fingerprint %s, ssh-keygen's %s", aws.ToString(edKey.KeyFingerprint), want)
	}

	_, err = e.ec2.CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("deploy")})
	if apiCode(err) != "InvalidKeyPair.Duplicate" {
		t.Errorf("a second key named deploy: %v, want InvalidKeyPair.Duplicate", err)
	}

	// Import: an OpenSSH ED25519 key and an RSA key.
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(edPub)
	imp := try(e.ec2.ImportKeyPair(e.ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("mine"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)})).must(t)
	if want := strings.TrimPrefix(ssh.FingerprintSHA256(sshPub), "SHA256:"); strings.TrimRight(aws.ToString(imp.KeyFingerprint), "=") != want {
		t.Errorf("imported ed25519 fingerprint %s, want %s", aws.ToString(imp.KeyFingerprint), want)
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPub, _ := ssh.NewPublicKey(&rk.PublicKey)
	impRSA := try(e.ec2.ImportKeyPair(e.ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("mine-rsa"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(rsaPub)})).must(t)
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if sum := md5.Sum(der); aws.ToString(impRSA.KeyFingerprint) != colonHex(sum[:]) { //nolint:gosec
		t.Errorf("imported rsa fingerprint %s", aws.ToString(impRSA.KeyFingerprint))
	}
	_, err = e.ec2.ImportKeyPair(e.ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("junk"), PublicKeyMaterial: []byte("not a key")})
	if apiCode(err) != "InvalidKeyPair.Format" {
		t.Errorf("importing junk: %v, want InvalidKeyPair.Format", err)
	}

	desc := try(e.ec2.DescribeKeyPairs(e.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"ed"}, IncludePublicKey: aws.Bool(true)})).must(t)
	if len(desc.KeyPairs) != 1 || !strings.HasPrefix(aws.ToString(desc.KeyPairs[0].PublicKey), "ssh-ed25519 ") || desc.KeyPairs[0].KeyType != ec2types.KeyTypeEd25519 {
		t.Errorf("DescribeKeyPairs ed: %+v", desc.KeyPairs)
	}
	all := try(e.ec2.DescribeKeyPairs(e.ctx, &ec2.DescribeKeyPairsInput{})).must(t)
	if len(all.KeyPairs) != 4 {
		t.Errorf("%d key pairs, want 4", len(all.KeyPairs))
	}
	try(e.ec2.DeleteKeyPair(e.ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("ed")})).must(t)
	_, err = e.ec2.DescribeKeyPairs(e.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"ed"}})
	if apiCode(err) != "InvalidKeyPair.NotFound" {
		t.Errorf("a deleted key: %v, want InvalidKeyPair.NotFound", err)
	}
	e.srv.mu.Lock()
	kept := e.srv.st.KeyPairs["deploy"].PublicKey
	e.srv.mu.Unlock()
	if !strings.HasPrefix(kept, "ssh-rsa ") || strings.Contains(kept, "PRIVATE") {
		t.Errorf("the account keeps %q, want the public key only", kept)
	}
}

package watch

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"golang.org/x/crypto/ssh"
)

// The real formats (ssh-keygen's signatures, git's payloads) are tested in
// verify_test.go. These tests cover what ssh-keygen does not easily make:
// other hash algorithms, RSA, certificates, foreign namespaces, and the
// allowed_signers grammar.

// sshsign makes an armored SSHSIG signature as ssh-keygen -Y sign would.
// algo, when set, picks the signature algorithm (e.g. ssh-rsa for SHA-1).
func sshsign(t *testing.T, s ssh.Signer, namespace, hashAlg, algo string, msg []byte) []byte {
	t.Helper()
	h := crypto.SHA512
	if hashAlg == "sha256" {
		h = crypto.SHA256
	}
	d := h.New()
	d.Write(msg)
	signed := append([]byte(sshsigMagic), ssh.Marshal(sshsigSignedData{Namespace: namespace, HashAlgorithm: hashAlg, Hash: d.Sum(nil)})...)
	var sig *ssh.Signature
	var err error
	if algo != "" {
		sig, err = s.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, signed, algo)
	} else {
		sig, err = s.Sign(rand.Reader, signed)
	}
	if err != nil {
		t.Fatal(err)
	}
	blob := sshsigBlob{Version: 1, PublicKey: s.PublicKey().Marshal(), Namespace: namespace, HashAlgorithm: hashAlg, Signature: ssh.Marshal(sig)}
	b64 := base64.StdEncoding.EncodeToString(append([]byte(sshsigMagic), ssh.Marshal(blob)...))
	var out strings.Builder
	out.WriteString(armorSSH + "\n")
	for len(b64) > 70 {
		out.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	out.WriteString(b64 + "\n-----END SSH SIGNATURE-----\n")
	return []byte(out.String())
}

func TestCheckSSHSignature(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	msg := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nrelease\n")
	alice := testutil.NewSSHSigner(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSigner, err := ssh.NewSignerFromKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := testutil.NewSSHSigner(t)
	cert := &ssh.Certificate{Key: alice.PublicKey(), CertType: ssh.UserCert, ValidPrincipals: []string{"alice@example.com"},
		ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	certSigner, err := ssh.NewCertSigner(cert, alice)
	if err != nil {
		t.Fatal(err)
	}
	line := func(s ssh.Signer, opts allowedSigner) allowedSigner {
		opts.key = s.PublicKey()
		if opts.principals == "" {
			opts.principals = "alice@example.com"
		}
		return opts
	}

	tests := []struct {
		name    string
		sig     []byte
		payload []byte
		when    time.Time
		signers []allowedSigner
		code    Refusal
		signer  string
	}{
		{name: "sha256", sig: sshsign(t, alice, "git", "sha256", "", msg),
			signers: []allowedSigner{line(alice, allowedSigner{})}, signer: "alice@example.com"},
		{name: "rsa-sha2-512", sig: sshsign(t, rsaSigner, "git", "sha512", ssh.KeyAlgoRSASHA512, msg),
			signers: []allowedSigner{line(rsaSigner, allowedSigner{})}, signer: "alice@example.com"},
		{name: "rsa with sha-1 is refused", sig: sshsign(t, rsaSigner, "git", "sha512", ssh.KeyAlgoRSA, msg),
			signers: []allowedSigner{line(rsaSigner, allowedSigner{})}, code: RefusedBadSignature},
		{name: "other payload", sig: sshsign(t, alice, "git", "sha512", "", msg), payload: []byte("tree 0\n\nevil\n"),
			signers: []allowedSigner{line(alice, allowedSigner{})}, code: RefusedBadSignature},
		{name: "signature for the file namespace", sig: sshsign(t, alice, "file", "sha512", "", msg),
			signers: []allowedSigner{line(alice, allowedSigner{})}, code: RefusedNamespace},
		{name: "unknown hash", sig: sshsign(t, alice, "git", "md5", "", msg),
			signers: []allowedSigner{line(alice, allowedSigner{})}, code: RefusedBadSignature},
		{name: "certificate", sig: sshsign(t, certSigner, "git", "sha512", "", msg),
			signers: []allowedSigner{line(ca, allowedSigner{certAuthority: true})}, code: RefusedUntrustedFormat},
		{name: "cert-authority lines do not trust the key itself", sig: sshsign(t, alice, "git", "sha512", "", msg),
			signers: []allowedSigner{line(alice, allowedSigner{certAuthority: true})}, code: RefusedUnknownKey},
		{name: "negated namespace", sig: sshsign(t, alice, "git", "sha512", "", msg),
			signers: []allowedSigner{line(alice, allowedSigner{namespaces: "*,!git"})}, code: RefusedNamespace},
		{name: "a later line allows it", sig: sshsign(t, alice, "git", "sha512", "", msg),
			signers: []allowedSigner{
				line(alice, allowedSigner{namespaces: "file", principals: "files@example.com"}),
				line(alice, allowedSigner{namespaces: "g?t", principals: "alice@example.com"}),
			}, signer: "alice@example.com"},
		{name: "inside its validity window", sig: sshsign(t, alice, "git", "sha512", "", msg),
			signers: []allowedSigner{line(alice, allowedSigner{validAfter: now.Add(-48 * time.Hour), validBefore: now.Add(48 * time.Hour)})},
			signer:  "alice@example.com"},
		{name: "backdated past a retired key", sig: sshsign(t, alice, "git", "sha512", "", msg), when: now.Add(-2 * time.Hour),
			signers: []allowedSigner{line(alice, allowedSigner{validBefore: now.Add(-time.Hour)})}, code: RefusedExpiredKey},
		{name: "dated before valid-after", sig: sshsign(t, alice, "git", "sha512", "", msg), when: now.Add(-2 * time.Hour),
			signers: []allowedSigner{line(alice, allowedSigner{validAfter: now.Add(-time.Hour)})}, code: RefusedKeyNotYetValid},
		{name: "not armored", sig: []byte(armorSSH + "\nnot base64!\n-----END SSH SIGNATURE-----\n"),
			signers: []allowedSigner{line(alice, allowedSigner{})}, code: RefusedBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, when := tt.payload, tt.when
			if payload == nil {
				payload = msg
			}
			if when.IsZero() {
				when = now
			}
			v, err := checkSSHSignature("commit", tt.sig, payload, when, tt.signers, "allowed_signers", now)
			if tt.code == "" {
				if err != nil || v.Signer != tt.signer || v.Format != FormatSSH || !strings.HasPrefix(v.Fingerprint, "SHA256:") {
					t.Fatalf("= %+v, %v; want signed by %s", v, err, tt.signer)
				}
				return
			}
			var r *refusal
			if !errors.As(err, &r) || r.code != tt.code {
				t.Fatalf("= %+v, %v; want refusal %s", v, err, tt.code)
			}
		})
	}
}

func TestParseAllowedSigners(t *testing.T) {
	key := testutil.NewSSHSigner(t).PublicKey()
	k := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	utc := func(s string) time.Time { v, _ := time.Parse("2006-01-02 15:04:05", s); return v }

	tests := []struct {
		name    string
		line    string
		want    allowedSigner // key and line not compared
		wantErr string
	}{
		{name: "plain", line: "alice@example.com " + k + " alice's laptop",
			want: allowedSigner{principals: "alice@example.com"}},
		{name: "several principals and options", line: `alice@example.com,*@ops.example.com namespaces="git,file",valid-after="20260101Z",valid-before="202701021530Z" ` + k,
			want: allowedSigner{principals: "alice@example.com,*@ops.example.com", namespaces: "git,file",
				validAfter: utc("2026-01-01 00:00:00"), validBefore: utc("2027-01-02 15:30:00")}},
		{name: "quoted principals", line: `"alice@example.com,bob@example.com" ` + k,
			want: allowedSigner{principals: "alice@example.com,bob@example.com"}},
		{name: "seconds", line: `a@b VALID-BEFORE="20270102153045Z" ` + k,
			want: allowedSigner{principals: "a@b", validBefore: utc("2027-01-02 15:30:45")}},
		{name: "cert-authority", line: "*@example.com cert-authority " + k,
			want: allowedSigner{principals: "*@example.com", certAuthority: true}},
		{name: "unknown option", line: "a@b no-touch-required " + k, wantErr: "unsupported option"},
		{name: "bad date", line: `a@b valid-after="2026-01-01" ` + k, wantErr: "valid-after"},
		{name: "unquoted value", line: `a@b namespaces=git ` + k, wantErr: "double quotes"},
		{name: "namespaces without value", line: `a@b namespaces ` + k, wantErr: "needs a value"},
		{name: "no key", line: "alice@example.com", wantErr: "found only"},
		{name: "garbage key", line: "alice@example.com ssh-ed25519 AAAAnotakey", wantErr: "key"},
		{name: "unterminated quote", line: `"alice@example.com ` + k, wantErr: "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAllowedSigners([]byte("# comment\n\n  "+tt.line+"\n"), "signers")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "signers:3:") {
					t.Fatalf("err = %v, want one at signers:3 containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Fatalf("= %+v, %v", got, err)
			}
			g := got[0]
			if g.line != 3 || string(g.key.Marshal()) != string(key.Marshal()) {
				t.Errorf("line %d, key %v", g.line, g.key)
			}
			g.key, g.line = nil, 0
			if g.principals != tt.want.principals || g.namespaces != tt.want.namespaces || g.certAuthority != tt.want.certAuthority ||
				!g.validAfter.Equal(tt.want.validAfter) || !g.validBefore.Equal(tt.want.validBefore) {
				t.Errorf("= %+v, want %+v", g, tt.want)
			}
		})
	}
}

func TestMatchPatternList(t *testing.T) {
	tests := []struct {
		s, list string
		want    bool
	}{
		{"git", "git", true},
		{"git", "file", false},
		{"git", "file,git", true},
		{"git", "*", true},
		{"git", "g?t", true},
		{"git", "g*", true},
		{"git", "*t", true},
		{"git", "gi", false},
		{"git", "gitx", false},
		{"git", "*,!git", false},
		{"git", "!file", false}, // a negation alone matches nothing
		{"git", "!file,*", true},
		{"", "*", true},
		{"git", "", false},
	}
	for _, tt := range tests {
		if got := matchPatternList(tt.s, tt.list); got != tt.want {
			t.Errorf("matchPatternList(%q, %q) = %v, want %v", tt.s, tt.list, got, tt.want)
		}
	}
}

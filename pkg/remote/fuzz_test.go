package remote

import (
	"crypto/ed25519"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzKnownHosts feeds arbitrary known_hosts files (an operator's, or one
// trust on first use appended to) to the host key checker: it must never
// panic, and when the file also lists a host's key that nothing revokes,
// that key is accepted for the host and another key refused.
func FuzzKnownHosts(f *testing.F) {
	key := fuzzKey(f, 1)
	other := fuzzKey(f, 2)
	line := "[10.0.0.1]:2222 " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	f.Add("")
	f.Add(line + "\n")
	f.Add("# comment\n|1|c2FsdA==|aGFzaA== " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other))) + "\n")
	f.Add("@cert-authority *.example.com " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other))) + "\n")
	f.Add("@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n")
	f.Add("10.0.0.*,!10.0.0.2 " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other))) + "\n")
	f.Fuzz(func(t *testing.T, data string) {
		file := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(file, []byte(data+"\n"+line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := loadHostKeys(file, false)
		if err != nil {
			return
		}
		addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 2222}
		_ = h.algorithms("10.0.0.1:2222")
		err = h.callback("10.0.0.1:2222", addr, key, "")
		if err != nil && !strings.Contains(data, "@revoked") {
			t.Fatalf("the listed key is refused: %v", err)
		}
		if h.callback("10.0.0.1:2222", addr, other, "") == nil && !strings.Contains(data, "@cert-authority") &&
			strings.Contains(data, "[10.0.0.1]:2222") == false && !strings.ContainsAny(data, "*?|") {
			t.Fatalf("a key not listed for the host is accepted")
		}
	})
}

func fuzzKey(f *testing.F, seed byte) ssh.PublicKey {
	f.Helper()
	priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+seed)), ed25519.SeedSize)))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		f.Fatal(err)
	}
	return pub
}

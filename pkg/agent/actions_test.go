package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// TestUIToken: actions are off without a token, and never on where the
// token would cross a network in the clear (a listener not loopback,
// without TLS).
func TestUIToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(good, []byte("0123456789abcdef-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, listen string
		tls          bool
		want         string // "" : a token; else the error contains it
		off          bool
	}{
		{"", "0.0.0.0:9180", false, "", true},
		{"", "0.0.0.0:9180", true, "", true},
		{good, "127.0.0.1:9180", false, "", false},
		{good, "[::1]:9180", false, "", false},
		{good, "localhost:9180", false, "", false},
		{good, "127.0.0.1:9180", true, "", false},
		{good, "0.0.0.0:9180", false, "non-loopback listener 0.0.0.0:9180 (--listen) without TLS", false},
		{good, ":9180", false, "non-loopback listener :9180", false},
		{good, "10.0.0.5:9180", false, "tls_cert_file and tls_key_file", false},
		{good, "ferry.example.com:9180", false, "non-loopback", false},
		{good, "0.0.0.0:9180", true, "", false},
		{good, "10.0.0.5:9180", true, "", false},
		{good, "", false, "--listen is empty", false},
		{good, "", true, "--listen is empty", false},
		{short, "127.0.0.1:9180", false, "shorter than 16", false},
		{filepath.Join(dir, "none"), "127.0.0.1:9180", false, "no such file", false},
	} {
		tok, err := uiToken(tc.file, tc.listen, tc.tls)
		switch {
		case tc.want != "":
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "[agent.ui] token_file") {
				t.Errorf("uiToken(%q, %q, tls %v) = %v; want an error naming [agent.ui] token_file with %q", tc.file, tc.listen, tc.tls, err, tc.want)
			}
		case err != nil:
			t.Errorf("uiToken(%q, %q, tls %v): %v", tc.file, tc.listen, tc.tls, err)
		case tc.off != (tok == nil):
			t.Errorf("uiToken(%q, %q, tls %v) = %q; want actions off: %v", tc.file, tc.listen, tc.tls, tok, tc.off)
		}
	}
}

func TestListenerTLS(t *testing.T) {
	cert := testutil.WriteTLSCert(t)
	for _, tc := range []struct {
		name string
		ui   config.AgentUI
		on   bool
		want string // "": no error; else the error contains it
	}{
		{"off", config.AgentUI{}, false, ""},
		{"on", config.AgentUI{TLSCertFile: cert.CertFile, TLSKeyFile: cert.KeyFile}, true, ""},
		{"cert only", config.AgentUI{TLSCertFile: cert.CertFile}, false, "both tls_cert_file and tls_key_file"},
		{"key only", config.AgentUI{TLSKeyFile: cert.KeyFile}, false, "both tls_cert_file and tls_key_file"},
		{"swapped", config.AgentUI{TLSCertFile: cert.KeyFile, TLSKeyFile: cert.CertFile}, false, "[agent.ui] tls_cert_file " + cert.KeyFile},
		{"missing", config.AgentUI{TLSCertFile: cert.CertFile + ".gone", TLSKeyFile: cert.KeyFile}, false, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := listenerTLS(tc.ui)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("listenerTLS: %v; want an error with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c != nil) != tc.on {
				t.Fatalf("TLS on: %v; want %v", c != nil, tc.on)
			}
			if c != nil && (len(c.Certificates) != 1 || c.MinVersion < 0x0303) {
				t.Errorf("TLS config: %d certificates, min version %#x", len(c.Certificates), c.MinVersion)
			}
		})
	}
}

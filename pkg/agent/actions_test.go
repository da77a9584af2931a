package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
		want         string // "" : a token; else the error contains it
		off          bool
	}{
		{"", "0.0.0.0:9180", "", true},
		{good, "127.0.0.1:9180", "", false},
		{good, "[::1]:9180", "", false},
		{good, "localhost:9180", "", false},
		{good, "0.0.0.0:9180", "non-loopback listener 0.0.0.0:9180 (--listen)", false},
		{good, ":9180", "non-loopback listener :9180", false},
		{good, "10.0.0.5:9180", "non-loopback", false},
		{good, "", "--listen is empty", false},
		{short, "127.0.0.1:9180", "shorter than 16", false},
		{filepath.Join(dir, "none"), "127.0.0.1:9180", "no such file", false},
	} {
		tok, err := uiToken(tc.file, tc.listen)
		switch {
		case tc.want != "":
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "[agent.ui] token_file") {
				t.Errorf("uiToken(%q, %q) = %v; want an error naming [agent.ui] token_file with %q", tc.file, tc.listen, err, tc.want)
			}
		case err != nil:
			t.Errorf("uiToken(%q, %q): %v", tc.file, tc.listen, err)
		case tc.off != (tok == nil):
			t.Errorf("uiToken(%q, %q) = %q; want actions off: %v", tc.file, tc.listen, tok, tc.off)
		}
	}
}

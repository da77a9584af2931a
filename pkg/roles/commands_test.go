package roles

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The default secrets_changed hook's first command, run by the real sh with
// /etc/app moved to a temporary directory (and without sudo, or chown
// when not root): the file gets exactly stdin, mode 0600 over an older
// world-readable one, and no temporary file is left behind.
func TestDefaultSecretsHookWritesTheFile(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := filepath.Join(t.TempDir(), "etc-app")
	line := Defaults()[Web][SecretsChanged][0]
	line = strings.ReplaceAll(line, "/etc/app", dir)
	line = strings.TrimPrefix(line, "sudo ")
	if os.Geteuid() != 0 {
		line = strings.Replace(line, `chown root:root "$t" && `, "", 1)
	}
	if !strings.Contains(line, dir+"/secrets.env") {
		t.Fatalf("the command does not write SecretsFile: %s", line)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "secrets.env")
	if err := os.WriteFile(file, []byte("OLD=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const stdin = "API_TOKEN=tok-1\nDB_PASSWORD=pw with spaces '\"$x\n"
	cmd := exec.Command(sh, "-c", line)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != stdin {
		t.Fatalf("secrets file %q (%v), want stdin", b, err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("left in the directory: %v (%v)", entries, err)
	}
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesCheckedBeforeAnythingIsWritten: a config naming a secret file
// that is missing, or that others can read, stops ferry validate and
// ferry run with the file's place in the config, and ferry run has
// created neither the state dir nor the mirror.
func TestFilesCheckedBeforeAnythingIsWritten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    os.FileMode // 0: the file does not exist
		wantMsg string
	}{
		{name: "missing", wantMsg: "does not exist"},
		{name: "readable by others", mode: 0o644, wantMsg: "permissions 0644"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			secret := filepath.Join(dir, "webhook-secret")
			if tc.mode != 0 {
				if err := os.WriteFile(secret, []byte("s3cret\n"), tc.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(secret, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			state := filepath.Join(dir, "state")
			config := filepath.Join(dir, "ferry.toml")
			doc := fmt.Sprintf(`[project]
name = "shop"
state_dir = %q

[project.git]
url = "file:///srv/git/shop.git"

[project.git.webhook]
secret_file = %q

[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = "shop-staging-web"
load_balancers.classic = ["shop-staging"]
ssh.user = "deploy"
ssh.trust_on_first_use = true
`, state, secret)
			if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			want := config + ":9: project.git.webhook.secret_file: " + secret
			for _, args := range [][]string{{"validate", "-c", config}, {"run", "-c", config, "--listen", ""}} {
				code, _, stderr := runFerry(t, args...)
				if code != exitFailure || !strings.Contains(stderr, want) || !strings.Contains(stderr, tc.wantMsg) {
					t.Errorf("ferry %s: exit %d, stderr:\n%s\nwant exit %d and %q ... %q", args[0], code, stderr, exitFailure, want, tc.wantMsg)
				}
				if strings.Contains(stderr, "s3cret") {
					t.Errorf("ferry %s printed the secret:\n%s", args[0], stderr)
				}
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("ferry run wrote its state dir before refusing the config: %v", err)
			}
		})
	}
}

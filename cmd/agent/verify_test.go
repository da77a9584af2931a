package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// TestDeployRefusesUnsignedCommits: with verify = "head", an unsigned commit
// is refused (the note says why) and a commit signed by a trusted SSH key
// deploys. The signing is done by the git CLI, as a developer would.
func TestDeployRefusesUnsignedCommits(t *testing.T) {
	keygen := testutil.RequireTool(t, "ssh-keygen")
	p := newProject(t, 1)
	dir := t.TempDir()
	key := filepath.Join(dir, "dev")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "dev", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(signers, []byte("dev@example.com "+string(pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(data), "branch = \"staging\"\n", "branch = \"staging\"\nverify = \"head\"\ntrusted_keys.ssh_allowed_signers = \""+signers+"\"\n", 1)
	if err := os.WriteFile(p.config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}

	unsigned := p.push("Unsigned change", map[string]string{"app.py": "2\n"})
	code, _, stderr := runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "signature") {
		t.Fatalf("unsigned commit: exit %d\n%s", code, stderr)
	}
	note, err := execGit(p.remote, "notes", "--ref=ferry", "show", unsigned)
	if err != nil || !strings.Contains(note, "outcome: refused") || !strings.Contains(note, "reason: signature:") {
		t.Errorf("the refusal is not in the note (%v):\n%s", err, note)
	}

	code, out, _ := runFerry(t, "status", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(out, "refused") || !strings.Contains(out, "signature:") {
		t.Errorf("ferry status does not show the refusal: exit %d\n%s", code, out)
	}

	if err := os.WriteFile(filepath.Join(p.work.Dir, "app.py"), []byte("3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.work.Git("add", "app.py")
	p.work.Git("-c", "gpg.format=ssh", "-c", "user.signingkey="+key, "commit", "-q", "-S", "-m", "Signed change")
	signed := p.work.Git("rev-parse", "HEAD")
	p.work.Git("push", "-q", "origin", "main:staging")
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitOK || !strings.Contains(stdout, "succeeded "+signed[:12]) {
		t.Fatalf("signed commit: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

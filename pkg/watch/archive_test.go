package watch_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	git "github.com/go-git/go-git/v5"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/watch"
	"github.com/go-git/go-git/v5/plumbing"
)

// TestWriteTreeMatchesGitArchive unpacks Ferry's tar stream of a commit
// with tar(1) and compares it with git archive's of the same commit:
// the same files, contents, modes and links, and nothing of .git.
func TestWriteTreeMatchesGitArchive(t *testing.T) {
	testutil.RequireTool(t, "tar")
	repo := testutil.NewGitRepo(t)
	repo.Commit("first", map[string]string{"index.html": "<h1>v1</h1>\n", "static/site.css": "body{}\n", "old.txt": "gone later\n"})
	if err := os.MkdirAll(filepath.Join(repo.Dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo.Dir, "bin", "build"), []byte("#!/bin/sh\necho built\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("static/site.css", filepath.Join(repo.Dir, "site.css")); err != nil {
		t.Fatal(err)
	}
	repo.Git("add", "bin/build", "site.css")
	sha := repo.Commit("second", map[string]string{"old.txt": "", "deep/a/b/c.txt": "deep\n"})
	c := plumbing.NewHash(sha)

	r, err := git.PlainOpen(repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var ours bytes.Buffer
	if err := watch.WriteTree(r, c, &ours); err != nil {
		t.Fatal(err)
	}

	a, b := t.TempDir(), t.TempDir()
	untar(t, a, &ours)
	archive := testutil.GitCommand(repo.Dir, "archive", "--format=tar", sha)
	out, err := archive.Output()
	if err != nil {
		t.Fatal(err)
	}
	untar(t, b, bytes.NewReader(out))
	if diff, err := exec.Command("diff", "-r", "--no-dereference", a, b).CombinedOutput(); err != nil {
		t.Fatalf("Ferry's tree differs from git archive's: %v\n%s", err, diff)
	}
	for _, check := range []struct {
		path string
		mode os.FileMode
	}{{"bin/build", 0o755}, {"index.html", 0o644}} {
		fi, err := os.Stat(filepath.Join(a, check.path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != check.mode {
			t.Errorf("%s: mode %v, want %v", check.path, fi.Mode().Perm(), check.mode)
		}
	}
	if target, err := os.Readlink(filepath.Join(a, "site.css")); err != nil || target != "static/site.css" {
		t.Errorf("site.css: link to %q (%v), want static/site.css", target, err)
	}
	for _, absent := range []string{"old.txt", ".git"} {
		if _, err := os.Lstat(filepath.Join(a, absent)); !os.IsNotExist(err) {
			t.Errorf("%s is in the tree (%v)", absent, err)
		}
	}
}

func untar(t *testing.T, dir string, r interface{ Read([]byte) (int, error) }) {
	t.Helper()
	// -p: the modes as archived, whatever the umask (tar applies it for a
	// user other than root).
	cmd := exec.Command("tar", "-x", "-p", "-C", dir, "-f", "-")
	cmd.Stdin = r
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
}

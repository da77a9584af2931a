package testutil_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// TestGitEnvNeverReachesTheEnclosingRepository: with a GIT_DIR inherited
// from the environment and the working directory inside another
// repository, as when the tests run from a hook or inside Ferry's own
// checkout, git commands of the helpers touch neither.
func TestGitEnvNeverReachesTheEnclosingRepository(t *testing.T) {
	testutil.RequireTool(t, "git")
	outer := t.TempDir()
	if out, err := testutil.GitCommand(outer, "init", "-q", "-b", "main").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	config := filepath.Join(outer, ".git", "config")
	before, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(outer, "pkg", "watch")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pkg)
	t.Setenv("GIT_DIR", filepath.Join(outer, ".git"))
	t.Setenv("GIT_WORK_TREE", outer)

	// Without a directory of its own, git finds no repository.
	if out, err := testutil.GitCommand("", "rev-parse", "--git-dir").CombinedOutput(); err == nil {
		t.Errorf("git rev-parse in the package directory found a repository: %s", out)
	}
	// `git init --bare` without a path, the command that once set
	// core.bare in the checkout, initialises the working directory only.
	if out, err := testutil.GitCommand("", "init", "-q", "--bare").CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v\n%s", err, out)
	}
	testutil.InitBareRepo(t, filepath.Join(t.TempDir(), "remote.git"))
	r := testutil.NewGitRepo(t)
	r.Commit("one", map[string]string{"a": "1\n"})

	after, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("the enclosing repository's config changed:\n%s", after)
	}
	if strings.Contains(string(after), "bare = true") {
		t.Error("the enclosing repository became bare")
	}
}

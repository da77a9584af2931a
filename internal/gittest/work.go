package gittest

import (
	"os"
	"path/filepath"
	"testing"
)

// Work is a working clone that a test commits in and pushes from with the git
// CLI, as a person would.
type Work struct {
	t   testing.TB
	Dir string
	env []string
}

// NewWork clones remoteURL (which may be empty) into a fresh directory. Extra
// environment (e.g. GIT_SSH_COMMAND) is used for every git command.
func NewWork(t testing.TB, remoteURL string, env ...string) *Work {
	t.Helper()
	w := &Work{t: t, Dir: filepath.Join(t.TempDir(), "work"), env: env}
	w.git("", "init", "-q", "-b", "main", w.Dir)
	if remoteURL != "" {
		w.Git("remote", "add", "origin", remoteURL)
	}
	return w
}

// Git runs git in the working clone and returns its output.
func (w *Work) Git(args ...string) string {
	w.t.Helper()
	return w.git(w.Dir, args...)
}

func (w *Work) git(dir string, args ...string) string {
	w.t.Helper()
	out, err := RunGit(w.t.Context(), dir, w.env, args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// Commit writes files (path → content), commits them with msg and returns
// the new commit's full hash.
func (w *Work) Commit(msg string, files map[string]string) string {
	w.t.Helper()
	for name, content := range files {
		p := filepath.Join(w.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	w.Git("add", "-A")
	w.Git("commit", "-q", "--allow-empty", "-m", msg)
	return w.Git("rev-parse", "HEAD")
}

// Push runs git push origin with args (e.g. "main", "--force", "v1.0.0").
func (w *Work) Push(args ...string) {
	w.t.Helper()
	w.Git(append([]string{"push", "-q", "origin"}, args...)...)
}

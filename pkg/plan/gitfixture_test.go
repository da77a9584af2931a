package plan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// gitRepo is a real repository driven with the git CLI. It implements
// plan.Repo the way git itself answers each question, so the planner's
// rules are tested against git's own view of history.
type gitRepo struct {
	t   *testing.T
	dir string
	n   int
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	testutil.RequireTool(t, "git")
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

func (r *gitRepo) run(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	// Fixed identities and dates make commit ids, and so golden files,
	// the same on every run.
	date := fmt.Sprintf("2026-11-0%d 12:00:00 +0000", 1+r.n%9)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// commit writes files (path → content; empty content deletes) and commits
// them with message, returning the new commit's id.
func (r *gitRepo) commit(message string, files map[string]string) string {
	r.t.Helper()
	r.n++
	for path, content := range files {
		full := filepath.Join(r.dir, path)
		if content == "" {
			r.git("rm", "-q", path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.git("add", path)
	}
	r.git("commit", "-q", "--allow-empty", "-m", message)
	return r.git("rev-parse", "HEAD")
}

func (r *gitRepo) HasCommit(_ context.Context, commit string) (bool, error) {
	_, err := r.run("cat-file", "-e", commit+"^{commit}")
	return err == nil, nil
}

func (r *gitRepo) ReadFile(_ context.Context, commit, path string) ([]byte, error) {
	out, err := r.run("show", commit+":"+path)
	if err != nil {
		if strings.Contains(out, "does not exist") || strings.Contains(out, "exists on disk, but not in") {
			return nil, fs.ErrNotExist
		}
		return nil, errors.New(out)
	}
	return []byte(out), nil
}

func (r *gitRepo) ChangedPaths(_ context.Context, from, to string) ([]string, error) {
	out, err := r.run("diff", "--name-only", from, to)
	if err != nil {
		return nil, errors.New(out)
	}
	return strings.Fields(out), nil
}

func (r *gitRepo) CommitMessages(_ context.Context, from, to string) (map[string]string, error) {
	out, err := r.run("log", "--format=%H%x00%B%x01", from+".."+to)
	if err != nil {
		return nil, errors.New(out)
	}
	msgs := map[string]string{}
	for _, rec := range strings.Split(out, "\x01") {
		sha, msg, ok := strings.Cut(strings.TrimLeft(rec, "\n"), "\x00")
		if ok {
			msgs[sha] = msg
		}
	}
	return msgs, nil
}

func (r *gitRepo) IsAncestor(_ context.Context, ancestor, descendant string) (bool, error) {
	_, err := r.run("merge-base", "--is-ancestor", ancestor, descendant)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false, nil
	}
	return err == nil, err
}

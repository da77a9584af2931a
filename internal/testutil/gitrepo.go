package testutil

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

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// GitRepo is a real repository driven with the git CLI. It implements
// plan.Repo the way git itself answers each question, so the planner's
// rules are tested against git's own view of history.
type GitRepo struct {
	t testing.TB
	// Dir is the work tree.
	Dir string
	n   int
}

// NewGitRepo initialises a repository on branch main in a temp dir.
func NewGitRepo(t testing.TB) *GitRepo {
	t.Helper()
	RequireTool(t, "git")
	r := &GitRepo{t: t, Dir: t.TempDir()}
	r.Git("init", "-q", "-b", "main")
	return r
}

// Git runs git in the repository and fails the test on error.
func (r *GitRepo) Git(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

func (r *GitRepo) run(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	// Fixed identities and dates make commit ids, and so golden files,
	// the same on every run.
	date := fmt.Sprintf("2026-11-0%d 12:00:00 +0000", 1+r.n%9)
	cmd.Env = append(GitEnv(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Commit writes files (path → content; empty content deletes) and commits
// them with message, returning the new commit's id.
func (r *GitRepo) Commit(message string, files map[string]string) string {
	r.t.Helper()
	r.n++
	for path, content := range files {
		full := filepath.Join(r.Dir, path)
		if content == "" {
			r.Git("rm", "-q", path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.Git("add", path)
	}
	r.Git("commit", "-q", "--allow-empty", "-m", message)
	return r.Git("rev-parse", "HEAD")
}

// known returns a *plan.UnknownCommitError for the first of commits the
// repository does not hold, as plan.Repo's implementations must.
func (r *GitRepo) known(commits ...commit.ID) error {
	for _, c := range commits {
		if _, err := r.run("cat-file", "-e", c.String()+"^{commit}"); err != nil {
			return &plan.UnknownCommitError{Commit: c}
		}
	}
	return nil
}

func (r *GitRepo) ReadFile(_ context.Context, c commit.ID, path string) ([]byte, error) {
	if err := r.known(c); err != nil {
		return nil, err
	}
	out, err := r.run("show", c.String()+":"+path)
	if err != nil {
		if strings.Contains(out, "does not exist") || strings.Contains(out, "exists on disk, but not in") {
			return nil, fs.ErrNotExist
		}
		return nil, errors.New(out)
	}
	return []byte(out), nil
}

func (r *GitRepo) ChangedPaths(_ context.Context, from, to commit.ID) ([]string, error) {
	if err := r.known(from, to); err != nil {
		return nil, err
	}
	out, err := r.run("diff", "--name-only", from.String(), to.String())
	if err != nil {
		return nil, errors.New(out)
	}
	return strings.Fields(out), nil
}

func (r *GitRepo) CommitMessages(_ context.Context, from, to commit.ID) (map[commit.ID]string, error) {
	if err := r.known(from, to); err != nil {
		return nil, err
	}
	out, err := r.run("log", "--format=%H%x00%B%x01", from.String()+".."+to.String())
	if err != nil {
		return nil, errors.New(out)
	}
	msgs := map[commit.ID]string{}
	for _, rec := range strings.Split(out, "\x01") {
		sha, msg, ok := strings.Cut(strings.TrimLeft(rec, "\n"), "\x00")
		if !ok {
			continue
		}
		id, err := commit.Parse(sha)
		if err != nil {
			return nil, err
		}
		msgs[id] = msg
	}
	return msgs, nil
}

func (r *GitRepo) IsAncestor(_ context.Context, ancestor, descendant commit.ID) (bool, error) {
	if err := r.known(ancestor, descendant); err != nil {
		return false, err
	}
	_, err := r.run("merge-base", "--is-ancestor", ancestor.String(), descendant.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false, nil
	}
	return err == nil, err
}

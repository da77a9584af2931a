// Package gittest starts real git servers on loopback for tests: git daemon,
// git http-backend behind net/http/cgi, and OpenSSH's sshd. All of them serve
// the same directory of bare repositories, so a test can push with the git
// CLI over one transport and read over another.
package gittest

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// Server is a directory of bare repositories that one or more real servers
// expose. Its zero value is not usable; call NewServer.
type Server struct {
	t    testing.TB
	root string
}

// NewServer creates an empty repository root in a temporary directory.
func NewServer(t testing.TB) *Server {
	t.Helper()
	testutil.RequireTool(t, "git")
	return &Server{t: t, root: t.TempDir()}
}

// Root is the directory holding the bare repositories.
func (s *Server) Root() string { return s.root }

// Path is the absolute path of the named bare repository.
func (s *Server) Path(name string) string { return filepath.Join(s.root, name) }

// InitRepo creates an empty bare repository (name should end in .git) that
// accepts pushes over every transport.
func (s *Server) InitRepo(name string) string {
	s.t.Helper()
	p := s.Path(name)
	Git(s.t, "", "init", "-q", "--bare", "-b", "main", p)
	Git(s.t, p, "config", "http.receivepack", "true")
	return p
}

// Git runs the git CLI in dir (or the current directory when dir is empty)
// with a fixed identity and no user or system configuration, and returns its
// trimmed standard output. It fails the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := RunGit(context.Background(), dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// RunGit is Git for callers that want the error, with extra environment.
func RunGit(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(GitEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &gitError{args: args, err: err, stderr: stderr.String()}
	}
	return strings.TrimSpace(stdout.String()), nil
}

type gitError struct {
	args   []string
	err    error
	stderr string
}

func (e *gitError) Error() string {
	return "git " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + strings.TrimSpace(e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }

// GitEnv is the environment the helpers run git with: testutil.GitEnv (no
// inherited GIT_ variables, no user or system configuration, discovery
// that never reaches the source tree) and a fixed author so commits are
// reproducible.
func GitEnv() []string {
	return append(testutil.GitEnv(),
		"GIT_AUTHOR_NAME=Test Person",
		"GIT_AUTHOR_EMAIL=person@example.com",
		"GIT_COMMITTER_NAME=Test Person",
		"GIT_COMMITTER_EMAIL=person@example.com",
	)
}

// freePort asks the kernel for a free loopback TCP port. A process started
// later binds it; the window for a clash is small and callers retry.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until addr accepts TCP connections or the process
// exits.
func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

package gittest

import (
	"strings"
	"testing"
)

// TestServersServeTheSameRepo pushes over git daemon and reads the commit back
// over HTTP (with a token) and SSH (with the host key checked) using the git
// CLI, then shows that the CLI refuses a wrong host key.
func TestServersServeTheSameRepo(t *testing.T) {
	srv := NewServer(t)
	srv.InitRepo("app.git")
	d := srv.StartDaemon()
	h := srv.StartHTTP("s3cret-token")
	ssh := srv.StartSSH()

	w := NewWork(t, d.URL("app.git"))
	want := w.Commit("first", map[string]string{"README": "hi\n"})
	w.Push("main")

	if got := Git(t, "", "ls-remote", h.URLWithToken("app.git"), "refs/heads/main"); !strings.HasPrefix(got, want) {
		t.Errorf("http ls-remote = %q, want %s", got, want)
	}
	if _, err := RunGit(t.Context(), "", nil, "ls-remote", h.URL("app.git")); err == nil {
		t.Errorf("http ls-remote without token succeeded")
	}
	if h.Requests("ls-upload-pack") == 0 {
		t.Errorf("http server counted no ref advertisement")
	}

	env := []string{"GIT_SSH_COMMAND=" + ssh.GitSSHCommand(ssh.KnownHosts())}
	got, err := RunGit(t.Context(), "", env, "ls-remote", ssh.URL("app.git"), "refs/heads/main")
	if err != nil || !strings.HasPrefix(got, want) {
		t.Errorf("ssh ls-remote = %q, %v; want %s", got, err, want)
	}
	env = []string{"GIT_SSH_COMMAND=" + ssh.GitSSHCommand(ssh.WrongKnownHosts())}
	if _, err := RunGit(t.Context(), "", env, "ls-remote", ssh.URL("app.git")); err == nil {
		t.Errorf("ssh ls-remote with a wrong host key succeeded")
	}
}

func TestDaemonStopRestart(t *testing.T) {
	srv := NewServer(t)
	srv.InitRepo("app.git")
	d := srv.StartDaemon()
	w := NewWork(t, d.URL("app.git"))
	w.Commit("first", nil)
	w.Push("main")
	d.Stop()
	if _, err := RunGit(t.Context(), "", nil, "ls-remote", d.URL("app.git")); err == nil {
		t.Fatal("ls-remote to a stopped daemon succeeded")
	}
	d.Restart()
	Git(t, "", "ls-remote", d.URL("app.git"))
}

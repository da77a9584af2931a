package gittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// SSHServer is a real OpenSSH sshd (internal/sshtest) on a free loopback
// port whose one authorized key may only run git-shell, as on a git
// hosting server.
type SSHServer struct {
	srv *Server
	ssh *sshtest.Server

	// ClientKey is the private key file authorized to log in.
	ClientKey string
}

// StartSSH starts sshd for the rest of the test. It skips (or fails under
// CI=true) when sshd, ssh-keygen, ssh or git-shell are missing.
func (s *Server) StartSSH() *SSHServer {
	s.t.Helper()
	testutil.RequireTool(s.t, "ssh") // tests push with the git CLI over ssh
	testutil.RequireTool(s.t, "git-shell")
	ssh := sshtest.Start(s.t, sshtest.Options{
		KeyOptions: `command="git-shell -c \"$SSH_ORIGINAL_COMMAND\"",no-port-forwarding,no-pty,no-agent-forwarding,no-X11-forwarding`,
	})
	return &SSHServer{srv: s, ssh: ssh, ClientKey: ssh.ClientKey}
}

// Addr is sshd's host:port.
func (h *SSHServer) Addr() string { return h.ssh.Addr(0) }

// URL is the ssh:// URL of the named repository (an absolute path, since
// git-shell has no base path).
func (h *SSHServer) URL(name string) string {
	return fmt.Sprintf("ssh://%s@%s%s", h.ssh.User, h.Addr(), h.srv.Path(name))
}

// KnownHosts writes a known_hosts file that trusts the server's host key and
// returns its path.
func (h *SSHServer) KnownHosts() string {
	return h.writeKnownHosts(h.ssh.KnownHostsLine(0))
}

// WrongKnownHosts writes a known_hosts file that lists a different key for
// the server's address, as after a host key change or a man in the middle.
func (h *SSHServer) WrongKnownHosts() string {
	other := filepath.Join(h.srv.t.TempDir(), "other_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gittest", "-f", other).CombinedOutput()
	if err != nil {
		h.srv.t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(other + ".pub")
	if err != nil {
		h.srv.t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	return h.writeKnownHosts(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", h.ssh.Port, fields[0], fields[1]))
}

func (h *SSHServer) writeKnownHosts(line string) string {
	f, err := os.CreateTemp(h.srv.t.TempDir(), "known_hosts")
	if err != nil {
		h.srv.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		h.srv.t.Fatal(err)
	}
	return f.Name()
}

// GitSSHCommand is a GIT_SSH_COMMAND value for the git CLI that logs in with
// the client key and checks the host key against knownHosts.
func (h *SSHServer) GitSSHCommand(knownHosts string) string {
	// -F none: the invoking user's ~/.ssh/config (a ProxyJump, a
	// ControlMaster) has no say in a test.
	return fmt.Sprintf("ssh -F none -i %s -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null", h.ClientKey, knownHosts)
}

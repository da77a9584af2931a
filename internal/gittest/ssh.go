package gittest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// SSHServer is an OpenSSH sshd started by the test with its own
// configuration, host key and authorized_keys on a free loopback port. The
// one authorized key may only run git-shell, as on a git hosting server.
type SSHServer struct {
	srv  *Server
	dir  string
	port int
	user string

	// ClientKey is the private key file authorized to log in.
	ClientKey string
	// HostKey is the server's private host key file.
	HostKey string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited <-chan struct{}
}

// StartSSH starts sshd. It skips (or fails under CI=true) when sshd,
// ssh-keygen, ssh or git-shell are missing.
func (s *Server) StartSSH() *SSHServer {
	s.t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		sshd = testutil.RequireTool(s.t, "sshd")
	}
	testutil.RequireTool(s.t, "ssh-keygen")
	testutil.RequireTool(s.t, "ssh") // tests push with the git CLI over ssh
	testutil.RequireTool(s.t, "git-shell")
	u, err := user.Current()
	if err != nil {
		s.t.Fatalf("current user: %v", err)
	}
	if u.Uid == "0" {
		// sshd running as root insists on its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			s.t.Fatalf("privsep dir: %v", err)
		}
	}
	dir := s.t.TempDir()
	h := &SSHServer{srv: s, dir: dir, user: u.Username,
		ClientKey: filepath.Join(dir, "client_ed25519"),
		HostKey:   filepath.Join(dir, "host_ed25519"),
	}
	keygen(s, h.ClientKey)
	keygen(s, h.HostKey)
	pub, err := os.ReadFile(h.ClientKey + ".pub")
	if err != nil {
		s.t.Fatal(err)
	}
	auth := `command="git-shell -c \"$SSH_ORIGINAL_COMMAND\"",no-port-forwarding,no-pty,no-agent-forwarding,no-X11-forwarding ` + string(pub)
	writeFile(s, filepath.Join(dir, "authorized_keys"), auth, 0o600)
	for range 3 {
		h.port = freePort(s.t)
		if err = h.start(sshd); err == nil {
			s.t.Cleanup(h.Stop)
			return h
		}
	}
	s.t.Fatalf("sshd: %v", err)
	return nil
}

func (h *SSHServer) start(sshd string) error {
	cfg := filepath.Join(h.dir, "sshd_config")
	writeFile(h.srv, cfg, strings.Join([]string{
		"Port " + strconv.Itoa(h.port),
		"ListenAddress 127.0.0.1",
		"HostKey " + h.HostKey,
		"AuthorizedKeysFile " + filepath.Join(h.dir, "authorized_keys"),
		"PidFile " + filepath.Join(h.dir, "sshd.pid"),
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"AllowTcpForwarding no",
		"X11Forwarding no",
		"PrintMotd no",
		"LogLevel ERROR",
		"",
	}, "\n"), 0o600)
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	exited, err := startGroup(cmd, h.dir)
	if err != nil {
		return err
	}
	if !waitListening(h.Addr(), exited, 10*time.Second) {
		killGroup(cmd, exited)
		log, _ := os.ReadFile(cmd.Stderr.(*os.File).Name())
		return fmt.Errorf("sshd not listening on %s: %s", h.Addr(), log)
	}
	h.mu.Lock()
	h.cmd, h.exited = cmd, exited
	h.mu.Unlock()
	return nil
}

// Stop kills sshd.
func (h *SSHServer) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		return
	}
	killGroup(h.cmd, h.exited)
	h.cmd = nil
}

// Addr is sshd's host:port.
func (h *SSHServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port)) }

// URL is the ssh:// URL of the named repository (an absolute path, since
// git-shell has no base path).
func (h *SSHServer) URL(name string) string {
	return fmt.Sprintf("ssh://%s@%s%s", h.user, h.Addr(), h.srv.Path(name))
}

// KnownHosts writes a known_hosts file that trusts the server's host key and
// returns its path.
func (h *SSHServer) KnownHosts() string {
	return h.knownHosts(h.HostKey + ".pub")
}

// WrongKnownHosts writes a known_hosts file that lists a different key for
// the server's address, as after a host key change or a man in the middle.
func (h *SSHServer) WrongKnownHosts() string {
	other := filepath.Join(h.srv.t.TempDir(), "other_ed25519")
	keygen(h.srv, other)
	return h.knownHosts(other + ".pub")
}

func (h *SSHServer) knownHosts(pubFile string) string {
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		h.srv.t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	line := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", h.port, fields[0], fields[1])
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
	return fmt.Sprintf("ssh -i %s -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s", h.ClientKey, knownHosts)
}

func keygen(s *Server, file string) {
	s.t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gittest", "-f", file).CombinedOutput()
	if err != nil {
		s.t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
}

func writeFile(s *Server, name, content string, mode os.FileMode) {
	s.t.Helper()
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		s.t.Fatal(err)
	}
}

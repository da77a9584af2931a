package remote_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// stallingServer is an SSH server whose first stall connections take the
// login and then never answer a channel open, as sshd does while PAM's
// session (pam_systemd asking a booting instance's logind) has not opened;
// later connections run exec requests with /bin/sh -c and report their
// exit status (RFC 4254 6.5, 6.10). OpenSSH cannot be made to stall there
// on demand, hence this server.
type stallingServer struct {
	l       net.Listener
	hostKey ssh.Signer
	stall   int32
	conns   atomic.Int32
	// held gets a value for each channel open a stalling connection holds.
	held chan struct{}
}

func newStallingServer(t *testing.T, stall int32) *stallingServer {
	t.Helper()
	signer := testutil.NewSSHSigner(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stallingServer{l: l, hostKey: signer, stall: stall, held: make(chan struct{}, 16)}
	t.Cleanup(func() { l.Close() })
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(signer)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go s.serve(c, cfg)
		}
	}()
	return s
}

func (s *stallingServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	if s.conns.Add(1) <= s.stall {
		for range chans { // held: neither confirmed nor refused
			select {
			case s.held <- struct{}{}:
			default:
			}
		}
		return
	}
	for nc := range chans {
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "exec" {
					req.Reply(false, nil)
					continue
				}
				var p struct{ Command string }
				if err := ssh.Unmarshal(req.Payload, &p); err != nil {
					req.Reply(false, nil)
					return
				}
				req.Reply(true, nil)
				cmd := exec.Command("/bin/sh", "-c", p.Command)
				cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
				cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
				code := 0
				if err := cmd.Run(); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						code = 127
					} else {
						code = ee.ExitCode()
					}
				}
				status := make([]byte, 4)
				binary.BigEndian.PutUint32(status, uint32(code))
				ch.SendRequest("exit-status", false, status)
				return
			}
		}()
	}
}

// runnerFor is a Runner for the stalling server, its host key known.
func (s *stallingServer) runnerFor(t *testing.T, connectTimeout, bootWait time.Duration) (*remote.Runner, remote.Host, *testutil.Buffer, string) {
	t.Helper()
	cfg, h := s.configFor(t, connectTimeout, bootWait)
	logBuf := &testutil.Buffer{}
	r, err := remote.New(cfg, slog.New(slog.NewTextHandler(logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	path, err := cfg.Logs.Path(h.Role, h.Instance)
	if err != nil {
		t.Fatal(err)
	}
	return r, h, logBuf, path
}

// configFor is a Runner's Config for the stalling server, its host key
// known at the server's own port, and the Host to run on.
func (s *stallingServer) configFor(t *testing.T, connectTimeout, bootWait time.Duration) (remote.Config, remote.Host) {
	t.Helper()
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, pemEncode(block), 0o600); err != nil {
		t.Fatal(err)
	}
	port := s.l.Addr().(*net.TCPAddr).Port
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(s.knownHostsLine(port)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := remote.Config{
		User: "admin", Port: port, KeyFile: key, KnownHosts: kh,
		ConnectTimeout: connectTimeout, CommandTimeout: 30 * time.Second, KillGrace: 500 * time.Millisecond,
		BootWait: bootWait, BootRetry: 100 * time.Millisecond, KeepAlive: time.Hour,
		Logs: remote.Logs{Root: filepath.Join(dir, "logs"), Env: "staging", DeployID: "d1"},
	}
	return cfg, remote.Host{Addr: "127.0.0.1", Instance: "i-new", Role: roles.Web}
}

// knownHostsLine trusts the server's host key at 127.0.0.1:port (its own
// port, or a link's to it).
func (s *stallingServer) knownHostsLine(port int) string {
	return fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(s.hostKey.PublicKey()))
}

func TestHostThatOpensNoSessionIsConnectedAgain(t *testing.T) {
	t.Parallel()
	s := newStallingServer(t, 2)
	r, h, logBuf, serverLog := s.runnerFor(t, 300*time.Millisecond, time.Minute)
	err := r.Run(context.Background(), h,
		remote.Command{Name: "first", Line: "echo one"},
		remote.Command{Name: "second", Line: "echo two"})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, logBuf.String())
	}
	if n := s.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3: two that opened no session, then one that ran both commands", n)
	}
	b, _ := os.ReadFile(serverLog)
	if !strings.Contains(string(b), "no session opened within 300ms; connecting again") || !strings.Contains(string(b), "one") || !strings.Contains(string(b), "two") {
		t.Errorf("the server log does not tell the stall and the commands' output:\n%s", b)
	}
}

func TestHostThatNeverOpensASessionFailsTransient(t *testing.T) {
	t.Parallel()
	s := newStallingServer(t, 1000)
	// ConnectTimeout also bounds each new connection's handshake, which
	// took over 200ms under -race on two loaded cores (the Run then ended
	// with a DialError): a second's wait, twice.
	r, h, logBuf, _ := s.runnerFor(t, time.Second, 2*time.Second)
	err := r.Run(context.Background(), h, remote.Command{Name: "first", Line: "echo one"})
	var se *remote.SessionError
	if !errors.As(err, &se) || !remote.IsTransient(err) || !strings.Contains(err.Error(), "no session opened within 1s") {
		t.Fatalf("Run = %v, want a transient SessionError naming the wait\n%s", err, logBuf.String())
	}
	if n := s.conns.Load(); n < 2 {
		t.Errorf("%d connections, want it to connect again within BootWait", n)
	}
}

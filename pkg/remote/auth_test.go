package remote_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

// serveAgent runs an in-process SSH agent holding keys on a socket in a
// temp dir and returns the socket path.
func serveAgent(t *testing.T, keys ...any) string {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return sock
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	pemBytes, err := os.ReadFile(srv.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	authorized, err := ssh.ParseRawPrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		adjust func(t *testing.T, c *remote.Config)
		// wantAuthError: the host was reached and refused the credentials.
		wantAuthError bool
	}{
		{name: "key file", adjust: func(*testing.T, *remote.Config) {}},
		{
			name: "agent",
			adjust: func(t *testing.T, c *remote.Config) {
				c.KeyFile, c.AgentSocket = "", serveAgent(t, stranger, authorized)
			},
		},
		{
			name:          "wrong user",
			adjust:        func(_ *testing.T, c *remote.Config) { c.User = "ferry-no-such-user" },
			wantAuthError: true,
		},
		{
			name:          "key file not authorized",
			adjust:        func(t *testing.T, c *remote.Config) { c.KeyFile = writeKeyFile(t, stranger) },
			wantAuthError: true,
		},
		{
			name: "agent without the authorized key",
			adjust: func(t *testing.T, c *remote.Config) {
				c.KeyFile, c.AgentSocket = "", serveAgent(t, stranger)
			},
			wantAuthError: true,
		},
		{
			name: "agent socket gone",
			adjust: func(t *testing.T, c *remote.Config) {
				c.KeyFile, c.AgentSocket = "", filepath.Join(t.TempDir(), "no-agent.sock")
			},
			wantAuthError: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, srv)
			tc.adjust(t, &f.cfg)
			h := f.host(0, "i-1")
			err := f.runner(t).Run(context.Background(), h, remote.Command{Name: "whoami", Line: "id -un"})
			if !tc.wantAuthError {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if log := f.serverLog(t, h); !strings.Contains(log, "out| "+srv.User) {
					t.Errorf("command did not run as %s:\n%s", srv.User, log)
				}
				return
			}
			var auth *remote.AuthError
			if !errors.As(err, &auth) {
				t.Fatalf("Run = %v (%T), want *remote.AuthError", err, err)
			}
			if remote.IsTransient(err) {
				t.Error("refused credentials reported transient")
			}
			if !strings.Contains(err.Error(), f.cfg.User+"@"+srv.Addr(0)) {
				t.Errorf("error %q does not name user@host", err)
			}
		})
	}
}

func TestNewRejectsUnusableKeyFile(t *testing.T) {
	t.Parallel()
	// A passphrase-protected key, as ssh-keygen writes it (quicker than
	// x/crypto's bcrypt under the race detector).
	encrypted := filepath.Join(t.TempDir(), "id_encrypted")
	keygen := testutil.RequireTool(t, "ssh-keygen")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "hunter22", "-f", encrypted).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name, keyFile, want string
	}{
		{"passphrase", encrypted, "ssh-agent"},
		{"missing", filepath.Join(t.TempDir(), "nope"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := remote.Config{
				User:           "deploy",
				KeyFile:        tc.keyFile,
				KnownHosts:     filepath.Join(t.TempDir(), "known_hosts"),
				ConnectTimeout: time.Second,
				CommandTimeout: time.Second,
				Logs:           remote.Logs{Root: t.TempDir(), Env: "staging", DeployID: "d1"},
			}
			if err := os.WriteFile(cfg.KnownHosts, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := remote.New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

package remote_test

import (
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// fixture is a Runner's config aimed at one sshtest server, with the agent
// log captured.
type fixture struct {
	srv *sshtest.Server
	cfg remote.Config
	log *testutil.Buffer
}

func newFixture(t *testing.T, srv *sshtest.Server) *fixture {
	t.Helper()
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLines()), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fixture{
		srv: srv,
		cfg: remote.Config{
			User:           srv.User,
			Port:           srv.Port,
			KeyFile:        srv.ClientKey,
			KnownHosts:     kh,
			ConnectTimeout: 10 * time.Second,
			CommandTimeout: 30 * time.Second,
			KillGrace:      500 * time.Millisecond,
			Logs:           remote.Logs{Root: filepath.Join(dir, "state", "logs"), Env: "staging", DeployID: "d1"},
		},
		log: &testutil.Buffer{},
	}
}

func (f *fixture) runner(t *testing.T) *remote.Runner {
	t.Helper()
	r, err := remote.New(f.cfg, slog.New(slog.NewTextHandler(f.log, nil)))
	if err != nil {
		t.Fatalf("remote.New: %v", err)
	}
	return r
}

func (f *fixture) host(i int, instance string) remote.Host {
	return remote.Host{Addr: f.srv.Hosts[i], Instance: instance, Role: roles.Web}
}

func (f *fixture) serverLog(t *testing.T, h remote.Host) string {
	t.Helper()
	path, err := f.cfg.Logs.Path(h.Role, h.Instance)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("server log: %v", err)
	}
	return string(b)
}

// writeKeyFile writes priv (a crypto private key) as an OpenSSH key file.
func writeKeyFile(t *testing.T, priv any) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pemEncode(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }

func roleOf(s string) roles.Role { return roles.Role(s) }

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

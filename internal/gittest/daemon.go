package gittest

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// Daemon is a running `git daemon --enable=receive-pack` on 127.0.0.1.
type Daemon struct {
	srv  *Server
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited <-chan struct{}
}

// StartDaemon starts git daemon serving the server's root on a free loopback
// port. It is stopped when the test ends.
func (s *Server) StartDaemon() *Daemon {
	s.t.Helper()
	testutil.RequireTool(s.t, "git")
	d := &Daemon{srv: s}
	var err error
	for range 3 {
		d.port = freePort(s.t)
		if err = d.start(); err == nil {
			s.t.Cleanup(d.Stop)
			return d
		}
	}
	s.t.Fatalf("git daemon: %v", err)
	return nil
}

// URL is the git:// URL of the named repository.
func (d *Daemon) URL(name string) string {
	return fmt.Sprintf("git://127.0.0.1:%d/%s", d.port, name)
}

// Addr is the daemon's host:port.
func (d *Daemon) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

// Stop kills the daemon; the port then refuses connections.
func (d *Daemon) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	killGroup(d.cmd, d.exited)
	d.cmd = nil
}

// Restart starts a stopped daemon again on the same port.
func (d *Daemon) Restart() {
	d.srv.t.Helper()
	var err error
	for range 20 { // the old socket may linger for a moment
		if err = d.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.srv.t.Fatalf("restart git daemon: %v", err)
}

func (d *Daemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return nil
	}
	cmd := exec.Command(filepath.Join(d.srv.execPath(), "git-daemon"),
		"--reuseaddr", "--export-all", "--enable=receive-pack", "--informative-errors",
		"--listen=127.0.0.1", "--port="+strconv.Itoa(d.port),
		"--base-path="+d.srv.root, d.srv.root)
	cmd.Env = GitEnv()
	exited, err := startGroup(cmd, d.srv.t.TempDir())
	if err != nil {
		return err
	}
	if !waitListening(d.Addr(), exited, 10*time.Second) {
		killGroup(cmd, exited)
		return fmt.Errorf("git daemon not listening on %s", d.Addr())
	}
	d.cmd, d.exited = cmd, exited
	return nil
}

package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

// blackhole forwards TCP connections to target until frozen, then drops
// everything in both directions while keeping the connections open: what a
// terminated instance looks like from the bastion (no FIN, no RST).
type blackhole struct {
	l      net.Listener
	frozen atomic.Bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); up.Close() })
			go b.pipe(up, c)
			go b.pipe(c, up)
		}
	}()
	return b
}

func (b *blackhole) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestVanishedHostIsDroppedBeforeCommandTimeout(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	f := newFixture(t, srv)
	f.cfg.KeepAlive = 200 * time.Millisecond
	f.cfg.CommandTimeout = time.Hour // only the keepalive can end this run
	bh := newBlackhole(t, srv.Addr(0))
	// The proxy's address stands for the instance; known_hosts knows it.
	proxyPort := bh.l.Addr().(*net.TCPAddr).Port
	kh := fmt.Sprintf("[127.0.0.1]:%d %s\n", proxyPort, srv.HostPublicKey())
	if err := os.WriteFile(f.cfg.KnownHosts, []byte(kh), 0o644); err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(t.TempDir(), "started")
	h := f.host(0, "i-vanished")
	h.Addr = bh.l.Addr().String()

	done := make(chan error, 1)
	go func() {
		done <- f.runner(t).Run(context.Background(), h, remote.Command{Name: "long", Line: "echo $$ > " + started + "; exec sleep 60"})
	}()
	// The dropped connection leaves the command running on the "instance"
	// (sshd here): end it with the test.
	t.Cleanup(func() {
		if b, err := os.ReadFile(started); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	for {
		if b, err := os.ReadFile(started); err == nil && len(b) > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended before the command started: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	bh.frozen.Store(true)

	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run still waits on a host that stopped answering")
	}
	var dial *remote.DialError
	if !errors.As(err, &dial) || !remote.IsTransient(err) {
		t.Fatalf("Run = %v (%T), want a transient *remote.DialError", err, err)
	}
	if log := f.serverLog(t, h); !strings.Contains(log, "no answer from the host") {
		t.Errorf("server log does not say why the connection was dropped:\n%s", log)
	}
}

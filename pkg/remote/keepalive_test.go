package remote_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

// The tests here cut a host off as a network partition (or an instance
// terminated mid-command) does: sshtest.Link stops forwarding in both
// directions and closes nothing, so no reset tells Ferry the host is gone.

// silentHost is a fixture whose host, a real sshd, is reached through an
// sshtest.Link, by a Dialer that counts the connections Ferry has not
// closed.
type silentHost struct {
	*fixture
	link   *sshtest.Link
	dialer *countingDialer
	h      remote.Host
}

func newSilentHost(t *testing.T) *silentHost {
	t.Helper()
	srv := sshtest.Start(t, sshtest.Options{})
	f := newFixture(t, srv)
	k := sshtest.NewLink(t, srv.Addr(0))
	// The link's address stands for the instance; known_hosts knows it.
	if err := os.WriteFile(f.cfg.KnownHosts, []byte(k.KnownHostsLine(srv)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &countingDialer{}
	f.cfg.Dialer = d
	h := f.host(0, "i-silent")
	h.Addr = k.Addr()
	return &silentHost{fixture: f, link: k, dialer: d, h: h}
}

// countingDialer dials TCP and counts the connections made and those
// not closed yet.
type countingDialer struct {
	dialled, open atomic.Int32
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.dialled.Add(1)
	d.open.Add(1)
	return &countedConn{Conn: c, d: d}, nil
}

type countedConn struct {
	net.Conn
	d    *countingDialer
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.d.open.Add(-1) })
	return c.Conn.Close()
}

// startedLine is a command line that writes its shell's pid to path once
// it runs, then sleeps for longer than any test; the sleep, which a cut
// connection leaves running on the "instance" (sshd here), is killed when
// the test ends.
func startedLine(t *testing.T, path string) string {
	t.Cleanup(func() {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return "echo $$ > " + path + ".tmp && mv " + path + ".tmp " + path + " && exec sleep 600"
}

// waitFile waits for path to exist, failing the test if done (Run's
// outcome) comes first.
func waitFile(t *testing.T, path string, done <-chan error) {
	t.Helper()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended before the command started: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestSilentHostIsDroppedMidCommand: a host that goes silent while a
// command runs is dropped by the keepalive, long before CommandTimeout:
// Run fails with a transient DialError wrapping a NoAnswerError that names
// the host and how long it was silent, the server log and the agent log
// say so, and Ferry's connection is closed. Once the partition heals, the
// next Run reaches the host on a new connection.
func TestSilentHostIsDroppedMidCommand(t *testing.T) {
	t.Parallel()
	s := newSilentHost(t)
	s.cfg.KeepAlive = 300 * time.Millisecond
	s.cfg.CommandTimeout = time.Hour // only the keepalive can end the command
	r := s.runner(t)
	started := filepath.Join(t.TempDir(), "started")

	// A minute is the test's bound, not the time Run should take.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, s.h, remote.Command{Name: "long", Line: startedLine(t, started)})
	}()
	waitFile(t, started, done)
	s.link.Cut()
	err := <-done
	if ctx.Err() != nil {
		t.Fatalf("Run waited on the silent host until the test's minute ran out: %v", err)
	}

	var dial *remote.DialError
	var silent *remote.NoAnswerError
	if !errors.As(err, &dial) || !remote.IsTransient(err) || !errors.As(err, &silent) {
		t.Fatalf("Run = %v (%T), want a transient *remote.DialError wrapping a *remote.NoAnswerError", err, err)
	}
	if silent.Host != s.h.Addr || silent.Silent != 3*s.cfg.KeepAlive {
		t.Errorf("NoAnswerError = %+v, want host %s silent for %s", *silent, s.h.Addr, 3*s.cfg.KeepAlive)
	}
	said := s.h.Addr + " stopped answering (a keepalive unanswered for 900ms): connection dropped"
	if msg := err.Error(); !strings.Contains(msg, "long: "+said) || !strings.Contains(msg, "whether the command finished is unknown") {
		t.Errorf("Run's error %q does not say that %s stopped answering during long and what that leaves unknown", msg, s.h.Addr)
	}
	if log := s.serverLog(t, s.h); !strings.Contains(log, "!!! "+said) {
		t.Errorf("the server log does not say why the connection was dropped:\n%s", log)
	}
	if log := s.log.String(); !strings.Contains(log, `msg="remote command failed"`) || !strings.Contains(log, said) {
		t.Errorf("the agent log does not say why the command failed:\n%s", log)
	}
	if n := s.dialer.open.Load(); n != 0 {
		t.Errorf("%d connections to the silent host left open", n)
	}

	s.link.Heal()
	if err := r.Run(t.Context(), s.h, remote.Command{Name: "after", Line: "echo back after the partition"}); err != nil {
		t.Fatalf("Run once the partition healed: %v", err)
	}
	if log := s.serverLog(t, s.h); !strings.Contains(log, "out| back after the partition") {
		t.Errorf("the server log lacks the command run after the partition:\n%s", log)
	}
	if n, open := s.dialer.dialled.Load(), s.dialer.open.Load(); n != 2 || open != 0 {
		t.Errorf("%d connections made, %d left open; want 2 (one per Run), none open", n, open)
	}
}

// TestSilentHostWhileConnecting: a host already silent when Run connects
// takes the TCP connection (here the link does; a real partition leaves
// the connect itself unanswered, bounded by the same timeout) and sends no
// banner: Run fails within ConnectTimeout with a transient DialError that
// says so, and the next Run after the partition works.
func TestSilentHostWhileConnecting(t *testing.T) {
	t.Parallel()
	s := newSilentHost(t)
	s.cfg.ConnectTimeout = 2 * time.Second
	s.cfg.KeepAlive = 300 * time.Millisecond
	r := s.runner(t)

	s.link.Cut()
	err := r.Run(t.Context(), s.h, remote.Command{Name: "first", Line: "echo never"})
	var dial *remote.DialError
	if !errors.As(err, &dial) || !remote.IsTransient(err) || !strings.Contains(err.Error(), "no SSH handshake within 2s") {
		t.Fatalf("Run = %v (%T), want a transient *remote.DialError saying no handshake came within 2s", err, err)
	}
	log := s.serverLog(t, s.h)
	if !strings.Contains(log, "!!! connect as "+s.cfg.User+": connect to "+s.h.Addr+": no SSH handshake within 2s") || strings.Contains(log, "never") {
		t.Errorf("the server log does not tell the failed connect (or ran the command):\n%s", log)
	}
	// The dial's timeout closes the connection from a goroutine of its own.
	testutil.Eventually(t, time.Minute, "the connection closed", func() (bool, string) {
		n := s.dialer.open.Load()
		return n == 0, strconv.Itoa(int(n)) + " open"
	})

	s.link.Heal()
	if err := r.Run(t.Context(), s.h, remote.Command{Name: "after", Line: "echo back after the partition"}); err != nil {
		t.Fatalf("Run once the partition healed: %v", err)
	}
	if log := s.serverLog(t, s.h); !strings.Contains(log, "out| back after the partition") {
		t.Errorf("the server log lacks the command run after the partition:\n%s", log)
	}
}

// TestSilentHostWhileOpeningASession: a host that goes silent while Run
// waits for its session to open (the stalling server holds the channel
// open; then the link is cut, so its keepalive answers stop too) is
// dropped by the keepalive well before ConnectTimeout, which alone bounds
// the wait for a host that still answers. No command had started, so Run
// connects again; that connect waits out the partition, and the command
// runs once it heals.
func TestSilentHostWhileOpeningASession(t *testing.T) {
	t.Parallel()
	srv := newStallingServer(t, 1)
	k := sshtest.NewLink(t, srv.l.Addr().String())
	// ConnectTimeout is the test's bound: only the keepalive ends the
	// held open before it.
	cfg, h := srv.configFor(t, time.Minute, time.Minute)
	cfg.KeepAlive = 300 * time.Millisecond
	if err := os.WriteFile(cfg.KnownHosts, []byte(srv.knownHostsLine(k.Port())), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Addr = k.Addr()
	logBuf := &testutil.Buffer{}
	r, err := remote.New(cfg, slog.New(slog.NewTextHandler(logBuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	serverLog, err := cfg.Logs.Path(h.Role, h.Instance)
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- r.Run(t.Context(), h, remote.Command{Name: "first", Line: "echo one"}) }()
	select {
	case <-srv.held:
	case err := <-done:
		t.Fatalf("Run ended before its session open was held: %v", err)
	}
	k.Cut()
	said := h.Addr + " stopped answering (a keepalive unanswered for 900ms): connection dropped"
	testutil.Eventually(t, time.Minute, "the silent host dropped", func() (bool, string) {
		b, _ := os.ReadFile(serverLog)
		return strings.Contains(string(b), said), string(b)
	})
	k.Heal()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want the command run on a new connection once the partition healed\n%s", err, logBuf.String())
	}
	b, err := os.ReadFile(serverLog)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.Addr + ": open session: " + said + "; connecting again"; !strings.Contains(string(b), want) || !strings.Contains(string(b), "out| one") {
		t.Errorf("the server log does not say %q, then run the command:\n%s", want, b)
	}
	if log := logBuf.String(); !strings.Contains(log, `msg="no session opened, connecting again"`) || !strings.Contains(log, said) {
		t.Errorf("the agent log does not say why it connected again:\n%s", log)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the one cut, then one that ran the command", n)
	}
}

package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

func TestRunStreamsOutputToServerLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	r := f.runner(t)
	h := f.host(0, "i-0abc")
	err := r.Run(context.Background(), h,
		remote.Command{Name: "first", Line: "echo one; echo two >&2; echo three"},
		remote.Command{Name: "second", Line: "printf 'no newline at end'"},
	)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := filepath.Join(f.cfg.Logs.Root, "staging", "d1", "web-i-0abc.log")
	got, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("log file not at %s: %v", want, err)
	}
	log := string(got)
	for _, line := range []string{
		"=== first as " + f.srv.User + "@" + f.srv.Addr(0),
		"$ echo one; echo two >&2; echo three",
		"out| one", "err| two", "out| three",
		"=== second as ", "out| no newline at end",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("log lacks %q:\n%s", line, log)
		}
	}
	if n := strings.Count(log, "=== exit 0 after"); n != 2 {
		t.Errorf("want 2 successful exits in the log, got %d:\n%s", n, log)
	}
	// Every line is stamped, so the two streams can be lined up.
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z `)
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if !stamp.MatchString(l) {
			t.Errorf("unstamped log line %q", l)
		}
	}
	// The agent log summarises; it does not repeat the output.
	agent := f.log.String()
	if !strings.Contains(agent, "command=first") || !strings.Contains(agent, "command=second") {
		t.Errorf("agent log lacks the summaries:\n%s", agent)
	}
	if strings.Contains(agent, "three") {
		t.Errorf("agent log repeats a successful command's output:\n%s", agent)
	}
}

func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	r := f.runner(t)
	for _, tc := range []struct {
		name     string
		line     string
		wantCode int // 0: success
		wantSig  string
		wantTail string
	}{
		{name: "success", line: "true"},
		{name: "exit-3", line: "echo before failing; exit 3", wantCode: 3, wantTail: "out| before failing"},
		{name: "stderr-tail", line: "echo boom >&2; false", wantCode: 1, wantTail: "err| boom"},
		{name: "signal", line: "kill -KILL $$", wantCode: 128 + 9, wantSig: "KILL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := f.host(0, "i-"+tc.name)
			err := r.Run(context.Background(), h, remote.Command{Name: tc.name, Line: tc.line})
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			var exit *remote.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("Run = %v (%T), want *remote.ExitError", err, err)
			}
			if exit.Code != tc.wantCode || exit.Signal != tc.wantSig {
				t.Errorf("exit code %d signal %q, want %d %q", exit.Code, exit.Signal, tc.wantCode, tc.wantSig)
			}
			if remote.IsTransient(err) {
				t.Error("a failed command is reported transient")
			}
			if tc.wantTail != "" && !strings.Contains(strings.Join(exit.Tail, "\n"), tc.wantTail) {
				t.Errorf("tail %q lacks %q", exit.Tail, tc.wantTail)
			}
			if !strings.Contains(f.log.String(), tc.wantTail) {
				t.Errorf("agent log lacks the failed command's last lines:\n%s", f.log)
			}
			if !strings.Contains(f.serverLog(t, h), "=== exit "+strconv.Itoa(tc.wantCode)) {
				t.Errorf("server log lacks the exit status:\n%s", f.serverLog(t, h))
			}
		})
	}
}

func TestRunStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	marker := filepath.Join(t.TempDir(), "ran")
	err := f.runner(t).Run(context.Background(), f.host(0, "i-1"),
		remote.Command{Name: "fails", Line: "exit 2"},
		remote.Command{Name: "must-not-run", Line: "touch " + marker},
	)
	if !errors.As(err, new(*remote.ExitError)) {
		t.Fatalf("Run = %v, want an ExitError", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a command after a failed one ran")
	}
}

func TestCommandTimeoutKillsRemoteProcessGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	f.cfg.CommandTimeout = 2 * time.Second
	f.cfg.KillGrace = 300 * time.Millisecond
	pidfile := filepath.Join(t.TempDir(), "pid")
	h := f.host(0, "i-slow")
	// A child in the background, as a migration started by a wrapper
	// script would be: killing the shell alone would leave it running.
	err := f.runner(t).Run(context.Background(), h, remote.Command{
		Name: "hangs",
		Line: "sleep 300 & echo $! > " + pidfile + "; echo started; wait",
	})
	var timeout *remote.TimeoutError
	if !errors.As(err, &timeout) {
		t.Fatalf("Run = %v (%T), want *remote.TimeoutError", err, err)
	}
	if !remote.IsTransient(err) {
		t.Error("a timeout is reported permanent")
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("the command did not start: %v", err)
	}
	pid := strings.TrimSpace(string(b))
	// sshd runs on this machine, so the remote process is visible here.
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("remote child %s still running after the command timed out", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	log := f.serverLog(t, h)
	if !strings.Contains(log, "out| started") || !strings.Contains(log, "sending SIGTERM") {
		t.Errorf("server log does not show the run and the stop:\n%s", log)
	}
}

// processAlive reports whether pid exists and is not a zombie (a container
// without an init may never reap it).
func processAlive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestCancelledContextStopsCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	f.cfg.KillGrace = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := f.runner(t)
	started := filepath.Join(t.TempDir(), "started")
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, f.host(0, "i-1"), remote.Command{Name: "long", Line: "touch " + started + "; sleep 300"})
	}()
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

func TestUnreachableHostIsTransient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	// A port nothing listens on: take one and release it.
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h := remote.Host{Addr: addr, Instance: "i-gone", Role: "web"}
	err = f.runner(t).Run(context.Background(), h, remote.Command{Name: "x", Line: "true"})
	var dial *remote.DialError
	if !errors.As(err, &dial) || !remote.IsTransient(err) {
		t.Fatalf("Run = %v (%T), want a transient *remote.DialError", err, err)
	}
	if !strings.Contains(f.serverLog(t, h), "connect as") {
		t.Errorf("server log does not record the failed connect:\n%s", f.serverLog(t, h))
	}
}

// TestSilentHostTimesOut: a host that accepts the connection and never
// speaks SSH (a booting instance, a wedged sshd) ends in ConnectTimeout.
func TestSilentHostTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	f.cfg.ConnectTimeout = 300 * time.Millisecond
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the test ends
		}
	}()
	err = f.runner(t).Run(context.Background(), remote.Host{Addr: l.Addr().String(), Instance: "i-mute", Role: "web"},
		remote.Command{Name: "x", Line: "true"})
	var dial *remote.DialError
	if !errors.As(err, &dial) || !remote.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v (%T), want a transient *remote.DialError for the deadline", err, err)
	}
}

func TestFailureTailIsTheLastLines(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	f.cfg.TailLines = 5
	h := f.host(0, "i-1")
	err := f.runner(t).Run(context.Background(), h, remote.Command{Name: "noisy", Line: "seq 1 50; echo last; exit 4"})
	var exit *remote.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Run = %v, want an ExitError", err)
	}
	want := []string{"out| 47", "out| 48", "out| 49", "out| 50", "out| last"}
	if strings.Join(exit.Tail, "\n") != strings.Join(want, "\n") {
		t.Errorf("Tail = %q, want %q", exit.Tail, want)
	}
	// The whole output is in the server log, only the tail in the agent's.
	if log := f.serverLog(t, h); !strings.Contains(log, "out| 1\n") || !strings.Contains(log, "out| 50\n") {
		t.Errorf("server log lacks the full output:\n%s", log)
	}
	if strings.Contains(f.log.String(), "out| 46") {
		t.Errorf("agent log has more than the tail:\n%s", f.log)
	}
}

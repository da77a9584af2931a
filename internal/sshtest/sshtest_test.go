package sshtest_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// sshRun runs OpenSSH's own client against the server with strict host key
// checking, so the helper is checked independently of pkg/remote.
func sshRun(t *testing.T, s *sshtest.Server, i int, knownHosts, command string) (string, error) {
	t.Helper()
	out, err := sshCommand(t, s, s.Hosts[i], s.Port, knownHosts, command).CombinedOutput()
	return string(out), err
}

// sshCommand is OpenSSH's client running command on s, reached at host:port
// (the server itself, or a Link to it), with further options opts.
func sshCommand(t *testing.T, s *sshtest.Server, host string, port int, knownHosts, command string, opts ...string) *exec.Cmd {
	t.Helper()
	ssh := testutil.RequireTool(t, "ssh")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(knownHosts), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"-F", "none", "-T",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + kh,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes",
		"-i", s.ClientKey,
		"-p", strconv.Itoa(port),
		"-l", s.User,
	}, opts...)
	return exec.Command(ssh, append(args, host, command)...)
}

func TestServerAcceptsClientKeyOnEveryHost(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{Hosts: []string{"127.0.0.1", "127.0.0.2"}})
	for i := range s.Hosts {
		out, err := sshRun(t, s, i, s.KnownHostsLine(i), "echo hello from $USER")
		if err != nil {
			t.Fatalf("ssh %s: %v\n%s", s.Addr(i), err, out)
		}
		if want := "hello from " + s.User; !strings.Contains(out, want) {
			t.Errorf("ssh %s: got %q, want %q", s.Addr(i), out, want)
		}
	}
}

func TestRotateHostKeyIsRefusedByOpenSSH(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	old := s.KnownHostsLine(0)
	oldKey := s.HostPublicKey()
	s.RotateHostKey()
	if s.HostPublicKey() == oldKey {
		t.Fatal("RotateHostKey kept the same key")
	}
	out, err := sshRun(t, s, 0, old, "true")
	if err == nil {
		t.Fatalf("ssh accepted a rotated host key against the old known_hosts line:\n%s", out)
	}
	if !strings.Contains(out, "HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("ssh failed for another reason than the changed key:\n%s", out)
	}
	if out, err := sshRun(t, s, 0, s.KnownHostsLine(0), "true"); err != nil {
		t.Errorf("ssh with the new known_hosts line: %v\n%s", err, out)
	}
}

// TestSessionsIgnoreTheUsersShellStartupFiles: commands run with HOME in the
// server's own directory, whose startup files fail every command that reads
// them; a command that completes shows the shell read none, neither there
// nor in the invoking user's real home.
func TestSessionsIgnoreTheUsersShellStartupFiles(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	out, err := sshRun(t, s, 0, s.KnownHostsLine(0), `echo "home=$HOME lc=$LC_ALL tz=$TZ"`)
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	if want := "home=" + s.Home + " lc=C tz=UTC"; strings.TrimSpace(out) != want {
		t.Errorf("session environment %q, want %q", strings.TrimSpace(out), want)
	}
	// The planted files do fail a shell that reads them: the check above
	// could not pass by accident.
	out, err = sshRun(t, s, 0, s.KnownHostsLine(0), `. "$HOME/.bashrc"; echo survived`)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != sshtest.StartupFileExit || strings.Contains(out, "survived") {
		t.Errorf("sourcing the planted .bashrc: %v, %q; want exit %d", err, out, sshtest.StartupFileExit)
	}
}

// TestStopCutsSessionsAndStartComesBack: Stop ends a command under way
// (its ssh client returns, its remote process is gone) and refuses new
// connections; Start brings sshd back on the same port with the same host
// key, which the old known_hosts line still trusts.
func TestStopCutsSessionsAndStartComesBack(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	known := s.KnownHostsLine(0)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ssh := testutil.RequireTool(t, "ssh")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(known), 0o600); err != nil {
		t.Fatal(err)
	}
	long := exec.Command(ssh, "-F", "none", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+kh, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
		"-i", s.ClientKey, "-p", strconv.Itoa(s.Port), "-l", s.User, s.Hosts[0],
		"echo $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+" && exec sleep 300")
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- long.Wait() }()
	var pid int
	testutil.Eventually(t, time.Minute, "the remote command running", func() (bool, string) {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false, err.Error()
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil, string(b)
	})

	s.Stop()
	if err := <-done; err == nil {
		t.Error("the ssh client of a command cut by Stop exited 0")
	}
	// Killed, it is gone once reaped (its parent was killed too).
	testutil.Eventually(t, time.Minute, "the remote command gone", func() (bool, string) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(b), ") Z "), string(b)
	})
	if out, err := sshRun(t, s, 0, known, "true"); err == nil || !strings.Contains(out, "Connection refused") {
		t.Errorf("ssh to a stopped server: %v\n%s; want connection refused", err, out)
	}

	s.Start()
	if out, err := sshRun(t, s, 0, known, "echo back"); err != nil || strings.TrimSpace(out) != "back" {
		t.Errorf("ssh after Start with the old known_hosts line: %v\n%s", err, out)
	}
}

// TestSessionsRunThroughTheChosenShell: sshd runs commands through
// Options.Shell, not the login shell /etc/passwd gives the user running the
// test. The shell here is a script that leaves a marker with its arguments
// before running /bin/sh; a server that read /etc/passwd would run the
// user's own shell and leave none.
func TestSessionsRunThroughTheChosenShell(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	shell := filepath.Join(dir, "shell")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + marker + "\nexec /bin/sh \"$@\"\n"
	if err := os.WriteFile(shell, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := sshtest.Start(t, sshtest.Options{Shell: shell})
	if s.Shell != shell {
		t.Errorf("Server.Shell = %q, want %q", s.Shell, shell)
	}
	out, err := sshRun(t, s, 0, s.KnownHostsLine(0), `echo "ran shell=$SHELL"`)
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	if want := "ran shell=" + shell; strings.TrimSpace(out) != want {
		t.Errorf("got %q, want %q", strings.TrimSpace(out), want)
	}
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("the chosen shell did not run: %v", err)
	}
	if got, want := string(b), "-c echo \"ran shell=$SHELL\"\n"; got != want {
		t.Errorf("the chosen shell ran with %q, want %q", got, want)
	}
}

// TestDefaultShellIsBinSh: without Options.Shell, commands run through
// /bin/sh itself (the executable of the shell running the command, read
// from /proc), whatever the user's login shell.
func TestDefaultShellIsBinSh(t *testing.T) {
	want, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	s := sshtest.Start(t, sshtest.Options{})
	if s.Shell != "/bin/sh" {
		t.Errorf("Server.Shell = %q, want /bin/sh", s.Shell)
	}
	// In a command substitution $$ is still the shell's own pid.
	out, err := sshRun(t, s, 0, s.KnownHostsLine(0), `exe=$(readlink /proc/$$/exe); echo "$exe"`)
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(out); got != want {
		t.Errorf("commands run by %q, want %q (/bin/sh)", got, want)
	}
}

// TestLinkCutIsASilentHost: OpenSSH's client runs commands through a Link.
// Once it is cut, a session under way gets no answer: ssh's own keepalives
// (ServerAliveInterval) go unanswered and ssh gives up, "not responding",
// where a refusing host would have reset it; a new connection is taken but
// no banner comes. Heal lets that held connection's banner through, and
// commands run again.
func TestLinkCutIsASilentHost(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	k := sshtest.NewLink(t, s.Addr(0))
	known := k.KnownHostsLine(s)
	if out, err := sshCommand(t, s, "127.0.0.1", k.Port(), known, "echo through").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "through" {
		t.Fatalf("ssh through the link: %v\n%s", err, out)
	}

	pidFile := filepath.Join(t.TempDir(), "pid")
	long := sshCommand(t, s, "127.0.0.1", k.Port(), known,
		"echo $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+" && exec sleep 300",
		"-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2")
	var longOut bytes.Buffer
	long.Stdout, long.Stderr = &longOut, &longOut
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- long.Wait() }()
	// The cut leaves the remote command running: end it with the test.
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	testutil.Eventually(t, time.Minute, "the remote command running", func() (bool, string) {
		_, err := os.ReadFile(pidFile)
		return err == nil, fmt.Sprint(err)
	})

	k.Cut()
	var exit *exec.ExitError
	if err := <-done; !errors.As(err, &exit) || exit.ExitCode() != 255 || !strings.Contains(longOut.String(), "not responding") {
		t.Errorf("ssh across the cut link: %v\n%s; want exit 255, the server not responding", err, longOut.String())
	}

	c, err := net.Dial("tcp", k.Addr())
	if err != nil {
		t.Fatalf("a cut link refuses connections, want them taken: %v", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection across the cut link read %d bytes, %v; want nothing", n, err)
	}

	k.Heal()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "SSH-2.0-OpenSSH") {
		t.Errorf("the held connection after Heal: %q, %v; want sshd's banner", line, err)
	}
	if out, err := sshCommand(t, s, "127.0.0.1", k.Port(), known, "echo back").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "back" {
		t.Errorf("ssh through the healed link: %v\n%s", err, out)
	}
}

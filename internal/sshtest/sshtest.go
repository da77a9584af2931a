// Package sshtest starts a real OpenSSH sshd on loopback for tests: its own
// temporary directory, a generated host key and client key, and the
// known_hosts line that trusts it. Tests reach it exactly as Ferry reaches an
// instance, so host key checks and authentication are OpenSSH's own.
//
// Commands run as the user running the test, through a login shell and in
// an environment the test controls, whatever the user's entry in
// /etc/passwd says. sshd runs every command through the login shell its
// user database gives, so it runs with nss_wrapper preloaded
// (libnss_wrapper.so, Debian's libnss-wrapper) and a passwd file of the
// server's own: the user, with its uid and gid, has Server.Home as home and
// Options.Shell (/bin/sh unless set) as shell. sshd's user lookups read
// that file (the listener, its re-executed per-connection process and the
// session child alike); the commands themselves do not inherit the preload.
// HOME is a temporary directory whose shell startup files fail loudly if
// read, and SHLVL tells bash it is not the top-level shell sshd started, so
// neither ~/.bashrc nor /etc/bash.bashrc runs when Options.Shell is bash. A
// zsh or fish login shell, a slow or failing dotfile of the invoking user (a
// pyenv init, a prompt that waits on a lock) cannot change a test's result.
package sshtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// Options change how a Server is started. The zero value listens on
// 127.0.0.1 only.
type Options struct {
	// Hosts are the loopback addresses sshd listens on, all on the same
	// port (Linux routes all of 127.0.0.0/8 to lo), so that one sshd can
	// stand in for several instances.
	Hosts []string
	// HostCA makes sshd present a host certificate signed by a CA of its
	// own (see Server.CAPublicKey), valid for every listening address, as
	// an Auto Scaling group's instances would when their image signs them.
	HostCA bool
	// KeyOptions restrict what the client key may do, as an
	// authorized_keys line's options (e.g. command="git-shell -c ...").
	KeyOptions string
	// Shell is the absolute path of the login shell sshd runs every
	// command through (as "Shell -c command"); empty means /bin/sh. It
	// must be executable: sshd refuses the login otherwise.
	Shell string
}

// Server is a running sshd. Its fields do not change over its life except
// through RotateHostKey. Stop and Start take it away and bring it back.
type Server struct {
	// Hosts are the addresses it listens on; Port is shared by them all.
	Hosts []string
	Port  int
	// User is the account tests log in as: the one running the test.
	User string
	// ClientKey is the path of an unencrypted ed25519 private key that
	// sshd accepts for User.
	ClientKey string
	// Home is HOME for every session: a temporary directory, never the
	// user's own. Its shell startup files exit with StartupFileExit, so a
	// shell that reads them fails every command. Sessions start in it.
	Home string
	// Shell is the login shell of User as sshd sees it: Options.Shell, or
	// /bin/sh.
	Shell string

	t     testing.TB
	sshd  string
	nssw  string // libnss_wrapper.so, preloaded into sshd
	dir   string
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	log   *testutil.Buffer
	keyNo int
	ca    string // CA private key path, when Options.HostCA
}

// Start runs sshd for the rest of the test and stops it in t.Cleanup. A
// missing sshd or ssh-keygen skips the test locally and fails it under
// CI=true (testutil.RequireTool).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	sshd := findSSHD(t)
	testutil.RequireTool(t, "ssh-keygen")
	nssw := findNSSWrapper(t)
	// sshd re-executes itself and insists on an absolute path.
	sshd, err := filepath.Abs(sshd)
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	if os.Geteuid() == 0 {
		// As root sshd separates privileges and chroots its pre-auth child
		// into this directory, which Debian's unit normally creates.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshtest: privilege separation directory: %v", err)
		}
	}
	hosts := opts.Hosts
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	shell := opts.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	if !filepath.IsAbs(shell) {
		t.Fatalf("sshtest: Options.Shell %q is not an absolute path", shell)
	}
	s := &Server{
		Hosts: hosts,
		User:  u.Username,
		Shell: shell,
		t:     t,
		sshd:  sshd,
		nssw:  nssw,
		dir:   t.TempDir(),
	}
	s.Home = filepath.Join(s.dir, "home")
	plantStartupFiles(t, s.Home)
	s.writeUserDB(u)
	s.ClientKey = filepath.Join(s.dir, "client_ed25519")
	keygen(t, s.ClientKey)
	pub, err := os.ReadFile(s.ClientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if opts.KeyOptions != "" {
		pub = append([]byte(opts.KeyOptions+" "), pub...)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	if opts.HostCA {
		s.ca = filepath.Join(s.dir, "host_ca")
		keygen(t, s.ca)
	}
	s.newHostKey()
	t.Cleanup(s.stop)

	// The port comes from a listener that is closed again, so another
	// process may take it before sshd binds: retry on a fresh one.
	var lastErr error
	for range 5 {
		s.Port = freePort(t)
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		s.stop()
	}
	t.Fatalf("sshtest: sshd did not start: %v\n%s", lastErr, s.log)
	return nil
}

// Addr returns host:port for the i-th listening host.
func (s *Server) Addr(i int) string {
	return net.JoinHostPort(s.Hosts[i], strconv.Itoa(s.Port))
}

// KnownHostsLines returns the known_hosts lines that trust the current host
// key at every listening address.
func (s *Server) KnownHostsLines() string {
	var b strings.Builder
	for i := range s.Hosts {
		b.WriteString(s.KnownHostsLine(i))
	}
	return b.String()
}

// KnownHostsLine returns the known_hosts line (newline-terminated) that
// trusts the current host key at the i-th address, in the form OpenSSH
// writes for a non-default port: "[host]:port type key".
func (s *Server) KnownHostsLine(i int) string {
	fields := strings.Fields(s.HostPublicKey())
	return fmt.Sprintf("[%s]:%d %s %s\n", s.Hosts[i], s.Port, fields[0], fields[1])
}

// HostPublicKey returns the current host public key in authorized_keys
// format.
func (s *Server) HostPublicKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.hostKeyLocked() + ".pub")
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// CAPublicKey returns the host CA's public key in authorized_keys format,
// for a known_hosts "@cert-authority" line; empty without Options.HostCA.
func (s *Server) CAPublicKey() string {
	if s.ca == "" {
		return ""
	}
	b, err := os.ReadFile(s.ca + ".pub")
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// RotateHostKey restarts sshd on the same addresses with a newly generated
// host key of the same type, as a rebuilt instance (or an impostor) would
// present. With Options.HostCA the new key is certified by the same CA.
func (s *Server) RotateHostKey() {
	s.t.Helper()
	s.stop()
	s.newHostKey()
	if err := s.start(); err != nil {
		s.t.Fatalf("sshtest: restart with a new host key: %v\n%s", err, s.log)
	}
}

// Stop makes the server unreachable, as a host that went away: sshd and
// every session it serves are killed, so connections under way end and new
// ones are refused, until Start. Only processes this server started are
// touched (sshd and its descendants).
func (s *Server) Stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	// Each connection's sshd and each session's shell run in a session of
	// their own: all frozen first, sshd too, so that none forks or accepts
	// past the kill, then killed, then sshd itself (a connection still in
	// its listen queue is reset).
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	frozen := map[int]bool{}
	for {
		more := false
		for _, p := range descendants(pid) {
			if !frozen[p] {
				frozen[p], more = true, true
				_ = syscall.Kill(p, syscall.SIGSTOP)
			}
		}
		if !more {
			break
		}
	}
	for p := range frozen {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	s.stop()
}

// Start runs sshd again after Stop, on the same addresses, port and host
// key: the host is back.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("sshtest: start again on port %d: %v\n%s", s.Port, err, s.log)
	}
}

// descendants returns the processes below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// Log returns what sshd has written so far (it runs with -e), for test
// failure messages.
func (s *Server) Log() string { return s.log.String() }

func (s *Server) newHostKey() {
	s.mu.Lock()
	s.keyNo++
	path := s.hostKeyLocked()
	s.mu.Unlock()
	keygen(s.t, path)
	if s.ca != "" {
		out, err := exec.Command("ssh-keygen", "-q", "-s", s.ca, "-I", "sshtest-host", "-h",
			"-n", strings.Join(s.Hosts, ","), path+".pub").CombinedOutput()
		if err != nil {
			s.t.Fatalf("ssh-keygen -s: %v\n%s", err, out)
		}
	}
}

func (s *Server) hostKeyLocked() string {
	return filepath.Join(s.dir, fmt.Sprintf("host_ed25519_%d", s.keyNo))
}

func (s *Server) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Port %d\n", s.Port)
	for _, h := range s.Hosts {
		fmt.Fprintf(&b, "ListenAddress %s\n", h)
	}
	s.mu.Lock()
	fmt.Fprintf(&b, "HostKey %s\n", s.hostKeyLocked())
	if s.ca != "" {
		fmt.Fprintf(&b, "HostCertificate %s-cert.pub\n", s.hostKeyLocked())
	}
	s.mu.Unlock()
	fmt.Fprintf(&b, "PidFile %s\n", filepath.Join(s.dir, "sshd.pid"))
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", filepath.Join(s.dir, "authorized_keys"))
	fmt.Fprintf(&b, "AllowUsers %s\n", s.User)
	// Sessions get a fixed environment whatever the invoking user's: see
	// the package doc. HOME (and SHELL) come from the server's passwd
	// file. SHLVL=1 makes bash's shell level 2, and bash reads its rc files
	// for sshd only at level 1 (bash's shell.c, "run_by_ssh").
	b.WriteString("SetEnv SHLVL=1 LC_ALL=C TZ=UTC GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null\n")
	// The temp dir's modes are the test runner's business, not sshd's; PAM
	// is not configured for a private sshd.
	b.WriteString(`StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PermitUserEnvironment no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
`)
	return b.String()
}

func (s *Server) start() error {
	cfg := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(s.config()), 0o600); err != nil {
		return err
	}
	s.log = &testutil.Buffer{}
	cmd := exec.Command(s.sshd, "-D", "-e", "-f", cfg)
	// sshd keeps its environment when it re-executes itself for each
	// connection, and clears it for the session's shell: the preload
	// reaches every sshd process and no command.
	cmd.Env = append(withoutNSSWrapper(os.Environ()),
		"LD_PRELOAD="+s.nssw,
		"NSS_WRAPPER_PASSWD="+filepath.Join(s.dir, "passwd"),
		"NSS_WRAPPER_GROUP="+filepath.Join(s.dir, "group"))
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i := range s.Hosts {
		if err := waitBanner(ctx, s.Addr(i), done); err != nil {
			return err
		}
	}
	// The dynamic loader only warns about a preload it cannot load, and
	// sshd would then read /etc/passwd: make sure it did load.
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", cmd.Process.Pid))
	if err != nil {
		return fmt.Errorf("sshd's mappings: %w", err)
	}
	if !bytes.Contains(maps, []byte(s.nssw)) {
		return fmt.Errorf("sshd runs without %s preloaded: its user database would be /etc/passwd", s.nssw)
	}
	return nil
}

// withoutNSSWrapper drops the variables that steer the dynamic loader and
// nss_wrapper from env, so that only the server's own apply to sshd.
func withoutNSSWrapper(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "LD_PRELOAD=") || strings.HasPrefix(kv, "NSS_WRAPPER_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// nssWrapperPaths are where distributions install libnss_wrapper.so
// (Debian's libnss-wrapper: the multiarch directory).
var nssWrapperPaths = []string{
	"/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
	"/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
	"/usr/lib64/libnss_wrapper.so",
	"/usr/lib/libnss_wrapper.so",
}

// findNSSWrapper returns the path of libnss_wrapper.so for this machine's
// architecture. Missing, it skips the test locally and fails it under
// CI=true, as testutil.RequireTool does for a command.
func findNSSWrapper(t testing.TB) string {
	t.Helper()
	for _, p := range nssWrapperPaths {
		if archMatches(p) {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	msg := "libnss_wrapper.so not installed (Debian: apt-get install libnss-wrapper): sshtest runs sshd with it to choose the session's login shell"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; it is required and CI=true: install it in scripts/install-test-deps.sh", msg)
	}
	t.Skip(msg)
	return ""
}

// archMatches reports whether a multiarch library path is for this
// process's architecture (the loader ignores another's); a path without a
// multiarch directory matches.
func archMatches(p string) bool {
	switch {
	case strings.Contains(p, "/x86_64-linux-gnu/"):
		return runtime.GOARCH == "amd64"
	case strings.Contains(p, "/aarch64-linux-gnu/"):
		return runtime.GOARCH == "arm64"
	}
	return true
}

// writeUserDB writes the passwd and group files sshd reads through
// nss_wrapper: u, with its own uid and gid, whose home is s.Home and shell
// s.Shell; and, when the system has it, the privilege separation user sshd
// needs as root (sshd exits without it).
func (s *Server) writeUserDB(u *user.User) {
	s.t.Helper()
	for _, f := range []string{s.Home, s.Shell} {
		if strings.ContainsAny(f, ":\n") {
			s.t.Fatalf("sshtest: %q cannot go in a passwd file", f)
		}
	}
	var passwd, group strings.Builder
	groups := map[string]bool{}
	addGroup := func(gid string) {
		if groups[gid] {
			return
		}
		groups[gid] = true
		name := "sshtest" + gid
		if g, err := user.LookupGroupId(gid); err == nil {
			name = g.Name
		}
		fmt.Fprintf(&group, "%s:x:%s:\n", name, gid)
	}
	fmt.Fprintf(&passwd, "%s:x:%s:%s:sshtest:%s:%s\n", u.Username, u.Uid, u.Gid, s.Home, s.Shell)
	addGroup(u.Gid)
	if p, err := user.Lookup("sshd"); err == nil && u.Username != "sshd" {
		fmt.Fprintf(&passwd, "sshd:x:%s:%s::%s:/bin/false\n", p.Uid, p.Gid, p.HomeDir)
		addGroup(p.Gid)
	}
	for name, text := range map[string]string{"passwd": passwd.String(), "group": group.String()} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(text), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
	if s.t.Failed() {
		s.t.Logf("sshd log:\n%s", s.log)
	}
}

// waitBanner returns once addr answers with an SSH banner: a listener alone
// could be another process that took the port.
func waitBanner(ctx context.Context, addr string, exited <-chan struct{}) error {
	var d net.Dialer
	for {
		select {
		case <-exited:
			return errors.New("sshd exited")
		default:
		}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-2.0-OpenSSH") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sshd not answering on %s: %w", addr, ctx.Err())
		case <-exited:
			return errors.New("sshd exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findSSHD looks in PATH, then where Debian puts sshd: /usr/sbin is not in
// a non-root user's PATH.
func findSSHD(t testing.TB) string {
	if _, err := exec.LookPath("sshd"); err != nil {
		if fi, err := os.Stat("/usr/sbin/sshd"); err == nil && fi.Mode()&0o111 != 0 {
			return "/usr/sbin/sshd"
		}
	}
	return testutil.RequireTool(t, "sshd")
}

// StartupFileExit is the exit status of a session whose shell read one of
// the startup files in Server.Home.
const StartupFileExit = 97

// plantStartupFiles writes shell startup files into home that fail every
// command, so that a test whose shell reads any of them fails at once and
// says why, rather than depending on what the user's own files do.
func plantStartupFiles(t testing.TB, home string) {
	t.Helper()
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := fmt.Sprintf("echo 'sshtest: shell startup file read' >&2; exit %d\n", StartupFileExit)
	for _, name := range []string{".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshenv", ".zshrc", ".kshrc", ".mkshrc"} {
		if err := os.WriteFile(filepath.Join(home, name), []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func keygen(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshtest", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

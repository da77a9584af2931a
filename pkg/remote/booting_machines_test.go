package remote_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// TestBootingHostIsDialledAgain runs commands on a real Debian machine
// while pam_nologin refuses logins as it does during boot (/run/nologin
// present, with systemd's text): a Runner whose BootWait ends first gets a
// transient *BootingError, and one with time to wait connects again until
// the file is gone and runs its command.
func TestBootingHostIsDialledAgain(t *testing.T) {
	sim := machinetest.Start(t, machinetest.Options{KeyName: "booting", Timeout: 10 * time.Minute})
	ctx, logger, keyFile := sim.Ctx, sim.Log, sim.KeyFile
	dir := t.TempDir()
	m := sim.Launch(1)[0]
	id, ip := m.ID, m.IP
	knownHosts := sim.WriteKnownHosts(m.KnownHosts())

	net := sim.Net
	runner := func(bootWait time.Duration, deployID string) *remote.Runner {
		r, err := remote.New(remote.Config{User: "admin", KeyFile: keyFile, KnownHosts: knownHosts, Dialer: net,
			ConnectTimeout: 20 * time.Second, CommandTimeout: time.Minute, BootWait: bootWait, BootRetry: 200 * time.Millisecond,
			Logs: remote.Logs{Root: filepath.Join(dir, "logs"), Env: "testing", DeployID: deployID}}, logger)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	host := remote.Host{Addr: ip, Instance: id, Role: roles.Web}
	hello := remote.Command{Name: "hello", Line: "echo hello"}
	// sshd may not listen yet: that is a DialError, not this test's case.
	testutil.Eventually(t, 2*time.Minute, "the machine takes logins", func() (bool, string) {
		err := runner(time.Minute, "up").Run(ctx, host, hello)
		return err == nil, fmt.Sprint(err)
	})

	// Logins refused as during boot, by the real pam_nologin, until the
	// session that wrote the file removes it.
	hold := sim.SSH(ctx, knownHosts, ip, `sudo sh -c 'echo "System is booting up. Unprivileged users are not permitted to log in yet." >/run/nologin; echo ready; read _; rm -f /run/nologin; echo gone'`)
	release, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("the session holding /run/nologin did not start: %q", lines.Text())
	}

	err = runner(time.Second, "short").Run(ctx, host, hello)
	var booting *remote.BootingError
	if !errors.As(err, &booting) || !remote.IsTransient(err) {
		t.Fatalf("Run while logins are refused: %v (%T), want a transient *remote.BootingError", err, err)
	}
	t.Logf("refused as booting: %v", err)

	done := make(chan error, 1)
	go func() { done <- runner(time.Minute, "long").Run(ctx, host, hello) }()
	// Let it be refused at least once before the boot "ends".
	logFile, _ := remote.Logs{Root: filepath.Join(dir, "logs"), Env: "testing", DeployID: "long"}.Path(roles.Web, id)
	testutil.Eventually(t, time.Minute, "a retry noted in the server log", func() (bool, string) {
		b, _ := os.ReadFile(logFile)
		return strings.Count(string(b), "still booting") >= 2, string(b)
	})
	release.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run once logins are allowed again: %v", err)
	}
	if err := hold.Wait(); err != nil {
		t.Errorf("the session holding /run/nologin: %v", err)
	}
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), "hello") {
		t.Errorf("the server log lacks the command's output:\n%s", b)
	}
}

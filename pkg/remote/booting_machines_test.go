package remote_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/simenv"
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
	testutil.RequireRoot(t)
	for _, tool := range []string{"debootstrap", "systemd-nspawn", "nsenter", "chroot", "ssh", "ssh-keygen"} {
		testutil.RequireTool(t, tool)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := awssim.Start(awssim.Options{Machines: true, MachineStateDir: t.TempDir(), Tick: 50 * time.Millisecond}, logger)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := simenv.Connect(srv.URL)
	image, err := simenv.ImageTagged(ctx, c, awssim.BaseImageTag)
	if err != nil {
		t.Fatal(err)
	}
	key, err := simenv.CreateKeyPair(ctx, c, "booting")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), KeyName: aws.String("booting"),
		InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	w := ec2.NewInstanceRunningWaiter(c.EC2, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	desc, err := w.WaitForOutput(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 5*time.Minute)
	if err != nil {
		t.Fatalf("instance not running: %v", err)
	}
	ip := aws.ToString(desc.Reservations[0].Instances[0].PrivateIpAddress)
	console, err := simenv.ConsoleOutput(ctx, c, id)
	if err != nil {
		t.Fatal(err)
	}
	var known strings.Builder
	for _, k := range machines.ParseHostKeys(console).Keys {
		fmt.Fprintf(&known, "%s %s\n", ip, k)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	net := srv.MachineNetwork()
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
	hold := net.Command(ctx, "ssh", "-F", "/dev/null", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"admin@"+ip, `sudo sh -c 'echo "System is booting up. Unprivileged users are not permitted to log in yet." >/run/nologin; echo ready; read _; rm -f /run/nologin; echo gone'`)
	hold.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
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

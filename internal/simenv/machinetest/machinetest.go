// Package machinetest sets up what a test on real machines needs: the
// simulator with its machine backend (`ferry sim --machines`), the base or
// stack image, a key pair with its private key in a file, and instances
// launched from the image with their SSH host keys read from the console,
// as an operator reads them. Tests of packages that work on machines (bake,
// agent, provision, remote) share it instead of each repeating the setup.
package machinetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
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
	"github.com/ferry-deploy/ferry/internal/testlog"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// Options says which simulator a test needs.
type Options struct {
	// Stack boots machines from the stack image (every role's packages,
	// none of their services set up) instead of the base image.
	Stack bool
	// KeyName names the key pair (default "ferry-test").
	KeyName string
	// Timeout bounds the test's context (default 15 minutes).
	Timeout time.Duration
	// Tools the test needs besides the machine backend's and OpenSSH's.
	Tools []string
	// Second is how long one AWS second lasts in the simulator
	// (awssim.Options.Second: health check intervals, grace periods);
	// default a second.
	Second time.Duration
	// InstanceProfile, when set, launches instances with that instance
	// profile and IMDSv2 required (hop limit 1), as Ferry's launch sources
	// do: what `ferry secrets fetch` at boot needs.
	InstanceProfile string
}

// Env is a running simulator with machines, ready for SSH.
type Env struct {
	t   testing.TB
	Ctx context.Context // ends with the test or at Options.Timeout
	Srv *awssim.Server
	// SDK are aws-sdk-go-v2 clients of the simulator.
	SDK simenv.Clients
	// Net is the machines' network namespace: dial instances through it.
	Net *machines.Network
	Log *slog.Logger
	// LogText is everything logged to Log, debug level included (the
	// test's output gets info and above): the simulator's log, and that of
	// whatever the test runs in process with Log, for a test to read.
	LogText *testutil.Buffer
	// Image is the base or stack image's id.
	Image string
	// KeyName is the key pair machines are launched with; KeyFile holds
	// its private key (mode 0600).
	KeyName, KeyFile string
	profile          string
}

// Start runs the simulator with its machine backend until the test ends.
// It skips the test (fails it under CI=true) without root or a tool the
// machines need.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	testutil.RequireRoot(t)
	for _, tool := range append([]string{"debootstrap", "systemd-nspawn", "nsenter", "chroot", "ssh", "ssh-keygen"}, opts.Tools...) {
		testutil.RequireTool(t, tool)
	}
	if opts.KeyName == "" {
		opts.KeyName = "ferry-test"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Minute
	}
	logText := &testutil.Buffer{}
	logger := slog.New(slog.NewMultiHandler(slog.NewTextHandler(testlog.Progress(t), &slog.HandlerOptions{Level: slog.LevelInfo}),
		slog.NewTextHandler(logText, &slog.HandlerOptions{Level: slog.LevelDebug})))
	srv, err := awssim.Start(awssim.Options{Machines: true, StackImage: opts.Stack, MachineStateDir: t.TempDir(), Tick: 50 * time.Millisecond, Second: opts.Second}, logger)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	t.Cleanup(cancel)
	e := &Env{t: t, Ctx: ctx, Srv: srv, SDK: simenv.Connect(srv.URL), Net: srv.MachineNetwork(), Log: logger, LogText: logText,
		KeyName: opts.KeyName, KeyFile: filepath.Join(t.TempDir(), "key"), profile: opts.InstanceProfile}
	tag := awssim.BaseImageTag
	if opts.Stack {
		tag = awssim.StackImageTag
	}
	if e.Image, err = simenv.ImageTagged(ctx, e.SDK, tag); err != nil {
		t.Fatal(err)
	}
	key, err := simenv.CreateKeyPair(ctx, e.SDK, opts.KeyName)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.KeyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// Cloud returns Ferry's AWS client for the simulator.
func (e *Env) Cloud() *cloud.Client {
	e.t.Helper()
	c, err := cloud.New(e.Ctx, cloud.Options{Region: simenv.Region, Endpoint: e.Srv.URL, Credentials: simenv.Credentials(), Logger: e.Log})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// Machine is an instance that is running, with the host keys its
// console shows.
type Machine struct {
	ID, IP   string
	HostKeys []string // "type base64", as in known_hosts
}

// KnownHosts returns known_hosts lines for the machine under each of
// addrs (its private address when none is given).
func (m Machine) KnownHosts(addrs ...string) string {
	if len(addrs) == 0 {
		addrs = []string{m.IP}
	}
	var b strings.Builder
	for _, a := range addrs {
		for _, k := range m.HostKeys {
			fmt.Fprintf(&b, "%s %s\n", a, k)
		}
	}
	return b.String()
}

// Launch runs n instances of the image with the key pair and waits until
// they run and their consoles show their host keys. They come back in
// the order RunInstances gave them.
func (e *Env) Launch(n int) []Machine {
	e.t.Helper()
	return e.LaunchImage(e.Image, n)
}

// LaunchImage is Launch from another image, such as one the test made.
func (e *Env) LaunchImage(image string, n int) []Machine {
	e.t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String(image), KeyName: aws.String(e.KeyName),
		InstanceType: ec2types.InstanceTypeT3Small, MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n))}
	if e.profile != "" {
		in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(e.profile)}
		in.MetadataOptions = &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired,
			HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled}
	}
	out, err := e.SDK.EC2.RunInstances(e.Ctx, in)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, inst := range out.Instances {
		ids = append(ids, aws.ToString(inst.InstanceId))
	}
	w := ec2.NewInstanceRunningWaiter(e.SDK.EC2, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	desc, err := w.WaitForOutput(e.Ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 5*time.Minute)
	if err != nil {
		e.t.Fatalf("instances not running: %v", err)
	}
	ip := map[string]string{}
	for _, r := range desc.Reservations {
		for _, inst := range r.Instances {
			ip[aws.ToString(inst.InstanceId)] = aws.ToString(inst.PrivateIpAddress)
		}
	}
	ms := make([]Machine, 0, n)
	for _, id := range ids {
		console, err := simenv.ConsoleOutput(e.Ctx, e.SDK, id)
		if err != nil {
			e.t.Fatal(err)
		}
		keys := machines.ParseHostKeys(console).Keys
		if len(keys) == 0 {
			e.t.Fatalf("%s's console shows no host keys", id)
		}
		ms = append(ms, Machine{ID: id, IP: ip[id], HostKeys: keys})
	}
	return ms
}

// WriteKnownHosts writes lines (Machine.KnownHosts) into a known_hosts
// file of the test's and returns its path.
func (e *Env) WriteKnownHosts(lines ...string) string {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// SSH returns OpenSSH's client, run in the machines' namespace, that runs
// line on the machine at ip as admin with the key pair, checking its host
// key against knownHosts and reading no user's configuration.
func (e *Env) SSH(ctx context.Context, knownHosts, ip, line string) *exec.Cmd {
	cmd := e.Net.Command(ctx, "ssh", "-F", "/dev/null", "-i", e.KeyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=20", "admin@"+ip, line)
	cmd.Env = []string{"HOME=" + e.t.TempDir(), "PATH=" + os.Getenv("PATH")}
	return cmd
}

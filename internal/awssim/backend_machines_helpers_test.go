package awssim

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/testlog"
)

// requireMachines skips a test that boots machines where it cannot (not
// root, tools missing) and fails it under CI=true, which has them all: what
// testutil.RequireRoot and RequireTool do (testutil imports awssim, so
// these tests cannot import it).
func requireMachines(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"debootstrap", "systemd-nspawn", "nsenter", "chroot", "ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	switch {
	case len(missing) == 0:
	case os.Getenv("CI") == "true":
		t.Fatalf("machine tests need %v and CI=true: run .ci/run as root (scripts/install-test-deps.sh installs the tools)", missing)
	default:
		t.Skipf("machine tests need %v", missing)
	}
}

// machineOptions is a machine-backed simulator whose machines' state
// lives in the test's temp dir; images in the shared cache, so the base
// image is built once per machine, not per test.
func machineOptions(t testing.TB) Options {
	return Options{Machines: true, MachineStateDir: t.TempDir(), Tick: 50 * time.Millisecond, SaveInterval: time.Second}
}

// newMachineEnv starts a machine-backed simulator and its SDK clients,
// with time enough to build the base image if the cache lacks it.
func newMachineEnv(t testing.TB, opts Options) *env {
	t.Helper()
	requireMachines(t)
	srv, err := Start(opts, machineLogger(t))
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, srv: srv}
	e.connect(3)
	return e
}

func machineLogger(t testing.TB) *slog.Logger {
	if os.Getenv("AWSSIM_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(testlog.Progress(t), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// waitFor polls cond until it holds, failing the test after timeout (a
// bound on a wait, not a claim about speed).
func (e *env) waitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// baseImage finds the simulator's base image by its tag, as a caller
// would find Debian's AMI.
func (e *env) baseImage() ec2types.Image {
	e.t.Helper()
	out := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + BaseImageTag), Values: []string{"bookworm"}}},
	})).must(e.t)
	if len(out.Images) != 1 {
		e.t.Fatalf("base images: %d, want 1", len(out.Images))
	}
	return out.Images[0]
}

// runMachine launches one instance and waits until it is running.
func (e *env) runMachine(in *ec2.RunInstancesInput) ec2types.Instance {
	e.t.Helper()
	in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
	start := time.Now()
	out := try(e.ec2.RunInstances(e.ctx, in)).must(e.t)
	id := aws.ToString(out.Instances[0].InstanceId)
	if s := out.Instances[0].State.Name; s != ec2types.InstanceStateNamePending {
		e.t.Errorf("%s is %s after RunInstances, want pending", id, s)
	}
	w := ec2.NewInstanceRunningWaiter(e.ec2, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	desc, err := w.WaitForOutput(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, 5*time.Minute)
	if err != nil {
		e.t.Fatalf("%s not running: %v", id, err)
	}
	inst := desc.Reservations[0].Instances[0]
	e.t.Logf("%s running at %s, %v after RunInstances", id, aws.ToString(inst.PrivateIpAddress), time.Since(start).Round(10*time.Millisecond))
	return inst
}

// get fetches a URL from inside the machines' namespace (HTTPS without
// checking the machine's self-signed certificate).
func (e *env) get(url string) (int, string) {
	e.t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: e.srv.MachineNetwork().DialContext, TLSClientConfig: backendTLS(), DisableKeepAlives: true,
	}}
	resp, err := client.Get(url)
	if err != nil {
		e.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// leftovers lists the mounts under dir and the processes whose command
// line names the machine: what a terminated instance must not leave.
func leftovers(t *testing.T, dir, machine string) []string {
	t.Helper()
	var out []string
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, dir) && strings.Contains(line, "/"+machine+"/") {
			out = append(out, "mount: "+line)
		}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		cmdline, err := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		if err != nil {
			continue
		}
		// Instance ids repeat across simulators: a machine of another test
		// running at the same time (go test runs packages in parallel) has
		// the same name, but its directory is not under dir.
		if strings.Contains(string(cmdline), "--machine="+machine+"\x00") && strings.Contains(string(cmdline), dir) {
			out = append(out, "process "+p.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// newKey creates a key pair through the API and writes its private key to
// a file for ssh -i.
func (e *env) newKey(name string) string {
	e.t.Helper()
	kp := try(e.ec2.CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name), KeyType: ec2types.KeyTypeEd25519})).must(e.t)
	file := filepath.Join(e.t.TempDir(), name)
	if err := os.WriteFile(file, []byte(aws.ToString(kp.KeyMaterial)), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return file
}

// knownHosts builds a known_hosts file for the instance from the host keys
// its console shows (GetConsoleOutput), as an EC2 user checks them.
func (e *env) knownHosts(id, ip string) string {
	e.t.Helper()
	out := try(e.ec2.GetConsoleOutput(e.ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id), Latest: aws.Bool(true)})).must(e.t)
	console, err := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
	if err != nil {
		e.t.Fatalf("console output is not base64: %v", err)
	}
	hk := machines.ParseHostKeys(console)
	if len(hk.Keys) == 0 || len(hk.Keys) != len(hk.Fingerprints) {
		e.t.Fatalf("%s's console has host keys %+v:\n%s", id, hk, console)
	}
	var b strings.Builder
	for _, k := range hk.Keys {
		fmt.Fprintf(&b, "%s %s\n", ip, k)
	}
	file := filepath.Join(e.t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return file
}

// ssh runs command on the instance as admin with the real OpenSSH client,
// inside the machines' namespace, trusting only the host keys of its
// console; nothing of HOME or ~/.ssh is read.
func (e *env) ssh(inst ec2types.Instance, keyFile, command string) (string, error) {
	e.t.Helper()
	ip := aws.ToString(inst.PrivateIpAddress)
	known := e.knownHosts(aws.ToString(inst.InstanceId), ip)
	home := e.t.TempDir()
	cmd := e.srv.MachineNetwork().Command(e.ctx, "ssh", "-F", "/dev/null", "-i", keyFile,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+known,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20",
		"admin@"+ip, command)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustSSH runs command with ssh, as a client of EC2 does: retrying while
// the instance, running, does not take logins yet (sshd not listening, or
// pam_nologin's "System is booting up" until systemd-user-sessions runs).
func (e *env) mustSSH(inst ec2types.Instance, keyFile, command string) string {
	e.t.Helper()
	out, err := e.ssh(inst, keyFile, command)
	for deadline := time.Now().Add(time.Minute); err != nil && notYet(out) && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		out, err = e.ssh(inst, keyFile, command)
	}
	if err != nil {
		e.t.Fatalf("ssh admin@%s %q: %v\n%s", aws.ToString(inst.PrivateIpAddress), command, err, out)
	}
	return out
}

func notYet(sshOutput string) bool {
	return strings.Contains(sshOutput, "System is booting up") || strings.Contains(sshOutput, "Connection refused")
}

// imageLayerDir is where the store keeps the layer of an image this
// simulator made (named after its namespace and the image).
func (e *env) imageLayerDir(imageID string) string {
	return filepath.Join(machines.DefaultCacheDir, "layers", e.srv.MachineNetwork().Name()+"-"+imageID)
}

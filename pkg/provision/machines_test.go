package provision_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/provision"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// stack is one simulator with a machine of the stack image per server of
// the seed's architecture, each reachable over SSH from the test.
type stack struct {
	t       *testing.T
	ctx     context.Context
	srv     *awssim.Server
	net     *machines.Network
	keyFile string
	known   string // known_hosts of every machine, by private and forwarded address
	logs    string
	byRole  map[string]*machine
}

type machine struct {
	id, ip string
	ssh    string // 127.0.0.1:port, forwarded to ip:22 in the namespace
}

func newStack(t *testing.T, names ...string) *stack {
	t.Helper()
	testutil.RequireRoot(t)
	for _, tool := range []string{"debootstrap", "systemd-nspawn", "nsenter", "chroot", "ssh", "ssh-keygen"} {
		testutil.RequireTool(t, tool)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := awssim.Start(awssim.Options{Machines: true, StackImage: true, MachineStateDir: t.TempDir(), Tick: 50 * time.Millisecond}, logger)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	c := simenv.Connect(srv.URL)
	image, err := simenv.ImageTagged(ctx, c, awssim.StackImageTag)
	if err != nil {
		t.Fatal(err)
	}
	key, err := simenv.CreateKeyPair(ctx, c, "provision")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, ctx: ctx, srv: srv, net: srv.MachineNetwork(), keyFile: filepath.Join(t.TempDir(), "key"),
		logs: t.TempDir(), byRole: map[string]*machine{}}
	if err := os.WriteFile(s.keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	n := int32(len(names))
	out, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), KeyName: aws.String("provision"),
		InstanceType: ec2types.InstanceTypeT3Small, MinCount: aws.Int32(n), MaxCount: aws.Int32(n)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inst := range out.Instances {
		ids = append(ids, aws.ToString(inst.InstanceId))
	}
	w := ec2.NewInstanceRunningWaiter(c.EC2, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	desc, err := w.WaitForOutput(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 5*time.Minute)
	if err != nil {
		t.Fatalf("instances not running: %v", err)
	}
	var known strings.Builder
	i := 0
	for _, r := range desc.Reservations {
		for _, inst := range r.Instances {
			m := &machine{id: aws.ToString(inst.InstanceId), ip: aws.ToString(inst.PrivateIpAddress)}
			m.ssh = s.forward(m.ip + ":22")
			console, err := simenv.ConsoleOutput(ctx, c, m.id)
			if err != nil {
				t.Fatal(err)
			}
			hk := machines.ParseHostKeys(console)
			if len(hk.Keys) == 0 {
				t.Fatalf("%s's console shows no host keys", m.id)
			}
			_, port, _ := net.SplitHostPort(m.ssh)
			for _, k := range hk.Keys {
				fmt.Fprintf(&known, "%s %s\n[127.0.0.1]:%s %s\n", m.ip, k, port, k)
			}
			s.byRole[names[i]] = m
			i++
		}
	}
	s.known = filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(s.known, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// forward relays a loopback port of the host to target in the machines'
// namespace, which the host has no route to, so that package remote's
// SSH client reaches the machine as it would from a bastion.
func (s *stack) forward(target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	var wg sync.WaitGroup
	s.t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				r, err := s.net.DialContext(s.ctx, "tcp", target)
				if err != nil {
					return
				}
				defer r.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(r, c); done <- struct{}{} }()
				go func() { io.Copy(c, r); done <- struct{}{} }()
				<-done
			})
		}
	})
	return ln.Addr().String()
}

func (s *stack) provisioner(deployID string, p roles.RecipeParams, sec roles.Secrets) *provision.Provisioner {
	s.t.Helper()
	logger := slog.New(slog.NewTextHandler(s.t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	pr, err := provision.New(provision.Config{
		Remote: remote.Config{User: "admin", KeyFile: s.keyFile, KnownHosts: s.known, ConnectTimeout: 30 * time.Second,
			CommandTimeout: 10 * time.Minute, Logs: remote.Logs{Root: s.logs, Env: "testing", DeployID: deployID}},
		Recipes: roles.NewRecipes(), Params: p, Secrets: sec,
	}, logger)
	if err != nil {
		s.t.Fatal(err)
	}
	return pr
}

// sh runs script with sh as root on the machine (admin with sudo), with
// the real OpenSSH client in the machines' namespace, and returns its
// output; it fails the test if the script fails.
func (s *stack) sh(m *machine, script string) string {
	s.t.Helper()
	out, err := s.trySh(m, script)
	if err != nil {
		s.t.Fatalf("on %s: %v\n%s\nscript:\n%s", m.ip, err, out, script)
	}
	return out
}

func (s *stack) trySh(m *machine, script string) (string, error) {
	cmd := s.net.Command(s.ctx, "ssh", "-F", "/dev/null", "-i", s.keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+s.known, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=20", "admin@"+m.ip, "sudo sh -s")
	cmd.Env = []string{"HOME=" + s.t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader("set -eu\n" + script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// get fetches url from inside the namespace (HTTPS accepting the
// machine's self-signed certificate, as the seed's balancer does).
func (s *stack) get(url string) (int, string) {
	s.t.Helper()
	code, body, err := s.doGet(url)
	if err != nil {
		s.t.Fatalf("GET %s: %v", url, err)
	}
	return code, body
}

func (s *stack) doGet(url string) (int, string, error) {
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: s.net.DialContext, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the machine's snakeoil certificate
	}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// release installs the test's release (testdata/release) as commit sha in
// /srv/app/releases/<sha> with /srv/app/current pointing at it, as an
// image baked for the commit would have it.
func (s *stack) release(m *machine, sha string) {
	s.t.Helper()
	var script strings.Builder
	dir := "/srv/app/releases/" + sha
	fmt.Fprintf(&script, "install -d -o app -g app %s/app\n", dir)
	for _, f := range []string{"__init__.py", "settings.py", "wsgi.py", "celery.py"} {
		body, err := os.ReadFile(filepath.Join("testdata/release/app", f))
		if err != nil {
			s.t.Fatal(err)
		}
		fmt.Fprintf(&script, "echo %s | base64 -d >%s/app/%s\n", base64.StdEncoding.EncodeToString(body), dir, f)
	}
	fmt.Fprintf(&script, "chown -R app:app %s\nln -sfn %s /srv/app/current\n", dir, dir)
	s.sh(m, script.String())
}

func secrets() roles.Secrets {
	return roles.Secrets{
		DB: "db-password-0123456789", Replication: "replication-0123456789", Queue: "queue-password-0123456789",
		Cache: "cache-password-0123456789", SecretKey: "django-secret-key-0123456789abcdef",
	}
}

func (s *stack) checkReports(reports []provision.Report, wantChange bool) {
	s.t.Helper()
	for _, r := range reports {
		log, _ := os.ReadFile(r.Log)
		if r.Err != nil {
			s.t.Fatalf("provision %v on %s: %v\nlog:\n%s", r.Server.Roles, r.Server.Address, r.Err, log)
		}
		if wantChange && len(r.Changes) == 0 {
			s.t.Errorf("%v on %s: a first run changed nothing", r.Server.Roles, r.Server.Address)
		}
		if !wantChange && len(r.Changes) > 0 {
			s.t.Errorf("%v on %s: a second run changed %q\nlog:\n%s", r.Server.Roles, r.Server.Address, r.Changes, log)
		}
		if !wantChange && !bytes.Contains(log, []byte("recipe done: no change")) {
			s.t.Errorf("%v on %s: the log does not say the run changed nothing", r.Server.Roles, r.Server.Address)
		}
		for _, secret := range []string{secrets().DB, secrets().Replication, secrets().Queue, secrets().Cache, secrets().SecretKey} {
			if bytes.Contains(log, []byte(secret)) {
				s.t.Errorf("%s's log holds a secret", r.Log)
			}
		}
	}
}

package provision_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/internal/testlog"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/provision"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// stack is one simulator with a machine of the stack image per server of
// the seed's architecture, each reachable over SSH from the test.
type stack struct {
	*machinetest.Env
	t      *testing.T
	ctx    context.Context
	net    *machines.Network
	known  string // known_hosts of every machine, by private and forwarded address
	logs   string
	byRole map[string]*machine
	// progress gets the provisioners' logs (testlog.Progress).
	progress io.Writer
	// ferry waits for a ferry binary for the machines (buildFerry); nil
	// without one.
	ferry func() string
}

type machine struct {
	id, ip string
	ssh    string // 127.0.0.1:port, forwarded to ip:22 in the namespace
}

func newStack(t *testing.T, names ...string) *stack {
	t.Helper()
	// An instance profile, whose credentials ferry-secrets.service reads
	// with IMDSv2, as env create launches servers.
	e := machinetest.Start(t, machinetest.Options{Stack: true, KeyName: "provision", InstanceProfile: "myproject-app"})
	s := &stack{Env: e, t: t, ctx: e.Ctx, net: e.Net, logs: t.TempDir(), byRole: map[string]*machine{}, progress: testlog.Progress(t)}
	var known []string
	for i, m := range e.Launch(len(names)) {
		sm := &machine{id: m.ID, ip: m.IP, ssh: s.forward(m.IP + ":22")}
		_, port, _ := net.SplitHostPort(sm.ssh)
		known = append(known, m.KnownHosts(m.IP, "[127.0.0.1]:"+port))
		s.byRole[names[i]] = sm
	}
	s.known = e.WriteKnownHosts(known...)
	return s
}

// buildFerry starts building the ferry command for the machines (static:
// their glibc may be older than this host's) and returns a function that
// waits for it and returns its path.
func buildFerry(t *testing.T) func() string {
	bin := filepath.Join(t.TempDir(), "ferry")
	done := make(chan error, 1)
	go func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/agent")
		cmd.Dir = "../.."
		cmd.Env = testutil.GoBuildEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build ./cmd/agent: %w\n%s", err, out)
		}
		done <- err
	}()
	var once sync.Once
	var err error
	return func() string {
		t.Helper()
		once.Do(func() { err = <-done })
		if err != nil {
			t.Fatal(err)
		}
		return bin
	}
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
	ferry := ""
	if p.SecretsPath != "" {
		ferry = s.ferry()
	}
	logger := slog.New(slog.NewTextHandler(s.progress, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pr, err := provision.New(provision.Config{
		Remote: remote.Config{User: "admin", KeyFile: s.KeyFile, KnownHosts: s.known, ConnectTimeout: 30 * time.Second,
			CommandTimeout: 10 * time.Minute, Logs: remote.Logs{Root: s.logs, Env: "testing", DeployID: deployID}},
		Recipes: roles.NewRecipes(), Params: p, Secrets: sec, Ferry: ferry,
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
	cmd := s.SSH(s.ctx, s.known, m.ip, "sudo sh -s")
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

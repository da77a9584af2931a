package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// built is a ferry binary of this test run, built on first use.
type built struct {
	once sync.Once
	path string
	err  error
}

// shipped and faulty are the one piece of state shared by the package's
// tests: the binaries, which every test only reads. faulty is built with
// the tag ferryfault (internal/faultpoint), for the crash matrix.
var shipped, faulty built

// ferryBinary builds cmd/agent as it ships, once per test run, and
// returns its path.
func ferryBinary(t *testing.T) string { return buildFerry(t, &shipped, "ferry") }

// faultBinary builds cmd/agent with the fault hook (build tag ferryfault).
func faultBinary(t *testing.T) string { return buildFerry(t, &faulty, "ferry-fault", "ferryfault") }

// buildFerry builds cmd/agent once per test run into b. It goes to a
// directory of the temp dir named after the module's location, through a
// temporary name and an atomic rename, so concurrent runs from the same
// tree share it and runs from other trees never see it.
func buildFerry(t *testing.T, b *built, name string, tags ...string) string {
	t.Helper()
	goTool := testutil.RequireTool(t, "go")
	b.once.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			b.err = err
			return
		}
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), "ferry-e2e-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.err = err
			return
		}
		tmp, err := os.CreateTemp(dir, name+"-*.tmp")
		if err != nil {
			b.err = err
			return
		}
		tmp.Close()
		args := []string{"build", "-o", tmp.Name()}
		if len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		cmd := exec.Command(goTool, append(args, "./cmd/agent")...)
		cmd.Dir = root
		cmd.Env = testutil.GoBuildEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp.Name())
			b.err = fmt.Errorf("go %s ./cmd/agent: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		b.path = filepath.Join(dir, name)
		b.err = os.Rename(tmp.Name(), b.path)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// childEnv is the environment of every ferry process: the simulator takes
// any credentials, and nothing may reach for a real AWS profile or an
// instance metadata service.
func childEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+simenv.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+simenv.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
	)
}

// simProcess is `ferry sim` running as its own process.
type simProcess struct {
	URL string
	cmd *exec.Cmd
	out *testutil.Buffer
}

// startSim runs the simulator on a free loopback port with a state file,
// short boot delays and a fast AWS second, and stops it (SIGTERM, which
// saves the state) when the test ends.
func startSim(t *testing.T, bin string) *simProcess {
	t.Helper()
	state := filepath.Join(t.TempDir(), "account.json")
	var lastErr error
	// The port comes from a listener closed again, so another process may
	// take it first: try a few.
	for range 5 {
		addr := freeAddr(t)
		s := &simProcess{out: &testutil.Buffer{}}
		s.cmd = exec.Command(bin, "sim", "--listen", addr, "--state", state,
			"--boot-delay", "100ms", "--second", "20ms", "--app", "demo", "--log-level", "warn")
		s.cmd.Env = childEnv()
		stdout, err := s.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		s.cmd.Stderr = s.out
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if url, ok := strings.CutPrefix(sc.Text(), "AWS simulator listening on "); ok {
					ready <- url
				}
				s.out.Write([]byte(sc.Text() + "\n"))
			}
			close(ready)
		}()
		select {
		case url, ok := <-ready:
			if ok {
				s.URL = url
				t.Cleanup(func() { s.stop(t) })
				return s
			}
			lastErr = fmt.Errorf("ferry sim exited: %v", s.cmd.Wait())
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
			lastErr = fmt.Errorf("ferry sim did not start")
		}
	}
	t.Fatalf("%v", lastErr)
	return nil
}

func (s *simProcess) stop(t *testing.T) {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	if t.Failed() {
		t.Logf("ferry sim output:\n%s", s.out)
	}
}

// balancerURL asks the simulator for the HTTP listener of a classic balancer.
func (s *simProcess) balancerURL(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/_awssim/balancers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	url, ok := m["elb/"+name]
	if !ok {
		t.Fatalf("the simulator has no balancer %s: %v", name, m)
	}
	return url
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// project is one environment in its own simulator, git remote and state
// dir, with the config file that ties them together.
type project struct {
	t        *testing.T
	bin      string
	sim      *simProcess
	cloud    *cloud.Client
	work     *testutil.GitRepo
	remote   string
	config   string
	stateDir string
	// env is added to the environment of every ferry process the test
	// runs (FERRY_FAULT for the crash matrix).
	env []string
}

const (
	group    = "shop-staging-web"
	balancer = "shop-staging"
)

// newProject builds a staging environment of size instances running a
// first commit, deployed from the branch staging of a bare remote.
func newProject(t *testing.T, size int) (*project, string) {
	t.Helper()
	return newProjectWith(t, size, "")
}

// newProjectWith is newProject with more lines of the environment's policy
// (e.g. "serial_mode = \"replace-unhealthy\"").
func newProjectWith(t *testing.T, size int, policy string) (*project, string) {
	t.Helper()
	bin := ferryBinary(t)
	work := testutil.NewGitRepo(t)
	first := work.Commit("First", map[string]string{"app.py": "1\n", ".ferry/schema-version": "1\n"})
	remote := filepath.Join(t.TempDir(), "shop.git")
	testutil.InitBareRepo(t, remote)
	work.Git("remote", "add", "origin", remote)
	work.Git("push", "-q", "origin", "main:staging")

	sim := startSim(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := simenv.Connect(sim.URL)
	if err := simenv.Create(ctx, clients, simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: group,
		Groups:         []simenv.Group{{Name: group, Size: size, ClassicLB: balancer}},
		DeployedCommit: first, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(ctx, clients, group, size); err != nil {
		t.Fatal(err)
	}
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: sim.URL, Credentials: simenv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}

	stateDir := t.TempDir()
	config := filepath.Join(t.TempDir(), "ferry.toml")
	// The lease is long: a restarted deploy must take over the lock of the
	// one that was killed because that process no longer runs, not because
	// the lease ran out.
	doc := fmt.Sprintf(`[project]
name = "shop"
state_dir = %q

[project.git]
url = %q

[environments.staging]
branch = "staging"
aws.region = "us-east-1"
aws.endpoint = %q
groups.web = %q
load_balancers.classic = [%q]
ssh.user = "deploy"

[environments.staging.policy]
poll_interval = "50ms"
%s

[environments.staging.policy.timeouts]
instances_in_service = "60s"
healthy_in_balancers = "60s"
drain = "60s"
lock_lease = "10m"

# The instances are simulated: no SSH, the hooks run nothing.
[environments.staging.hooks.web]
upgrade_page_on = []
upgrade_page_off = []
[environments.staging.hooks.worker]
deploy = []
`, stateDir, "file://"+remote, sim.URL, group, balancer, policy)
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return &project{t: t, bin: bin, sim: sim, cloud: c, work: work, remote: remote, config: config, stateDir: stateDir}, first
}

// push commits files and pushes them to the staging branch.
func (p *project) push(message string, files map[string]string) string {
	p.t.Helper()
	c := p.work.Commit(message, files)
	p.work.Git("push", "-q", "origin", "main:staging")
	return c
}

// ferry runs the binary to completion and returns its exit code and output.
func (p *project) ferry(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	p.t.Helper()
	var out, errOut testutil.Buffer
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = append(childEnv(), p.env...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errOut.String()
	}
	if err != nil {
		p.t.Fatalf("ferry %s: %v", strings.Join(args, " "), err)
	}
	return 0, out.String(), errOut.String()
}

// running is a ferry process whose log is read line by line as it runs.
type running struct {
	cmd    *exec.Cmd
	stdout testutil.Buffer
	stderr testutil.Buffer
	// seen gets each log line; the reader drops lines nobody waits for.
	seen chan string
	done chan struct{}
}

// start runs ferry in the background.
func (p *project) start(args ...string) *running {
	p.t.Helper()
	r := &running{seen: make(chan string, 1024), done: make(chan struct{})}
	r.cmd = exec.Command(p.bin, args...)
	r.cmd.Env = append(childEnv(), p.env...)
	r.cmd.Stdout = &r.stdout
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			r.stderr.Write([]byte(line + "\n"))
			select {
			case r.seen <- line:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
	}()
	p.t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		_ = r.cmd.Wait()
	})
	return r
}

// waitLine returns the first log line match accepts, or fails when the
// process ends first or ctx does.
func (r *running) waitLine(ctx context.Context, match func(string) bool) (string, error) {
	for {
		select {
		case line := <-r.seen:
			if match(line) {
				return line, nil
			}
		case <-r.done:
			// Drain what the reader queued before it ended.
			for {
				select {
				case line := <-r.seen:
					if match(line) {
						return line, nil
					}
				default:
					return "", fmt.Errorf("ferry exited before the line was logged")
				}
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// kill sends SIGKILL, as a power cut or the OOM killer would, and waits
// for the process to be gone.
func (r *running) kill() error {
	if err := r.cmd.Process.Kill(); err != nil {
		return err
	}
	<-r.done
	err := r.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
		return nil // killed by the signal, as intended
	}
	return fmt.Errorf("ferry was not killed by the signal: %v", err)
}

// stop sends SIGTERM, as systemd stopping the agent would, and returns the
// exit code once the process is gone.
func (r *running) stop() (int, error) {
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	<-r.done
	err := r.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if !ee.Exited() {
			return 0, fmt.Errorf("ferry did not exit on SIGTERM but was killed: %v", err)
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

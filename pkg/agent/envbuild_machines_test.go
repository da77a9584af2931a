package agent_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// TestEnvCreateOnMachines creates the seed's testing environment on the
// simulator's machines (the stack image: every role's packages, none of
// their services set up) and runs an operator's day on it, one phase
// after another, each a method of envMachines (add a phase as a method in
// a file of its own and one line here):
//   - create: every long-lived server made into its roles by its recipe,
//     each with its own log; the secrets put in SSM; the web group's
//     instance runs the app's first commit (examples/app) from an image
//     baked from the stack image, by a builder the recipes made with no
//     secret, and serves the secret API_TOKEN it fetched at boot (its hash);
//   - a secrets push reaches the running instances without a deploy, and a
//     scaled-out instance boots with the new value;
//   - a serial deploy through the balancer keeps a Redis session with no
//     failed request;
//   - the web and worker groups run the commit's one image, each instance
//     its own role alone (checkRoles), and a Celery task round-trips;
//   - a full redeploy at debug level pushes a changed secret first
//     (policy.push_secrets) and posts commit statuses to a forge;
//   - no artifact of the run holds a secret value; a second create is
//     refused, and destroy leaves nothing of it.
func TestEnvCreateOnMachines(t *testing.T) {
	w := newEnvMachines(t)
	w.create()
	w.checkFirstCommit()
	w.checkCreateMigrated()
	w.checkSecretsPush()
	w.checkScaleOut()
	w.checkSerialDeploy()
	w.checkRoles()
	w.checkBrokenRollback()
	w.checkFullDeploy()
	w.checkEveryArtifact()
	w.checkNoSecretLeaks()
	w.checkDestroy()
}

// envMachines is an environment env create builds on the simulator's
// machines, and what the phases of TestEnvCreateOnMachines share.
type envMachines struct {
	t      *testing.T
	sim    *machinetest.Env
	ctx    context.Context
	logger *slog.Logger
	srv    *awssim.Server
	ferry  func() string // the ferry binary, static
	repo   *testutil.GitRepo
	first  string // the first commit, on branch testing

	secretsFile string
	secrets     string   // the secrets file's text
	values      []string // every secret value the run ever used

	stateDir, cfgFile string
	cfg               *config.Config
	p                 *agent.Project
	progress          bytes.Buffer
	req               agent.EnvRequest
	c                 *cloud.Client
	start             time.Time // create began

	web string // the web group's first instance's address
	// hc reaches instances in the machines' namespace; browser the
	// balancer, with a cookie jar.
	hc, browser *http.Client
	lb          string // the balancer's HTTPS listener
	// outputs are what ferry commands the phases ran printed: none may
	// hold a secret value.
	outputs [][]byte
}

// newEnvMachines starts the simulator with machines, commits examples/app
// on the environment's branch and writes the environment's config and
// secrets file.
func newEnvMachines(t *testing.T) *envMachines {
	// The seed's health check (every 30 s, healthy after 10) at a tenth
	// of its pace: a new instance is InService in the balancer in about
	// 30 s, not 5 minutes.
	sim := machinetest.Start(t, machinetest.Options{Stack: true, KeyName: "myproject-testing", Second: 100 * time.Millisecond, Timeout: 20 * time.Minute})
	w := &envMachines{t: t, sim: sim, ctx: sim.Ctx, logger: sim.Log, srv: sim.Srv, ferry: buildFerry(t)}
	dir := t.TempDir()
	w.secretsFile = filepath.Join(dir, "testing.env")
	var sec strings.Builder
	w.values = []string{apiToken}
	for _, n := range roles.SecretNames() {
		v := secretValue(n)
		fmt.Fprintf(&sec, "%s=%s\n", n, v)
		w.values = append(w.values, v)
	}
	fmt.Fprintf(&sec, "API_TOKEN=%s\n", apiToken)
	w.secrets = sec.String()
	// The app's first commit on the environment's branch.
	w.repo = testutil.NewGitRepo(t)
	// Not its schema bump: checkFullDeploy commits that.
	if err := copyTree("../../examples/app", w.repo.Dir, "schema-bump"); err != nil {
		t.Fatal(err)
	}
	w.repo.Git("add", ".")
	w.repo.Git("commit", "-q", "-m", "the app")
	w.first = w.repo.Git("rev-parse", "HEAD")
	w.repo.Git("branch", "testing")
	if err := os.WriteFile(w.secretsFile, []byte(w.secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	w.stateDir = filepath.Join(dir, "state")
	doc := fmt.Sprintf(`[project]
name = "myproject"
state_dir = %q
[project.git]
url = "file://%s"

[environments.testing]
branch = "testing"
aws.region = "us-east-1"
aws.endpoint = %q
groups.web = "myproject-testing-web"
groups.worker = "myproject-testing-worker"
launch.image = "bake"
launch.base_image = %q
launch.key_name = "myproject-testing"
launch.iam_instance_profile = "myproject-app"
launch.http_tokens = "required"
secrets.file = %q

[environments.testing.create]
ferry_binary = %q
instance_endpoint = %q

[environments.testing.ssh]
user = "admin"
key_file = %q
trust_on_first_use = true
connect_timeout = "30s"

[environments.testing.policy]
poll_interval = "500ms"

[environments.testing.create.servers.web]
instance_type = "t3.small"
max = 3
[environments.testing.create.servers.worker]
instance_type = "t3.small"
[environments.testing.create.servers.cache]
instance_type = "t3.medium"
[environments.testing.create.servers.db-primary]
instance_type = "m6i.large"
[environments.testing.create.servers.db-replica]
instance_type = "m6i.large"
`, w.stateDir, w.repo.Dir, w.srv.URL, sim.Image, w.secretsFile, w.ferry(), w.srv.InstanceURL, sim.KeyFile)
	w.cfgFile = filepath.Join(dir, "ferry.toml")
	if err := os.WriteFile(w.cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.cfg, err = config.Parse(w.cfgFile, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", simenv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", simenv.SecretAccessKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	connect := func(ctx context.Context, env *config.Environment, log *slog.Logger) (agent.Cloud, error) {
		return cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Credentials: simenv.Credentials(), Logger: log})
	}
	if w.p, err = agent.OpenProject(w.cfg, connect, "ferry/test", w.logger); err != nil {
		t.Fatal(err)
	}
	c, err := connect(w.ctx, w.cfg.Environments["testing"], w.logger)
	if err != nil {
		t.Fatal(err)
	}
	w.c = c.(*cloud.Client)
	w.req = agent.EnvRequest{Progress: &w.progress, Dialer: w.srv.MachineNetwork()}
	w.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: w.srv.MachineNetwork().DialContext, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the instance's snakeoil certificate
	jar, _ := cookiejar.New(nil)
	w.browser = &http.Client{Timeout: 30 * time.Second, Jar: jar, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the simulator's balancer certificate
	return w
}

// secretValue is the test's value of the secret name.
func secretValue(name string) string {
	return strings.Repeat("s", 8) + strings.ReplaceAll(strings.ToLower(name), "_", "x")
}

// create runs env create and checks that every long-lived server was
// provisioned, each with a log of its own holding no secret.
func (w *envMachines) create() {
	t := w.t
	w.start = time.Now()
	res, err := w.p.CreateEnv(w.ctx, "testing", w.req)
	t.Logf("create took %s; progress:\n%s", time.Since(w.start).Round(time.Second), w.progress.String())
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(res.Servers) != 3 {
		t.Fatalf("%d servers, want cache, db-primary and db-replica", len(res.Servers))
	}
	logs := map[string]bool{}
	for _, s := range res.Servers {
		if s.Err != nil || s.Log == "" || s.Changes == 0 || s.Address == "" {
			t.Errorf("server %s: %+v", s.Type, s)
			continue
		}
		b, err := os.ReadFile(s.Log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "changed: ") {
			t.Errorf("%s's log shows no change:\n%s", s.Type, b)
		}
		for _, n := range roles.SecretNames() {
			if strings.Contains(string(b), secretValue(n)) {
				t.Errorf("%s's log holds the secret %s", s.Type, n)
			}
		}
		logs[s.Log] = true
	}
	if len(logs) != 3 {
		t.Errorf("the servers share log files: %v", logs)
	}
}

// serves waits until the instance at ip answers path with want.
func (w *envMachines) serves(ip, path, want string) {
	w.t.Helper()
	var code int
	var body string
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if resp, err := w.hc.Get("https://" + ip + path); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if code, body = resp.StatusCode, string(b); code == 200 && body == want {
				return
			}
		}
	}
	w.t.Errorf("GET %s on %s: %d %q, want %q", path, ip, code, body, want)
}

// checkFirstCommit: the web group's instance serves the first commit,
// from the baked image, with the secret it fetched at boot.
func (w *envMachines) checkFirstCommit() {
	w.web = waitGroupInstance(w.ctx, w.t, w.c, "myproject-testing-web")
	w.serves(w.web, "/", "commit "+w.first+"\n")
	w.serves(w.web, "/secret", tokenPage(apiToken))
	w.t.Logf("create, the bake included, to the web group's instance serving: %s", time.Since(w.start).Round(time.Second))
	if _, err := os.Stat(agent.SecretsRecordPath(w.stateDir, "testing")); err != nil {
		w.t.Errorf("create left no record of the secrets it put in SSM: %v", err)
	}
}

// checkSecretsPush: ferry secrets push of a changed value reaches the
// running instance through the default secrets_changed hook, without a
// deploy.
func (w *envMachines) checkSecretsPush() {
	t := w.t
	w.secrets = strings.Replace(w.secrets, apiToken, apiToken2, 1)
	if err := os.WriteFile(w.secretsFile, []byte(w.secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	w.values = append(w.values, apiToken2)
	push := &agent.SecretsPush{Project: "myproject", StateDir: w.stateDir, Env: w.cfg.Environments["testing"], Store: w.c,
		Groups: w.c, Dialer: w.srv.MachineNetwork(), Log: w.logger}
	rec, err := push.Run(w.ctx)
	// The web instance and the worker's.
	if err != nil || !slices.Equal(rec.Written, []string{"API_TOKEN"}) || len(rec.Servers) != 2 ||
		!slices.ContainsFunc(rec.Servers, func(s agent.SecretServer) bool { return s.Address == w.web }) {
		t.Fatalf("secrets push: %+v %v, want API_TOKEN written and the web instance %s and the worker's updated", rec, err, w.web)
	}
	w.serves(w.web, "/secret", tokenPage(apiToken2))
}

// checkScaleOut: a new instance the group launches fetches the new
// value at its boot.
func (w *envMachines) checkScaleOut() {
	t := w.t
	if _, err := w.sim.SDK.ASG.SetDesiredCapacity(w.ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("myproject-testing-web"), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	scaled := ""
	for scaled == "" {
		g, err := w.c.Group(w.ctx, "myproject-testing-web", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range g.Instances {
			if in.PrivateIP != "" && in.PrivateIP != w.web {
				scaled = in.PrivateIP
			}
		}
		select {
		case <-w.ctx.Done():
			t.Fatal("the group did not scale out")
		case <-time.After(time.Second):
		}
	}
	w.serves(scaled, "/secret", tokenPage(apiToken2))
	w.serves(scaled, "/", "commit "+w.first+"\n")
}

// visit GETs the balancer's /session with the browser's cookies.
func (w *envMachines) visit() (int, string, error) {
	resp, err := w.browser.Get(w.lb + "/session")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// deploy runs `ferry deploy ... testing --yes` with args in the machines'
// namespace (its SSH reaches the instances there) and keeps its output.
func (w *envMachines) deploy(args ...string) ([]byte, error) {
	cmd := w.srv.MachineNetwork().Command(w.ctx, w.ferry(), append([]string{"deploy", "-c", w.cfgFile, "testing", "--yes"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+w.t.TempDir())
	out, err := cmd.CombinedOutput()
	w.outputs = append(w.outputs, out)
	return out, err
}

// commit commits the repo's working tree on branch testing.
func (w *envMachines) commit(msg string) string {
	w.repo.Git("add", ".")
	w.repo.Git("commit", "-q", "-m", msg)
	return w.repo.Git("rev-parse", "HEAD")
}

// balancerServes waits until the balancer's / names commit.
func (w *envMachines) balancerServes(commit string) {
	w.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		resp, err := w.browser.Get(w.lb + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "commit "+commit+"\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the balancer does not serve commit %s", commit)
		}
	}
}

// checkSerialDeploy: a serial deploy of a new commit through the
// balancer, run as `ferry deploy`: the new commit's image baked, the
// instances replaced, surge first; a logged-in session (in Redis) is
// served all along, no request fails.
func (w *envMachines) checkSerialDeploy() {
	t := w.t
	w.repo.Git("checkout", "-q", "testing")
	if err := os.WriteFile(filepath.Join(w.repo.Dir, "notes", "static", "notes", "app.css"), []byte("body { color: navy; } /* the second commit */\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := w.commit("the second commit")
	w.lb = balancerURL(t, w.srv.URL, "elb/myproject-testing:443")
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		if code, body, _ := w.visit(); code == 200 && body == "visits 1\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the balancer never served the session")
		}
		jar, _ := cookiejar.New(nil)
		w.browser.Jar = jar
	}
	stop := make(chan struct{})
	type visits struct{ ok, failed, lost int }
	done := make(chan visits)
	go func() {
		var v visits
		n := 1
		for {
			select {
			case <-stop:
				done <- v
				return
			case <-time.After(200 * time.Millisecond):
			}
			code, body, err := w.visit()
			switch {
			case err != nil || code != 200:
				v.failed++
			case body != fmt.Sprintf("visits %d\n", n+1):
				v.lost++
			default:
				v.ok++
			}
			if err == nil && code == 200 {
				fmt.Sscanf(body, "visits %d", &n)
			}
		}
	}()
	deployStart := time.Now()
	out, err := w.deploy("--method", "serial")
	close(stop)
	v := <-done
	t.Logf("serial deploy of the second commit: %s; %d requests of the session served, %d failed, %d lost it\n%s", time.Since(deployStart).Round(time.Second), v.ok, v.failed, v.lost, out)
	if err != nil {
		t.Fatalf("ferry deploy: %v", err)
	}
	if v.failed > 0 || v.lost > 0 || v.ok == 0 {
		t.Errorf("during the serial deploy: %d requests served, %d failed, %d lost the session", v.ok, v.failed, v.lost)
	}
	w.balancerServes(second)
}

// checkNoSecretLeaks: no file of the state directory (logs of every
// server and of the builders, the push's and the deploys' per-server
// logs, journals, records, the mirror) holds a secret value, nor the
// output of a ferry command, nor the simulator's record of the calls made,
// nor the log at debug level of the simulator and of what ran in process
// (env create, the secrets push).
func (w *envMachines) checkNoSecretLeaks() {
	t := w.t
	simLog := w.sim.LogText.String()
	if !strings.Contains(simLog, "awssim: machines ready") || !strings.Contains(simLog, "level=DEBUG") {
		t.Errorf("the simulator's log at debug level was not captured (%d bytes)", len(simLog))
	}
	for _, v := range w.values {
		if strings.Contains(simLog, v) {
			t.Errorf("the simulator's and the in-process log hold a secret value")
		}
	}
	for _, out := range w.outputs {
		for _, v := range w.values {
			if bytes.Contains(out, []byte(v)) {
				t.Errorf("a ferry command's output holds a secret value")
			}
		}
	}
	resp, err := http.Get(w.srv.URL + "/_awssim/calls")
	if err != nil {
		t.Fatal(err)
	}
	calls, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(calls) == 0 {
		t.Fatalf("the simulator's calls: %d, %d bytes", resp.StatusCode, len(calls))
	}
	for _, v := range w.values {
		if bytes.Contains(calls, []byte(v)) {
			t.Errorf("the simulator's calls hold a secret value")
		}
	}
	err = filepath.WalkDir(w.stateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, v := range w.values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a secret value", p)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkDestroy: a second create is refused while the environment runs;
// destroy leaves nothing of it.
func (w *envMachines) checkDestroy() {
	t := w.t
	if _, err := w.p.CreateEnv(w.ctx, "testing", w.req); err == nil || !strings.Contains(err.Error(), "earlier environment") {
		t.Errorf("second create: %v, want it refused", err)
	}
	w.progress.Reset()
	gone, err := w.p.DestroyEnv(w.ctx, "testing", w.req)
	if err != nil {
		t.Fatalf("destroy: %v\n%s", err, w.progress.String())
	}
	if len(gone) < 10 {
		t.Errorf("destroy removed %d resources", len(gone))
	}
	left, err := w.c.MachinesTagged(w.ctx, map[string]string{"ferry:env": "testing"})
	if err != nil || len(left) != 0 {
		t.Errorf("after destroy: %v %v", left, err)
	}
}

// apiToken is a secret only the app reads (examples/app's /secret);
// apiToken2 its value after a push.
const apiToken, apiToken2 = "api-token-create-3f9d1c77", "api-token-pushed-81b0e5a2"

// tokenPage is examples/app's /secret for a value of API_TOKEN.
func tokenPage(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "secret API_TOKEN sha256:" + hex.EncodeToString(sum[:])[:16] + "\n"
}

// waitGroupInstance waits until the group has an instance with an address
// and returns the address.
func waitGroupInstance(ctx context.Context, t *testing.T, c *cloud.Client, name string) string {
	t.Helper()
	for {
		g, err := c.Group(ctx, name, nil, nil)
		if err == nil {
			for _, in := range g.Instances {
				if in.PrivateIP != "" {
					return in.PrivateIP
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s has no instance with an address: %v", name, err)
		case <-time.After(time.Second):
		}
	}
}

// buildFerry builds the ferry command for the machines (static: their
// glibc may be older than this host's) and returns its path.
func buildFerry(t *testing.T) func() string {
	bin := filepath.Join(t.TempDir(), "ferry")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/agent")
	cmd.Dir = "../.."
	cmd.Env = testutil.GoBuildEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/agent: %v\n%s", err, out)
	}
	return func() string { return bin }
}

// balancerURL is the URL of a balancer listener of the simulator
// (/_awssim/balancers), e.g. "elb/NAME:443".
func balancerURL(t *testing.T, sim, key string) string {
	t.Helper()
	resp, err := http.Get(sim + "/_awssim/balancers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var urls map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&urls); err != nil {
		t.Fatal(err)
	}
	if urls[key] == "" {
		t.Fatalf("no balancer listener %s: %v", key, urls)
	}
	return urls[key]
}

// copyTree copies the regular files under src to dst, overwriting what is
// there, but none under __pycache__ or src's top-level directory skip.
func copyTree(src, dst, skip string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (rel == skip || d.Name() == "__pycache__") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

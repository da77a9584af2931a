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
// their services set up) and checks that every long-lived server was made
// into its roles by its recipe, each with its own log; the secrets were put
// in SSM; the web group's instance runs the app's first commit (examples/app)
// from an image baked from the stack image, the builder made a web server
// by its recipe with no secret, and serves the secret API_TOKEN it fetched
// at boot (its hash); no file of the state directory holds a secret value;
// a second create is refused, and destroy leaves nothing of it.
func TestEnvCreateOnMachines(t *testing.T) {
	// The seed's health check (every 30 s, healthy after 10) at a tenth
	// of its pace: a new instance is InService in the balancer in about
	// 30 s, not 5 minutes.
	sim := machinetest.Start(t, machinetest.Options{Stack: true, KeyName: "myproject-testing", Second: 100 * time.Millisecond, Timeout: 20 * time.Minute})
	ctx, logger, srv, image := sim.Ctx, sim.Log, sim.Srv, sim.Image
	dir := t.TempDir()
	keyFile, secretsFile := sim.KeyFile, filepath.Join(dir, "testing.env")
	var sec strings.Builder
	values := []string{apiToken}
	for _, n := range roles.SecretNames() {
		v := strings.Repeat("s", 8) + strings.ReplaceAll(strings.ToLower(n), "_", "x")
		fmt.Fprintf(&sec, "%s=%s\n", n, v)
		values = append(values, v)
	}
	fmt.Fprintf(&sec, "API_TOKEN=%s\n", apiToken)
	ferry := buildFerry(t)
	// The app's first commit on the environment's branch.
	repo := testutil.NewGitRepo(t)
	err := filepath.WalkDir("../../examples/app", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../../examples/app", p)
		if d.IsDir() && (rel == "schema-bump" || d.Name() == "__pycache__") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			dst := filepath.Join(repo.Dir, rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return os.WriteFile(dst, b, 0o644)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	repo.Git("add", ".")
	repo.Git("commit", "-q", "-m", "the app")
	first := repo.Git("rev-parse", "HEAD")
	repo.Git("branch", "testing")
	if err := os.WriteFile(secretsFile, []byte(sec.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
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
[environments.testing.create.servers.cache]
instance_type = "t3.medium"
[environments.testing.create.servers.db-primary]
instance_type = "m6i.large"
[environments.testing.create.servers.db-replica]
instance_type = "m6i.large"
`, stateDir, repo.Dir, srv.URL, image, secretsFile, ferry(), srv.InstanceURL, keyFile)
	cfgFile := filepath.Join(dir, "ferry.toml")
	if err := os.WriteFile(cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(cfgFile, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", simenv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", simenv.SecretAccessKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	connect := func(ctx context.Context, env *config.Environment, log *slog.Logger) (agent.Cloud, error) {
		return cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Credentials: simenv.Credentials(), Logger: log})
	}
	p, err := agent.OpenProject(cfg, connect, "ferry/test", logger)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	req := agent.EnvRequest{Progress: &progress, Dialer: srv.MachineNetwork()}
	start := time.Now()
	res, err := p.CreateEnv(ctx, "testing", req)
	t.Logf("create took %s; progress:\n%s", time.Since(start).Round(time.Second), progress.String())
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
			if v := strings.Repeat("s", 8) + strings.ReplaceAll(strings.ToLower(n), "_", "x"); strings.Contains(string(b), v) {
				t.Errorf("%s's log holds the secret %s", s.Type, n)
			}
		}
		logs[s.Log] = true
	}
	if len(logs) != 3 {
		t.Errorf("the servers share log files: %v", logs)
	}

	// The web group's instance: the first commit, from the baked image,
	// with the secret it fetched at boot.
	c, err := connect(ctx, cfg.Environments["testing"], logger)
	if err != nil {
		t.Fatal(err)
	}
	web := waitGroupInstance(ctx, t, c.(*cloud.Client), "myproject-testing-web")
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: srv.MachineNetwork().DialContext, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the instance's snakeoil certificate
	// serves waits until the instance at ip answers path with want.
	serves := func(ip, path, want string) {
		t.Helper()
		var code int
		var body string
		for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			if resp, err := hc.Get("https://" + ip + path); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if code, body = resp.StatusCode, string(b); code == 200 && body == want {
					return
				}
			}
		}
		t.Errorf("GET %s on %s: %d %q, want %q", path, ip, code, body, want)
	}
	serves(web, "/", "commit "+first+"\n")
	serves(web, "/secret", tokenPage(apiToken))
	t.Logf("create, the bake included, to the web group's instance serving: %s", time.Since(start).Round(time.Second))
	if _, err := os.Stat(agent.SecretsRecordPath(stateDir, "testing")); err != nil {
		t.Errorf("create left no record of the secrets it put in SSM: %v", err)
	}
	// ferry secrets push of a changed value: the running instance gets it
	// through the default secrets_changed hook, without a deploy.
	if err := os.WriteFile(secretsFile, []byte(strings.Replace(sec.String(), apiToken, apiToken2, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	values = append(values, apiToken2)
	push := &agent.SecretsPush{Project: "myproject", StateDir: stateDir, Env: cfg.Environments["testing"], Store: c.(*cloud.Client),
		Groups: c.(*cloud.Client), Dialer: srv.MachineNetwork(), Log: logger}
	rec, err := push.Run(ctx)
	if err != nil || !slices.Equal(rec.Written, []string{"API_TOKEN"}) || len(rec.Servers) != 1 || rec.Servers[0].Address != web {
		t.Fatalf("secrets push: %+v %v, want API_TOKEN written and the web instance %s updated", rec, err, web)
	}
	serves(web, "/secret", tokenPage(apiToken2))
	// A scale-out: the new instance fetches the new value at its boot.
	if _, err := sim.SDK.ASG.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("myproject-testing-web"), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	scaled := ""
	for scaled == "" {
		g, err := c.(*cloud.Client).Group(ctx, "myproject-testing-web", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range g.Instances {
			if in.PrivateIP != "" && in.PrivateIP != web {
				scaled = in.PrivateIP
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the group did not scale out")
		case <-time.After(time.Second):
		}
	}
	serves(scaled, "/secret", tokenPage(apiToken2))
	serves(scaled, "/", "commit "+first+"\n")

	// A serial deploy of a new commit through the balancer, run as
	// `ferry deploy` in the machines' namespace (its SSH reaches the
	// instances there): the new commit's image baked, the instances
	// replaced, surge first; a logged-in session (in Redis) is served all
	// along, no request fails.
	repo.Git("checkout", "-q", "testing")
	if err := os.WriteFile(filepath.Join(repo.Dir, "notes", "static", "notes", "app.css"), []byte("body { color: navy; } /* the second commit */\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo.Git("commit", "-q", "-am", "the second commit")
	second := repo.Git("rev-parse", "HEAD")
	lb := balancerURL(t, srv.URL, "elb/myproject-testing:443")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 30 * time.Second, Jar: jar, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the simulator's balancer certificate
	visit := func() (int, string, error) {
		resp, err := browser.Get(lb + "/session")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		if code, body, _ := visit(); code == 200 && body == "visits 1\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the balancer never served the session")
		}
		jar, _ = cookiejar.New(nil)
		browser.Jar = jar
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
			code, body, err := visit()
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
	deploy := srv.MachineNetwork().Command(ctx, ferry(), "deploy", "-c", cfgFile, "testing", "--method", "serial", "--yes")
	deploy.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := deploy.CombinedOutput()
	close(stop)
	v := <-done
	t.Logf("serial deploy of the second commit: %s; %d requests of the session served, %d failed, %d lost it\n%s", time.Since(deployStart).Round(time.Second), v.ok, v.failed, v.lost, out)
	if err != nil {
		t.Fatalf("ferry deploy: %v", err)
	}
	if v.failed > 0 || v.lost > 0 || v.ok == 0 {
		t.Errorf("during the serial deploy: %d requests served, %d failed, %d lost the session", v.ok, v.failed, v.lost)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		resp, err := browser.Get(lb + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "commit "+second+"\n" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the balancer does not serve the second commit")
		}
	}

	// No file of the state directory (logs of every server and of the
	// builders, the push's and the deploy's per-server logs, journals,
	// records, the mirror) holds a secret value, nor the deploy's output,
	// nor the simulator's record of the calls made.
	for _, v := range values {
		if bytes.Contains(out, []byte(v)) {
			t.Errorf("ferry deploy's output holds a secret value")
		}
	}
	resp, err := http.Get(srv.URL + "/_awssim/calls")
	if err != nil {
		t.Fatal(err)
	}
	calls, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(calls) == 0 {
		t.Fatalf("the simulator's calls: %d, %d bytes", resp.StatusCode, len(calls))
	}
	for _, v := range values {
		if bytes.Contains(calls, []byte(v)) {
			t.Errorf("the simulator's calls hold a secret value")
		}
	}
	err = filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a secret value", p)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateEnv(ctx, "testing", req); err == nil || !strings.Contains(err.Error(), "earlier environment") {
		t.Errorf("second create: %v, want it refused", err)
	}
	progress.Reset()
	gone, err := p.DestroyEnv(ctx, "testing", req)
	if err != nil {
		t.Fatalf("destroy: %v\n%s", err, progress.String())
	}
	if len(gone) < 10 {
		t.Errorf("destroy removed %d resources", len(gone))
	}
	left, err := c.(*cloud.Client).MachinesTagged(ctx, map[string]string{"ferry:env": "testing"})
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
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
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

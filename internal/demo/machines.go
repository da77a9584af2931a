package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ferry-deploy/ferry/examples"
	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/traffic"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/envbuild"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// `ferry demo --machines` is the seed's stack, for real, with Ferry's own
// path throughout: `ferry env create` (agent.Project.CreateEnv) builds the
// seed's testing environment on the simulator's Debian machines (its
// stack image: every role's packages) — security groups, balancer, the
// cache+queue and database servers made by their recipes, the web group
// from examples/app's first commit, baked — and the agent then deploys
// the pushes to its branch: a serial deploy of a change, a full deploy of
// examples/app's schema bump behind the upgrade page. What only tests set
// up elsewhere (a key pair, a secrets file, the endpoint the instances
// reach the API at, the ferry binary of the images) the demo makes itself.
const (
	machProject = "myproject"
	machEnv     = "testing"
	// machWeb is the web group's size: a serial deploy replaces one
	// instance after the other.
	machWeb = 2
	// apiTokenSecret is a secret only the app reads (examples/app's
	// /secret), besides the recipes' own.
	apiTokenSecret = "API_TOKEN"
	// deployLimit bounds each deploy of the walk: a bake and two
	// instances through the seed's health check, on a busy host.
	deployLimit = 10 * time.Minute
)

// machineDemo is one run of the machines' walk.
type machineDemo struct {
	*demo
	net     *machines.Network
	keyFile string
	known   string // the known_hosts file Ferry's SSH fills (trust on first use)
	secrets string // the generated secrets file (0600; its values are never shown)
	project *agent.Project
	cloud   *cloud.Client
	servers []envbuild.ServerResult
	lb      string       // the balancer's HTTP listener, as users reach it
	web     *http.Client // the users' client
}

// runMachines plays the demo on machines.
func (d *demo) runMachines(ctx context.Context) error {
	m := &machineDemo{demo: d, web: &http.Client{Timeout: 30 * time.Second}}
	err := m.setUp(ctx)
	defer d.tearDown()
	if err != nil {
		return err
	}
	if err := m.create(ctx); err != nil {
		return err
	}
	defer d.runAgent(ctx)()
	if err := m.walk(ctx); err != nil {
		return err
	}
	m.lookAround(ctx)
	if d.o.Keep {
		d.say("\nEverything keeps running; press Ctrl-C to stop.")
		<-ctx.Done()
	}
	return nil
}

// setUp makes the git remote with examples/app's first commit, the
// simulator with its machines, and what env create needs of them.
func (m *machineDemo) setUp(ctx context.Context) error {
	d := m.demo
	if err := d.makeDir(); err != nil {
		return err
	}
	d.remote = filepath.Join(d.dir, "app.git")
	d.work = filepath.Join(d.dir, "app")
	d.config = filepath.Join(d.dir, "ferry.toml")
	m.known = filepath.Join(d.dir, "state", "ssh_known_hosts")
	d.say("Ferry demo on machines: the seed's stack on Debian machines of the AWS simulator, examples/app deployed by Ferry (%s).", d.dir)
	release, err := examples.AppRelease()
	if err != nil {
		return err
	}
	if _, err := d.initRepoWith("The notes app (examples/app)", textFiles(release), machEnv); err != nil {
		return err
	}

	d.say("Starting the simulator with its stack image (Debian bookworm with every role's packages). The first run builds it with debootstrap and apt from this machine's Debian mirror, a few minutes; later runs reuse it.")
	stopTelling := d.keepTelling("starting the machines")
	d.sim, err = awssim.Start(awssim.Options{
		// One AWS second a tenth of a second: the seed's health check
		// (every 30 s, healthy after 10) passes in about 30 s, not 5
		// minutes; the machines' boots are real.
		Tick: 50 * time.Millisecond, Second: 100 * time.Millisecond,
		Machines: true, StackImage: true, MachineCacheDir: d.o.CacheDir,
		MachineStateDir: filepath.Join(d.dir, "machines"),
	}, d.o.Log.With("component", "awssim"))
	stopTelling()
	if err != nil {
		return err
	}
	m.net = d.sim.MachineNetwork()
	if m.net == nil {
		return errors.New("the simulator has no machines")
	}
	c := simenv.Connect(d.sim.URL)
	image, err := simenv.ImageTagged(ctx, c, awssim.StackImageTag)
	if err != nil {
		return fmt.Errorf("the simulator's stack image: %w", err)
	}
	// What an operator makes once, before a first env create: the key
	// pair, the secrets file, and (the simulator's own) the address its
	// instances reach the AWS API at.
	keyName := machProject + "-" + machEnv
	key, err := simenv.CreateKeyPair(ctx, c, keyName)
	if err != nil {
		return err
	}
	m.keyFile = filepath.Join(d.dir, keyName+".pem")
	if err := os.WriteFile(m.keyFile, key, 0o600); err != nil {
		return err
	}
	m.secrets = filepath.Join(d.dir, machEnv+".env")
	if err := writeSecrets(m.secrets, append(roles.SecretNames(), apiTokenSecret)); err != nil {
		return err
	}
	bin := d.o.FerryBinary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("the ferry binary for the machines' images: %w", err)
		}
	}
	d.say("AWS simulator at %s, its machines on the network namespace %s; stack image %s, key pair %s, random secrets in %s (mode 0600, never shown).",
		d.sim.URL, m.net.Name(), image, keyName, m.secrets)
	if err := os.WriteFile(d.config, []byte(m.configDoc(image, keyName, bin)), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(d.config)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	env := cfg.Environments[machEnv]
	m.cloud, err = cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Credentials: simenv.Credentials(), Logger: d.o.Log})
	if err != nil {
		return err
	}
	connect := func(context.Context, *config.Environment, *slog.Logger) (agent.Cloud, error) { return m.cloud, nil }
	m.project, err = agent.OpenProject(cfg, connect, "ferry/demo", d.o.Log)
	if err != nil {
		return err
	}
	d.agent, err = agent.New(agent.Options{
		Config: cfg, Mirror: m.project.Mirror, Clouds: map[string]agent.Cloud{machEnv: m.cloud},
		Logger: d.o.Log, Recheck: 500 * time.Millisecond, Dialer: m.net,
	})
	return err
}

// configDoc is the demo's config: the seed's testing environment, which
// env create builds.
func (m *machineDemo) configDoc(image, keyName, ferry string) string {
	return fmt.Sprintf(`# Written by ferry demo --machines: the seed's testing environment on the
# simulator's machines, deployed from the branch %[2]s of the demo's remote.
[project]
name = %[1]q
state_dir = %[3]q
# A new migration makes the deploy a full one, behind the upgrade page.
full_deploy_globs = ["**/migrations/*.py"]

[project.git]
url = %[4]q
poll_interval = "500ms"

[environments.%[2]s]
branch = %[2]q
aws.region = %[5]q
aws.endpoint = %[6]q
groups.web = "%[1]s-%[2]s-web"
# Each commit runs from its own image, baked from the simulator's stack
# image; env create bakes the branch's head for the group's first instances.
launch.image = "bake"
launch.base_image = %[7]q
launch.key_name = %[8]q
launch.iam_instance_profile = "%[1]s-%[2]s-app"
launch.http_tokens = "required"
secrets.file = %[9]q

[environments.%[2]s.create]
# The ferry binary the images get: their boot fetches the secrets with it.
ferry_binary = %[10]q
# The AWS API as the machines reach it (the simulator's).
instance_endpoint = %[11]q

[environments.%[2]s.create.servers.web]
instance_type = "t3.small"
count = %[12]d
max = %[13]d
[environments.%[2]s.create.servers.cache]
instance_type = "t3.medium"
[environments.%[2]s.create.servers.db-primary]
instance_type = "m6i.large"
[environments.%[2]s.create.servers.db-replica]
instance_type = "m6i.large"

[environments.%[2]s.ssh]
user = "admin"
key_file = %[14]q
known_hosts = %[15]q
trust_on_first_use = true
connect_timeout = "30s"

[environments.%[2]s.policy]
poll_interval = "500ms"
timeouts.instances_in_service = "5m"
timeouts.healthy_in_balancers = "5m"
`, machProject, machEnv, filepath.Join(m.dir, "state"), "file://"+m.remote, simenv.Region, m.sim.URL,
		image, keyName, m.secrets, ferry, m.sim.InstanceURL, machWeb, 2*machWeb, m.keyFile, m.known)
}

// create is `ferry env create testing`, then a first look through the
// balancer: the commit page, and a note written on the primary read back
// from the replica.
func (m *machineDemo) create(ctx context.Context) error {
	m.step(fmt.Sprintf("ferry env create %s: security groups, the balancer, the cache+queue and database servers made by their recipes (in parallel, one log each), the web group from examples/app's first commit, baked.", machEnv))
	first, err := m.gitOut("rev-parse", "HEAD")
	if err != nil {
		return err
	}
	start := time.Now()
	progress := &lineWriter{say: func(line string) { m.say("    %s", line) }}
	stopTelling := m.keepTelling("creating " + machEnv)
	res, err := m.project.CreateEnv(ctx, machEnv, agent.EnvRequest{Progress: progress, Dialer: m.net})
	stopTelling()
	progress.flush()
	if err != nil {
		return fmt.Errorf("env create %s: %w", machEnv, err)
	}
	m.servers = res.Servers
	m.say("    created in %s:", time.Since(start).Round(time.Second))
	m.printServers()
	lb, ok := m.sim.LoadBalancerURL(machProject + "-" + machEnv)
	if !ok {
		return fmt.Errorf("the simulator has no listener for the balancer %s-%s", machProject, machEnv)
	}
	m.lb = lb
	// The group's instances boot from the baked image, fetch the secrets
	// and pass the seed's health check: the balancer serves the app.
	stopTelling = m.keepTelling("waiting for the web group's instances to pass the balancer's health check")
	err = m.awaitPage(ctx, "/", "commit "+first+"\n", deployLimit)
	stopTelling()
	if err != nil {
		return err
	}
	m.say("    the balancer serves the first commit %s after %s", short(first), time.Since(start).Round(time.Second))
	m.show(ctx, "/")
	// Create ran the first commit's migrations: the notes table exists.
	return m.note(ctx, "written by ferry demo on the primary")
}

// walk pushes the commits the agent deploys.
func (m *machineDemo) walk(ctx context.Context) error {
	first, err := m.gitOut("rev-parse", "HEAD")
	if err != nil {
		return err
	}
	m.say("\nThe agent runs now, watching the branch %s (at %s, deployed).", machEnv, short(first))
	if err := m.follow(ctx, first); err != nil {
		return err
	}

	m.step("Push a change to the " + machEnv + " branch: the agent bakes its image and deploys serially, one new instance in service before each old one goes.")
	c1, err := m.commit("Navy notes", map[string]string{"notes/static/notes/app.css": "body { font-family: sans-serif; color: navy; } /* notes */\n"})
	if err != nil {
		return err
	}
	if err := m.deploy(ctx, c1); err != nil {
		return err
	}
	m.show(ctx, "/")
	m.show(ctx, "/static/notes/app.css")

	m.step("Push examples/app's schema bump (a migration adding a column): a full deploy behind the \"upgrade in progress\" page, the migration run once.")
	bump, err := examples.AppSchemaBump()
	if err != nil {
		return err
	}
	c2, err := m.commit("Tag notes", textFiles(bump))
	if err != nil {
		return err
	}
	if err := m.deploy(ctx, c2); err != nil {
		return err
	}
	m.show(ctx, "/")
	if err := m.replicaColumns(ctx); err != nil {
		return err
	}
	if err := m.note(ctx, "written after the schema bump"); err != nil {
		return err
	}

	return m.outcomes(ctx, machEnv, 3)
}

// deploy pushes c to the environment's branch and follows the agent's
// deploy of it, with users requesting the app through the balancer all
// along.
func (m *machineDemo) deploy(ctx context.Context, c string) error {
	users := traffic.Start(m.lb+"/", 200*time.Millisecond)
	err := m.push("HEAD:" + machEnv)
	if err == nil {
		err = m.follow(ctx, c)
	}
	met := users()
	if err != nil {
		return err
	}
	m.say("    requests through the balancer during the deploy: %d answered by the app, %d saw the upgrade page, %d failed",
		met[traffic.OK], met[traffic.UpgradePage], met[traffic.Failed])
	return nil
}

// follow waits until the agent has deployed c and is idle, narrating each
// step of the deploy as it starts and each wait's news.
func (m *machineDemo) follow(ctx context.Context, c string) error {
	ctx, cancel := context.WithTimeout(ctx, deployLimit)
	defer cancel()
	start := time.Now()
	lastState, lastStep := "", ""
	for {
		changed := m.agent.Changed()
		for _, v := range m.agent.Views() {
			if v.Env != machEnv || v.Target.String() != c {
				continue
			}
			state := v.State
			if v.Detail != "" {
				state += ": " + v.Detail
			}
			if state != lastState {
				m.say("    [%s] %s", machEnv, state)
				lastState = state
			}
			if p := v.Deploy; p != nil && p.Commit.String() == c && p.Outcome == "" && p.Current < len(p.Steps) {
				step := fmt.Sprintf("%s deploy, step %d/%d: %s", p.Method, p.Current+1, len(p.Steps), p.Steps[p.Current])
				if p.Wait != nil {
					step += fmt.Sprintf(" (%s: %s)", p.Wait.For, p.Wait.Progress)
				}
				if step != lastStep {
					m.say("    [%s] %s", machEnv, step)
					lastStep = step
				}
			}
			if v.Deployed.String() == c && v.State == "idle" {
				m.say("    [%s] %s deployed, idle after %s", machEnv, short(c), time.Since(start).Round(100*time.Millisecond))
				return nil
			}
			if v.State == "blocked" {
				return fmt.Errorf("%s: the deploy of %s failed: %s", machEnv, short(c), v.Detail)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not deploy %s: %w", machEnv, short(c), ctx.Err())
		case <-changed:
		case <-time.After(15 * time.Second):
			m.say("    … %s so far", time.Since(start).Round(time.Second))
		}
	}
}

// get requests path through the balancer.
func (m *machineDemo) get(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.lb+path, nil)
	if err != nil {
		return 0, "", err
	}
	return m.do(req)
}

func (m *machineDemo) do(req *http.Request) (int, string, error) {
	resp, err := m.web.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// show prints path as the balancer serves it.
func (m *machineDemo) show(ctx context.Context, path string) {
	code, body, err := m.get(ctx, path)
	if err != nil {
		m.say("    curl %s%s: %v", m.lb, path, err)
		return
	}
	m.say("    curl %s%s → %d %s", m.lb, path, code, strings.TrimSpace(body))
}

// awaitPage waits until the balancer answers path with 200 and want.
func (m *machineDemo) awaitPage(ctx context.Context, path, want string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var code int
	var body string
	var err error
	for {
		if code, body, err = m.get(ctx, path); err == nil && code == http.StatusOK && body == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the balancer does not serve %q at %s (last: %d %q %v): %w", strings.TrimSpace(want), path, code, strings.TrimSpace(body), err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// note writes a note through the balancer, which the app writes on the
// primary, and reads it back through the balancer, which the app reads
// from the replica: the replication lag is the wait for it.
func (m *machineDemo) note(ctx context.Context, text string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.lb+"/notes/", strings.NewReader(url.Values{"text": {text}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, body, err := m.do(req)
	if err != nil || code != http.StatusCreated {
		return fmt.Errorf("POST %s/notes/: %d %q %v", m.lb, code, strings.TrimSpace(body), err)
	}
	written := time.Now()
	var id int
	if _, err := fmt.Sscanf(body, "note %d", &id); err != nil {
		return fmt.Errorf("POST %s/notes/ answered %q", m.lb, strings.TrimSpace(body))
	}
	m.say("    curl -d text=%q %s/notes/ → %d %s   (written on the primary)", text, m.lb, code, strings.TrimSpace(body))
	path := fmt.Sprintf("/notes/%d", id)
	want := fmt.Sprintf("note %d %s\n", id, text)
	if err := m.awaitPageEvery(ctx, path, want, 100*time.Millisecond); err != nil {
		return err
	}
	lag := time.Since(written)
	m.say("    curl %s%s → 200 %s   (read from the replica, %s after the write)", m.lb, path, strings.TrimSpace(want), lag.Round(10*time.Millisecond))
	return nil
}

// awaitPageEvery is awaitPage asking every interval, for a minute.
func (m *machineDemo) awaitPageEvery(ctx context.Context, path, want string, every time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		code, body, err := m.get(ctx, path)
		if err == nil && code == http.StatusOK && body == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the balancer does not serve %q at %s (last: %d %q %v)", strings.TrimSpace(want), path, code, strings.TrimSpace(body), err)
		case <-time.After(every):
		}
	}
}

// replicaColumns shows, on the db-replica server over SSH, the notes
// table's columns and the migrations applied: the schema bump's column
// came to the replica by replication.
func (m *machineDemo) replicaColumns(ctx context.Context) error {
	var replica string
	for _, s := range m.servers {
		if s.Type == config.ServerDBReplica {
			replica = s.Address
		}
	}
	if replica == "" {
		return errors.New("env create named no db-replica server")
	}
	db := roles.RecipeParams{Project: machProject}.DBName()
	query := `SELECT 'notes_note: ' || string_agg(column_name, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'notes_note' ` +
		`UNION ALL SELECT 'migrations: ' || string_agg(name, ', ' ORDER BY id) FROM django_migrations WHERE app = 'notes'`
	out, err := m.ssh(ctx, replica, fmt.Sprintf(`cd / && sudo -u postgres psql -d %s -XAt -c "%s"`, db, query))
	if err != nil {
		return err
	}
	m.say("    ssh admin@%s psql (the db-replica): %s", replica, strings.ReplaceAll(strings.TrimSpace(out), "\n", "; "))
	return nil
}

// ssh runs command on a server as admin with OpenSSH's client in the
// machines' namespace, as the look-around line does, trusting only the host
// keys Ferry recorded.
func (m *machineDemo) ssh(ctx context.Context, addr, command string) (string, error) {
	cmd := m.net.Command(ctx, "ssh", m.sshArgs(addr, command)...)
	cmd.Env = []string{"HOME=" + m.dir, "PATH=" + os.Getenv("PATH")}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ssh admin@%s: %w: %s", addr, err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

func (m *machineDemo) sshArgs(addr string, command ...string) []string {
	return append([]string{"-F", "/dev/null", "-i", m.keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + m.known, "-o", "GlobalKnownHostsFile=/dev/null",
		"admin@" + addr}, command...)
}

// printServers is env create's summary: each server, its roles, its
// address and its log.
func (m *machineDemo) printServers() {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    SERVER\tROLES\tADDRESS\tLOG")
	for _, s := range m.servers {
		rs := make([]string, len(s.Roles))
		for i, r := range s.Roles {
			rs[i] = string(r)
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", s.Name, strings.Join(rs, "+"), s.Address, s.Log)
	}
	_ = tw.Flush()
	m.say("%s", strings.TrimRight(b.String(), "\n"))
}

// lookAround says how to look at what runs: the servers and instances, a
// login on each, the balancer, the AWS API and Ferry's commands.
func (m *machineDemo) lookAround(ctx context.Context) {
	m.step("Look around" + map[bool]string{true: ":", false: " (with --keep, all of it keeps running after the walk):"}[m.o.Keep])
	m.printServers()
	if g, err := m.cloud.Group(ctx, machProject+"-"+machEnv+"-web", nil, nil); err == nil {
		for _, in := range g.Instances {
			m.say("    %s-%s-web: %s %s (%s)", machProject, machEnv, in.ID, in.PrivateIP, in.LifecycleState)
		}
	}
	addr := "ADDRESS"
	if len(m.servers) > 0 {
		addr = m.servers[0].Address
	}
	m.say("    log in:      sudo nsenter --net=%s ssh -i %s -o UserKnownHostsFile=%s admin@%s   (any address above; the host keys Ferry recorded)", m.net.Path(), m.keyFile, m.known, addr)
	m.say("    the app:     curl %s/   (HTTPS: the balancer's listener on 443, /_awssim/balancers)", m.lb)
	m.say("    the AWS API: AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws --endpoint-url %s --region %s ec2 describe-instances", m.sim.URL, simenv.Region)
	m.say("    push:        cd %s && git push origin HEAD:%s", m.work, machEnv)
	m.say("    ferry:       ferry status -c %s; deploy logs under %s", m.config, filepath.Join(m.dir, "state"))
}

// keepTelling says, while a long wait lasts, that it still does, when
// nothing else was said for a while; the returned func ends it.
func (d *demo) keepTelling(what string) func() {
	const every = 20 * time.Second
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			d.outMu.Lock()
			quiet := time.Since(d.said) >= every
			d.outMu.Unlock()
			if quiet {
				d.say("    … %s (%s so far)", what, time.Since(start).Round(time.Second))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// lineWriter hands each complete line written to it to say.
type lineWriter struct {
	say  func(string)
	mu   sync.Mutex
	rest []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rest = append(w.rest, p...)
	for {
		i := bytes.IndexByte(w.rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.say(string(w.rest[:i]))
		w.rest = w.rest[i+1:]
	}
}

// flush says what is left without a newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.rest) > 0 {
		w.say(string(w.rest))
		w.rest = nil
	}
}

// writeSecrets writes a secrets file (0600) with a random value for each
// name: 48 hex digits, which every role's use of a secret takes as it is.
func writeSecrets(path string, names []string) error {
	var b strings.Builder
	b.WriteString("# Written by ferry demo --machines: random values, made for this run.\n")
	for _, n := range names {
		v := make([]byte, 24)
		if _, err := rand.Read(v); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s=%s\n", n, hex.EncodeToString(v))
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// textFiles is files as the commit helper takes them.
func textFiles(files map[string][]byte) map[string]string {
	out := make(map[string]string, len(files))
	for p, b := range files {
		out[p] = string(b)
	}
	return out
}

// Package demo is `ferry demo`: Ferry's whole job on one machine, with no
// AWS account, no network and no credentials. It builds a git remote
// holding a small example app, a simulated AWS account (internal/awssim)
// with a staging and a production environment, starts the agent, and walks
// through the ways people use Ferry, narrating each step. With
// Options.Machines it is the seed's stack instead, for real: `ferry env
// create` of an environment on the simulator's Debian machines, and the
// agent deploying examples/app to it (machines.go).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/traffic"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
)

// Options configure the demo.
type Options struct {
	// Dir holds the demo's files; empty uses a temporary directory that
	// is removed at the end (kept with Keep).
	Dir string
	// Keep leaves everything running after the walk-through, until ctx
	// ends, so a person can push commits and curl the load balancers.
	Keep bool
	// Out receives the narration; Log the agent's log.
	Out io.Writer
	Log *slog.Logger
	// Status prints `ferry status` for the demo's config at the end.
	Status func(ctx context.Context, configPath string, out io.Writer) error
	// Fast shortens every simulated delay (for tests): the story is the
	// same, only quicker than a person can follow. It does not apply to
	// Machines, whose boots take what they take.
	Fast bool
	// Machines plays the seed's stack on Debian machines (the simulator's
	// machine backend and its stack image; root, debootstrap and
	// systemd-nspawn): `ferry env create` of the testing environment, then
	// the agent deploying examples/app's commits to it, with Ferry's own
	// recipes, bakes and SSH hooks. CacheDir is where the machines' images
	// are kept (default the simulator's).
	Machines bool
	CacheDir string
	// FerryBinary is the ferry binary the machines' images get
	// (create.ferry_binary: their boot fetches the secrets with it);
	// default the running executable. A test, whose executable is the
	// test binary, builds one.
	FerryBinary string
}

// demo is one run's world.
type demo struct {
	o      Options
	dir    string
	remote string
	work   string
	sim    *awssim.Server
	shop   *shop
	agent  *agent.Agent
	config string
	n      int

	// outMu serialises the narration: the hooks narrate from the agent's
	// goroutines while the walk narrates from its own. said is when the
	// narration last said something.
	outMu sync.Mutex
	said  time.Time
}

// Run plays the demo.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &demo{o: o}
	if o.Machines {
		return d.runMachines(ctx)
	}
	if err := d.setUp(ctx); err != nil {
		return err
	}
	defer d.tearDown()

	defer d.runAgent(ctx)()

	if err := d.walk(ctx); err != nil {
		return err
	}
	if o.Keep {
		d.say("\nEverything keeps running; press Ctrl-C to stop.")
		d.say("  push commits:   cd %s && git push origin HEAD:staging   (or tag vX.Y.Z and push the tag)", d.work)
		d.say("  load balancers: staging %s   production %s", d.lbURL("shop-staging"), d.lbURL("shop-production"))
		d.say("  state & config: %s", d.dir)
		d.say("  status:         ferry status -c %s   (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY may be anything)", d.config)
		<-ctx.Done()
	}
	return nil
}

func (d *demo) say(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.o.Out, format+"\n", args...)
	d.said = time.Now()
}

// makeDir makes the demo's directory (Options.Dir, or a temporary one).
func (d *demo) makeDir() error {
	d.dir = d.o.Dir
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "ferry-demo-")
		if err != nil {
			return err
		}
		d.dir = dir
	}
	return nil
}

func (d *demo) setUp(ctx context.Context) error {
	if err := d.makeDir(); err != nil {
		return err
	}
	d.remote = filepath.Join(d.dir, "shop.git")
	d.work = filepath.Join(d.dir, "shop")
	d.config = filepath.Join(d.dir, "ferry.toml")
	d.say("Ferry demo: a git remote, a simulated AWS account and the agent, all on this machine (%s).", d.dir)

	initial, err := d.initRepo()
	if err != nil {
		return err
	}
	d.shop = newShop(d.remote)
	timing := awssim.Options{
		Tick: 50 * time.Millisecond, Second: 100 * time.Millisecond,
		BootDelay: 1500 * time.Millisecond, ShutdownDelay: 300 * time.Millisecond, ImageBuildTime: time.Second,
	}
	if d.o.Fast {
		timing = awssim.Options{
			Tick: 5 * time.Millisecond, Second: 10 * time.Millisecond,
			BootDelay: 50 * time.Millisecond, ShutdownDelay: 20 * time.Millisecond, ImageBuildTime: 50 * time.Millisecond,
		}
	}
	timing.App = d.shop.app
	d.sim, err = awssim.Start(timing, d.o.Log.With("component", "awssim"))
	if err != nil {
		return err
	}
	c := simenv.Connect(d.sim.URL)
	now := time.Now().Add(-24 * time.Hour)
	for _, env := range []struct {
		name string
		web  int
	}{{"staging", 3}, {"production", 2}} {
		if err := simenv.Create(ctx, c, simenv.Spec{
			Project: "shop", Env: env.name, LaunchTemplate: "shop-" + env.name, DeployedCommit: initial, Now: now,
			Groups: []simenv.Group{
				{Name: "shop-" + env.name + "-web", Size: env.web, ClassicLB: "shop-" + env.name},
				{Name: "shop-" + env.name + "-worker", Size: 1},
			},
		}); err != nil {
			return err
		}
	}
	d.say("AWS simulator at %s: staging (3 web servers behind shop-staging, 1 worker) and production (2 web, 1 worker), both running %s.", d.sim.URL, short(initial))
	wctx, cancel := context.WithTimeout(ctx, d.waitLimit())
	defer cancel()
	for _, g := range []struct {
		name string
		n    int
	}{{"shop-staging-web", 3}, {"shop-production-web", 2}, {"shop-staging-worker", 1}, {"shop-production-worker", 1}} {
		if err := simenv.WaitServing(wctx, c, g.name, g.n); err != nil {
			return err
		}
	}
	if err := os.WriteFile(d.config, []byte(d.configDoc()), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(d.config)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	return d.startAgent(ctx, cfg)
}

func (d *demo) startAgent(ctx context.Context, cfg *config.Config) error {
	m, err := agentMirror(cfg, d.o.Log)
	if err != nil {
		return err
	}
	clouds := map[string]agent.Cloud{}
	for name, env := range cfg.Environments {
		c, err := cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Credentials: simenv.Credentials(), Logger: d.o.Log})
		if err != nil {
			return err
		}
		clouds[name] = c
	}
	var h execute.Hooks = &hooks{shop: d.shop, say: d.say}
	d.agent, err = agent.New(agent.Options{
		Config: cfg, Mirror: m, Clouds: clouds, Logger: d.o.Log, Recheck: 500 * time.Millisecond,
		Hooks: func(*config.Environment, string) (execute.Hooks, error) { return h, nil },
	})
	return err
}

func (d *demo) tearDown() {
	if d.sim != nil {
		_ = d.sim.Close()
	}
	if d.o.Dir == "" && !d.o.Keep {
		_ = os.RemoveAll(d.dir)
	}
}

func (d *demo) configDoc() string {
	env := func(name, trigger, extra string) string {
		return fmt.Sprintf(`
[environments.%[1]s]
%[2]s
aws.region = "%[3]s"
aws.endpoint = "%[4]s"
groups.web = "shop-%[1]s-web"
groups.worker = "shop-%[1]s-worker"
load_balancers.classic = ["shop-%[1]s"]
%[7]s
[environments.%[1]s.policy]
poll_interval = "250ms"
timeouts.instances_in_service = "%[8]s"
timeouts.healthy_in_balancers = "%[6]s"
timeouts.drain = "30s"
%[5]s`, name, trigger, simenv.Region, d.sim.URL, extra, d.healthyTimeout(), d.launchDoc(), d.inServiceTimeout())
	}
	return fmt.Sprintf(`# Written by ferry demo.
[project]
name = "shop"
state_dir = %q

[project.git]
url = %q
poll_interval = "500ms"
`, filepath.Join(d.dir, "state"), "file://"+d.remote) +
		env("staging", `branch = "staging"`, "") +
		env("production", "tag = \"v*\"\n# The demo's tags are not signed; real production keeps verify = \"tag\".\nverify = \"none\"", "confirm = true\n")
}

// healthyTimeout bounds the wait for healthy instances; step 4 waits it
// out before rolling back.
func (d *demo) healthyTimeout() string {
	if d.o.Fast {
		return "3s"
	}
	return "12s"
}

// inServiceTimeout bounds the wait for new instances.
func (d *demo) inServiceTimeout() string { return "30s" }

// launchDoc is the environment's ssh and launch settings.
func (d *demo) launchDoc() string {
	return "# The demo's simulated instances run no sshd: its hooks act on them directly.\nssh.user = \"deploy\"\n"
}

// waitLimit bounds each wait of the walk.
func (d *demo) waitLimit() time.Duration { return 2 * time.Minute }

// walk is the narrated tour.
func (d *demo) walk(ctx context.Context) error {
	d.step("Push a code change to the staging branch: Ferry picks a serial deploy (no downtime).")
	c1, err := d.commit("Speed up the product page", map[string]string{"index.html": "<h1>Shop</h1> (faster)\n"})
	if err != nil {
		return err
	}
	if err := d.push("HEAD:staging"); err != nil {
		return err
	}
	if err := d.await(ctx, "staging", c1, "idle"); err != nil {
		return err
	}
	d.show("staging")

	d.step("Bump .ferry/schema-version (a migration): Ferry picks a full deploy with the upgrade page.")
	c2, err := d.commit("Add the orders table", map[string]string{".ferry/schema-version": "2\n", "migrations/0002_orders.py": "# create table orders\n"})
	if err != nil {
		return err
	}
	users := traffic.Start(d.lbURL("shop-staging"), 50*time.Millisecond)
	if err := d.push("HEAD:staging"); err != nil {
		users()
		return err
	}
	err = d.await(ctx, "staging", c2, "idle")
	met := users()
	if err != nil {
		return err
	}
	d.say("    requests through the load balancer during the deploy saw the upgrade page %d times (%d answered by the app, %d failed)",
		met[traffic.UpgradePage], met[traffic.OK], met[traffic.Failed])
	d.show("staging")

	d.step("Tag the release v1.0.0: production deploys the highest release tag.")
	if err := d.git("tag", "-a", "v1.0.0", "-m", "Release 1.0.0"); err != nil {
		return err
	}
	if err := d.push("v1.0.0"); err != nil {
		return err
	}
	if err := d.await(ctx, "production", c2, "idle"); err != nil {
		return err
	}
	d.show("production")

	d.step("Push a commit whose health check fails: the deploy rolls back and the commit is not retried.")
	c3, err := d.commit("Break the health check", map[string]string{"healthcheck.html": "FAIL\n"})
	if err != nil {
		return err
	}
	if err := d.push("HEAD:staging"); err != nil {
		return err
	}
	if err := d.await(ctx, "staging", c3, "blocked"); err != nil {
		return err
	}
	d.show("staging")

	return d.outcomes(ctx, "staging", 4)
}

// outcomes shows the last n commits of branch with their notes, then
// ferry status: how the walk ends.
func (d *demo) outcomes(ctx context.Context, branch string, n int) error {
	d.step("The outcomes, as git notes on the commits (git log --notes=ferry):")
	out, err := exec.Command("git", "--git-dir", d.remote, "log", "--notes=ferry", "--format=%h %s%n%N", fmt.Sprintf("-%d", n), branch).CombinedOutput()
	if err != nil {
		return fmt.Errorf("git log --notes=ferry: %v\n%s", err, out)
	}
	d.say("%s", indent(string(out)))
	if d.o.Status != nil {
		d.step("ferry status:")
		if err := d.o.Status(ctx, d.config, d.o.Out); err != nil {
			d.say("    (status: %v)", err)
		}
	}
	return nil
}

// runAgent runs the agent until the returned stop is called, which
// waits for it to end.
func (d *demo) runAgent(ctx context.Context) (stop func()) {
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.agent.Run(actx) }()
	return func() {
		cancel()
		<-done
	}
}

func (d *demo) step(what string) {
	d.n++
	d.say("\n==> %d. %s", d.n, what)
}

// await waits until the agent reports env at commit in state.
func (d *demo) await(ctx context.Context, env, commit, state string) error {
	ctx, cancel := context.WithTimeout(ctx, d.waitLimit())
	defer cancel()
	start := time.Now()
	last := ""
	for {
		for _, s := range d.agent.States() {
			if s.Env != env {
				continue
			}
			line := s.State
			if s.Detail != "" {
				line += ": " + s.Detail
			}
			if line != last && s.Target.String() == commit {
				d.say("    [%s] %s", env, line)
				last = line
			}
			if s.Target.String() == commit && s.State == state {
				d.say("    [%s] %s after %s", env, state, time.Since(start).Round(100*time.Millisecond))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not reach %s at %s: %w", env, state, short(commit), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// show fetches the environment's page through its load balancer.
func (d *demo) show(env string) {
	url := d.lbURL("shop-" + env)
	resp, err := http.Get(url)
	if err != nil {
		d.say("    curl %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	d.say("    curl %s → %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
}

func (d *demo) lbURL(name string) string {
	u, ok := d.sim.LoadBalancerURL(name)
	if !ok {
		return "(no balancer " + name + ")"
	}
	return u + "/"
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

var errNoGit = errors.New("ferry demo needs the git command (apt-get install git)")

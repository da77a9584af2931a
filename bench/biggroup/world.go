package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
)

// world is one run: a git remote, a simulator holding one web group, a
// config and a state dir.
type world struct {
	o      options
	n      int
	method string
	dir    string // work dir, removed at the end unless -keep
	home   string // HOME of every process started here

	bare     string // the remote's bare repository (file://)
	work     string // a clone the commits are made in
	config   string
	stateDir string
	simLog   string

	sim    *benchproc.Proc
	simURL string
	tgARN  string
}

const (
	project  = "big"
	envName  = "staging"
	group    = "big-staging-web"
	balancer = "big-staging"
	tgName   = "big-staging-tg"
)

func newWorld(o options, n int, method string) (*world, error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("ferry-biggroup-%d-%s-", n, method))
	if err != nil {
		return nil, err
	}
	w := &world{o: o, n: n, method: method, dir: dir, home: filepath.Join(dir, "home"),
		bare: filepath.Join(dir, "srv", "app.git"), work: filepath.Join(dir, "work"),
		config: filepath.Join(dir, "ferry.toml"), stateDir: filepath.Join(dir, "state"),
		simLog: filepath.Join(dir, "sim.log")}
	if err := os.MkdirAll(w.home, 0o700); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// close stops the simulator and removes the run's files.
func (w *world) close() {
	if w.sim != nil {
		if err := w.sim.Stop(15 * time.Second); err != nil {
			logf("%v", err)
		}
	}
	if w.o.keep {
		logf("kept %s", w.dir)
		return
	}
	if err := os.RemoveAll(w.dir); err != nil {
		logf("remove %s: %v", w.dir, err)
	}
}

// env is the environment of every process (benchproc.Env).
func (w *world) env() []string {
	return benchproc.Env(w.home)
}

// git runs git with the controlled environment and returns its output.
func (w *world) git(ctx context.Context, dir string, args ...string) (string, error) {
	return benchproc.Git(ctx, w.env(), dir, args...)
}

// ferry runs the ferry binary to completion (for set-up steps, not the
// measured deploy).
func (w *world) ferry(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.o.ferry, args...)
	cmd.Env = w.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ferry %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// setUp builds the world: the remote with a first commit, the simulator
// with the group running it, the config, and the agent's mirror, then
// pushes the commit the measured deploy deploys.
func (w *world) setUp(ctx context.Context) error {
	t0 := time.Now()
	first, err := w.makeRemote(ctx)
	if err != nil {
		return err
	}
	if err := w.startSim(ctx); err != nil {
		return err
	}
	if err := w.makeGroup(ctx, first); err != nil {
		return err
	}
	if err := w.writeConfig(); err != nil {
		return err
	}
	// The agent has its mirror already; so does a person who has run
	// ferry plan. Nothing to deploy yet: exit 0.
	if _, err := w.ferry(ctx, "plan", "-c", w.config, envName); err != nil {
		return fmt.Errorf("the first plan (mirror, nothing to deploy): %w", err)
	}
	if err := w.pushChange(ctx); err != nil {
		return err
	}
	logf("world of %d instance(s) ready in %s", w.n, time.Since(t0).Round(time.Second))
	return nil
}

// makeRemote creates the bare remote with one commit of a small app on
// the branch staging, and returns the commit.
func (w *world) makeRemote(ctx context.Context) (string, error) {
	if _, err := w.git(ctx, "", "init", "-q", "--bare", "-b", "main", w.bare); err != nil {
		return "", err
	}
	files := map[string]string{
		"index.html": "<h1>Big</h1>\n", "healthcheck.html": "OK\n", ".ferry/schema-version": "1\n",
		"app.py": "print('version 1')\n",
	}
	if err := writeFiles(w.work, files); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "The app, version 1"},
		{"remote", "add", "origin", "file://" + w.bare}, {"push", "-q", "origin", "main:" + envName}} {
		if _, err := w.git(ctx, w.work, args...); err != nil {
			return "", err
		}
	}
	return w.git(ctx, w.work, "rev-parse", "HEAD")
}

// pushChange pushes a commit that changes only the app: a serial change
// (the full deploy is asked for with --method full).
func (w *world) pushChange(ctx context.Context) error {
	if err := writeFiles(w.work, map[string]string{"app.py": "print('version 2')\n"}); err != nil {
		return err
	}
	for _, args := range [][]string{{"commit", "-q", "-am", "The app, version 2"}, {"push", "-q", "origin", "main:" + envName}} {
		if _, err := w.git(ctx, w.work, args...); err != nil {
			return err
		}
	}
	return nil
}

func writeFiles(root string, files map[string]string) error {
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startSim runs `ferry sim` on a free loopback port with the run's clock
// settings and no app: instances pass every health check, after the
// balancers' intervals and thresholds as usual, so the simulator does not
// serve 2N HTTP checks at once on the same cores as the deploy.
func (w *world) startSim(ctx context.Context) error {
	var err error
	w.sim, w.simURL, err = benchproc.StartSim(ctx, w.env(), w.simLog, w.o.sim,
		"--second", w.o.second.String(), "--boot-delay", w.o.bootDelay.String(), "--shutdown-delay", w.o.shutdown.String(),
		"--tick", w.o.tick.String(), "--app", "none", "--log-level", "warn")
	return err
}

// writeConfig writes the agent's config: one environment, the group
// behind the classic balancer and the target group, the run's poll
// interval and batch size, generous timeouts, and no hooks (the instances
// are simulated: no SSH).
func (w *world) writeConfig() error {
	doc := fmt.Sprintf(`# Written by bench/biggroup.
[project]
name = %q
state_dir = %q

[project.git]
url = %q

[environments.%s]
branch = %q
aws.region = %q
aws.endpoint = %q
groups.web = %q
load_balancers.classic = [%q]
load_balancers.target_groups = [%q]
ssh.user = "deploy"

[environments.%[4]s.policy]
poll_interval = %[11]q
serial_batch_size = %[12]d

[environments.%[4]s.policy.timeouts]
instances_in_service = "10m"
healthy_in_balancers = "10m"
drain = "10m"
lock_lease = "10m"

[environments.%[4]s.hooks.web]
upgrade_page_on = []
upgrade_page_off = []
[environments.%[4]s.hooks.worker]
deploy = []
`, project, w.stateDir, "file://"+w.bare, envName, envName, region, w.simURL, group, balancer, w.tgARN,
		w.o.poll.String(), w.o.batch)
	return os.WriteFile(w.config, []byte(doc), 0o600)
}

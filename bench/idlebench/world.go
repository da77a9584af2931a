package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
	"github.com/ferry-deploy/ferry/internal/simenv"
)

// world is one run: a git remote, a simulator, n environments and the agent.
type world struct {
	o    options
	n    int
	dir  string // work dir, removed at the end unless -keep
	home string // HOME of every process started here

	bare     string // the remote's bare repository
	url      string // as the agent reaches it
	commit   string // what every environment deploys
	config   string
	stateDir string
	agentLog string
	healthz  string

	daemon, sim, agent *benchproc.Proc
	simURL             string
}

func newWorld(o options, n int) (*world, error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("ferry-idlebench-%d-", n))
	if err != nil {
		return nil, err
	}
	w := &world{o: o, n: n, dir: dir, home: filepath.Join(dir, "home"),
		bare: filepath.Join(dir, "srv", "app.git"), config: filepath.Join(dir, "ferry.toml"),
		stateDir: filepath.Join(dir, "state"), agentLog: filepath.Join(dir, "agent.log")}
	if err := os.MkdirAll(w.home, 0o700); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// close stops every process this run started and removes its files.
func (w *world) close() {
	if w.agent != nil {
		if err := w.agent.Stop(45 * time.Second); err != nil {
			logf("%v", err)
		}
	}
	if w.sim != nil {
		if err := w.sim.Stop(15 * time.Second); err != nil {
			logf("%v", err)
		}
	}
	if w.daemon != nil {
		if err := w.daemon.Stop(5 * time.Second); err != nil {
			logf("%v", err)
		}
	}
	if w.o.keep {
		logf("kept %s (agent log: %s)", w.dir, w.agentLog)
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

// setUp builds the world and returns once every environment is in sync or
// -settle has passed (the measurement then reports how many settled).
func (w *world) setUp(ctx context.Context) error {
	t0 := time.Now()
	if err := w.makeRemote(ctx); err != nil {
		return err
	}
	if err := w.serveRemote(ctx); err != nil {
		return err
	}
	if err := w.startSim(ctx); err != nil {
		return err
	}
	if err := w.makeEnvironments(ctx); err != nil {
		return err
	}
	if err := w.writeConfig(); err != nil {
		return err
	}
	if err := w.startAgent(ctx); err != nil {
		return err
	}
	logf("world ready in %s; waiting up to %s for %d environment(s) to be in sync", time.Since(t0).Round(time.Second), w.o.settle, w.n)
	return nil
}

// branch is environment i's branch, env its name.
func branch(i int) string  { return fmt.Sprintf("env-%03d", i) }
func envName(i int) string { return fmt.Sprintf("e%03d", i) }

// makeRemote creates the bare remote with one commit of a small app on one
// branch per environment (no two environments may deploy the same branch).
func (w *world) makeRemote(ctx context.Context) error {
	if _, err := w.git(ctx, "", "init", "-q", "--bare", "-b", "main", w.bare); err != nil {
		return err
	}
	work := filepath.Join(w.dir, "work")
	files := map[string]string{
		"index.html": "<h1>Idle</h1>\n", "healthcheck.html": "OK\n", ".ferry/schema-version": "1\n",
		"app.py": "print('idle')\n", "migrations/0001_initial.py": "# create table products\n",
	}
	for p, body := range files {
		full := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "The app, version 1"}} {
		if _, err := w.git(ctx, work, args...); err != nil {
			return err
		}
	}
	c, err := w.git(ctx, work, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	w.commit = c
	push := []string{"push", "-q", "file://" + w.bare, "HEAD:refs/heads/main"}
	for i := range w.n {
		push = append(push, "HEAD:refs/heads/"+branch(i))
	}
	_, err = w.git(ctx, work, push...)
	return err
}

// serveRemote serves the bare repository: git daemon on a loopback port
// with its default settings (max 32 connections, ...) plus receive-pack,
// which the agent's locks and notes push through; or file://.
func (w *world) serveRemote(ctx context.Context) error {
	if w.o.remote == remoteFile {
		w.url = "file://" + w.bare
		return nil
	}
	var err error
	w.daemon, w.url, err = benchproc.ServeGit(ctx, w.env(), filepath.Join(w.dir, "daemon.log"), w.bare)
	return err
}

// startSim runs `ferry sim` with its defaults on a free loopback port.
func (w *world) startSim(ctx context.Context) error {
	var err error
	w.sim, w.simURL, err = benchproc.StartSim(ctx, w.env(), filepath.Join(w.dir, "sim.log"), w.o.sim)
	return err
}

// makeEnvironments builds each environment's group and balancer through
// the SDK, already running the commit the way a previous Ferry deploy
// leaves them (group tag and launch template version), and waits until
// every instance serves.
func (w *world) makeEnvironments(ctx context.Context) error {
	c := simenv.Connect(w.simURL)
	now := time.Now().Add(-24 * time.Hour)
	for i := range w.n {
		if err := simenv.Create(ctx, c, simenv.Spec{
			Project: "idle", Env: envName(i), LaunchTemplate: groupName(i), DeployedCommit: w.commit, Now: now,
			Groups: []simenv.Group{{Name: groupName(i), Size: w.o.size, ClassicLB: lbName(i)}},
		}); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for i := range w.n {
		if err := simenv.WaitServing(wctx, c, groupName(i), w.o.size); err != nil {
			return err
		}
	}
	return nil
}

func groupName(i int) string { return "idle-" + envName(i) + "-web" }
func lbName(i int) string    { return "idle-" + envName(i) }

// writeConfig writes the agent's config: default intervals everywhere.
func (w *world) writeConfig() error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by bench/idlebench.\n[project]\nname = \"idle\"\nstate_dir = %q\n\n[project.git]\nurl = %q\n", w.stateDir, w.url)
	for i := range w.n {
		fmt.Fprintf(&b, `
[environments.%s]
branch = %q
aws.region = %q
aws.endpoint = %q
groups.web = %q
load_balancers.classic = [%q]
ssh.user = "deploy"
`, envName(i), branch(i), simenv.Region, w.simURL, groupName(i), lbName(i))
	}
	return os.WriteFile(w.config, []byte(b.String()), 0o600)
}

// startAgent runs `ferry run` with a JSON log and its listener on a free
// loopback port.
func (w *world) startAgent(ctx context.Context) error {
	port, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	w.healthz = "http://" + addr + "/healthz"
	w.agent, err = benchproc.Start("ferry run", w.env(), w.agentLog, w.o.ferry, "run", "-c", w.config, "--listen", addr, "--log-format", "json")
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return benchproc.WaitFor(wctx, 100*time.Millisecond, "the agent's /healthz", func() (bool, error) {
		if w.agent.Exited() {
			return false, fmt.Errorf("ferry run exited: %v (see %s)", w.agent.Err(), w.agentLog)
		}
		_, err := w.states(ctx)
		return err == nil, nil
	})
}

// envState is one environment in /healthz.
type envState struct {
	Env    string `json:"env"`
	State  string `json:"state"`
	Detail string `json:"detail"`
	Target string `json:"target"`
}

// states reads /healthz.
func (w *world) states(ctx context.Context) ([]envState, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.healthz, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Environments []envState `json:"environments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("/healthz: %w", err)
	}
	return body.Environments, nil
}

// inSync counts the environments idle at the commit.
func (w *world) inSync(ctx context.Context) (int, []envState, error) {
	ss, err := w.states(ctx)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var other []envState
	for _, s := range ss {
		if s.State == "idle" && s.Target == w.commit {
			n++
		} else {
			other = append(other, s)
		}
	}
	return n, other, nil
}

// settle waits until every environment is in sync, or -settle passes.
func (w *world) settle(ctx context.Context) (int, time.Duration, error) {
	t0 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, w.o.settle)
	defer cancel()
	n := 0
	var other []envState
	err := benchproc.WaitFor(sctx, time.Second, "environments in sync", func() (bool, error) {
		if w.agent.Exited() {
			return false, fmt.Errorf("ferry run exited: %v (see %s)", w.agent.Err(), w.agentLog)
		}
		var err error
		n, other, err = w.inSync(ctx)
		if err != nil {
			return false, nil // the agent may be busy: ask again
		}
		return n == w.n, nil
	})
	if err != nil && ctx.Err() == nil && !w.agent.Exited() {
		logf("only %d of %d environments in sync after %s; measuring anyway. Not in sync: %s", n, w.n, w.o.settle, describe(other))
		return n, time.Since(t0), nil
	}
	return n, time.Since(t0), err
}

func describe(ss []envState) string {
	var parts []string
	for i, s := range ss {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ss)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", s.Env, s.State, s.Detail))
	}
	return strings.Join(parts, "; ")
}

func gitVersion(ctx context.Context) string {
	out, _ := exec.CommandContext(ctx, "git", "--version").Output()
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "git version ")
}

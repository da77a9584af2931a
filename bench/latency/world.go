package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
	"github.com/ferry-deploy/ferry/internal/simenv"
)

// world is one mode's run: a git remote served by git daemon, the
// simulator with one web group of one instance, and the agent.
type world struct {
	o    options
	mode string
	dir  string // work dir, removed at the end unless -keep
	home string // HOME of every process started here

	bare     string // the remote's bare repository
	work     string // the clone the pushes come from
	url      string // the remote, as the agent and the pushes reach it
	config   string
	stateDir string
	agentLog string
	agentURL string // http://127.0.0.1:PORT
	secret   string // the webhook's HMAC key (webhook mode)

	daemon, sim, agent *benchproc.Proc
	simURL             string
}

const (
	project  = "lat"
	envName  = "staging"
	group    = "lat-staging-web"
	balancer = "lat-staging"
	// secretEnv is the variable the agent reads the webhook secret from.
	secretEnv = "FERRY_BENCH_WEBHOOK_SECRET"
)

func newWorld(o options, mode string) (*world, error) {
	dir, err := os.MkdirTemp("", "ferry-latency-"+mode+"-")
	if err != nil {
		return nil, err
	}
	w := &world{o: o, mode: mode, dir: dir, home: filepath.Join(dir, "home"),
		bare: filepath.Join(dir, "srv", "app.git"), work: filepath.Join(dir, "work"),
		config: filepath.Join(dir, "ferry.toml"), stateDir: filepath.Join(dir, "state"),
		agentLog: filepath.Join(dir, "agent.log"), secret: fmt.Sprintf("bench-%d", time.Now().UnixNano())}
	if err := os.MkdirAll(w.home, 0o700); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// close stops every process this run started and removes its files.
func (w *world) close() {
	for _, p := range []*benchproc.Proc{w.agent, w.sim, w.daemon} {
		if p != nil {
			if err := p.Stop(30 * time.Second); err != nil {
				logf("%v", err)
			}
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

// env is the environment of every process (benchproc.Env), with the
// webhook secret for the agent.
func (w *world) env() []string {
	return append(benchproc.Env(w.home), secretEnv+"="+w.secret)
}

func (w *world) git(ctx context.Context, dir string, args ...string) (string, error) {
	return benchproc.Git(ctx, w.env(), dir, args...)
}

// setUp builds the world and returns once the agent is idle at the first
// commit.
func (w *world) setUp(ctx context.Context) error {
	t0 := time.Now()
	first, err := w.makeRemote(ctx)
	if err != nil {
		return err
	}
	if w.daemon, w.url, err = benchproc.ServeGit(ctx, w.env(), filepath.Join(w.dir, "daemon.log"), w.bare); err != nil {
		return err
	}
	if _, err := w.git(ctx, w.work, "remote", "add", "origin", w.url); err != nil {
		return err
	}
	if w.sim, w.simURL, err = benchproc.StartSim(ctx, w.env(), filepath.Join(w.dir, "sim.log"), w.o.sim,
		"--second", w.o.second.String(), "--boot-delay", w.o.bootDelay.String(), "--shutdown-delay", w.o.second.String(),
		"--tick", w.o.tick.String(), "--app", "none", "--log-level", "warn"); err != nil {
		return err
	}
	c := simenv.Connect(w.simURL)
	if err := simenv.Create(ctx, c, simenv.Spec{
		Project: project, Env: envName, LaunchTemplate: group, DeployedCommit: first, Now: time.Now().Add(-24 * time.Hour),
		Groups: []simenv.Group{{Name: group, Size: 1, ClassicLB: balancer}},
	}); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := simenv.WaitServing(wctx, c, group, 1); err != nil {
		return err
	}
	if err := w.writeConfig(); err != nil {
		return err
	}
	if err := w.startAgent(ctx); err != nil {
		return err
	}
	if err := w.waitIdle(ctx, first, time.Minute); err != nil {
		return err
	}
	logf("world ready in %s", time.Since(t0).Round(time.Second))
	return nil
}

// makeRemote creates the bare remote with one commit of a small app on
// the branch staging, and returns the commit.
func (w *world) makeRemote(ctx context.Context) (string, error) {
	if _, err := w.git(ctx, "", "init", "-q", "--bare", "-b", "main", w.bare); err != nil {
		return "", err
	}
	files := map[string]string{"index.html": "<h1>Latency</h1>\n", "healthcheck.html": "OK\n", ".ferry/schema-version": "1\n", "app.py": "print(0)\n"}
	for p, body := range files {
		full := filepath.Join(w.work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "The app, version 0"},
		{"push", "-q", "file://" + w.bare, "main:" + envName}} {
		if _, err := w.git(ctx, w.work, args...); err != nil {
			return "", err
		}
	}
	return w.git(ctx, w.work, "rev-parse", "HEAD")
}

// writeConfig writes the agent's config: the mode's polling (and webhook),
// a fast policy.poll_interval so each deploy ends soon, no hooks (no SSH).
func (w *world) writeConfig() error {
	var git string
	switch w.mode {
	case modePoll1s:
		git = "poll_interval = \"1s\"\n"
	case modeWebhook:
		git = fmt.Sprintf("[project.git.webhook]\nsecret_env = %q\n", secretEnv)
	}
	doc := fmt.Sprintf(`# Written by bench/latency (%s).
[project]
name = %q
state_dir = %q

[project.git]
url = %q
%s
[environments.%s]
branch = %q
aws.region = %q
aws.endpoint = %q
groups.web = %q
load_balancers.classic = [%q]
ssh.user = "deploy"

[environments.%[6]s.policy]
poll_interval = %[12]q

[environments.%[6]s.hooks.web]
upgrade_page_on = []
upgrade_page_off = []
[environments.%[6]s.hooks.worker]
deploy = []
`, w.mode, project, w.stateDir, w.url, git, envName, envName, simenv.Region, w.simURL, group, balancer, w.o.poll.String())
	return os.WriteFile(w.config, []byte(doc), 0o600)
}

// startAgent runs `ferry run` with a JSON log and its listener on a free
// loopback port.
func (w *world) startAgent(ctx context.Context) error {
	port, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	w.agentURL = "http://" + addr
	w.agent, err = benchproc.Start("ferry run", w.env(), w.agentLog, w.o.ferry, "run", "-c", w.config, "--listen", addr, "--log-format", "json")
	return err
}

// state reads the environment's state and target from /healthz.
func (w *world) state(ctx context.Context) (state, target string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.agentURL+"/healthz", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var body struct {
		Environments []struct {
			Env, State, Target string
		} `json:"environments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", "", fmt.Errorf("/healthz: %w", err)
	}
	for _, e := range body.Environments {
		if e.Env == envName {
			return e.State, e.Target, nil
		}
	}
	return "", "", fmt.Errorf("/healthz: no environment %s", envName)
}

// waitIdle waits until the agent is idle with commit deployed.
func (w *world) waitIdle(ctx context.Context, commit string, limit time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last string
	err := benchproc.WaitFor(wctx, 20*time.Millisecond, "the agent idle at "+commit[:12], func() (bool, error) {
		if w.agent.Exited() {
			return false, fmt.Errorf("ferry run exited: %v (see %s)", w.agent.Err(), w.agentLog)
		}
		s, t, err := w.state(ctx)
		if err != nil {
			return false, nil // not listening yet, or busy: ask again
		}
		last = s + " at " + t
		return s == "idle" && t != "" && strings.HasPrefix(commit, t), nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w (last seen: %s; see %s)", err, last, w.agentLog)
	}
	return err
}

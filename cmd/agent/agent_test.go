package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// brokenApp serves the demo app, except that instances launched for the
// broken commit (told by the ferry:commit tag the group propagates) fail
// their health check.
type brokenApp struct {
	mu     sync.Mutex
	broken string
}

func (b *brokenApp) set(commit string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken = commit
}

func (b *brokenApp) app(ctx context.Context, inst awssim.Instance) (http.Handler, error) {
	b.mu.Lock()
	broken := b.broken != "" && inst.Tags["ferry:commit"] == b.broken
	b.mu.Unlock()
	if broken {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "this build is broken", http.StatusInternalServerError)
		}), nil
	}
	return awssim.DemoApp(ctx, inst)
}

// startAgent runs the agent in-process on p's config until the test ends;
// it looks at waiting environments again every recheck.
func startAgent(t *testing.T, p *project, recheck time.Duration) *agent.Agent {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("FERRY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return startAgentLogging(t, p, recheck, log)
}

// startAgentLogging is startAgent with the agent's log going to log.
func startAgentLogging(t *testing.T, p *project, recheck time.Duration, log *slog.Logger) *agent.Agent {
	t.Helper()
	cfg, err := config.Load(p.config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m, err := agent.OpenMirror(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCloud(ctx, cfg.Environments["staging"], log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Config: cfg, Mirror: m, Clouds: map[string]agent.Cloud{"staging": c},
		Listen: "127.0.0.1:0", Logger: log, Recheck: recheck})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return a
}

// pushBroken pushes a commit whose instances fail their health check and
// waits until the agent has rolled it back and blocked it.
func (p *project) pushBroken(a *agent.Agent, broken *brokenApp) string {
	p.t.Helper()
	bad := p.work.Commit("Break the health check", map[string]string{"app.py": "3\n"})
	broken.set(bad)
	p.work.Git("push", "-q", "origin", "main:staging")
	p.waitState(a, "blocked", bad)
	return bad
}

// waitState waits until the agent reports staging in state with target
// commit.
func (p *project) waitState(a *agent.Agent, state, commit string) {
	p.t.Helper()
	testutil.Eventually(p.t, 30*time.Second, fmt.Sprintf("staging to be %s at %.12s", state, commit), func() (bool, string) {
		s := p.envState(a)
		return s.State == state && s.Target.String() == commit, fmt.Sprintf("%+v", s)
	})
}

func (p *project) envState(a *agent.Agent) agent.EnvState {
	for _, s := range a.States() {
		if s.Env == "staging" {
			return s
		}
	}
	return agent.EnvState{}
}

// TestResumeWakesTheAgent: ferry resume and ferry retry take effect at
// once, not at the agent's next recheck (an hour here).
func TestResumeWakesTheAgent(t *testing.T) {
	broken := &brokenApp{}
	p := newProjectWith(t, 1, broken.app)
	if code, _, _ := runFerry(t, "pause", "-c", p.config, "staging"); code != exitOK {
		t.Fatal("pause failed")
	}
	a := startAgent(t, p, time.Hour)
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	p.waitState(a, "paused", next)
	if code, _, _ := runFerry(t, "resume", "-c", p.config, "staging"); code != exitOK {
		t.Fatal("resume failed")
	}
	testutil.Eventually(t, 30*time.Second, "the deploy to start on resume", func() (bool, string) {
		s := p.envState(a)
		return s.State != "paused", fmt.Sprintf("%+v", s)
	})
	p.waitState(a, "idle", next)

	bad := p.pushBroken(a, broken)
	if code, _, _ := runFerry(t, "retry", "-c", p.config, "staging"); code != exitOK {
		t.Fatal("retry failed")
	}
	testutil.Eventually(t, 30*time.Second, "the retried commit to roll back again", func() (bool, string) {
		n := countOutcomes(t, p, bad, "rolled-back")
		return n == 2, fmt.Sprintf("%d rollbacks", n)
	})
}

func TestAgentDeploysBlocksPausesAndRetries(t *testing.T) {
	broken := &brokenApp{}
	p := newProjectWith(t, 2, broken.app)
	a := startAgent(t, p, 100*time.Millisecond)

	good := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	p.waitState(a, "idle", good)
	if code, out, _ := runFerry(t, "status", "-c", p.config, "staging"); code != exitOK || !strings.Contains(out, "in sync") {
		t.Errorf("status after deploy: exit %d\n%s", code, out)
	}

	// A commit whose instances never pass the health check rolls back and
	// is then left alone: not retried in a loop.
	bad := p.pushBroken(a, broken)
	p.waitRechecks(a, 5)
	if n := countOutcomes(t, p, bad, "rolled-back"); n != 1 {
		t.Errorf("the broken commit was deployed %d times; want once, then left alone", n)
	}
	code, out, _ := runFerry(t, "status", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(out, "blocked") || !strings.Contains(out, "ferry retry staging") {
		t.Errorf("status with a blocked commit: exit %d\n%s", code, out)
	}

	// ferry retry lets the agent try it once more.
	if code, out, _ := runFerry(t, "retry", "-c", p.config, "staging"); code != exitOK || !strings.Contains(out, "will be deployed again") {
		t.Fatalf("retry: exit %d\n%s", code, out)
	}
	testutil.Eventually(t, 30*time.Second, "the retried commit to roll back again", func() (bool, string) {
		return countOutcomes(t, p, bad, "rolled-back") == 2, "waiting"
	})

	// A paused environment is not deployed until resumed.
	if code, _, _ := runFerry(t, "pause", "-c", p.config, "staging", "--reason", "load test"); code != exitOK {
		t.Fatal("pause failed")
	}
	fixed := p.push("Fix the health check", map[string]string{"app.py": "4\n"})
	p.waitState(a, "paused", fixed)
	if code, _, _ := runFerry(t, "resume", "-c", p.config, "staging"); code != exitOK {
		t.Fatal("resume failed")
	}
	p.waitState(a, "idle", fixed)

	// /healthz and /metrics answer on the listener.
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(t, resp))
	for _, want := range []string{`ferry_deploys_total{env="staging",method="serial",outcome="succeeded"} 2`, `ferry_deploys_total{env="staging",method="serial",outcome="rolled-back"} 2`, `ferry_deployed_commit_info{commit="` + fixed + `",env="staging"} 1`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if resp, err := http.Get("http://" + a.Addr() + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %v %v", resp, err)
	}
}

func countOutcomes(t *testing.T, p *project, commit, outcome string) int {
	t.Helper()
	out, err := execGit(p.remote, "notes", "--ref=ferry", "show", commit)
	if err != nil {
		return 0
	}
	return strings.Count(out, "outcome: "+outcome)
}

// TestIdleAgentWritesNothing: an environment already at its target is
// looked at again and again, and each look only reads: no lock is taken,
// nothing is pushed to the remote or written to the state dir, its state
// never leaves idle, and nothing is logged at info level.
func TestIdleAgentWritesNothing(t *testing.T) {
	p := newProject(t, 1)
	logs := &testutil.Buffer{}
	a := startAgentLogging(t, p, 20*time.Millisecond, slog.New(slog.NewTextHandler(logs, nil)))
	p.waitState(a, "idle", p.first)
	testutil.Eventually(t, 30*time.Second, "the first look to end", func() (bool, string) {
		return strings.Contains(logs.String(), "in sync"), logs.String()
	})

	remote := func() string {
		refs, err := execGit(p.remote, "for-each-ref")
		if err != nil {
			t.Fatal(err)
		}
		objects, err := execGit(p.remote, "count-objects", "-v")
		if err != nil {
			t.Fatal(err)
		}
		return refs + objects
	}
	beforeRemote, beforeState, beforeLog := remote(), treeOf(t, p.stateDir), len(logs.String())
	p.waitLooks(10)
	if after := remote(); after != beforeRemote {
		t.Errorf("idle looks wrote to the remote:\nbefore:\n%s\nafter:\n%s", beforeRemote, after)
	}
	if after := treeOf(t, p.stateDir); after != beforeState {
		t.Errorf("idle looks wrote to the state dir:\nbefore:\n%s\nafter:\n%s", beforeState, after)
	}
	if more := logs.String()[beforeLog:]; more != "" {
		t.Errorf("idle looks logged:\n%s", more)
	}
}

// waitLooks waits until the agent has looked at the environment n more
// times (each look reads its group once), instead of sleeping for a guess.
func (p *project) waitLooks(n int64) {
	p.t.Helper()
	describes := func() int64 { return p.sim.Counts()["autoscaling:DescribeAutoScalingGroups"] }
	start := describes()
	testutil.Eventually(p.t, 30*time.Second, fmt.Sprintf("%d more looks at the environment", n), func() (bool, string) {
		got := describes() - start
		return got >= n, fmt.Sprintf("%d group reads", got)
	})
}

// waitRechecks waits until the agent has looked at staging n more times
// (ferry_environment_looks_total), whatever each look did, instead of
// sleeping for a guess.
func (p *project) waitRechecks(a *agent.Agent, n int) {
	p.t.Helper()
	looks := func() int {
		resp, err := http.Get("http://" + a.Addr() + "/metrics")
		if err != nil {
			p.t.Fatal(err)
		}
		defer resp.Body.Close()
		m := regexp.MustCompile(`(?m)^ferry_environment_looks_total\{env="staging"\} (\d+)$`).FindStringSubmatch(readAll(p.t, resp))
		if m == nil {
			p.t.Fatal("/metrics has no ferry_environment_looks_total for staging")
		}
		got, _ := strconv.Atoi(m[1])
		return got
	}
	start := looks()
	testutil.Eventually(p.t, 30*time.Second, fmt.Sprintf("%d more looks at staging", n), func() (bool, string) {
		got := looks() - start
		return got >= n, fmt.Sprintf("%d looks", got)
	})
}

// treeOf lists the files under dir with their sizes and modification times.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %s\n", strings.TrimPrefix(path, dir), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

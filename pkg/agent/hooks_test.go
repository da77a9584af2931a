package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

const (
	webGroup    = "shop-staging-web"
	workerGroup = "shop-staging-worker"
	deployID    = "staging-20261123T120000-d1"
)

// whereAmI is shell that prints the address the SSH client connected to:
// the third field of $SSH_CONNECTION. One sshd listens on every address, so
// this is how a hook command knows which simulated instance it stands for.
const whereAmI = `set -- $SSH_CONNECTION; addr=$3`

// hookEnv is a simulated staging environment (a web group behind a classic
// balancer and a worker group, both running the first commit) whose
// instances' private addresses (127.1.x.y) all reach one real OpenSSH sshd.
// Every hook command appends "<hook> <address>" to a file in marks and
// prints a line naming the address, so the test sees where each ran.
type hookEnv struct {
	t        *testing.T
	ctx      context.Context
	sim      *awssim.Server
	cloud    *cloud.Client
	repo     *testutil.GitRepo
	cfg      *config.Config
	env      *config.Environment
	stateDir string
	marks    string
	old, new string
	before   map[string]*cloud.Group
}

// hookOpts vary the environment: commands the worker's deploy step runs
// after its mark, and the bound on each command.
// cacheHost is the cache server the environment lists outside Auto
// Scaling (hosts.cache); simulated instances get 127.1.0.x.
const cacheHost = "127.1.200.1"

type hookOpts struct {
	thenDeploy     []string
	commandTimeout string
}

func newHookEnv(t *testing.T, sshd *sshtest.Server, opts hookOpts) *hookEnv {
	t.Helper()
	repo := testutil.NewGitRepo(t)
	old := repo.Commit("First", map[string]string{"app.py": "1\n", ".ferry/schema-version": "1\n"})
	next := repo.Commit("Add orders", map[string]string{"app.py": "2\n", ".ferry/schema-version": "2\n"})

	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.Mkdir(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	// The instances' addresses are not known in advance: one known_hosts
	// line with a wildcard pattern trusts sshd's key on all of them, and
	// only on this port.
	fields := strings.Fields(sshd.HostPublicKey())
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, fmt.Appendf(nil, "[127.1.*]:%d %s %s\n", sshd.Port, fields[0], fields[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	mark := func(hook string) string {
		return fmt.Sprintf(`%s; echo "%s on $addr"; echo "%s $addr" >> %s/%s`, whereAmI, hook, hook, marks, hook)
	}
	deploy := fmt.Sprintf("%q", mark("deploy"))
	for _, c := range opts.thenDeploy {
		deploy += fmt.Sprintf(", %q", c)
	}
	if opts.commandTimeout == "" {
		opts.commandTimeout = "20s"
	}
	stateDir := filepath.Join(dir, "state")
	cfg, err := config.Parse("ferry.toml", []byte(fmt.Sprintf(`
[project]
name = "shop"
state_dir = %q
[project.git]
url = "file:///srv/git/shop.git"
[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = %q
groups.worker = %q
# A cache server outside Auto Scaling: the same sshd answers there too.
hosts.cache = [%q]
load_balancers.classic = ["shop-staging"]
[environments.staging.ssh]
user = %q
port = %d
key_file = %q
known_hosts = %q
connect_timeout = "10s"
[environments.staging.policy.timeouts]
instances_in_service = "20s"
healthy_in_balancers = "20s"
drain = "20s"
command = %q
[environments.staging.hooks.web]
upgrade_page_on = [%q]
upgrade_page_off = [%q]
post_deploy = []
[environments.staging.hooks.worker]
deploy = [%s]
[environments.staging.hooks.cache]
post_deploy = [%q]
`, stateDir, webGroup, workerGroup, cacheHost, sshd.User, sshd.Port, sshd.ClientKey, knownHosts, opts.commandTimeout,
		mark("upgrade_page_on"), mark("upgrade_page_off"), deploy, mark("post_deploy"))))
	if err != nil {
		t.Fatal(err)
	}

	srv := testutil.StartSim(t, awssim.Options{App: awssim.DemoApp})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	clients := simenv.Connect(srv.URL)
	if err := simenv.Create(ctx, clients, simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-staging",
		Groups: []simenv.Group{
			{Name: webGroup, Size: 2, ClassicLB: "shop-staging"},
			{Name: workerGroup, Size: 2},
		},
		DeployedCommit: old, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{webGroup, workerGroup} {
		if err := simenv.WaitServing(ctx, clients, g, 2); err != nil {
			t.Fatal(err)
		}
	}
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials(),
		MaxAttempts: 3, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := &hookEnv{t: t, ctx: ctx, sim: srv, cloud: c, repo: repo, cfg: cfg, env: cfg.Environments["staging"],
		stateDir: stateDir, marks: marks, old: old, new: next, before: map[string]*cloud.Group{}}
	for _, g := range []string{webGroup, workerGroup} {
		h.before[g] = h.group(g)
	}
	return h
}

func (h *hookEnv) group(name string) *cloud.Group {
	h.t.Helper()
	g, err := h.cloud.Group(h.ctx, name, nil, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return g
}

// deploy plans the full deploy of the second commit and runs it with the
// SSH hooks of pkg/agent.
func (h *hookEnv) deploy() (*plan.Plan, execute.Report, error) {
	h.t.Helper()
	p, err := plan.Make(h.ctx, h.cloud, h.repo, plan.Input{
		Project: "shop", SchemaMarker: h.cfg.Project.SchemaMarker, Env: h.env,
		Target: plan.Revision{Commit: commit.MustParse(h.new), Ref: "refs/heads/staging"}, Now: time.Now(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if p.Method != plan.Full {
		h.t.Fatalf("method %s, want full", p.Method)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("FERRY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	hooks, err := agent.NewHooks(h.stateDir, h.env, deployID, log)
	if err != nil {
		h.t.Fatal(err)
	}
	ex := &execute.Executor{
		Cloud: h.cloud, Hooks: hooks, Journal: execute.JournalStore{Dir: filepath.Join(h.stateDir, "journal")},
		Env: h.env, Log: log, Poll: 10 * time.Millisecond,
	}
	r, err := ex.Run(h.ctx, p, deployID)
	return p, r, err
}

// ran returns the addresses a hook ran on, in order.
func (h *hookEnv) ran(hook string) []string {
	h.t.Helper()
	f, err := os.Open(filepath.Join(h.marks, hook))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var addrs []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), hook+" "); ok {
			addrs = append(addrs, rest)
		} else {
			h.t.Errorf("%s: unexpected line %q", hook, s.Text())
		}
	}
	slices.Sort(addrs)
	return addrs
}

// serverLog returns the per-server log of an instance for a role.
func (h *hookEnv) serverLog(role, instance string) string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.stateDir, "logs", "staging", deployID, role+"-"+instance+".log"))
	if err != nil {
		h.t.Errorf("server log: %v", err)
	}
	return string(b)
}

// addrs maps instance ids to private addresses, for every instance the
// simulator launched in the groups (terminated ones included).
func addrsOf(gs ...*cloud.Group) map[string]string {
	out := map[string]string{}
	for _, g := range gs {
		for _, inst := range g.Instances {
			out[inst.ID] = inst.PrivateIP
		}
	}
	return out
}

func sortedValues(m map[string]string, keep func(id string) bool) []string {
	var out []string
	for id, v := range m {
		if keep(id) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// TestHooksOverRealSSH runs full deploys whose hooks go over SSH, through
// pkg/agent's hooks and pkg/remote, to a real OpenSSH sshd that every
// simulated instance's address reaches.
func TestHooksOverRealSSH(t *testing.T) {
	// Listening on every address of the host makes one sshd answer at the
	// private address of each simulated instance (127.1.x.y), whichever
	// instances the group launches.
	sshd := sshtest.Start(t, sshtest.Options{Hosts: []string{"0.0.0.0"}})

	t.Run("succeeds", func(t *testing.T) {
		// Each command has the whole timeouts.command to itself: two
		// that together outlast it pass.
		h := newHookEnv(t, sshd, hookOpts{thenDeploy: []string{"sleep 3.5", "sleep 3.5"}, commandTimeout: "6s"})
		_, r, err := h.deploy()
		if err != nil || r.Outcome != execute.Succeeded {
			t.Fatalf("outcome %s: %v\nsshd log:\n%s", r.Outcome, err, sshd.Log())
		}
		web, worker := h.group(webGroup), h.group(workerGroup)
		oldWeb, newWeb, newWorker := addrsOf(h.before[webGroup]), addrsOf(web), addrsOf(worker)
		all := func(string) bool { return true }

		// The page goes up on every web server, old and new (seed step 2),
		// and nowhere else; it comes down on the new ones.
		wantOn := append(sortedValues(oldWeb, all), sortedValues(newWeb, all)...)
		slices.Sort(wantOn)
		if got := h.ran("upgrade_page_on"); !slices.Equal(got, wantOn) {
			t.Errorf("upgrade page on at %v, want every web instance, old and new: %v", got, wantOn)
		}
		if got, want := h.ran("upgrade_page_off"), sortedValues(newWeb, all); !slices.Equal(got, want) {
			t.Errorf("upgrade page off at %v, want the new web instances %v", got, want)
		}
		// The worker's deploy step runs once, on a new worker.
		ranDeploy := h.ran("deploy")
		if len(ranDeploy) != 1 || !slices.Contains(sortedValues(newWorker, all), ranDeploy[0]) {
			t.Fatalf("worker deploy step ran at %v, want exactly one new worker of %v", ranDeploy, newWorker)
		}

		// post_deploy runs on the cache server, which no group holds, and
		// its output is in a log named by its address.
		if got := h.ran("post_deploy"); !slices.Equal(got, []string{cacheHost}) {
			t.Errorf("post_deploy ran at %v, want the cache server %s", got, cacheHost)
		}
		if log := h.serverLog("cache", cacheHost); !strings.Contains(log, "out| post_deploy on "+cacheHost) {
			t.Errorf("cache-%s.log lacks the hook's output:\n%s", cacheHost, log)
		}

		// Each server's output is in its own log, under the deploy's id.
		for id, addr := range newWeb {
			log := h.serverLog("web", id)
			for _, want := range []string{"out| upgrade_page_on on " + addr, "out| upgrade_page_off on " + addr, "=== exit 0"} {
				if !strings.Contains(log, want) {
					t.Errorf("web-%s.log lacks %q:\n%s", id, want, log)
				}
			}
		}
		for id, addr := range oldWeb {
			if log := h.serverLog("web", id); !strings.Contains(log, "out| upgrade_page_on on "+addr) {
				t.Errorf("web-%s.log (an old instance) lacks the page going up:\n%s", id, log)
			}
		}
		for id, addr := range newWorker {
			if addr != ranDeploy[0] {
				continue
			}
			if log := h.serverLog("worker", id); !strings.Contains(log, "out| deploy on "+addr) {
				t.Errorf("worker-%s.log lacks the deploy step's output:\n%s", id, log)
			}
		}
	})

	for _, tc := range []struct {
		name string
		opts hookOpts
		// reason: what the outcome's reason must name; log: what the
		// worker's server log must hold.
		reason, log []string
	}{
		{
			name:   "a failing command rolls back",
			opts:   hookOpts{thenDeploy: []string{"echo 'migrate: relation orders already exists' >&2; exit 1"}},
			reason: []string{"worker-deploy", "deploy on i-", "exit status 1"},
			log:    []string{"err| migrate: relation orders already exists", "=== exit 1"},
		},
		{
			name:   "a command past timeouts.command rolls back",
			opts:   hookOpts{thenDeploy: []string{"echo migrating; sleep 60"}, commandTimeout: "3s"},
			reason: []string{"worker-deploy", "deploy on i-", "no exit after 3s, stopped"},
			log:    []string{"out| migrating", "out of time: sending SIGTERM"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { rollsBack(t, newHookEnv(t, sshd, tc.opts), tc.reason, tc.log) })
	}
}

// rollsBack runs a deploy whose worker step fails and checks that the
// groups end as they began, the page came down and the reason and the
// worker's log say what happened.
func rollsBack(t *testing.T, h *hookEnv, reason, log []string) {
	_, r, err := h.deploy()
	if r.Outcome != execute.RolledBack || err == nil {
		t.Fatalf("outcome %s (%v), want rolled back", r.Outcome, err)
	}
	t.Logf("reason: %s", r.Reason)
	for _, want := range reason {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason %q does not name %q", r.Reason, want)
		}
	}
	for _, name := range []string{webGroup, workerGroup} {
		before, g := h.before[name], h.group(name)
		ids := func(g *cloud.Group) []string {
			var out []string
			for _, inst := range g.Instances {
				out = append(out, inst.ID)
			}
			slices.Sort(out)
			return out
		}
		if !slices.Equal(ids(g), ids(before)) {
			t.Errorf("%s: instances %v, want the old ones %v", name, ids(g), ids(before))
		}
		if len(g.SuspendedProcesses) != 0 {
			t.Errorf("%s: processes left suspended: %v", name, g.SuspendedProcesses)
		}
		if g.MinSize != before.MinSize || g.MaxSize != before.MaxSize || g.DesiredCapacity != before.DesiredCapacity {
			t.Errorf("%s: sizes %d/%d/%d, want %d/%d/%d", name, g.MinSize, g.MaxSize, g.DesiredCapacity, before.MinSize, before.MaxSize, before.DesiredCapacity)
		}
		if *g.LaunchTemplate != *before.LaunchTemplate || g.Tags[plan.TagCommit] != h.old {
			t.Errorf("%s: launch template %+v tagged %s, want %+v tagged %s", name, *g.LaunchTemplate, g.Tags[plan.TagCommit], *before.LaunchTemplate, h.old)
		}
	}
	// The page came down again on the web servers that still serve.
	if got, want := h.ran("upgrade_page_off"), sortedValues(addrsOf(h.before[webGroup]), func(string) bool { return true }); !slices.Equal(got, want) {
		t.Errorf("after the rollback the page came off at %v, want the old web instances %v", got, want)
	}
	// The failing command's output is in the worker's log.
	if got := h.ran("deploy"); len(got) != 1 {
		t.Fatalf("deploy step ran at %v, want one worker", got)
	}
	logs, _ := filepath.Glob(filepath.Join(h.stateDir, "logs", "staging", deployID, "worker-*.log"))
	if len(logs) != 1 {
		t.Fatalf("worker logs %v, want one", logs)
	}
	b, _ := os.ReadFile(logs[0])
	for _, want := range log {
		if !strings.Contains(string(b), want) {
			t.Errorf("worker log lacks %q:\n%s", want, b)
		}
	}
}

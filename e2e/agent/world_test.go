package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/status"
)

// env is one environment of the simulated account: its web group behind a
// classic balancer, and optionally a worker group.
type env struct {
	name   string // staging, production
	branch string // deployed from this branch, or
	tag    string // from the highest semver tag matching this glob
	web    int
	worker int
}

func (e env) webGroup() string    { return "shop-" + e.name + "-web" }
func (e env) workerGroup() string { return "shop-" + e.name + "-worker" }
func (e env) balancer() string    { return "shop-" + e.name }

// staging and production are the environments most tests use: two web
// servers each, deployed from the staging branch and from v* tags.
func staging() env    { return env{name: "staging", branch: "staging", web: 2} }
func production() env { return env{name: "production", tag: "v*", web: 2} }

// world is what the agent works on: a git daemon serving the project's
// bare repository, a working clone to commit and push from, and the AWS
// simulator as its own process with every environment running the first
// commit.
type world struct {
	t      *testing.T
	envs   []env
	sim    *proc
	simURL string
	aws    simenv.Clients
	bare   string // the repository the daemon serves, read with the git CLI
	url    string // git:// URL of it
	work   *gittest.Work
	first  string
	// appRoot holds each instance's files (ferry sim --app-root): a hook
	// run over SSH on an instance's address puts the upgrade page up by
	// writing appRoot/<address>/upgrade.html.
	appRoot string
}

func newWorld(t *testing.T, envs ...env) *world {
	t.Helper()
	w := &world{t: t, envs: envs, appRoot: t.TempDir()}

	gitsrv := gittest.NewServer(t)
	w.bare = gitsrv.InitRepo("shop.git")
	w.url = gitsrv.StartDaemon().URL("shop.git")
	w.work = gittest.NewWork(t, w.url)
	w.first = w.work.Commit("The shop, version 1", map[string]string{
		"app.py": "print('shop 1')\n", ".ferry/schema-version": "1\n",
	})
	w.work.Push("main", "main:staging")

	w.sim = startFerry(t, "ferry sim", "sim", "--listen", "127.0.0.1:0",
		"--boot-delay", "50ms", "--second", "10ms", "--app", "demo", "--app-root", w.appRoot, "--log-format", "json")
	listening := regexp.MustCompile(`AWS simulator listening on (http://\S+)`)
	testutil.Eventually(t, time.Minute, "ferry sim to listen", func() (bool, string) {
		m := listening.FindStringSubmatch(w.sim.out.String())
		if m == nil {
			return false, w.sim.out.tail(5)
		}
		w.simURL = m[1]
		return true, ""
	})
	w.aws = simenv.Connect(w.simURL)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, e := range envs {
		groups := []simenv.Group{{Name: e.webGroup(), Size: e.web, MaxSize: 2 * e.web, ClassicLB: e.balancer()}}
		if e.worker > 0 {
			groups = append(groups, simenv.Group{Name: e.workerGroup(), Size: e.worker, MaxSize: 2 * e.worker})
		}
		if err := simenv.Create(ctx, w.aws, simenv.Spec{
			Project: "shop", Env: e.name, LaunchTemplate: "shop-" + e.name, Groups: groups,
			DeployedCommit: w.first, Now: time.Now().Add(-time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range envs {
		if err := simenv.WaitServing(ctx, w.aws, e.webGroup(), e.web); err != nil {
			t.Fatal(err)
		}
		if e.worker > 0 {
			if err := simenv.WaitServing(ctx, w.aws, e.workerGroup(), e.worker); err != nil {
				t.Fatal(err)
			}
		}
	}
	return w
}

// push commits files and pushes refspecs (e.g. "main:staging"), returning
// the commit.
func (w *world) push(message string, files map[string]string, refspecs ...string) string {
	w.t.Helper()
	c := w.work.Commit(message, files)
	w.work.Push(refspecs...)
	return c
}

// tag tags commit as name (annotated) and pushes the tag.
func (w *world) tag(name, commit string) {
	w.t.Helper()
	w.work.Git("tag", "-a", name, "-m", "Release "+name, commit)
	w.work.Push(name)
}

// settings are the parts of the agent's config a test chooses.
type settings struct {
	stateDir string
	// imageID, when set, is every environment's launch.image_id.
	imageID string
	// hooks, when set, are the web and worker hook commands, run over SSH
	// on the instances; otherwise hooks run nothing and need no SSH.
	hooks *hooks
	// approve is every environment's policy.approve.
	approve []string
}

// hooks are hook commands and how to reach the instances that run them.
type hooks struct {
	user, keyFile, knownHosts string
	port                      int
	pageOn, deploy, pageOff   string
}

// writeConfig writes an agent config for the world's environments.
func (w *world) writeConfig(path string, s settings) string {
	w.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `[project]
name = "shop"
state_dir = %q

[project.git]
url = %q
poll_interval = "100ms"
`, s.stateDir, w.url)
	for _, e := range w.envs {
		fmt.Fprintf(&b, "\n[environments.%s]\n", e.name)
		if e.branch != "" {
			fmt.Fprintf(&b, "branch = %q\n", e.branch)
		} else {
			// Unsigned test tags: real production keeps verify = "tag".
			fmt.Fprintf(&b, "tag = %q\nverify = \"none\"\n", e.tag)
		}
		fmt.Fprintf(&b, "aws.region = %q\naws.endpoint = %q\n", simenv.Region, w.simURL)
		fmt.Fprintf(&b, "groups.web = %q\n", e.webGroup())
		if e.worker > 0 {
			fmt.Fprintf(&b, "groups.worker = %q\n", e.workerGroup())
		}
		fmt.Fprintf(&b, "load_balancers.classic = [%q]\n", e.balancer())
		if s.imageID != "" {
			fmt.Fprintf(&b, "launch.image_id = %q\n", s.imageID)
		}
		h := s.hooks
		if h == nil {
			b.WriteString("ssh.user = \"deploy\"\n")
		} else {
			fmt.Fprintf(&b, "ssh.user = %q\nssh.port = %d\nssh.key_file = %q\nssh.known_hosts = %q\n", h.user, h.port, h.keyFile, h.knownHosts)
		}
		approve := "[]"
		if len(s.approve) > 0 {
			approve = `["` + strings.Join(s.approve, `", "`) + `"]`
		}
		fmt.Fprintf(&b, `
[environments.%[1]s.policy]
poll_interval = "50ms"
approve = %[2]s

[environments.%[1]s.policy.timeouts]
instances_in_service = "30s"
healthy_in_balancers = "4s"
drain = "30s"
command = "30s"
# Long: a killed agent's lease is taken over because its process is gone.
lock_lease = "10m"
`, e.name, approve)
		cmds := func(c string) string {
			if c == "" {
				return "[]"
			}
			return "['" + c + "']" // a TOML literal string: no escapes
		}
		var on, dep, off string
		if h != nil {
			on, dep, off = h.pageOn, h.deploy, h.pageOff
		}
		fmt.Fprintf(&b, `
[environments.%[1]s.hooks.web]
upgrade_page_on = %[2]s
upgrade_page_off = %[3]s
[environments.%[1]s.hooks.worker]
deploy = %[4]s
`, e.name, cmds(on), cmds(off), cmds(dep))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// agent is a running `ferry run`.
type agent struct {
	*proc
	addr string // of /healthz, /metrics and /hooks/git
}

// startAgent runs `ferry run -c config` as its own process.
func (w *world) startAgent(name, config string) *agent {
	w.t.Helper()
	p := startFerry(w.t, name, "run", "-c", config, "--listen", "127.0.0.1:0", "--log-format", "json")
	l := p.waitLog(time.Minute, "its listener's address", msg("serving /healthz, /metrics and /hooks/git"))
	return &agent{proc: p, addr: l.str("addr")}
}

// health is the body of /healthz.
type health struct {
	OK           bool      `json:"ok"`
	LastPoll     time.Time `json:"last_successful_poll"`
	Environments []struct {
		Env, State, Detail, Target string
	} `json:"environments"`
}

func (a *agent) health() (int, health, error) {
	var h health
	resp, err := http.Get("http://" + a.addr + "/healthz")
	if err != nil {
		return 0, h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return resp.StatusCode, h, err
}

// envState returns what the agent says env does: state, target and detail.
func (a *agent) envState(env string) (state, target, detail string) {
	_, h, err := a.health()
	if err != nil {
		return "", "", err.Error()
	}
	for _, e := range h.Environments {
		if e.Env == env {
			return e.State, e.Target, e.Detail
		}
	}
	return "", "", "not reported yet"
}

// waitState waits until the agent reports env in state at commit.
func (a *agent) waitState(d time.Duration, env, commit, state string) {
	a.t.Helper()
	testutil.Eventually(a.t, d, fmt.Sprintf("%s to be %s at %.12s", env, state, commit), func() (bool, string) {
		s, target, detail := a.envState(env)
		return s == state && target == commit, fmt.Sprintf("%s at %.12s: %s", s, target, detail)
	})
}

// waitPolled waits until the agent has polled the remote at least twice
// after this call, so that whatever was pushed before has been seen.
func (a *agent) waitPolled() {
	a.t.Helper()
	since := time.Now()
	n := 0
	var last time.Time
	testutil.Eventually(a.t, deployTimeout, "two polls of the remote", func() (bool, string) {
		_, h, err := a.health()
		if err != nil {
			return false, err.Error()
		}
		if h.LastPoll.After(since) && h.LastPoll != last {
			n++
			last = h.LastPoll
		}
		return n >= 2, fmt.Sprintf("last poll %s", h.LastPoll)
	})
}

func (a *agent) metrics() string {
	a.t.Helper()
	resp, err := http.Get("http://" + a.addr + "/metrics")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return string(b)
}

// records reads the deploy records on commit's note with the git CLI
// (git notes --ref=ferry show), straight from the remote.
func (w *world) records(commit string) []status.Record {
	w.t.Helper()
	out, err := gittest.RunGit(w.t.Context(), "", nil, "--git-dir", w.bare, "notes", "--ref=ferry", "show", commit)
	if err != nil {
		if strings.Contains(err.Error(), "no note found") {
			return nil
		}
		w.t.Fatal(err)
	}
	recs, err := status.ParseNote(out)
	if err != nil {
		w.t.Fatalf("note on %.12s: %v\n%s", commit, err, out)
	}
	return recs
}

// outcomes lists env's outcomes on commit's note, in order, as
// "method outcome".
func (w *world) outcomes(commit, env string) []string {
	w.t.Helper()
	var out []string
	for _, r := range w.records(commit) {
		if r.Env == env {
			out = append(out, r.Method+" "+string(r.Outcome))
		}
	}
	return out
}

// waitOutcome waits until env's last record on commit's note has outcome.
func (w *world) waitOutcome(d time.Duration, commit, env string, outcome status.Outcome) []string {
	w.t.Helper()
	var got []string
	testutil.Eventually(w.t, d, fmt.Sprintf("a %s note for %s on %.12s", outcome, env, commit), func() (bool, string) {
		got = w.outcomes(commit, env)
		return len(got) > 0 && strings.HasSuffix(got[len(got)-1], " "+string(outcome)), fmt.Sprint(got)
	})
	return got
}

// group describes an Auto Scaling group of the simulator.
func (w *world) group(name string) astypes.AutoScalingGroup {
	w.t.Helper()
	out, err := w.aws.ASG.DescribeAutoScalingGroups(w.t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		w.t.Fatalf("group %s not found", name)
	}
	return out.AutoScalingGroups[0]
}

// deployedCommit is the group's ferry:commit tag.
func deployedCommit(g astypes.AutoScalingGroup) string {
	for _, tag := range g.Tags {
		if aws.ToString(tag.Key) == "ferry:commit" {
			return aws.ToString(tag.Value)
		}
	}
	return ""
}

func suspended(g astypes.AutoScalingGroup) []string {
	var out []string
	for _, p := range g.SuspendedProcesses {
		out = append(out, aws.ToString(p.ProcessName))
	}
	slices.Sort(out)
	return out
}

// settled reports whether env's web group runs commit, consistently: the
// tag says so, no process is suspended, the capacity is what it was, every
// instance is InService from the group's launch template version, every
// one of them is InService in the balancer, and the balancer serves them.
func (w *world) settled(e env, commit string) (bool, string) {
	g := w.group(e.webGroup())
	if got := deployedCommit(g); got != commit {
		return false, fmt.Sprintf("%s runs %.12s", e.webGroup(), got)
	}
	if s := suspended(g); len(s) > 0 {
		return false, fmt.Sprintf("%s has suspended processes %v", e.webGroup(), s)
	}
	if aws.ToInt32(g.DesiredCapacity) != int32(e.web) || len(g.Instances) != e.web {
		return false, fmt.Sprintf("%s: desired %d, %d instances; want %d", e.webGroup(), aws.ToInt32(g.DesiredCapacity), len(g.Instances), e.web)
	}
	want := aws.ToString(g.LaunchTemplate.Version)
	for _, i := range g.Instances {
		if i.LifecycleState != astypes.LifecycleStateInService || aws.ToString(i.LaunchTemplate.Version) != want {
			return false, fmt.Sprintf("%s: instance %s %s from version %s, group at %s", e.webGroup(), aws.ToString(i.InstanceId), i.LifecycleState, aws.ToString(i.LaunchTemplate.Version), want)
		}
	}
	ctx, cancel := context.WithTimeout(w.t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := simenv.WaitServing(ctx, w.aws, e.webGroup(), e.web); err != nil {
		return false, err.Error()
	}
	// Requests through the balancer reach instances of that version: the
	// demo app names the launch template version it was launched from.
	from := aws.ToString(g.LaunchTemplate.LaunchTemplateId) + ":" + want
	url := w.balancerURL(e.balancer())
	for range 2 * e.web {
		resp, err := http.Get(url + "/")
		if err != nil {
			return false, err.Error()
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(strings.TrimSpace(string(body)), " "+from) {
			return false, fmt.Sprintf("GET %s: %d %q (%v), want 200 from an instance of %s", url, resp.StatusCode, body, err, from)
		}
	}
	return true, ""
}

// balancerURL is the URL of the balancer's HTTP listener.
func (w *world) balancerURL(name string) string {
	w.t.Helper()
	resp, err := http.Get(w.simURL + "/_awssim/balancers")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var lbs map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&lbs); err != nil {
		w.t.Fatal(err)
	}
	u, ok := lbs["elb/"+name]
	if !ok {
		w.t.Fatalf("no balancer %s in %v", name, lbs)
	}
	return u
}

// admin posts body to one of the simulator's /_awssim endpoints.
func (w *world) admin(path, body string) {
	w.t.Helper()
	resp, err := http.Post(w.simURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		w.t.Fatalf("POST %s %s: %s %s", path, body, resp.Status, b)
	}
}

// stateDir returns a fresh state directory for an agent.
func stateDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "state")
}

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// stepLine matches the executor's log line at the start of each step
// (pkg/execute: log.Info("step", "n", ...)) in the text log format.
var stepLine = regexp.MustCompile(`\bmsg=step\b.*\bn=([0-9]+)\b.*\bname=([a-z-]+)`)

// plannedSteps returns the step names `ferry plan --json` shows.
func (p *project) plannedSteps(ctx context.Context) []plan.StepName {
	p.t.Helper()
	code, stdout, stderr := p.ferry(ctx, "plan", "-c", p.config, "staging", "--json")
	if code != 2 {
		p.t.Fatalf("ferry plan: exit %d, want 2 (a deploy is planned)\n%s\n%s", code, stdout, stderr)
	}
	var pl plan.Plan
	if err := json.Unmarshal([]byte(stdout), &pl); err != nil {
		p.t.Fatalf("plan JSON: %v\n%s", err, stdout)
	}
	var names []plan.StepName
	for _, s := range pl.Steps {
		names = append(names, s.Name)
	}
	return names
}

// state is what the test checks of the group after a recovery.
type state struct {
	g   *cloud.Group
	lts string // the description of the group's launch template version
}

func (p *project) state(ctx context.Context) state {
	p.t.Helper()
	g, err := p.cloud.Group(ctx, group, []string{balancer}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	v, err := p.cloud.LaunchTemplateVersion(ctx, *g.LaunchTemplate)
	if err != nil {
		p.t.Fatal(err)
	}
	return state{g: g, lts: v.Description}
}

func ids(g *cloud.Group) []string {
	var out []string
	for _, inst := range g.Instances {
		out = append(out, inst.ID)
	}
	slices.Sort(out)
	return out
}

// assertConsistent checks what every deploy must leave, whatever happened
// to it: nothing suspended, the group's own sizes, no journal, each
// instance InService and healthy in the balancer, tag and launch source
// naming the same commit, and the balancer answering.
func (p *project) assertConsistent(ctx context.Context, before *cloud.Group, commit string) state {
	p.t.Helper()
	s := p.settled(ctx)
	g := s.g
	if len(g.SuspendedProcesses) != 0 {
		p.t.Errorf("processes left suspended: %v", g.SuspendedProcesses)
	}
	if g.MinSize != before.MinSize || g.MaxSize != before.MaxSize || g.DesiredCapacity != before.DesiredCapacity {
		p.t.Errorf("sizes min/max/desired %d/%d/%d, want %d/%d/%d", g.MinSize, g.MaxSize, g.DesiredCapacity, before.MinSize, before.MaxSize, before.DesiredCapacity)
	}
	if len(g.Instances) != before.DesiredCapacity {
		p.t.Errorf("%d instances %v, want %d", len(g.Instances), ids(g), before.DesiredCapacity)
	}
	for _, inst := range g.Instances {
		if inst.LifecycleState != "InService" || !inst.Balancers[balancer].Healthy {
			p.t.Errorf("%s: %s, balancer %+v", inst.ID, inst.LifecycleState, inst.Balancers[balancer])
		}
		// Every instance runs the version the group says it runs.
		if inst.LaunchTemplate == nil || inst.LaunchTemplate.ID != g.LaunchTemplate.ID || inst.LaunchTemplate.Version != g.LaunchTemplate.Version {
			p.t.Errorf("%s was launched from %+v, the group's launch template is %+v", inst.ID, inst.LaunchTemplate, *g.LaunchTemplate)
		}
	}
	if g.Tags[plan.TagCommit] != commit || plan.CommitOfLaunchSource(s.lts) != commit[:12] {
		p.t.Errorf("tag %s=%s and launch source %q, want both naming %s", plan.TagCommit, g.Tags[plan.TagCommit], s.lts, commit[:12])
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, "journal", "journal-staging.json")); !errors.Is(err, os.ErrNotExist) {
		p.t.Errorf("journal left behind: %v", err)
	}
	// Through the balancer's real listener, the app answers from an
	// instance of the group.
	resp, err := http.Get(p.sim.balancerURL(p.t, balancer) + "/")
	if err != nil {
		p.t.Fatalf("GET through the balancer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !slices.ContainsFunc(ids(g), func(id string) bool { return strings.Contains(string(body), id) }) {
		p.t.Errorf("GET through the balancer: %d %q, want 200 from one of %v", resp.StatusCode, body, ids(g))
	}
	return s
}

// settled waits until the group is at rest (as many instances as desired,
// all InService and healthy in the balancer) or a minute has passed, and
// returns its state. Auto Scaling may still be at work when a deploy ends:
// resuming AZRebalance lets it even out the zones, launching one instance
// above desired and then terminating one where there are most.
func (p *project) settled(ctx context.Context) state {
	p.t.Helper()
	limit := time.NewTimer(time.Minute)
	defer limit.Stop()
	for {
		s := p.state(ctx)
		rest := len(s.g.Instances) == s.g.DesiredCapacity
		for _, inst := range s.g.Instances {
			rest = rest && inst.LifecycleState == "InService" && inst.Balancers[balancer].Healthy
		}
		if rest {
			return s
		}
		select {
		case <-limit.C:
			return s // the assertions say what is wrong
		case <-ctx.Done():
			return s
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// recoveredOutcome returns the outcome of the deploy a restarted agent
// recovered, from its log.
func recoveredOutcome(stderr string) string {
	i := strings.Index(stderr, "recovering an interrupted deploy")
	if i < 0 {
		return ""
	}
	m := regexp.MustCompile(`msg="deploy finished".*outcome=("[^"]*"|\S+)`).FindStringSubmatch(stderr[i:])
	if m == nil {
		return ""
	}
	s, err := strconv.Unquote(m[1])
	if err != nil {
		return m[1]
	}
	return s
}

// TestKilledMidDeployRecovers kills `ferry deploy` with SIGKILL after each
// step of a full deploy in turn, and of a serial one,
// starts it again, and checks that the restarted agent recovers from the
// journal: rolled back to the old version before the point of no return
// (a full deploy's terminate-old; a serial deploy never reaches one),
// finished forward after it, and in every case nothing suspended, the sizes
// restored, every instance serving and the journal gone. The environment
// is then deployed again, as the agent would on its next poll.
func TestKilledMidDeployRecovers(t *testing.T) {
	// One throwaway project to read the steps of both plans.
	probe, _ := newProject(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	probe.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	serialSteps := probe.plannedSteps(ctx)
	probe.push("Add orders", map[string]string{".ferry/schema-version": "2\n"})
	fullSteps := probe.plannedSteps(ctx)
	cancel()
	noReturn := slices.Index(fullSteps, plan.StepTerminateOld) + 1 // 1-based, as logged
	if noReturn == 0 {
		t.Fatalf("the full plan has no %s step: %v", plan.StepTerminateOld, fullSteps)
	}

	type kill struct {
		method plan.Method
		steps  []plan.StepName
		after  int
	}
	var kills []kill
	// Kill once step k has completed, when step k+1 is logged as
	// starting; the last step is followed by nothing to recover. After 0:
	// as the first step starts, with the journal just written.
	for k := 0; k < len(fullSteps); k++ {
		kills = append(kills, kill{plan.Full, fullSteps, k})
	}
	// A serial deploy, after each step too: until its last batch is
	// replaced, every batch can be replaced again by the old version; its
	// point of no return is that last batch done (1-based, as logged).
	serialNoReturn := 0
	for i, s := range serialSteps {
		if s == plan.StepReplaceBatch {
			serialNoReturn = i + 1
		}
	}
	if serialNoReturn == 0 {
		t.Fatalf("the serial plan has no %s step: %v", plan.StepReplaceBatch, serialSteps)
	}
	for k := 1; k < len(serialSteps); k++ {
		kills = append(kills, kill{plan.Serial, serialSteps, k})
	}
	for _, kc := range kills {
		name := "the journal"
		if kc.after > 0 {
			name = string(kc.steps[kc.after-1])
		}
		t.Run(fmt.Sprintf("%s after %d %s", kc.method, kc.after, name), func(t *testing.T) {
			t.Parallel()
			want := []string{"rolled-back"}
			switch {
			case kc.after == 0:
				// Nothing has changed yet: the executor resumes such a
				// deploy rather than rolling it back; both are whole.
				want = []string{"rolled-back", "succeeded"}
			case kc.method == plan.Serial && kc.after >= serialNoReturn:
				// Every instance runs the new version: finished forward.
				want = []string{"succeeded"}
			case kc.method == plan.Serial || kc.after+1 < noReturn:
			case kc.after+1 == noReturn:
				// Killed as terminate-old began: whether it had recorded
				// the point of no return decides; both are whole.
				want = []string{"rolled-back", "succeeded"}
			default:
				want = []string{"succeeded"}
			}
			killAndRecover(t, kc.method, kc.after, kc.after == len(kc.steps)-1, want)
		})
	}
}

// killAndRecover kills the deploy as step after+1 starts. When that is the
// last step (last), the deploy may have finished between the log line and
// the signal: a step with nothing to do takes microseconds. The journal is
// then gone and the deploy must have ended whole on the new commit.
func killAndRecover(t *testing.T, method plan.Method, after int, last bool, want []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, old := newProject(t, 2)
	change := map[string]string{"app.py": "2\n"}
	if method == plan.Full {
		change = map[string]string{".ferry/schema-version": "2\n"}
	}
	next := p.push("Change", change)
	before := p.state(ctx).g

	agent := p.start("--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
	line, err := agent.waitLine(ctx, func(l string) bool {
		m := stepLine.FindStringSubmatch(l)
		return m != nil && m[1] == strconv.Itoa(after+1)
	})
	if err != nil {
		t.Fatalf("waiting for step %d: %v\n%s", after+1, err, agent.stderr.String())
	}
	if err := agent.kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed at: %s", line)
	if _, err := os.Stat(filepath.Join(p.stateDir, "journal", "journal-staging.json")); err != nil {
		if !last || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a killed deploy must leave its journal: %v", err)
		}
		t.Logf("the last step finished before the kill landed")
		p.assertConsistent(ctx, before, next)
		return
	}

	// Restart pinned to the old commit: after the recovery, the deploy has
	// either nothing to do (rolled back: the old commit runs) or refuses
	// (finished forward: the old commit would be a rollback), so the state
	// checked below is the one the recovery left.
	// The killed process's lease has minutes left; being of this host and
	// no longer running, it is taken over at once.
	code, stdout, stderr := p.ferry(ctx, "--log-format", "text", "deploy", "-c", p.config, "staging", "--yes", "--commit", old)
	if !strings.Contains(stderr, "taking over the lease of an agent that has exited") {
		t.Errorf("the restart did not take over the killed deploy's lease:\n%s", stderr)
	}
	outcome := recoveredOutcome(stderr)
	t.Logf("the restarted agent recovered it: %s", outcome)
	if !slices.Contains(want, outcome) {
		t.Fatalf("recovery ended %q, want one of %q\nexit %d\n%s\n%s", outcome, want, code, stdout, stderr)
	}
	if outcome == "rolled-back" {
		if code != 0 || !strings.Contains(stdout, "No changes") {
			t.Errorf("after rolling back, deploying the old commit: exit %d, want 0 and no changes\n%s\n%s", code, stdout, stderr)
		}
		s := p.assertConsistent(ctx, before, old)
		// A full deploy's old instances were never touched; a serial
		// deploy's replaced ones were replaced again from the old source.
		if method == plan.Full && !slices.Equal(ids(s.g), ids(before)) {
			t.Errorf("instances %v, want exactly the old ones %v", ids(s.g), ids(before))
		}
		if *s.g.LaunchTemplate != *before.LaunchTemplate {
			t.Errorf("launch template %+v, want the old %+v", *s.g.LaunchTemplate, *before.LaunchTemplate)
		}
	} else {
		if code != 1 || !strings.Contains(stderr, "this is a rollback") {
			t.Errorf("after finishing forward, deploying the old commit: exit %d, want 1 and a refused rollback\n%s\n%s", code, stdout, stderr)
		}
		s := p.assertConsistent(ctx, before, next)
		for _, id := range ids(s.g) {
			if slices.Contains(ids(before), id) {
				t.Errorf("old instance %s still in the group", id)
			}
		}
	}
	if t.Failed() {
		t.Logf("killed agent's log:\n%s\nrestarted agent's log:\n%s", agent.stderr.String(), stderr)
		return
	}

	// The environment is whole: the next deploy goes through.
	code, stdout, stderr = p.ferry(ctx, "--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
	if code != 0 {
		t.Fatalf("the next deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	p.assertConsistent(ctx, before, next)
	if t.Failed() {
		t.Logf("the next deploy:\n%s\n%s", stdout, stderr)
	}
}

// TestTerminatedMidDeploy stops `ferry deploy` with SIGTERM while it waits
// for the new instances, as systemd stopping the agent would: it resumes
// the processes it suspended at once (the group can scale while no agent
// runs), keeps its journal, releases the lock and exits 1; the next start
// takes the lock at once and rolls the deploy back.
func TestTerminatedMidDeploy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, old := newProject(t, 2)
	p.push("Add orders", map[string]string{".ferry/schema-version": "2\n"})
	before := p.state(ctx).g

	agent := p.start("--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
	if _, err := agent.waitLine(ctx, func(l string) bool {
		m := stepLine.FindStringSubmatch(l)
		return m != nil && m[2] == string(plan.StepWaitInService)
	}); err != nil {
		t.Fatalf("waiting for %s: %v\n%s", plan.StepWaitInService, err, agent.stderr.String())
	}
	code, err := agent.stop()
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || !strings.Contains(agent.stdout.String(), "staging: interrupted") {
		t.Errorf("exit %d, want 1 and the outcome interrupted\n%s\n%s", code, agent.stdout.String(), agent.stderr.String())
	}
	if g := p.state(ctx).g; len(g.SuspendedProcesses) != 0 {
		t.Errorf("a stopped agent left processes suspended: %v", g.SuspendedProcesses)
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, "journal", "journal-staging.json")); err != nil {
		t.Fatalf("an interrupted deploy must keep its journal: %v", err)
	}

	// No lease to wait out: the stopped agent released it.
	code, stdout, stderr := p.ferry(ctx, "--log-format", "text", "deploy", "-c", p.config, "staging", "--yes", "--commit", old)
	if outcome := recoveredOutcome(stderr); code != 0 || outcome != "rolled-back" {
		t.Fatalf("restart: exit %d, recovery %q; want 0 and rolled back\n%s\n%s", code, outcome, stdout, stderr)
	}
	s := p.assertConsistent(ctx, before, old)
	if !slices.Equal(ids(s.g), ids(before)) {
		t.Errorf("instances %v, want exactly the old ones %v", ids(s.g), ids(before))
	}
}

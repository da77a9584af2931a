package execute_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/internal/traffic"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

const group = "shop-staging-web"

// recorder is the executor's Hooks seen from the outside: it records which
// hook ran on which instances, in order, and lets a test fail or interrupt
// a hook. The SSH side of hooks is tested in pkg/remote against a real sshd.
type recorder struct {
	mu    sync.Mutex
	runs  []execute.HookRun
	onRun func(execute.HookRun) error
}

func (r *recorder) RunHook(_ context.Context, run execute.HookRun) error {
	r.mu.Lock()
	r.runs = append(r.runs, run)
	on := r.onRun
	r.mu.Unlock()
	if on != nil {
		return on(run)
	}
	return nil
}

func (r *recorder) hooks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, run := range r.runs {
		out = append(out, fmt.Sprintf("%s/%s/%d", run.Role, run.Hook, len(run.Hosts)))
	}
	return out
}

type fixture struct {
	t        testing.TB
	ctx      context.Context
	sim      *awssim.Server
	cloud    *cloud.Client
	repo     *testutil.GitRepo
	cfg      *config.Config
	env      *config.Environment
	hooks    *recorder
	stateDir string
	second   time.Duration // one AWS second of the simulator
	aws      *answers      // the endpoint f.cloud reaches, when not the simulator's own
	old, new string        // commits
	before   *cloud.Group
	started  time.Time // when the group was first serving
}

// newFixture runs a simulator whose instances serve a real HTTP app, with
// a web group of size instances behind a classic balancer, running the
// repository's first commit; the second commit changes the schema marker
// when full is true.
func newFixture(t testing.TB, size int, full bool, policy string) *fixture {
	t.Helper()
	return newFixtureSim(t, size, full, policy, awssim.Options{App: awssim.DemoApp})
}

// newFixtureSim is newFixture with the simulator's options (testutil.StartSim
// fills in the fast clock where they leave it zero).
func newFixtureSim(t testing.TB, size int, full bool, policy string, simOpts awssim.Options) *fixture {
	t.Helper()
	repo := testutil.NewGitRepo(t)
	old := repo.Commit("First", map[string]string{"app.py": "1\n", ".ferry/schema-version": "1\n"})
	files := map[string]string{"app.py": "2\n"}
	if full {
		files[".ferry/schema-version"] = "2\n"
	}
	next := repo.Commit("Second", files)

	cfg, err := config.Parse("ferry.toml", []byte(`
[project]
name = "shop"
[project.git]
url = "file:///srv/git/shop.git"
[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = "`+group+`"
load_balancers.classic = ["shop-staging"]
ssh.user = "deploy"
[environments.staging.policy]
timeouts.drain = "20s"
timeouts.command = "20s"
`+waits(policy)+policy))
	if err != nil {
		t.Fatal(err)
	}
	// The images TestBakeStep's fake baker hands out and an earlier bake
	// left exist, as real bakes' would.
	simOpts.PublicImages = append(simOpts.PublicImages, awssim.PublicImage{ID: bakedImage}, awssim.PublicImage{ID: existingImage})
	srv := testutil.StartSim(t, simOpts)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	clients := simenv.Connect(srv.URL)
	if err := simenv.Create(ctx, clients, simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: group,
		Groups:         []simenv.Group{{Name: group, Size: size, ClassicLB: "shop-staging"}},
		DeployedCommit: old, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(ctx, clients, group, size); err != nil {
		t.Fatal(err)
	}
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials(),
		MaxAttempts: 3, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, sim: srv, cloud: c, repo: repo, cfg: cfg, env: cfg.Environments["staging"],
		hooks: &recorder{}, stateDir: t.TempDir(), second: srv.Second(), old: old, new: next}
	f.before = f.group()
	f.started = time.Now()
	return f
}

// waits gives the fixture's default wait timeouts unless policy sets them.
func waits(policy string) string {
	if strings.Contains(policy, "instances_in_service") {
		return ""
	}
	return "timeouts.instances_in_service = \"20s\"\ntimeouts.healthy_in_balancers = \"20s\"\n"
}

func (f *fixture) group() *cloud.Group {
	f.t.Helper()
	g, err := f.cloud.Group(f.ctx, group, nil, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

func (f *fixture) plan() *plan.Plan {
	f.t.Helper()
	p, err := plan.Make(f.ctx, f.cloud, f.repo, plan.Input{
		Project: "shop", SchemaMarker: f.cfg.Project.SchemaMarker, Env: f.env,
		Target: plan.Revision{Commit: commit.MustParse(f.new), Ref: "refs/heads/staging"}, Now: time.Now(),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) executor() *execute.Executor {
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("FERRY_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return &execute.Executor{
		Cloud: f.cloud, Hooks: f.hooks, Journal: execute.JournalStore{Dir: f.stateDir},
		Env: f.env, Log: logger, Poll: 10 * time.Millisecond,
	}
}

func instanceIDs(g *cloud.Group) []string {
	var out []string
	for _, inst := range g.Instances {
		out = append(out, inst.ID)
	}
	slices.Sort(out)
	return out
}

// assertClean checks what every deploy must leave, whatever its outcome:
// nothing suspended, the group's own sizes, no journal.
func (f *fixture) assertClean(g *cloud.Group) {
	f.t.Helper()
	if len(g.SuspendedProcesses) != 0 {
		f.t.Errorf("processes left suspended: %v", g.SuspendedProcesses)
	}
	b := f.before
	if g.MinSize != b.MinSize || g.MaxSize != b.MaxSize || g.DesiredCapacity != b.DesiredCapacity {
		f.t.Errorf("sizes min/max/desired %d/%d/%d, want %d/%d/%d", g.MinSize, g.MaxSize, g.DesiredCapacity, b.MinSize, b.MaxSize, b.DesiredCapacity)
	}
	if _, err := os.Stat(f.stateDir + "/journal-staging.json"); !errors.Is(err, os.ErrNotExist) {
		f.t.Errorf("journal left behind: %v", err)
	}
}

// assertNewVersion: exactly new instances, all serving, tagged and
// launched from the new commit's launch source.
func (f *fixture) assertNewVersion(p *plan.Plan) {
	f.t.Helper()
	g := f.settled()
	f.assertClean(g)
	if len(g.Instances) != f.before.DesiredCapacity {
		f.t.Errorf("%d instances, want %d", len(g.Instances), f.before.DesiredCapacity)
	}
	for _, inst := range g.Instances {
		if slices.Contains(instanceIDs(f.before), inst.ID) {
			f.t.Errorf("old instance %s still in the group", inst.ID)
		}
		if inst.LifecycleState != "InService" || !inst.Balancers["shop-staging"].Healthy {
			f.t.Errorf("%s: %s, balancer %+v", inst.ID, inst.LifecycleState, inst.Balancers["shop-staging"])
		}
	}
	if g.Tags[plan.TagCommit] != f.new {
		f.t.Errorf("tag %s = %s, want the new commit", plan.TagCommit, g.Tags[plan.TagCommit])
	}
	v, err := f.cloud.LaunchTemplateVersion(f.ctx, *g.LaunchTemplate)
	if err != nil || v.Description != p.LaunchSource.Name {
		f.t.Errorf("launch template version %+v (%v), want one described %q", v, err, p.LaunchSource.Name)
	}
	// IMDSv2 only, hop limit 1, by default (launch.http_tokens).
	if err == nil && (v.HTTPTokens != "required" || v.HopLimit != 1) {
		f.t.Errorf("launch template version's metadata options: tokens %q, hop limit %d; want required, 1", v.HTTPTokens, v.HopLimit)
	}
	// The instances' tags in their metadata where env create built the
	// environment (its image starts the role its ferry:role names); else
	// as the group's template had them (off).
	if want := map[bool]string{true: "enabled", false: ""}[f.env.Create != nil]; err == nil && v.MetadataTags != want {
		f.t.Errorf("launch template version's InstanceMetadataTags %q, want %q", v.MetadataTags, want)
	}
}

// settled returns the group once every instance serves. Right after a
// deploy resumes AZRebalance, AWS may move an instance to even out the
// zones (launching first, then terminating): that is the group's own
// business, so the checks wait for it to finish.
func (f *fixture) settled() *cloud.Group {
	f.t.Helper()
	var g *cloud.Group
	testutil.Eventually(f.t, 10*time.Second, "every instance of the group to serve", func() (bool, string) {
		g = f.group()
		ok := len(g.Instances) == g.DesiredCapacity
		for _, inst := range g.Instances {
			ok = ok && inst.LifecycleState == "InService" && inst.Balancers["shop-staging"].Healthy
		}
		return ok, fmt.Sprintf("%d instances for %d desired: %+v", len(g.Instances), g.DesiredCapacity, g.Instances)
	})
	return g
}

// assertOldVersion: the group exactly as it was before the deploy.
func (f *fixture) assertOldVersion() {
	f.t.Helper()
	g := f.group()
	f.assertClean(g)
	if got, want := instanceIDs(g), instanceIDs(f.before); !slices.Equal(got, want) {
		f.t.Errorf("instances %v, want the old ones %v", got, want)
	}
	if g.Tags[plan.TagCommit] != f.old {
		f.t.Errorf("tag %s = %s, want the old commit", plan.TagCommit, g.Tags[plan.TagCommit])
	}
	if *g.LaunchTemplate != *f.before.LaunchTemplate {
		f.t.Errorf("launch template %+v, want %+v", *g.LaunchTemplate, *f.before.LaunchTemplate)
	}
	for _, inst := range g.Instances {
		if inst.LifecycleState != "InService" || !inst.Balancers["shop-staging"].Healthy {
			f.t.Errorf("%s: %s, balancer %+v", inst.ID, inst.LifecycleState, inst.Balancers["shop-staging"])
		}
	}
}

// traffic sends requests through the simulated balancer until stopped.
func (f *fixture) traffic() (stop func() traffic.Counts) {
	url, found := f.sim.LoadBalancerURL("shop-staging")
	if !found {
		f.t.Fatal("no balancer URL")
	}
	return traffic.Start(url+"/", 2*time.Millisecond)
}

func TestFullDeploy(t *testing.T) {
	f := newFixture(t, 4, true, "")
	p := f.plan()
	if p.Method != plan.Full {
		t.Fatalf("method %s, want full", p.Method)
	}
	r, err := f.executor().Run(f.ctx, p, "d1")
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	f.assertNewVersion(p)
	// Seed order: the page on every web server (4 old + 4 new), the
	// worker's step on one instance, the page off on the 4 new ones.
	want := []string{"web/upgrade_page_on/8", "worker/deploy/1", "web/upgrade_page_off/4", "web/post_deploy/4"}
	if got := f.hooks.hooks(); !slices.Equal(got, want) {
		t.Errorf("hooks %v, want %v", got, want)
	}
	if r.Commit.String() != f.new || r.Previous.String() != f.old || r.Method != plan.Full || r.LaunchSource != p.LaunchSource.Name {
		t.Errorf("report %+v", r)
	}
}

// An environment env create built ([create]) runs one image for its
// groups' roles: the deploy's launch template version puts the instances'
// tags in their metadata, where each reads its ferry:role at boot, even
// when the group's template had them off (assertNewVersion).
func TestDeployOfABuiltEnvironmentPutsTagsInMetadata(t *testing.T) {
	f := newFixture(t, 2, true, "")
	f.env.Create = &config.Create{}
	p := f.plan()
	if r, err := f.executor().Run(f.ctx, p, "d1"); err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	f.assertNewVersion(p)
}

// IMDSv2 with hop limit 1 is the default of the launch template versions
// a deploy makes (assertNewVersion); an environment that says otherwise
// (launch.http_tokens, launch.metadata_hop_limit) gets what it says.
func TestDeployTakesTheEnvironmentsMetadataOptions(t *testing.T) {
	f := newFixture(t, 2, false, "[environments.staging.launch]\nhttp_tokens = \"optional\"\nmetadata_hop_limit = 2\n")
	p := f.plan()
	if r, err := f.executor().Run(f.ctx, p, "d1"); err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	g := f.settled()
	v, err := f.cloud.LaunchTemplateVersion(f.ctx, *g.LaunchTemplate)
	if err != nil || v.Description != p.LaunchSource.Name {
		t.Fatalf("launch template version %+v (%v), want one described %q", v, err, p.LaunchSource.Name)
	}
	if v.HTTPTokens != "optional" || v.HopLimit != 2 {
		t.Errorf("launch template version's metadata options: tokens %q, hop limit %d; want optional, 2 as the environment says", v.HTTPTokens, v.HopLimit)
	}
}

func TestSerialDeploySurgeUnderTraffic(t *testing.T) {
	f := newFixture(t, 4, false, "")
	p := f.plan()
	if p.Method != plan.Serial {
		t.Fatalf("method %s, want serial", p.Method)
	}
	stop := f.traffic()
	r, err := f.executor().Run(f.ctx, p, "d1")
	met := stop()
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	f.assertNewVersion(p)
	if met[traffic.Failed] != 0 || met[traffic.UpgradePage] != 0 || met[traffic.OK] == 0 {
		t.Errorf("traffic during a surge deploy: %v; want every request answered by the app", met)
	}
	if got := f.hooks.hooks(); !slices.Equal(got, []string{"worker/deploy/1", "web/post_deploy/4"}) {
		t.Errorf("hooks %v: a serial deploy runs the worker step first and never shows the page", got)
	}
}

func TestSerialDeployReplaceUnhealthy(t *testing.T) {
	f := newFixture(t, 2, false, "serial_mode = \"replace-unhealthy\"\nmin_healthy = 1\n")
	p := f.plan()
	r, err := f.executor().Run(f.ctx, p, "d1")
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	f.assertNewVersion(p)
}

// TestFailuresRollBack injects a failure at a different point of each
// deploy and checks that the group ends exactly as it began.
func TestFailuresRollBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		full   bool
		policy string
		inject func(f *fixture)
		reason string
	}{
		{name: "full: new instances never healthy", full: true,
			policy: "[environments.staging.launch]\nimage_id = \"ami-0badbadbadbadbad0\"\n",
			inject: func(f *fixture) { f.sim.SetNeverHealthyImage("ami-0badbadbadbadbad0", true) }, reason: "timed out"},
		{name: "serial: new instances never healthy", full: false,
			policy: "[environments.staging.launch]\nimage_id = \"ami-0badbadbadbadbad0\"\n",
			inject: func(f *fixture) { f.sim.SetNeverHealthyImage("ami-0badbadbadbadbad0", true) }, reason: "timed out"},
		{name: "full: the worker's deploy step fails", full: true,
			inject: func(f *fixture) {
				f.hooks.onRun = func(run execute.HookRun) error {
					if run.Hook == roles.Deploy {
						return errors.New("migrate: exit status 1")
					}
					return nil
				}
			}, reason: "migrate: exit status 1"},
		{name: "full: AWS fails beyond retries", full: true,
			inject: func(f *fixture) {
				f.sim.SetFault(awssim.Fault{Action: "RegisterInstancesWithLoadBalancer", ErrorRate: 1})
			}, reason: "register"},
		{name: "full: instances never launch", full: true,
			inject: func(f *fixture) { f.sim.SetCapacityErrors(1000) }, reason: "InService"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			policy := "timeouts.instances_in_service = \"2s\"\ntimeouts.healthy_in_balancers = \"2s\"\n"
			if tc.policy != "" {
				policy += tc.policy
			}
			f := newFixture(t, 2, tc.full, policy)
			p := f.plan()
			tc.inject(f)
			r, err := f.executor().Run(f.ctx, p, "d1")
			if r.Outcome != execute.RolledBack || err == nil {
				t.Fatalf("outcome %s (%v), want rolled back", r.Outcome, err)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", r.Reason, tc.reason)
			}
			f.sim.ClearFaults()
			f.assertOldVersion()
			if tc.full {
				hooks := f.hooks.hooks()
				if slices.ContainsFunc(hooks, func(h string) bool { return strings.Contains(h, "upgrade_page_on") }) {
					if !slices.ContainsFunc(hooks, func(h string) bool { return strings.Contains(h, "upgrade_page_off") }) {
						t.Errorf("the page went up but never came down: %v", hooks)
					}
				}
			}
		})
	}
}

// TestPostDeployOnServersOutsideAutoScaling: the post_deploy hook also
// runs on the servers an environment lists for roles without a group
// (hosts.cache), by address, after the groups' own.
func TestPostDeployOnServersOutsideAutoScaling(t *testing.T) {
	f := newFixture(t, 2, false, `timeouts.instances_in_service = "20s"
timeouts.healthy_in_balancers = "20s"
[environments.staging.hosts]
cache = ["10.0.2.10", "cache-2.internal"]
[environments.staging.hooks.cache]
post_deploy = ["redis-cli -n 1 FLUSHDB"]
`)
	r, err := f.executor().Run(f.ctx, f.plan(), "d1")
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	if got, want := f.hooks.hooks(), []string{"worker/deploy/1", "web/post_deploy/2", "cache/post_deploy/2"}; !slices.Equal(got, want) {
		t.Errorf("hooks %v, want %v", got, want)
	}
	f.hooks.mu.Lock()
	last := f.hooks.runs[len(f.hooks.runs)-1]
	f.hooks.mu.Unlock()
	if want := []execute.Host{{InstanceID: "10.0.2.10", Address: "10.0.2.10"}, {InstanceID: "cache-2.internal", Address: "cache-2.internal"}}; !slices.Equal(last.Hosts, want) {
		t.Errorf("cache hosts %+v, want %+v", last.Hosts, want)
	}
}

// lostAnswer is a Cloud whose first capacity raise takes effect but
// reports an error, as when the connection drops after AWS applied the
// call (or the agent is killed before it journals the step).
type lostAnswer struct {
	execute.Cloud
	once atomic.Bool
}

func (c *lostAnswer) UpdateGroup(ctx context.Context, group string, u cloud.GroupUpdate) error {
	err := c.Cloud.UpdateGroup(ctx, group, u)
	if err == nil && u.DesiredCapacity != nil && u.LaunchTemplate == nil && c.once.CompareAndSwap(false, true) {
		return errors.New("read tcp: connection reset by peer")
	}
	return err
}

// TestRollbackWithRaisedCapacityLaunchesNothing: a full deploy that fails
// once desired capacity is doubled, while Launch is suspended, is rolled
// back without the group launching a single instance. Resuming Launch
// before the sizes were restored used to launch the difference and then
// let the group's termination policy pick the old instances to remove.
func TestRollbackWithRaisedCapacityLaunchesNothing(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	e := f.executor()
	e.Cloud = &lostAnswer{Cloud: f.cloud}
	r, err := e.Run(f.ctx, p, "d1")
	if r.Outcome != execute.RolledBack || err == nil || !strings.Contains(r.Reason, "connection reset") {
		t.Fatalf("outcome %s (%v), reason %q; want rolled back after the capacity raise", r.Outcome, err, r.Reason)
	}
	// Fifty passes of the simulator's control loop, run now rather than
	// slept for: had the rollback left Launch running with the raised
	// capacity, one of them would launch.
	for range 50 {
		f.sim.Step()
	}
	f.assertOldVersion()
	acts, err := simenv.Connect(f.sim.URL).ASG.DescribeScalingActivities(f.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts.Activities {
		if a.StartTime.After(f.started) && strings.HasPrefix(aws.ToString(a.Description), "Launching") {
			t.Errorf("the rollback launched an instance: %s (%s)", aws.ToString(a.Description), aws.ToString(a.Cause))
		}
	}
}

// TestSerialPastLastBatchFinishesForward: once a serial deploy's last
// batch is replaced, every instance runs the new version; a failure after
// that (here the post_deploy hook) finishes forward instead of replacing
// every instance again, and says the deploy failed.
func TestSerialPastLastBatchFinishesForward(t *testing.T) {
	f := newFixture(t, 2, false, "")
	p := f.plan()
	f.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == roles.PostDeploy {
			return errors.New("flush cache: exit status 1")
		}
		return nil
	}
	r, err := f.executor().Run(f.ctx, p, "d1")
	if r.Outcome != execute.Failed || err == nil || !strings.Contains(r.Reason, "flush cache") {
		t.Fatalf("outcome %s (%v), reason %q; want failed by the post_deploy hook", r.Outcome, err, r.Reason)
	}
	f.assertNewVersion(p)
}

// TestInterruptedBeforeNoReturnRollsBackOnRecover stops the agent while the
// page is up, as SIGTERM would, then recovers from the journal.
func TestInterruptedBeforeNoReturnRollsBackOnRecover(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	ctx, cancel := context.WithCancel(f.ctx)
	f.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == roles.UpgradePageOn {
			cancel()
			return context.Canceled
		}
		return nil
	}
	r, err := f.executor().Run(ctx, p, "d1")
	if !errors.Is(err, execute.ErrInterrupted) || r.Outcome != execute.Interrupted {
		t.Fatalf("outcome %s: %v, want interrupted", r.Outcome, err)
	}
	if g := f.group(); len(g.SuspendedProcesses) != 0 {
		t.Errorf("an interrupted deploy left processes suspended: %v", g.SuspendedProcesses)
	}
	if _, err := f.executor().Run(f.ctx, p, "d2"); err == nil {
		t.Error("a new deploy started while an interrupted one awaits recovery")
	}
	f.hooks.onRun = nil
	rec, err := f.executor().Recover(f.ctx, "staging")
	if rec == nil || rec.Outcome != execute.RolledBack {
		t.Fatalf("recover: %+v, %v; want rolled back", rec, err)
	}
	f.assertOldVersion()
	if h := f.hooks.hooks(); h[len(h)-1] != "web/upgrade_page_off/2" {
		t.Errorf("the page was not taken down on recovery: %v", h)
	}
}

// TestInterruptedPastNoReturnFinishesOnRecover stops the agent after the old
// instances were terminated: recovery finishes the deploy forward.
func TestInterruptedPastNoReturnFinishesOnRecover(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	ctx, cancel := context.WithCancel(f.ctx)
	f.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == roles.UpgradePageOff {
			cancel()
			return context.Canceled
		}
		return nil
	}
	if _, err := f.executor().Run(ctx, p, "d1"); !errors.Is(err, execute.ErrInterrupted) {
		t.Fatalf("%v, want interrupted", err)
	}
	f.hooks.onRun = nil
	rec, err := f.executor().Recover(f.ctx, "staging")
	if err != nil || rec == nil || rec.Outcome != execute.Succeeded {
		t.Fatalf("recover: %+v, %v; want succeeded", rec, err)
	}
	f.assertNewVersion(p)
	if rec, err := f.executor().Recover(f.ctx, "staging"); rec != nil || err != nil {
		t.Errorf("second recover: %+v, %v; want nothing to do", rec, err)
	}
}

// TestPersonSuspendedProcessesKept: processes a person suspended before
// the deploy (ferry asg suspend) are left as found, by a deploy that
// succeeds and by one that rolls back; the plan names them.
func TestPersonSuspendedProcessesKept(t *testing.T) {
	kept := []string{"AZRebalance", "ScheduledActions"}
	for _, tc := range []struct {
		name string
		full bool
		fail bool
	}{
		{name: "full, succeeds", full: true},
		{name: "serial, succeeds"},
		{name: "full, rolls back", full: true, fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 2, tc.full, "timeouts.instances_in_service = \"3s\"\ntimeouts.healthy_in_balancers = \"3s\"\n")
			if err := f.cloud.SuspendProcesses(f.ctx, group, kept); err != nil {
				t.Fatal(err)
			}
			f.before = f.group()
			p := f.plan()
			if got := p.Groups[0].KeptSuspended; !slices.Equal(got, kept) {
				t.Errorf("plan keeps %v suspended, want %v", got, kept)
			}
			if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, "kept suspended") }) {
				t.Errorf("the plan does not say the processes are kept: %v", p.Warnings)
			}
			for _, s := range p.Steps {
				for _, proc := range s.Processes {
					if slices.Contains(kept, proc) {
						t.Errorf("step %s touches %s, which a person suspended", s.Name, proc)
					}
				}
			}
			if tc.fail {
				f.sim.SetCapacityErrors(1000)
			}
			r, err := f.executor().Run(f.ctx, p, "d1")
			if tc.fail != (r.Outcome == execute.RolledBack) || (err != nil) != tc.fail {
				t.Fatalf("outcome %s: %v", r.Outcome, err)
			}
			f.sim.SetCapacityErrors(0)
			if got := f.group().SuspendedProcesses; !slices.Equal(got, kept) {
				t.Errorf("after the deploy %v suspended, want %v as found", got, kept)
			}
		})
	}
}

// TestStandaloneWorker: with no worker group but hosts.worker (the seed's
// one worker server), the worker's deploy step runs on the first listed
// worker, not on a web instance, and the plan says so.
func TestStandaloneWorker(t *testing.T) {
	f := newFixture(t, 2, true, `timeouts.instances_in_service = "20s"
timeouts.healthy_in_balancers = "20s"
[environments.staging.hosts]
worker = ["10.0.3.20", "10.0.3.21"]
`)
	p := f.plan()
	i := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.Name == plan.StepWorkerDeploy })
	if i < 0 || !strings.Contains(p.Steps[i].Hosts, "10.0.3.20") || strings.Contains(p.Steps[i].Hosts, "web") {
		t.Fatalf("worker step %+v, want it on 10.0.3.20", p.Steps[max(i, 0)])
	}
	r, err := f.executor().Run(f.ctx, p, "d1")
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	f.hooks.mu.Lock()
	defer f.hooks.mu.Unlock()
	for _, run := range f.hooks.runs {
		if run.Role == roles.Worker && run.Hook == roles.Deploy {
			if want := []execute.Host{{InstanceID: "10.0.3.20", Address: "10.0.3.20"}}; !slices.Equal(run.Hosts, want) {
				t.Errorf("worker deploy step on %+v, want %+v", run.Hosts, want)
			}
			return
		}
	}
	t.Errorf("no worker deploy step ran: %v", f.hooks.runs)
}

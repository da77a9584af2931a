package plan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// history is a repository whose commits each trigger one method rule.
type history struct {
	repo                                                *testutil.GitRepo
	base, app1, marker, app2, glob, app3, trailer, app4 string
}

func newHistory(t *testing.T) *history {
	r := testutil.NewGitRepo(t)
	h := &history{repo: r}
	h.base = r.Commit("Initial version", map[string]string{
		"app.py": "v0\n", ".ferry/schema-version": "1\n", "shop/migrations/0001_initial.py": "# 1\n",
	})
	h.app1 = r.Commit("Fix a typo", map[string]string{"app.py": "v1\n"})
	h.marker = r.Commit("Add the orders table", map[string]string{".ferry/schema-version": "2\n"})
	h.app2 = r.Commit("Speed up the cart", map[string]string{"app.py": "v2\n"})
	h.glob = r.Commit("Add a migration", map[string]string{"shop/migrations/0002_index.py": "# 2\n"})
	h.app3 = r.Commit("Tweak copy", map[string]string{"app.py": "v3\n"})
	h.trailer = r.Commit("Rebuild search index\n\nThe index format changed.\n\nFerry-Method: full\nSigned-off-by: Dev <dev@example.com>", map[string]string{"search.py": "v1\n"})
	h.app4 = r.Commit("Mention Ferry-Method: full in a body line that is not a trailer\n\nFerry-Method: full is documented here.\n\nReviewed-by: Dev", map[string]string{"app.py": "v4\n"})
	return h
}

const envDoc = `
[project]
name = "shop"
full_deploy_globs = ["**/migrations/*.py"]

[project.git]
url = "file:///srv/git/shop.git"

[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = "shop-staging-web"
load_balancers.classic = ["shop-staging"]
ssh.user = "deploy"
`

type fixture struct {
	ctx     context.Context
	sim     *awssim.Server
	clients simenv.Clients
	cloud   *cloud.Client
	cfg     *config.Config
}

// newFixture starts a simulator with the staging web group (2 instances,
// MaxSize 2) running deployed ("" for a group Ferry never deployed).
func newFixture(t *testing.T, deployed string, extraTOML string) *fixture {
	t.Helper()
	cfg, err := config.Parse("ferry.toml", []byte(envDoc+extraTOML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	srv := testutil.StartSim(t, awssim.Options{Second: 5 * time.Millisecond, ImageBuildTime: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	clients := simenv.Connect(srv.URL)
	if err := simenv.Create(ctx, clients, simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-staging-web",
		Groups:         []simenv.Group{{Name: "shop-staging-web", Size: 2, ClassicLB: "shop-staging"}},
		DeployedCommit: deployed, Now: now.Add(-24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(ctx, clients, "shop-staging-web", 2); err != nil {
		t.Fatal(err)
	}
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: ctx, sim: srv, clients: clients, cloud: c, cfg: cfg}
}

func (f *fixture) input(target string) plan.Input {
	return plan.Input{
		Project: f.cfg.Project.Name, SchemaMarker: f.cfg.Project.SchemaMarker, FullDeployGlobs: f.cfg.Project.FullDeployGlobs,
		Env: f.cfg.Environments["staging"], Target: plan.Revision{Commit: commit.MustParse(target), Ref: "refs/heads/staging"}, Now: now,
	}
}

func rules(p *plan.Plan) []plan.Rule {
	var out []plan.Rule
	for _, r := range p.Reasons {
		out = append(out, r.Rule)
	}
	return out
}

func TestMethodRules(t *testing.T) {
	h := newHistory(t)
	for _, tc := range []struct {
		name             string
		deployed, target string
		method           plan.Method
		rules            []plan.Rule
		detail           string
	}{
		{"code only", h.base, h.app1, plan.Serial, []plan.Rule{plan.RuleNoSchemaChange}, "is unchanged"},
		{"schema marker changed", h.app1, h.app2, plan.Full, []plan.Rule{plan.RuleSchemaMarker}, `.ferry/schema-version changed from "1" to "2"`},
		{"glob matched", h.app2, h.app3, plan.Full, []plan.Rule{plan.RuleGlob}, `shop/migrations/0002_index.py matches "**/migrations/*.py"`},
		{"trailer", h.app3, h.trailer, plan.Full, []plan.Rule{plan.RuleTrailer}, `carries "Ferry-Method: full"`},
		{"trailer-like text in a body is not a trailer", h.trailer, h.app4, plan.Serial, []plan.Rule{plan.RuleNoSchemaChange}, ""},
		{"every rule that applies is listed", h.base, h.app4, plan.Full, []plan.Rule{plan.RuleSchemaMarker, plan.RuleGlob, plan.RuleTrailer}, "changed from"},
		{"first deploy", "", h.app1, plan.Full, []plan.Rule{plan.RuleUnknownDeployed}, "first deploy"},
		{"deployed commit not in the repository", "0123456789abcdef0123456789abcdef01234567", h.app1, plan.Full, []plan.Rule{plan.RuleUnknownDeployed}, "not in the repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.deployed, "")
			p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(tc.target))
			if err != nil {
				t.Fatal(err)
			}
			if p.Action != plan.Deploy || p.Method != tc.method {
				t.Errorf("action %s method %s, want deploy %s", p.Action, p.Method, tc.method)
			}
			if got := rules(p); !equal(got, tc.rules) {
				t.Errorf("rules %v, want %v (reasons %+v)", got, tc.rules, p.Reasons)
			}
			if !strings.Contains(p.Reasons[0].Detail, tc.detail) {
				t.Errorf("deciding reason %q does not say %q", p.Reasons[0].Detail, tc.detail)
			}
			if p.Downtime != (tc.method == plan.Full) {
				t.Errorf("downtime %v for a %s deploy", p.Downtime, tc.method)
			}
		})
	}
}

// TestNoSchemaMarker: an Input without a schema marker has no marker
// rule; before, the empty path named the repository's root tree, so that
// every change was a full deploy.
func TestNoSchemaMarker(t *testing.T) {
	h := newHistory(t)
	f := newFixture(t, h.app1, "")
	in := f.input(h.app2) // the marker changes from "1" to "2"
	in.SchemaMarker, in.FullDeployGlobs = "", nil
	p, err := plan.Make(f.ctx, f.cloud, h.repo, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != plan.Serial || !equal(rules(p), []plan.Rule{plan.RuleNoSchemaChange}) || !strings.HasPrefix(p.Reasons[0].Detail, "no schema marker,") {
		t.Errorf("method %s, reasons %+v; want serial, no schema marker", p.Method, p.Reasons)
	}
}

func TestNoOpAndRollback(t *testing.T) {
	h := newHistory(t)
	f := newFixture(t, h.app2, "")

	p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app2))
	if err != nil || p.Action != plan.NoOp || len(p.Steps) != 0 {
		t.Fatalf("same commit: %+v, %v; want a no-op", p, err)
	}

	_, err = plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app1))
	if !plan.IsRefused(err) || !strings.Contains(err.Error(), "--allow-rollback") {
		t.Fatalf("rollback without --allow-rollback: %v", err)
	}
	in := f.input(h.app1)
	in.AllowRollback = true
	p, err = plan.Make(f.ctx, f.cloud, h.repo, in)
	if err != nil {
		t.Fatal(err)
	}
	// Undoing the schema bump is itself a schema change: full.
	if !p.TargetIsOlder || p.Method != plan.Full || p.Reasons[0].Rule != plan.RuleSchemaMarker {
		t.Errorf("rollback plan: rollback %v method %s reasons %+v", p.TargetIsOlder, p.Method, p.Reasons)
	}
}

func TestRefusals(t *testing.T) {
	h := newHistory(t)
	for _, tc := range []struct {
		name     string
		extra    string
		deployed string
		target   string
		method   plan.Method
		setup    func(t *testing.T, f *fixture)
		want     string
	}{
		{name: "policy forbids the needed method", extra: "policy.methods = [\"serial\"]\n", deployed: h.app1, target: h.app2,
			want: "the full method is not allowed in staging"},
		{name: "serial asked for a full change", deployed: h.app1, target: h.app2, method: plan.Serial,
			want: "--method serial was asked for, but this change needs a full deploy"},
		{name: "processes already suspended", deployed: h.base, target: h.app1,
			setup: func(t *testing.T, f *fixture) {
				_, err := f.clients.ASG.SuspendProcesses(f.ctx, &autoscaling.SuspendProcessesInput{
					AutoScalingGroupName: aws.String("shop-staging-web"), ScalingProcesses: []string{"AddToLoadBalancer", "Launch"}})
				if err != nil {
					t.Fatal(err)
				}
			},
			want: "has suspended processes (AddToLoadBalancer, Launch)"},
		{name: "group missing", extra: "groups.worker = \"shop-staging-worker\"\n", deployed: h.base, target: h.app1,
			want: "shop-staging-worker (the worker group)"},
		{name: "batch would dip below min healthy", extra: "policy.serial_mode = \"replace-unhealthy\"\npolicy.serial_batch_size = 2\n", deployed: h.base, target: h.app1,
			want: "below policy.min_healthy = 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.deployed, tc.extra)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			in := f.input(tc.target)
			in.Method = tc.method
			p, err := plan.Make(f.ctx, f.cloud, h.repo, in)
			if !plan.IsRefused(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got plan %v, error %v; want a refusal saying %q", p != nil, err, tc.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	h := newHistory(t)
	f := newFixture(t, h.base, "")
	// Someone points the group at a hand-made template version: the tag no
	// longer matches what instances launch from.
	g, err := f.cloud.Group(f.ctx, "shop-staging-web", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An instance failing its balancer's health check stays in the group
	// (the group checks EC2 health), so the warning is deterministic; an
	// instance marked Unhealthy in the group would be replaced before the
	// plan reads it.
	if !f.sim.SetInstanceNeverHealthy(g.Instances[0].ID, true) {
		t.Fatalf("no instance %s in the simulator", g.Instances[0].ID)
	}
	if err := simenv.WaitServing(f.ctx, f.clients, "shop-staging-web", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.clients.ASG.CreateOrUpdateTags(f.ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{
		Key: aws.String(plan.TagCommit), Value: aws.String(h.app1), ResourceId: aws.String("shop-staging-web"), ResourceType: aws.String("auto-scaling-group"),
	}}}); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app2))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(p.Warnings, "\n")
	for _, want := range []string{"does not name that commit", g.Instances[0].ID} {
		if !strings.Contains(text, want) {
			t.Errorf("warnings lack %q:\n%s", want, text)
		}
	}
	if p.Method != plan.Full || p.Reasons[0].Rule != plan.RuleUnknownDeployed {
		t.Errorf("tag and launch source disagree: method %s by %v, want full as deployed-commit-unknown", p.Method, rules(p))
	}
}

// TestDeprecatedProcessIgnored: a group with the deprecated
// RemoveFromLoadBalancerLowPriority suspended (older tools suspend it; AWS
// says it can be ignored) is planned as any other, with no warning about
// it, and no step touches it.
func TestDeprecatedProcessIgnored(t *testing.T) {
	h := newHistory(t)
	f := newFixture(t, h.base, "")
	if _, err := f.clients.ASG.SuspendProcesses(f.ctx, &autoscaling.SuspendProcessesInput{
		AutoScalingGroupName: aws.String("shop-staging-web"), ScalingProcesses: []string{cloud.ProcessDeprecated}}); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app1))
	if err != nil {
		t.Fatal(err)
	}
	if p.Action != plan.Deploy || strings.Contains(strings.Join(p.Warnings, "\n"), cloud.ProcessDeprecated) {
		t.Errorf("plan %s, warnings %q; want a deploy that does not mention the deprecated process", p.Action, p.Warnings)
	}
	for _, s := range p.Steps {
		if slices.Contains(s.Processes, cloud.ProcessDeprecated) {
			t.Errorf("step %s touches %s", s.Name, cloud.ProcessDeprecated)
		}
	}
}

// TestDeployedIsThePlans: plan.Deployed, which ferry status shows, is the
// deployed commit a plan is made from, whether the tag is confirmed by the
// launch source or not.
func TestDeployedIsThePlans(t *testing.T) {
	h := newHistory(t)
	f := newFixture(t, h.base, "")
	env := f.cfg.Environments["staging"]
	check := func(wantCommit string) {
		t.Helper()
		got, err := plan.Deployed(f.ctx, f.cloud, env)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app2))
		if err != nil {
			t.Fatal(err)
		}
		if got != p.Deployed || got.Commit.String() != wantCommit || got.Source == "" {
			t.Errorf("Deployed = %+v, the plan's = %+v; want commit %q with its source", got, p.Deployed, wantCommit)
		}
	}
	check(h.base)
	if _, err := f.clients.ASG.CreateOrUpdateTags(f.ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []astypes.Tag{{
		Key: aws.String(plan.TagCommit), Value: aws.String(h.app1), ResourceId: aws.String("shop-staging-web"), ResourceType: aws.String("auto-scaling-group"),
	}}}); err != nil {
		t.Fatal(err)
	}
	check("") // the tag names a commit the launch source does not: unknown
}

// TestDrainingWarnings: a balancer that cuts requests in flight, or
// drains for longer than Ferry waits for old instances to leave, is
// warned about; one that drains within the wait is not.
func TestDrainingWarnings(t *testing.T) {
	h := newHistory(t)
	for _, tc := range []struct {
		name    string
		drain   int32 // seconds; 0 leaves draining off
		extra   string
		warning string
	}{
		{name: "off", warning: "connection draining off"},
		{name: "within the wait", drain: 30},
		{name: "beyond the wait", drain: 3600, extra: "policy.timeouts.drain = \"5m\"\n", warning: "drains for up to 1h0m0s, longer than policy.timeouts.drain (5m0s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, h.app1, tc.extra)
			if tc.drain > 0 {
				if _, err := f.clients.ELB.ModifyLoadBalancerAttributes(f.ctx, &elb.ModifyLoadBalancerAttributesInput{
					LoadBalancerName: aws.String("shop-staging"),
					LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{ConnectionDraining: &elbtypes.ConnectionDraining{
						Enabled: true, Timeout: aws.Int32(tc.drain),
					}},
				}); err != nil {
					t.Fatal(err)
				}
			}
			p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app2))
			if err != nil {
				t.Fatal(err)
			}
			var about []string
			for _, w := range p.Warnings {
				if strings.Contains(w, "shop-staging ") || strings.HasPrefix(w, "shop-staging drains") {
					about = append(about, w)
				}
			}
			switch {
			case tc.warning == "" && len(about) > 0:
				t.Errorf("warnings about the balancer: %q, want none", about)
			case tc.warning != "" && (len(about) != 1 || !strings.Contains(about[0], tc.warning)):
				t.Errorf("warnings about the balancer: %q, want one saying %q", about, tc.warning)
			}
		})
	}
}

// TestFullPlanCapacity: doubling a group at its MaxSize raises the max for
// the deploy and restores it (the original never restored it).
func TestFullPlanCapacity(t *testing.T) {
	h := newHistory(t)
	f := newFixture(t, h.app1, "")
	p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app2))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Groups[0].Capacity
	if c.DesiredBefore != 2 || c.DesiredDuring != 4 || c.DesiredAfter != 2 || c.MaxBefore != 2 || c.MaxDuring != 4 {
		t.Errorf("capacity %+v, want desired 2 -> 4 -> 2 and max 2 -> 4", c)
	}
	var restore *plan.Step
	for i := range p.Steps {
		if p.Steps[i].Name == plan.StepRestoreCapacity {
			restore = &p.Steps[i]
		}
	}
	if restore == nil || restore.Sizes == nil || !eqInt(restore.Sizes.MaxSize, 2) || !eqInt(restore.Sizes.Desired, 2) || !eqInt(restore.Sizes.MinSize, 2) {
		t.Errorf("restore step %+v, want max_size 2, desired 2 and min_size 2", restore)
	}
	if len(p.Groups[0].Replace) != 2 {
		t.Errorf("replaces %v, want both old instances", p.Groups[0].Replace)
	}
}

// TestRenderGolden pins the text a person reads before a deploy, and checks
// the JSON form against its documented schema version.
func TestRenderGolden(t *testing.T) {
	h := newHistory(t)
	for _, tc := range []struct {
		name             string
		deployed, target string
	}{
		{"full", h.app1, h.app2},
		{"serial", h.base, h.app1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.deployed, "")
			p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(tc.target))
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			if err := p.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, text.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/plan -run TestRenderGolden -update)", err)
			}
			if text.String() != string(want) {
				t.Errorf("text rendering changed; diff against %s:\ngot:\n%s", golden, text.String())
			}

			var js bytes.Buffer
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if back["schema_version"] != float64(plan.SchemaVersion) || back["method"] != tc.name {
				t.Errorf("JSON: schema_version %v method %v", back["schema_version"], back["method"])
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func eqInt(p *int, n int) bool { return p != nil && *p == n }

// TestReplaceSkipsLeaving: an instance already leaving the group (here
// terminating while its balancer drains it; after a deploy, AZRebalance's)
// is not among those the deploy replaces: a batch of it would do nothing
// and, done at once, read as a replacement.
func TestReplaceSkipsLeaving(t *testing.T) {
	h := newHistory(t)
	f := newFixture(t, h.app1, "")
	if _, err := f.clients.ELB.ModifyLoadBalancerAttributes(f.ctx, &elb.ModifyLoadBalancerAttributesInput{
		LoadBalancerName: aws.String("shop-staging"),
		LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{ConnectionDraining: &elbtypes.ConnectionDraining{
			Enabled: true, Timeout: aws.Int32(3600),
		}},
	}); err != nil {
		t.Fatal(err)
	}
	g, err := f.cloud.Group(f.ctx, "shop-staging-web", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := g.Instances[0].ID
	if _, err := f.clients.ASG.TerminateInstanceInAutoScalingGroup(f.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(gone), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(f.ctx, f.cloud, h.repo, f.input(h.app2))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(p.Groups[0].Replace, gone) {
		t.Errorf("replaces %v, with %s, which is terminating", p.Groups[0].Replace, gone)
	}
	if !slices.Contains(p.Groups[0].Replace, g.Instances[1].ID) {
		t.Errorf("replaces %v, without %s", p.Groups[0].Replace, g.Instances[1].ID)
	}
	for _, s := range p.Steps {
		if slices.Contains(s.Instances, gone) {
			t.Errorf("step %s removes %s, which is terminating", s.Name, gone)
		}
	}
}

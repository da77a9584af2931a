package provision_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

// tarTree is a commit's tree, already written as a tar stream.
type tarTree []byte

func (t tarTree) WriteTree(_ context.Context, _ commit.ID, w io.Writer) error {
	_, err := w.Write(t)
	return err
}

// execBaker is a bake.Baker as the executor asks for it.
type execBaker struct{ b *bake.Baker }

func (e execBaker) Bake(ctx context.Context, c commit.ID) (string, error) {
	r, err := e.b.Bake(ctx, c)
	return r.Image, err
}

// bakeAndServe deploys a commit of examples/app serially with Ferry's
// planner and executor to a web group behind a classic balancer that runs
// base (an image of the web server, as the web recipe leaves it): the
// plan's first step bakes the commit on base with the default build hook,
// the deploy's new instance, launched from the baked image by the commit's
// launch template version, serves the commit from /srv/app/releases/<sha>
// with the release's own static files and the secrets it fetched at boot
// (token). The group's own replacement of that instance, launched later
// with nothing sent to it after boot, serves the same. A second deploy of
// the commit reuses its image; a commit whose build hook fails fails its
// deploy at the bake, and the group still serves the commit. It returns
// the commit.
func (s *stack) bakeAndServe(base, token string) commit.ID {
	t := s.t
	t.Helper()
	repo := testutil.NewGitRepo(t)
	old := repo.Commit("First", map[string]string{"README": "shop\n"})
	sha := repo.Commit("The app", map[string]string{"README": "shop, the app\n"})
	c := commit.MustParse(sha)
	state := filepath.Join(s.logs, "bake")
	parse := func(hooks string) *config.Config {
		cfg, err := config.Parse("ferry.toml", []byte(fmt.Sprintf(`
[project]
name = "myproject"
[project.git]
url = "file:///srv/git/myproject.git"
[environments.testing]
branch = "main"
aws.region = "us-east-1"
groups.web = "myproject-testing-web"
load_balancers.classic = ["myproject-testing"]
ssh.user = "admin"
ssh.key_file = %q
launch.image = "bake"
launch.base_image = %q
launch.key_name = %q
launch.iam_instance_profile = "myproject-app"
policy.poll_interval = "500ms"
[environments.testing.policy.timeouts]
instances_in_service = "5m"
healthy_in_balancers = "5m"
drain = "30s"
%s`, s.KeyFile, base, s.KeyName, hooks)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := parse("")
	env := cfg.Environments["testing"]
	cl := s.Cloud()
	baker := func(env *config.Environment) *bake.Baker {
		sshCfg := remote.FromConfig(state, env, "bake", "")
		sshCfg.Dialer = s.net
		return &bake.Baker{Project: "myproject", Env: env, Cloud: cl, Tree: tarTree(appTar(t, "../../examples/app", "")), StateDir: state, Log: s.Log,
			Shell: bake.SSHShell{Console: cl, Config: sshCfg, StateDir: state, Poll: 500 * time.Millisecond}}
	}
	b := baker(env)

	// The environment as a deploy of the first commit left it: the web
	// server's image behind the balancer.
	if err := simenv.Create(s.ctx, s.SDK, simenv.Spec{
		Project: "myproject", Env: "testing", LaunchTemplate: "myproject-testing-web",
		ImageID: base, KeyName: s.KeyName, InstanceProfile: "myproject-app", DeployedCommit: old, Now: time.Now().Add(-time.Hour),
		// EC2 health checks: with ELB ones and no grace period the group
		// would replace each instance before its first health check passed.
		Groups: []simenv.Group{{Name: "myproject-testing-web", Size: 1, MaxSize: 2, ClassicLB: "myproject-testing"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(s.ctx, s.SDK, "myproject-testing-web", 1); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(s.ctx, cl, repo, plan.Input{Project: "myproject", SchemaMarker: cfg.Project.SchemaMarker, Env: env, Target: plan.Revision{Commit: c, Ref: "refs/heads/main"},
		Method: plan.Serial, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != plan.Serial || len(p.Steps) == 0 || p.Steps[0].Name != plan.StepBakeImage {
		t.Fatalf("plan: %s, %+v; want a serial deploy whose first step bakes", p.Method, p.Steps)
	}
	ex := &execute.Executor{Cloud: cl, Journal: execute.JournalStore{Dir: filepath.Join(state, "journal")}, Env: env, Log: s.Log,
		Baker: execBaker{b}, Poll: 200 * time.Millisecond}
	start := time.Now()
	r, err := ex.Run(s.ctx, p, "deploy-app")
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("serial deploy of examples/app: %+v %v", r, err)
	}
	t.Logf("examples/app baked on the web server's image and deployed serially in %v", time.Since(start).Round(100*time.Millisecond))
	img, ok, err := b.Find(s.ctx, c)
	if err != nil || !ok {
		t.Fatalf("the commit's image: %v %v", ok, err)
	}
	c1 := s.client()
	serves := func(what string) string {
		t.Helper()
		start := time.Now()
		if err := simenv.WaitServing(s.ctx, s.SDK, "myproject-testing-web", 1); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		g, err := cl.Group(s.ctx, "myproject-testing-web", []string{"myproject-testing"}, nil)
		if err != nil || len(g.Instances) != 1 {
			t.Fatalf("%s: the group: %+v %v", what, g, err)
		}
		inst := g.Instances[0]
		t.Logf("%s: %s in service behind the balancer (%v of waiting)", what, inst.ID, time.Since(start).Round(100*time.Millisecond))
		base := "https://" + inst.PrivateIP
		for _, check := range []struct{ path, want string }{
			{"/", "commit " + sha + "\n"},
			{"/secret", tokenPage(token)},
		} {
			if code, body, err := c1.do("GET", base+check.path, nil); err != nil || code != 200 || body != check.want {
				t.Errorf("%s: GET %s = %d %q %v, want %q", what, check.path, code, body, err, check.want)
			}
		}
		if code, body, err := c1.do("GET", base+"/static/notes/app.css", nil); err != nil || code != 200 || !strings.Contains(body, "notes") {
			t.Errorf("%s: GET /static/notes/app.css = %d %q %v", what, code, body, err)
		}
		return inst.ID
	}
	first := serves("the deploy's instance")
	g, err := cl.Group(s.ctx, "myproject-testing-web", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := cl.LaunchTemplateVersion(s.ctx, *g.LaunchTemplate); err != nil || v.ImageID != img.ID {
		t.Errorf("the group's launch template version: %+v %v, want the baked image %s", v, err, img.ID)
	}
	if _, err := s.SDK.ASG.TerminateInstanceInAutoScalingGroup(s.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(first), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	// Until the group has let the old one go, WaitServing may still count it.
	testutil.Eventually(t, 5*time.Minute, "the group to let "+first+" go", func() (bool, string) {
		g, err := cl.Group(s.ctx, "myproject-testing-web", nil, nil)
		if err != nil {
			return false, err.Error()
		}
		return len(g.Instances) == 1 && g.Instances[0].ID != first, fmt.Sprint(g.Instances)
	})
	replacement := serves("the group's replacement")
	if replacement == first {
		t.Errorf("the group did not replace %s", first)
	}

	// A second deploy of the commit finds its image: no bake.
	again, err := plan.Make(s.ctx, cl, repo, plan.Input{Project: "myproject", SchemaMarker: cfg.Project.SchemaMarker, Env: env,
		Target: plan.Revision{Commit: c, Ref: "refs/heads/main"}, Redeploy: true, Now: time.Now()})
	if err != nil || again.Image == nil || again.Image.Bake || again.Image.ID != img.ID || again.Steps[0].Name == plan.StepBakeImage {
		t.Errorf("a second deploy of %s: %+v %v, want the image %s reused", c.Short(), again, err, img.ID)
	}

	// A commit whose build hook fails: its deploy fails at the bake, with
	// the hook's output in the builder's log, and the group, untouched,
	// serves the deployed commit.
	broken := commit.MustParse(repo.Commit("Broken build", map[string]string{"README": "shop, broken\n"}))
	badCfg := parse("[environments.testing.hooks.web]\nbuild = [\"echo about to fail\", \"exit 3\"]\n")
	badEnv := badCfg.Environments["testing"]
	bp, err := plan.Make(s.ctx, cl, repo, plan.Input{Project: "myproject", SchemaMarker: badCfg.Project.SchemaMarker, Env: badEnv,
		Target: plan.Revision{Commit: broken, Ref: "refs/heads/main"}, Method: plan.Serial, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	bad := &execute.Executor{Cloud: cl, Journal: execute.JournalStore{Dir: filepath.Join(state, "journal")}, Env: badEnv, Log: s.Log,
		Baker: execBaker{baker(badEnv)}, Poll: 200 * time.Millisecond}
	r, err = bad.Run(s.ctx, bp, "deploy-broken")
	if err == nil || r.Outcome == execute.Succeeded || !strings.Contains(r.Reason, "bake-failed") {
		t.Fatalf("deploy of a commit whose build fails: %+v %v, want it failed at its bake", r, err)
	}
	if rec, err := (bake.Store{Dir: state}).Load("testing"); err != nil || rec.Outcome != bake.OutcomeFailed || !rec.CleanedUp {
		t.Errorf("the failed bake's journal: %+v %v", rec, err)
	} else if log, _ := os.ReadFile(rec.Log); !strings.Contains(string(log), "about to fail") {
		t.Errorf("the builder's log %s lacks the hook's output:\n%s", rec.Log, log)
	}
	if still := serves("after the failed deploy"); still != replacement {
		t.Errorf("the failed deploy changed the group's instance: %s, was %s", still, replacement)
	}
	if _, found, err := b.Find(s.ctx, broken); err != nil || found {
		t.Errorf("an image of the broken commit: %v %v", found, err)
	}

	// A full deploy of the next commit (no hooks here: the waits are
	// Ferry's own, for docs/benchmarks.md): the new set baked, launched,
	// in service behind the balancer, the old one gone.
	sha = repo.Commit("The app, again", map[string]string{"README": "shop, the app, again\n"})
	c = commit.MustParse(sha)
	if p, err = plan.Make(s.ctx, cl, repo, plan.Input{Project: "myproject", SchemaMarker: cfg.Project.SchemaMarker, Env: env, Target: plan.Revision{Commit: c, Ref: "refs/heads/main"},
		Method: plan.Full, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if r, err := ex.Run(s.ctx, p, "deploy-app-full"); err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("full deploy of examples/app: %+v %v", r, err)
	}
	t.Logf("examples/app baked and deployed in full in %v", time.Since(start).Round(100*time.Millisecond))
	testutil.Eventually(t, 5*time.Minute, "the full deploy's old instance gone", func() (bool, string) {
		g, err := cl.Group(s.ctx, "myproject-testing-web", nil, nil)
		if err != nil {
			return false, err.Error()
		}
		return len(g.Instances) == 1, fmt.Sprint(g.Instances)
	})
	serves("the full deploy's instance")
	return c
}

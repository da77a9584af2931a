package bake

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	git "github.com/go-git/go-git/v5"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

// TestBakeMachines bakes a commit of a small static site on real machines
// (the simulator's machine backend) over real SSH: an instance launched
// from the image has the commit's files and build output in
// /srv/app/releases/<sha>, /srv/app/current pointing there, host keys of
// its own and none of the secrets the builder held; a second bake reuses
// the image; a failing build hook leaves no builder, no image and no
// snapshot. The next commit's builder starts from the previous image
// (images.cache): what the hook installed is there, the release is the
// commit's alone. With images.keep = 2, a fourth image retires the
// oldest unused one and its snapshots, never the one a group uses. Its
// log has each bake's time, cold and cached (docs/benchmarks.md).
func TestBakeMachines(t *testing.T) {
	sim := machinetest.Start(t, machinetest.Options{KeyName: "bake", Timeout: 20 * time.Minute, Tools: []string{"tar"}})
	ctx, logger, clients, base, keyFile := sim.Ctx, sim.Log, sim.SDK, sim.Image, sim.KeyFile
	c := sim.Cloud()
	env := func(build, extra string) *config.Environment {
		cfg, err := config.Parse("ferry.toml", []byte(`
[project]
name = "shop"
[project.git]
url = "file:///srv/git/shop.git"
[environments.staging]
branch = "main"
aws.region = "us-east-1"
groups.web = "shop-staging-web"
load_balancers.classic = ["shop-staging"]
ssh.user = "admin"
ssh.key_file = "`+keyFile+`"
launch.image = "bake"
launch.base_image = "`+base+`"
launch.key_name = "bake"
policy.poll_interval = "500ms"
`+extra+`
[environments.staging.hooks.web]
build = `+build+`
`))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Environments["staging"]
	}
	state, keys := t.TempDir(), t.TempDir()
	repo := testutil.NewGitRepo(t)
	g, err := git.PlainOpen(repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	baker := func(e *config.Environment) *Baker {
		sshCfg := remote.FromConfig(state, e, "bake", "")
		sshCfg.Dialer = sim.Net
		return &Baker{Project: "shop", Env: e, Cloud: c, Tree: repoTree{g}, StateDir: state, Log: logger,
			Shell: keptKeys{SSHShell{Console: c, Config: sshCfg, StateDir: state, Poll: 500 * time.Millisecond}, keys}}
	}
	// The build writes its output into the release, and a secret where
	// an instance keeps them, as one would at boot: the image must carry
	// the first and not the second. It installs its "dependencies" outside
	// the release unless an earlier bake did (a copy of /usr/share stands
	// in for them), and notes each commit it built there.
	const build = `["echo built {{.ShortCommit}} > BUILT", "sudo mkdir -p /etc/app", "echo DB_PASSWORD=s3cret | sudo tee /etc/app/secrets.env >/dev/null", "echo ls > ~/.bash_history",
  "test -d /opt/shop-deps || sudo cp -a /usr/share /opt/shop-deps", "echo {{.ShortCommit}} | sudo tee -a /var/lib/shop-builds >/dev/null"]`
	good := env(build, "")
	sha := repo.Commit("site", map[string]string{"index.html": "<h1>shop</h1>\n", "static/site.css": "body{}\n"})
	c1 := commit.MustParse(sha)

	res, err := baker(good).Bake(ctx, c1)
	if err != nil {
		t.Fatalf("bake: %v", err)
	}
	t.Logf("bake of %s: %s in %s (log %s)", c1.Short(), res.Image, res.Elapsed.Round(100*time.Millisecond), res.Log)

	// An instance of the image, as a group would launch it.
	launched, err := clients.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(res.Image), KeyName: aws.String("bake"),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(launched.Instances[0].InstanceId)
	builder := builderOf(t, state)
	r := &run{b: baker(good), rec: &Record{Started: time.Now()}, lg: logger}
	m, err := r.waitRunning(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	logs := remote.Logs{Root: filepath.Join(state, "logs"), Env: "staging", DeployID: "check"}
	sess, err := baker(good).Shell.Open(ctx, m, logs)
	if err != nil {
		t.Fatalf("ssh to an instance of the baked image: %v", err)
	}
	rel := ReleasesDir + "/" + sha
	for _, check := range []struct{ name, line string }{
		{"the commit's files", "grep -qx '<h1>shop</h1>' " + rel + "/index.html && test -f " + rel + "/static/site.css"},
		{"the build's output", "grep -qx 'built " + c1.Short() + "' " + rel + "/BUILT"},
		{"the release current, though the build hook did not set it", "test \"$(readlink /srv/app/current)\" = " + rel},
		{"no secrets file", "test ! -e /etc/app/secrets.env"},
		{"no shell history", "test ! -s ~/.bash_history"},
		{"a first boot, nothing of the builder's", "test -d /var/lib/cloud/instances/" + id + " && test ! -e /var/lib/cloud/instances/" + builder},
	} {
		if err := sess.Run(ctx, remote.Command{Name: check.name, Line: check.line}); err != nil {
			t.Errorf("instance of the image: %s: %v", check.name, err)
		}
	}
	// Its host keys are its own, not the builder's.
	builderKeys, err := os.ReadFile(filepath.Join(keys, builder))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(builderKnownHosts(state, builder)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the terminated builder's known_hosts in the state dir: %v, want it removed", err)
	}
	console, err := c.ConsoleOutput(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range HostKeys(console) {
		if strings.Contains(string(builderKeys), k) {
			t.Errorf("the instance has the builder's host key %s", k)
		}
	}
	if err := c.TerminateInstances(ctx, []string{id}); err != nil {
		t.Fatal(err)
	}

	// Baked once: the second bake reuses it.
	again, err := baker(good).Bake(ctx, c1)
	if err != nil || !again.Reused || again.Image != res.Image {
		t.Errorf("second bake: %+v (%v), want %s reused", again, err, res.Image)
	}

	// A failing build hook: no builder, no image, no snapshot left.
	sha2 := repo.Commit("broken", map[string]string{"index.html": "<h1>broken</h1>\n"})
	bad := env(`["echo about to fail", "exit 3"]`, "")
	start := time.Now()
	_, err = baker(bad).Bake(ctx, commit.MustParse(sha2))
	var fe *FailedError
	if !errors.As(err, &fe) || fe.Phase != PhaseBuild || fe.Cleanup != nil || !strings.Contains(err.Error(), "web build 2/2") {
		t.Fatalf("bake with a failing hook: %v, want a failed build, cleaned up", err)
	}
	t.Logf("failed bake, cleaned up, in %s", time.Since(start).Round(100*time.Millisecond))
	if log, rerr := os.ReadFile(fe.Log); rerr != nil || !strings.Contains(string(log), "about to fail") {
		t.Errorf("builder log %s (%v) lacks the hook's output:\n%s", fe.Log, rerr, log)
	}
	ms, err := c.MachinesTagged(ctx, map[string]string{plan.TagEnv: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.State != "shutting-down" {
			t.Errorf("builder %s left %s", m.ID, m.State)
		}
	}
	imgs, err := c.ImagesTagged(ctx, map[string]string{plan.TagEnv: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ID != res.Image {
		t.Errorf("images of the environment: %+v, want only %s", imgs, res.Image)
	}
	snaps, err := clients.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + plan.TagBaking), Values: []string{sha2}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps.Snapshots) != 0 {
		t.Errorf("snapshots of the failed bake left: %v", snaps.Snapshots)
	}

	// The next commit, baked from the previous image (images.cache's
	// default): what the first bake's hook installed is there already,
	// the release is the commit's alone and current.
	c3 := commit.MustParse(repo.Commit("next", map[string]string{"index.html": "<h1>shop 2</h1>\n"}))
	cached, err := baker(good).Bake(ctx, c3)
	if err != nil {
		t.Fatalf("bake from the previous image: %v", err)
	}
	t.Logf("bake of %s from the previous image %s: %s in %s", c3.Short(), cached.Cache, cached.Image, cached.Elapsed.Round(100*time.Millisecond))
	if cached.Cache != res.Image {
		t.Errorf("the builder started from %q, want the previous image %s", cached.Cache, res.Image)
	}
	rel3 := ReleasesDir + "/" + c3.String()
	onInstance(t, sim, baker(good), cached.Image, []check{
		{"the commit's release alone", "test \"$(ls " + ReleasesDir + ")\" = " + c3.String() + " && grep -qx '<h1>shop 2</h1>' " + rel3 + "/index.html"},
		{"the release current", "test \"$(readlink /srv/app/current)\" = " + rel3},
		{"the first bake's dependencies, and both builds noted", "test -d /opt/shop-deps && printf '%s\\n%s\\n' " + c1.Short() + " " + c3.Short() + " | cmp - /var/lib/shop-builds"},
		{"no secrets file", "test ! -e /etc/app/secrets.env"},
	})

	// The same kind of change baked cold (images.cache = "none"), for
	// the comparison in docs/benchmarks.md.
	c4 := commit.MustParse(repo.Commit("cold", map[string]string{"index.html": "<h1>shop 3</h1>\n"}))
	cold, err := baker(env(build, `images.cache = "none"`)).Bake(ctx, c4)
	if err != nil || cold.Cache != "" {
		t.Fatalf("cold bake: %+v (%v), want one from the base image", cold, err)
	}
	t.Logf("bake of %s from the base image: %s in %s", c4.Short(), cold.Image, cold.Elapsed.Round(100*time.Millisecond))

	// Retention, images.keep = 2, after a fourth bake: the two newest
	// stay, and the first, which a group's launch template still names;
	// the third (c3's) is deregistered and its snapshots deleted.
	if err := simenv.Create(ctx, clients, simenv.Spec{Project: "shop", Env: "staging", LaunchTemplate: "shop-staging-web",
		ImageID: res.Image, Groups: []simenv.Group{{Name: "shop-staging-web", Size: 0, MaxSize: 1}}}); err != nil {
		t.Fatal(err)
	}
	third, err := c.Image(ctx, cached.Image)
	if err != nil || len(third.Snapshots) == 0 {
		t.Fatalf("image %s: %+v (%v), want its snapshots", cached.Image, third, err)
	}
	c5 := commit.MustParse(repo.Commit("fourth", map[string]string{"index.html": "<h1>shop 4</h1>\n"}))
	fourth, err := baker(env(build, "images.keep = 2")).Bake(ctx, c5)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err = c.ImagesTagged(ctx, map[string]string{plan.TagEnv: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, img := range imgs {
		kept = append(kept, img.ID)
	}
	if want := []string{fourth.Image, cold.Image, res.Image}; !slices.Equal(kept, want) {
		t.Errorf("images after four bakes with keep = 2: %v, want %v (the newest two, and the one in use)", kept, want)
	}
	if _, err := c.Image(ctx, cached.Image); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("the third image %s: %v, want it deregistered", cached.Image, err)
	}
	snaps, err = clients.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range snaps.Snapshots {
		if slices.Contains(third.Snapshots, aws.ToString(sn.SnapshotId)) {
			t.Errorf("the third image's snapshot %s is left", aws.ToString(sn.SnapshotId))
		}
	}
}

type check struct{ name, line string }

// onInstance launches an instance of image, as a group would, runs each
// check on it over SSH, and terminates it.
func onInstance(t *testing.T, sim *machinetest.Env, b *Baker, image string, checks []check) {
	t.Helper()
	launched, err := sim.SDK.EC2.RunInstances(sim.Ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), KeyName: aws.String(sim.KeyName),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(launched.Instances[0].InstanceId)
	defer func() {
		if err := b.Cloud.TerminateInstances(sim.Ctx, []string{id}); err != nil {
			t.Error(err)
		}
	}()
	r := &run{b: b, rec: &Record{Started: time.Now()}, lg: sim.Log}
	m, err := r.waitRunning(sim.Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := b.Shell.Open(sim.Ctx, m, remote.Logs{Root: filepath.Join(b.StateDir, "logs"), Env: "staging", DeployID: "check-" + id})
	if err != nil {
		t.Fatalf("ssh to an instance of %s: %v", image, err)
	}
	for _, c := range checks {
		if err := sess.Run(sim.Ctx, remote.Command{Name: c.name, Line: c.line}); err != nil {
			t.Errorf("instance of %s: %s: %v", image, c.name, err)
		}
	}
}

// builderOf is the builder of the environment's last successful bake, from
// its journal.
func builderOf(t *testing.T, state string) string {
	t.Helper()
	rec, err := Store{Dir: state}.Load("staging")
	if err != nil || rec == nil {
		t.Fatalf("journal: %+v (%v)", rec, err)
	}
	return rec.Builder
}

// keptKeys is SSHShell keeping a copy of each builder's known_hosts in
// dir: the Baker removes the state dir's with the builder.
type keptKeys struct {
	SSHShell
	dir string
}

func (k keptKeys) Open(ctx context.Context, m cloud.Machine, logs remote.Logs) (Session, error) {
	s, err := k.SSHShell.Open(ctx, m, logs)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(builderKnownHosts(k.StateDir, m.ID))
	if err != nil {
		return nil, err
	}
	return s, os.WriteFile(filepath.Join(k.dir, m.ID), b, 0o600)
}

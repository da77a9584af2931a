package bake

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	git "github.com/go-git/go-git/v5"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
	"github.com/ferry-deploy/ferry/pkg/watch"
	"github.com/go-git/go-git/v5/plumbing"
)

// The fast backend's instances run no sshd: fakeShell stands in for the
// builder's shell. It unpacks what deliver sends with tar(1) into a
// directory of its own, runs nothing else, and fails the command whose
// name starts with failOn.
type fakeShell struct {
	dir    string
	failOn string
	// state, when set, is where Open writes the builder's known_hosts, as
	// SSHShell does.
	state string

	mu   sync.Mutex
	cmds []string
}

func (f *fakeShell) Open(_ context.Context, m cloud.Machine, logs remote.Logs) (Session, error) {
	log, err := logs.Path("builder", m.ID)
	if err != nil {
		return nil, err
	}
	if f.state != "" {
		known := builderKnownHosts(f.state, m.ID)
		if err := os.MkdirAll(filepath.Dir(known), 0o750); err != nil {
			return nil, err
		}
		if err := os.WriteFile(known, []byte(m.PrivateIP+" ssh-ed25519 AAAA\n"), 0o600); err != nil {
			return nil, err
		}
	}
	return &fakeSession{f: f, log: log}, nil
}

type fakeSession struct {
	f   *fakeShell
	log string
}

func (s *fakeSession) Log() string { return s.log }

func (s *fakeSession) Run(_ context.Context, cmds ...remote.Command) error {
	for _, c := range cmds {
		s.f.mu.Lock()
		s.f.cmds = append(s.f.cmds, c.Name+": "+c.Line)
		s.f.mu.Unlock()
		if s.f.failOn != "" && strings.HasPrefix(c.Name, s.f.failOn) {
			return &remote.ExitError{Host: "builder", Command: c.Name, Code: 1, Log: s.log}
		}
		if c.Input != nil {
			cmd := exec.Command("tar", "-x", "-C", s.f.dir, "-f", "-")
			cmd.Stdin = c.Input
			if out, err := cmd.CombinedOutput(); err != nil {
				return errors.New(string(out))
			}
		}
	}
	return nil
}

type repoTree struct{ repo *git.Repository }

func (r repoTree) WriteTree(_ context.Context, c commit.ID, w io.Writer) error {
	return watch.WriteTree(r.repo, plumbing.NewHash(c.String()), w)
}

// killedCloud stops the bake's goroutine (runtime.Goexit) right after the
// named call has been made: as a SIGKILL of the agent at that point, no
// clean-up runs and the journal is as it was.
type killedCloud struct {
	*cloud.Client
	after string
}

func (k killedCloud) CreateImage(ctx context.Context, instance, name, desc string, tags map[string]string) (string, error) {
	id, err := k.Client.CreateImage(ctx, instance, name, desc, tags)
	if k.after == "CreateImage" {
		runtime.Goexit()
	}
	return id, err
}

func (k killedCloud) RunBuilder(ctx context.Context, s cloud.BuilderSpec) (string, error) {
	id, err := k.Client.RunBuilder(ctx, s)
	if k.after == "RunBuilder" {
		runtime.Goexit()
	}
	return id, err
}

func (k killedCloud) TagResources(ctx context.Context, ids []string, tags map[string]string) error {
	err := k.Client.TagResources(ctx, ids, tags)
	if k.after == "TagResources" {
		runtime.Goexit()
	}
	return err
}

func (k killedCloud) TerminateInstances(ctx context.Context, ids []string) error {
	err := k.Client.TerminateInstances(ctx, ids)
	if k.after == "TerminateInstances" {
		runtime.Goexit()
	}
	return err
}

type fixture struct {
	t        *testing.T
	endpoint string
	ctx      context.Context
	ec2      *ec2.Client
	cloud    *cloud.Client
	env      *config.Environment
	repo     *testutil.GitRepo
	git      *git.Repository
	state    string
	base     string
}

func newFixture(t *testing.T, hooks string) *fixture {
	testutil.RequireTool(t, "tar")
	srv := testutil.StartSim(t, awssim.Options{ImageBuildTime: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	clients := simenv.Connect(srv.URL)
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials(),
		MaxAttempts: 3, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// A base image, as the machines backend's Debian one: an instance's.
	run, err := clients.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(simenv.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	img, err := clients.EC2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("debian-base")})
	if err != nil {
		t.Fatal(err)
	}
	w := ec2.NewImageAvailableWaiter(clients.EC2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := clients.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}}); err != nil {
		t.Fatal(err)
	}
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
launch.image = "bake"
launch.base_image = "debian-base"
policy.poll_interval = "10ms"
`+hooks))
	if err != nil {
		t.Fatal(err)
	}
	repo := testutil.NewGitRepo(t)
	g, err := git.PlainOpen(repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, endpoint: srv.URL, ctx: ctx, ec2: clients.EC2, cloud: c, env: cfg.Environments["staging"], repo: repo, git: g,
		state: t.TempDir(), base: aws.ToString(img.ImageId)}
}

func (f *fixture) baker(c Cloud, sh Shell) *Baker {
	return &Baker{Project: "shop", Env: f.env, Cloud: c, Shell: sh, Tree: repoTree{f.git}, StateDir: f.state}
}

// left returns the builders not terminated and the images of the
// environment, and the snapshots of the account but the base image's.
func (f *fixture) left() (builders, images, snapshots []string) {
	f.t.Helper()
	ms, err := f.cloud.MachinesTagged(f.ctx, map[string]string{plan.TagEnv: "staging"})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range ms {
		if m.State != "shutting-down" {
			builders = append(builders, m.ID)
		}
	}
	imgs, err := f.cloud.ImagesTagged(f.ctx, map[string]string{plan.TagEnv: "staging"})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, img := range imgs {
		images = append(images, img.ID)
	}
	snaps, err := f.ec2.DescribeSnapshots(f.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + plan.TagEnv), Values: []string{"staging"}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range snaps.Snapshots {
		snapshots = append(snapshots, aws.ToString(s.SnapshotId))
	}
	return builders, images, snapshots
}

func (f *fixture) commit() commit.ID {
	f.t.Helper()
	c, err := commit.Parse(f.repo.Commit("site", map[string]string{"index.html": "<h1>hello</h1>\n", "static/app.css": "body{}\n"}))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func TestBake(t *testing.T) {
	f := newFixture(t, `[environments.staging.hooks.web]
build = ["./bin/build --static /srv/app/static/{{.Commit}}"]
`)
	c := f.commit()
	sh := &fakeShell{dir: t.TempDir()}
	b := f.baker(f.cloud, sh)
	res, err := b.Bake(f.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reused || res.Image == "" {
		t.Fatalf("bake: %+v, want a new image", res)
	}
	img, err := f.cloud.Image(f.ctx, res.Image)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{plan.TagCommit: c.String(), plan.TagEnv: "staging", plan.TagProject: "shop"} {
		if img.Tags[k] != want {
			t.Errorf("image tag %s = %q, want %q", k, img.Tags[k], want)
		}
	}
	if img.State != "available" {
		t.Errorf("image is %s", img.State)
	}
	if got, err := os.ReadFile(filepath.Join(sh.dir, "index.html")); err != nil || string(got) != "<h1>hello</h1>\n" {
		t.Errorf("delivered index.html = %q (%v)", got, err)
	}
	joined := strings.Join(sh.cmds, "\n")
	for _, want := range []string{
		"tar -x --no-same-owner -C /srv/app/releases/" + c.String(),
		"web build 1/1: cd /srv/app/releases/" + c.String() + " && ./bin/build --static /srv/app/static/" + c.String(),
		"rm -f /etc/ssh/ssh_host_*",
		"cloud-init clean",
		"/etc/app/secrets.env",
		"bash_history",
		// The image runs the commit whatever the build hook did.
		"ln -sfn /srv/app/releases/" + c.String() + " /srv/app/current",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no command has %q:\n%s", want, joined)
		}
	}
	// The app's settings hold no secret: the image keeps them, for the
	// units of its instances.
	if strings.Contains(joined, roles.EnvFile) {
		t.Errorf("the clean-up removes the app's settings %s:\n%s", roles.EnvFile, joined)
	}
	if i, j := strings.Index(joined, "web build"), strings.Index(joined, "clean for the image"); i < 0 || j < i {
		t.Errorf("the clean-up does not follow the build:\n%s", joined)
	}
	builders, images, _ := f.left()
	if len(builders) != 0 || len(images) != 1 {
		t.Errorf("after the bake: builders %v, images %v; want none and one", builders, images)
	}
	rec, err := Store{Dir: f.state}.Load("staging")
	if err != nil || rec == nil || rec.Outcome != OutcomeBaked || rec.Phase != PhaseDone || rec.Image != res.Image {
		t.Errorf("journal: %+v (%v)", rec, err)
	}

	// A second bake of the commit reuses the image, and launches nothing.
	sh.cmds = nil
	again, err := b.Bake(f.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.Image != res.Image || len(sh.cmds) != 0 {
		t.Errorf("second bake: %+v, commands %v; want the first's image reused", again, sh.cmds)
	}
}

// TestBakeFailureCleansUp: a bake that fails at any phase, or whose agent
// is killed mid-bake, leaves no builder, no image and no snapshot once it
// is over (or recovered), and records bake-failed with the reason.
func TestBakeFailureCleansUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failOn    string // a builder command that fails
		killAfter string // the agent dies right after this call
		baseImage string
		phase     Phase
		reason    string
	}{
		{name: "build hook fails", failOn: "web build", phase: PhaseBuild, reason: "web build 1/1"},
		{name: "delivery fails", failOn: "deliver", phase: PhaseDeliver, reason: "deliver"},
		{name: "clean fails", failOn: "clean", phase: PhaseClean, reason: "clean for the image"},
		{name: "no base image", baseImage: "no-such-image", phase: PhasePrepare, reason: "launch.base_image no-such-image"},
		{name: "killed after RunInstances", killAfter: "RunBuilder", phase: PhaseLaunch, reason: "the agent stopped mid-bake"},
		{name: "killed after CreateImage", killAfter: "CreateImage", phase: PhaseImage, reason: "the agent stopped mid-bake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, `[environments.staging.hooks.web]
build = ["make"]
`)
			if tc.baseImage != "" {
				f.env.Launch.BaseImage = tc.baseImage
			}
			c := f.commit()
			sh := &fakeShell{dir: t.TempDir(), failOn: tc.failOn}
			b := f.baker(killedCloud{Client: f.cloud, after: tc.killAfter}, sh)
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err = b.Bake(f.ctx, c)
			}()
			<-done
			if tc.killAfter != "" {
				// The agent's next start.
				rec, lerr := Store{Dir: f.state}.Load("staging")
				if lerr != nil || rec == nil || rec.Finished {
					t.Fatalf("journal after the kill: %+v (%v), want an unfinished bake", rec, lerr)
				}
				err = f.baker(f.cloud, sh).Recover(f.ctx)
				if err != nil {
					t.Fatalf("recover: %v", err)
				}
			} else {
				var fe *FailedError
				if !errors.As(err, &fe) || fe.Phase != tc.phase || fe.Cleanup != nil {
					t.Fatalf("bake: %v, want a FailedError at %q with its clean-up done", err, tc.phase)
				}
			}
			builders, images, snapshots := f.left()
			if len(builders)+len(images)+len(snapshots) > 0 {
				t.Errorf("left behind: builders %v, images %v, snapshots %v", builders, images, snapshots)
			}
			rec, lerr := Store{Dir: f.state}.Load("staging")
			if lerr != nil || rec == nil || !rec.Finished || !rec.CleanedUp || rec.Outcome != OutcomeFailed || rec.Phase != tc.phase ||
				!strings.Contains(rec.Reason, tc.reason) || !strings.HasPrefix(rec.Reason, "bake-failed") {
				t.Errorf("journal: %+v (%v), want bake-failed at %q naming %q", rec, lerr, tc.phase, tc.reason)
			}
			if _, found, ferr := f.baker(f.cloud, sh).Find(f.ctx, c); ferr != nil || found {
				t.Errorf("an image of the commit is found (%v) after a failed bake", ferr)
			}
		})
	}
}

// builderImages records the image each builder is launched from, and
// the builders' ids.
type builderImages struct {
	*cloud.Client
	mu   sync.Mutex
	from []string
	ids  []string
}

func (b *builderImages) RunBuilder(ctx context.Context, s cloud.BuilderSpec) (string, error) {
	id, err := b.Client.RunBuilder(ctx, s)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.from = append(b.from, s.ImageID)
	if err == nil {
		b.ids = append(b.ids, id)
	}
	return id, err
}

// TestBakeCache: with images.cache = "previous" (the default) a bake's
// builder starts from the environment's newest baked image of the same
// base image, and the journal and result say so; the clean-up leaves the
// new release alone in the image. With "none" every builder starts from
// the base image. Each image is tagged with its base.
func TestBakeCache(t *testing.T) {
	for _, tc := range []struct {
		name, cache  string
		fromPrevious bool
	}{
		{"previous (default)", "", true},
		{"none", `images.cache = "none"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cache+"\n")
			rec := &builderImages{Client: f.cloud}
			sh := &fakeShell{dir: t.TempDir()}
			b := f.baker(rec, sh)
			first, err := b.Bake(f.ctx, f.commit())
			if err != nil {
				t.Fatal(err)
			}
			if first.Cache != "" {
				t.Errorf("first bake: cache %s, want the base image", first.Cache)
			}
			img, err := f.cloud.Image(f.ctx, first.Image)
			if err != nil || img.Tags[plan.TagBase] != f.base {
				t.Errorf("first image's %s tag = %q (%v), want %s", plan.TagBase, img.Tags[plan.TagBase], err, f.base)
			}
			c2 := f.commit()
			sh.cmds = nil
			second, err := b.Bake(f.ctx, c2)
			if err != nil {
				t.Fatal(err)
			}
			want, wantCache := f.base, ""
			if tc.fromPrevious {
				want, wantCache = first.Image, first.Image
			}
			if len(rec.from) != 2 || rec.from[0] != f.base || rec.from[1] != want {
				t.Errorf("builders launched from %v, want %s then %s", rec.from, f.base, want)
			}
			j, err := Store{Dir: f.state}.Load("staging")
			if second.Cache != wantCache || err != nil || j.Cache != wantCache {
				t.Errorf("second bake: result cache %q, journal %+v (%v); want %q", second.Cache, j, err, wantCache)
			}
			if joined := strings.Join(sh.cmds, "\n"); !strings.Contains(joined, "find /srv/app/releases -mindepth 1 -maxdepth 1 ! -name "+c2.String()+" -exec rm -rf {} +") {
				t.Errorf("the clean-up leaves other releases in the image:\n%s", joined)
			}
		})
	}
}

// TestBakeProvisionsTheBuilderWithoutSecrets: Baker.Provision's commands
// run on the builder before the commit is delivered; a command carrying an
// environment (the way Ferry sends secrets) fails the bake before any runs,
// and the bake leaves no builder and no image.
func TestBakeProvisionsTheBuilderWithoutSecrets(t *testing.T) {
	f := newFixture(t, "")
	c := f.commit()
	sh := &fakeShell{dir: t.TempDir()}
	b := f.baker(f.cloud, sh)
	var addr string
	closed := 0
	b.Provision = func(_ context.Context, address string) ([]remote.Command, func(), error) {
		addr = address
		return []remote.Command{{Name: "recipe web", Line: "sudo sh /var/lib/ferry/recipe/run.sh web"}}, func() { closed++ }, nil
	}
	if _, err := b.Bake(f.ctx, c); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(sh.cmds, "\n")
	if i, j := strings.Index(joined, "recipe web"), strings.Index(joined, "tar -x"); addr == "" || i < 0 || j < i || closed != 1 {
		t.Errorf("provision at %q, closed %d times; commands:\n%s\nwant the recipe before the delivery", addr, closed, joined)
	}

	sh.cmds = nil
	b.Provision = func(context.Context, string) ([]remote.Command, func(), error) {
		return []remote.Command{
			{Name: "recipe upload", Line: "true"},
			{Name: "recipe web", Line: "sudo --preserve-env=DB_PASSWORD sh run.sh web", Env: map[string]string{"DB_PASSWORD": "never-on-a-builder-0123"}},
		}, func() {}, nil
	}
	_, err := b.Bake(f.ctx, f.commit())
	var failed *FailedError
	if !errors.As(err, &failed) || failed.Phase != PhaseProvision || !strings.Contains(err.Error(), "gets no secrets") || strings.Contains(err.Error(), "never-on-a-builder") {
		t.Fatalf("a provision with secrets: %v, want the bake refused at provision without the value", err)
	}
	if len(sh.cmds) != 0 {
		t.Errorf("commands ran on the builder: %v", sh.cmds)
	}
	if builders, images, _ := f.left(); len(builders) != 0 || len(images) != 1 {
		t.Errorf("after the refused bake: builders %v, images %v; want none and the first bake's", builders, images)
	}

	// Secrets on stdin, as secrets_changed gets them, come with the values
	// to mask: refused too.
	b.Provision = func(context.Context, string) ([]remote.Command, func(), error) {
		return []remote.Command{
			{Name: "recipe upload", Line: "true"},
			{Name: "secrets", Line: "cat > /etc/app/secrets.env", Stdin: []byte("DB_PASSWORD=never-on-a-builder-4567\n"), Redact: []string{"never-on-a-builder-4567"}},
		}, func() {}, nil
	}
	_, err = b.Bake(f.ctx, f.commit())
	if !errors.As(err, &failed) || failed.Phase != PhaseProvision || !strings.Contains(err.Error(), "gets no secrets") || strings.Contains(err.Error(), "never-on-a-builder") {
		t.Fatalf("a provision with secrets on stdin: %v, want the bake refused at provision without the value", err)
	}
	if len(sh.cmds) != 0 {
		t.Errorf("commands ran on the builder: %v", sh.cmds)
	}
	if builders, images, _ := f.left(); len(builders) != 0 || len(images) != 1 {
		t.Errorf("after the second refused bake: builders %v, images %v; want none and the first bake's", builders, images)
	}
}

// TestRecoverAfterTheImageWasTagged: an agent killed once the bake's image
// was tagged with its commit (before the builder was terminated, or before
// the journal said so) made the image: the next start removes the builder,
// keeps the image and records the bake baked, and the next bake of the
// commit reuses the image.
func TestRecoverAfterTheImageWasTagged(t *testing.T) {
	for _, after := range []string{"TagResources", "TerminateInstances"} {
		t.Run("killed after "+after, func(t *testing.T) {
			f := newFixture(t, "")
			c := f.commit()
			sh := &fakeShell{dir: t.TempDir()}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = f.baker(killedCloud{Client: f.cloud, after: after}, sh).Bake(f.ctx, c)
			}()
			<-done
			rec, err := Store{Dir: f.state}.Load("staging")
			if err != nil || rec == nil || rec.Finished {
				t.Fatalf("journal after the kill: %+v (%v), want an unfinished bake", rec, err)
			}
			if err := f.baker(f.cloud, sh).Recover(f.ctx); err != nil {
				t.Fatalf("recover: %v", err)
			}
			img, found, err := f.baker(f.cloud, sh).Find(f.ctx, c)
			if err != nil || !found {
				t.Fatalf("the commit's image after the recovery: found %v, %v", found, err)
			}
			builders, images, _ := f.left()
			if len(builders) > 0 || !slices.Equal(images, []string{img.ID}) {
				t.Errorf("left: builders %v, images %v; want no builder and the image %s", builders, images, img.ID)
			}
			rec, err = Store{Dir: f.state}.Load("staging")
			if err != nil || !rec.Finished || rec.Outcome != OutcomeBaked || !rec.CleanedUp || rec.Image != img.ID || rec.Reason != "" {
				t.Errorf("journal: %+v (%v), want baked %s and cleaned up", rec, err, img.ID)
			}
			r, err := f.baker(f.cloud, sh).Bake(f.ctx, c)
			if err != nil || !r.Reused || r.Image != img.ID {
				t.Errorf("the next bake: %+v %v, want %s reused", r, err, img.ID)
			}
		})
	}
}

// TestBakeBuilderInstanceProfile: a builder gets no instance profile
// unless launch.builder_instance_profile names one; never the groups'
// iam_instance_profile, whose credentials read the environment's secrets
// from SSM and would be the build hooks' (code from git) to use.
func TestBakeBuilderInstanceProfile(t *testing.T) {
	for _, tc := range []struct {
		name, launch, want string
	}{
		{"the groups' profile is not the builder's", `launch.iam_instance_profile = "shop-staging-app"`, ""},
		{"builder_instance_profile", "launch.iam_instance_profile = \"shop-staging-app\"\nlaunch.builder_instance_profile = \"shop-build\"", "shop-build"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.launch+"\n")
			rec := &builderImages{Client: f.cloud}
			if _, err := f.baker(rec, &fakeShell{dir: t.TempDir()}).Bake(f.ctx, f.commit()); err != nil {
				t.Fatal(err)
			}
			if len(rec.ids) != 1 {
				t.Fatalf("builders %v, want one", rec.ids)
			}
			out, err := f.ec2.DescribeInstances(f.ctx, &ec2.DescribeInstancesInput{InstanceIds: rec.ids})
			if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
				t.Fatalf("DescribeInstances %v: %+v %v", rec.ids, out, err)
			}
			got := ""
			if p := out.Reservations[0].Instances[0].IamInstanceProfile; p != nil {
				got = aws.ToString(p.Arn)
			}
			if tc.want == "" && got != "" || tc.want != "" && !strings.HasSuffix(got, "instance-profile/"+tc.want) {
				t.Errorf("the builder's instance profile is %q, want %q", got, tc.want)
			}
		})
	}
}

// killedInDelivery stops the bake's goroutine (runtime.Goexit) while
// deliver sends the commit's tree, and leaves the tree's file where
// deliver wrote it, as a SIGKILL would (Goexit runs deliver's deferred
// removal: the file is linked aside first and put back after).
type killedInDelivery struct {
	fakeShell
	kept, name string
}

func (k *killedInDelivery) Open(ctx context.Context, m cloud.Machine, logs remote.Logs) (Session, error) {
	s, err := k.fakeShell.Open(ctx, m, logs)
	if err != nil {
		return nil, err
	}
	return killedSession{s, k}, nil
}

type killedSession struct {
	Session
	k *killedInDelivery
}

func (s killedSession) Run(ctx context.Context, cmds ...remote.Command) error {
	for _, c := range cmds {
		if f, ok := c.Input.(*os.File); ok && strings.HasPrefix(c.Name, "deliver") {
			s.k.name, s.k.kept = f.Name(), f.Name()+".kept"
			if err := os.Link(s.k.name, s.k.kept); err != nil {
				panic(err)
			}
			runtime.Goexit()
		}
	}
	return s.Session.Run(ctx, cmds...)
}

// TestRecoverRemovesTheDeliveredTree: a bake killed while it delivered the
// commit's tree leaves the tree's file in the state dir; the recovery
// removes it, with the builder.
func TestRecoverRemovesTheDeliveredTree(t *testing.T) {
	f := newFixture(t, "")
	c := f.commit()
	sh := &killedInDelivery{fakeShell: fakeShell{dir: t.TempDir()}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = f.baker(f.cloud, sh).Bake(f.ctx, c)
	}()
	<-done
	if sh.name == "" {
		t.Fatal("the bake delivered no file")
	}
	if err := os.Rename(sh.kept, sh.name); err != nil {
		t.Fatal(err)
	}
	rec, err := Store{Dir: f.state}.Load("staging")
	if err != nil || rec == nil || rec.Finished || rec.Phase != PhaseDeliver {
		t.Fatalf("journal after the kill: %+v (%v), want a bake unfinished at %s", rec, err, PhaseDeliver)
	}
	// Another file of the state dir's bake directory stays.
	other := filepath.Join(filepath.Dir(sh.name), "bake-0123456789ab-20260101T000000-1.tar")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.baker(f.cloud, &fakeShell{dir: t.TempDir()}).Recover(f.ctx); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if _, err := os.Stat(sh.name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed bake's tree %s after the recovery: %v, want it removed", sh.name, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another bake's file: %v, want it kept", err)
	}
	if builders, _, _ := f.left(); len(builders) > 0 {
		t.Errorf("builders left: %v", builders)
	}
}

// TestBuilderKnownHostsRemoved: the host keys a builder's shell kept in
// the state dir go with the builder, whether the bake made its image,
// failed, or was killed and then recovered.
func TestBuilderKnownHostsRemoved(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failOn string
		killed bool // the bake's goroutine stops mid-delivery, then Recover
	}{
		{name: "baked"},
		{name: "build hook fails", failOn: "web build"},
		{name: "killed, recovered", killed: true},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			f := newFixture(t, "")
			c := f.commit()
			files := func() []string {
				t.Helper()
				kept, err := filepath.Glob(filepath.Join(f.state, "bake", "known_hosts-*"))
				if err != nil {
					t.Fatal(err)
				}
				return kept
			}
			if tc.killed {
				sh := &killedInDelivery{fakeShell: fakeShell{dir: t.TempDir(), state: f.state}}
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = f.baker(f.cloud, sh).Bake(f.ctx, c)
				}()
				<-done
				if kept := files(); len(kept) != 1 {
					t.Fatalf("after the kill, host key files %v, want the killed bake's builder's", kept)
				}
				if err := f.baker(f.cloud, &fakeShell{dir: t.TempDir()}).Recover(f.ctx); err != nil {
					t.Fatalf("recover: %v", err)
				}
			} else {
				sh := &fakeShell{dir: t.TempDir(), failOn: tc.failOn, state: f.state}
				if _, err := f.baker(f.cloud, sh).Bake(f.ctx, c); (err == nil) != (tc.failOn == "") {
					t.Fatalf("bake: %v", err)
				}
			}
			if kept := files(); len(kept) > 0 {
				t.Errorf("host key files of terminated builders left in the state dir: %v", kept)
			}
			if builders, _, _ := f.left(); len(builders) > 0 {
				t.Errorf("builders left: %v", builders)
			}
		})
	}
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/status"
)

// TestBakeNeedsBakeMode: ferry bake of an environment that does not bake
// images is a mistake in the command line, said as such, with the keys to
// set; nothing is launched.
func TestBakeNeedsBakeMode(t *testing.T) {
	p := newProject(t, 1)
	before := groupState(t, p.sim.URL, "shop-staging-web")
	code, stdout, stderr := runFerry(t, "bake", "-c", p.config, "staging")
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, `launch.image = "bake"`) {
		t.Fatalf("bake: exit %d, want %d and the setting named\n%s\n%s", code, exitUsage, stdout, stderr)
	}
	if got := groupState(t, p.sim.URL, "shop-staging-web"); got != before {
		t.Errorf("a refused bake changed the group:\n got %s\nwant %s", got, before)
	}
}

// TestImagesLists: ferry images shows the environment's baked images
// (tagged with a commit) and what launches from each; a half-made image
// (no commit tag yet) and another environment's are not shown.
func TestImagesLists(t *testing.T) {
	p := newProject(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := simenv.Connect(p.sim.URL)
	run, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(simenv.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	image := func(name string, tags map[string]string) string {
		var ts []ec2types.Tag
		for k, v := range tags {
			ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out, err := c.EC2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String(name),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: ts}}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ImageId)
	}
	first := commit.MustParse(p.first)
	baked := image("baked", plan.BakedImageTags("shop", "staging", first))
	half := image("half", map[string]string{plan.TagProject: "shop", plan.TagEnv: "staging", plan.TagBaking: p.first})
	other := image("other", plan.BakedImageTags("shop", "production", first))

	code, stdout, stderr := runFerry(t, "images", "-c", p.config, "staging")
	if code != exitOK {
		t.Fatalf("images: exit %d\n%s\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "COMMIT") || !strings.Contains(lines[1], first.Short()) || !strings.Contains(lines[1], baked) {
		t.Errorf("images:\n%s\nwant a header and %s of %s", stdout, baked, first.Short())
	}
	for _, absent := range []string{half, other} {
		if strings.Contains(stdout, absent) {
			t.Errorf("images lists %s:\n%s", absent, stdout)
		}
	}
}

// TestImagesShowsThePreviousDeploy: ferry images marks the image of the
// commit the environment ran before its deployed one, the rollback's
// target, as read from the deploy notes: the previous commit of the
// deployed commit's newest succeeded deploy of this environment that
// changed the commit. A redeploy (previous: the commit itself), a failed
// deploy and another environment's deploy do not count.
func TestImagesShowsThePreviousDeploy(t *testing.T) {
	p := newProject(t, 1)
	ctx := t.Context()
	c := simenv.Connect(p.sim.URL)
	run, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(simenv.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	image := func(name string, c commit.ID) string {
		var ts []ec2types.Tag
		for k, v := range plan.BakedImageTags("shop", "staging", c) {
			ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out, err := simenv.Connect(p.sim.URL).EC2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String(name),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: ts}}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ImageId)
	}
	// The group runs p.first; before it, staging ran previous.
	previous := commit.MustParse(strings.Repeat("1a", 20))
	failed := commit.MustParse(strings.Repeat("2b", 20))
	other := commit.MustParse(strings.Repeat("3c", 20))
	deployed := commit.MustParse(p.first)
	imgs := map[commit.ID]string{previous: image("previous", previous), failed: image("failed", failed), other: image("other", other)}

	cfg, err := config.Load(p.config)
	if err != nil {
		t.Fatal(err)
	}
	m, err := agent.OpenMirror(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	notes := &status.Notes{Remote: m, Ref: cfg.Project.Git.NotesRef}
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, rec := range []status.Record{
		{Env: "staging", Outcome: status.Succeeded, Previous: previous.String()},
		{Env: "staging", Outcome: status.RolledBack, Previous: failed.String()},
		{Env: "production", Outcome: status.Succeeded, Previous: other.String()},
		{Env: "staging", Outcome: status.Succeeded, Previous: deployed.String()}, // a redeploy
	} {
		rec.Method, rec.Started, rec.Ended = "serial", at.Add(time.Duration(i)*time.Minute), at.Add(time.Duration(i)*time.Minute+time.Second)
		if err := notes.Append(ctx, deployed, rec); err != nil {
			t.Fatal(err)
		}
	}

	code, stdout, stderr := runFerry(t, "images", "-c", p.config, "staging")
	if code != exitOK {
		t.Fatalf("images: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for c, id := range imgs {
		var line string
		for _, l := range strings.Split(stdout, "\n") {
			if strings.Contains(l, id) {
				line = l
			}
		}
		want := "-"
		if c == previous {
			want = bake.InUsePrevious
		}
		if !strings.HasSuffix(line, "  "+want) {
			t.Errorf("the image of %s is in use by %q; want %q\n%s", c.Short(), line, want, stdout)
		}
	}
}

// TestBakeRefusedUnderAHeldLock: ferry bake and ferry prepare of an
// environment that bakes hold the environment's lock; while a deploy (here
// another process) holds it, each is refused and launches nothing.
func TestBakeRefusedUnderAHeldLock(t *testing.T) {
	for _, command := range []string{"bake", "prepare"} {
		t.Run(command, func(t *testing.T) {
			p := newProject(t, 1)
			doc, err := os.ReadFile(p.config)
			if err != nil {
				t.Fatal(err)
			}
			baking := strings.Replace(string(doc), "ssh.user", "launch.image = \"bake\"\nlaunch.base_image = \"ami-0ba5e000000000001\"\nssh.user", 1)
			if err := os.WriteFile(p.config, []byte(baking), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(p.config)
			if err != nil {
				t.Fatal(err)
			}
			m, err := agent.OpenMirror(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			locker := &lock.Locker{Remote: m, Holder: "deployer.example/pid 1", TTL: time.Hour}
			if _, err := locker.Acquire(t.Context(), "staging"); err != nil {
				t.Fatal(err)
			}
			before := sources(t, p.sim.URL)
			code, stdout, stderr := runFerry(t, command, "-c", p.config, "staging")
			if code != exitFailure || stdout != "" || !strings.Contains(stderr, "holds the environment's lock") {
				t.Fatalf("%s under a held lock: exit %d, want 1 and the lock named\n%s\n%s", command, code, stdout, stderr)
			}
			c := simenv.Connect(p.sim.URL)
			out, err := c.EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{plan.TagBaking}}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Reservations) != 0 {
				t.Errorf("a refused %s launched %v", command, out.Reservations)
			}
			if after := sources(t, p.sim.URL); !slices.Equal(after, before) {
				t.Errorf("a refused %s made a launch source: %v, before %v", command, after, before)
			}
		})
	}
}

func TestBakeLine(t *testing.T) {
	c := commit.MustParse(strings.Repeat("ab", 20))
	start := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		rec  bake.Record
		want string
	}{
		{"in progress", bake.Record{Commit: c, Started: start, Phase: bake.PhaseBuild, Builder: "i-1", Log: "/l/b.log"},
			"in progress: build of abababababab, 2m5s so far, builder i-1, log /l/b.log"},
		{"baked", bake.Record{Commit: c, Started: start, Phase: bake.PhaseDone, Finished: true, Outcome: bake.OutcomeBaked, Image: "ami-1", CleanedUp: true},
			"baked ami-1 for abababababab, started 2026-11-30T14:00:00Z"},
		{"failed", bake.Record{Commit: c, Started: start, Phase: bake.PhaseBuild, Finished: true, Outcome: bake.OutcomeFailed, Reason: "bake-failed: abababababab at build: exit 3", CleanedUp: true},
			"bake-failed: abababababab at build: exit 3 (started 2026-11-30T14:00:00Z)"},
		{"failed, not cleaned up", bake.Record{Commit: c, Started: start, Finished: true, Outcome: bake.OutcomeFailed, Reason: "bake-failed: x"},
			"bake-failed: x (started 2026-11-30T14:00:00Z); its builder or image is not removed yet (the next bake does)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bakeLine(&tc.rec, start.Add(125*time.Second)); got != tc.want {
				t.Errorf("bakeLine = %q\nwant %q", got, tc.want)
			}
		})
	}
}

// bakeAheadProject is a project whose environment bakes its images (from
// a base image of the simulator's), with policy.bake_ahead, a deny window
// open all the time, a bake bound of bakeTimeout, and an exec notifier
// writing bake-failed events to the returned file.
func bakeAheadProject(t *testing.T, bakeTimeout string) (*project, string) {
	t.Helper()
	p := newProjectSim(t, 1, awssim.Options{App: awssim.DemoApp, ImageBuildTime: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := simenv.Connect(p.sim.URL)
	run, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(simenv.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.EC2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("debian-base")})
	if err != nil {
		t.Fatal(err)
	}
	w := ec2.NewImageAvailableWaiter(c.EC2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(t.TempDir(), "events.jsonl")
	doc, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(doc), "ssh.user", "launch.image = \"bake\"\nlaunch.base_image = \"debian-base\"\nssh.user", 1)
	s = strings.Replace(s, "poll_interval = \"20ms\"\n", "poll_interval = \"20ms\"\nbake_ahead = true\n", 1)
	s = strings.Replace(s, "drain = \"20s\"\n", "drain = \"20s\"\nbake = \""+bakeTimeout+"\"\n", 1)
	s += `
[[environments.staging.windows]]
cron = "* * * * *"
duration = "2m"
time_zone = "UTC"
mode = "deny"

[[notify]]
kind = "exec"
command = ["sh", "-c", "cat >> \"$0\"; echo >> \"$0\"", "` + events + `"]
events = ["bake-failed"]
`
	if err := os.WriteFile(p.config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, events
}

// builders lists the bake builders the simulator launched, terminated
// ones too.
func builders(t *testing.T, endpoint string) []string {
	t.Helper()
	out, err := simenv.Connect(endpoint).EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{plan.TagBaking}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, aws.ToString(i.InstanceId)+" "+string(i.State.Name))
		}
	}
	return ids
}

// TestBakeAheadFindsTheImage: while the window is closed, an image already
// baked for the new target is found (the state says so) and nothing is
// launched; the group is untouched.
func TestBakeAheadFindsTheImage(t *testing.T) {
	p, _ := bakeAheadProject(t, "30m")
	before := groupState(t, p.sim.URL, "shop-staging-web")
	next := p.work.Commit("Change", map[string]string{"app.py": "2\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := simenv.Connect(p.sim.URL)
	run, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(simenv.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	var ts []ec2types.Tag
	for k, v := range plan.BakedImageTags("shop", "staging", commit.MustParse(next)) {
		ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	img, err := c.EC2.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("baked"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: ts}}})
	if err != nil {
		t.Fatal(err)
	}
	w := ec2.NewImageAvailableWaiter(c.EC2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	p.work.Git("push", "-q", "origin", "main:staging")
	a := startAgent(t, p, time.Hour)
	testutil.Eventually(t, 30*time.Second, "the image found ahead", func() (bool, string) {
		s := p.envState(a)
		return s.State == "waiting" && s.Target.String() == next && strings.Contains(s.Detail, "image "+aws.ToString(img.ImageId)+" baked ahead"), fmt.Sprintf("%+v", s)
	})
	if got := builders(t, p.sim.URL); len(got) != 0 {
		t.Errorf("builders launched for an image that exists: %v", got)
	}
	if got := groupState(t, p.sim.URL, "shop-staging-web"); got != before {
		t.Errorf("the group changed while the window was closed:\n got %s\nwant %s", got, before)
	}
}

// TestBakeAheadFailureNotified: while the window is closed, the agent
// bakes the new target's image under the lock; a bake that fails (here its
// builder never shows SSH host keys: the fast backend runs no sshd) is
// notified bake-failed once, leaves no builder running, releases the lock,
// and the group is untouched.
func TestBakeAheadFailureNotified(t *testing.T) {
	p, events := bakeAheadProject(t, "300ms")
	before := groupState(t, p.sim.URL, "shop-staging-web")
	a := startAgent(t, p, 100*time.Millisecond)
	next := p.push("Change", map[string]string{"app.py": "2\n"})
	testutil.Eventually(t, 60*time.Second, "bake-failed notified", func() (bool, string) {
		data, _ := os.ReadFile(events)
		return strings.Contains(string(data), `"event":"bake-failed"`), string(data)
	})
	data, _ := os.ReadFile(events)
	if !strings.Contains(string(data), next) || !strings.Contains(string(data), "boot") {
		t.Errorf("bake-failed event: %s, want the commit and the phase", data)
	}
	testutil.Eventually(t, 30*time.Second, "the builder terminated", func() (bool, string) {
		got := builders(t, p.sim.URL)
		return len(got) == 1 && !strings.HasSuffix(got[0], " running") && !strings.HasSuffix(got[0], " pending"), fmt.Sprint(got)
	})
	// Looked at again and again (every 100ms), the commit is not baked a
	// second time: the deploy bakes it when the window opens.
	p.waitState(a, "waiting", next)
	if got := builders(t, p.sim.URL); len(got) != 1 {
		t.Errorf("builders: %v, want the one bake's", got)
	}
	if data, _ := os.ReadFile(events); strings.Count(string(data), `"event":"bake-failed"`) != 1 {
		t.Errorf("bake-failed notified more than once:\n%s", data)
	}
	// The lock is free again: ferry bake by hand is not refused for it.
	code, _, stderr := runFerry(t, "bake", "-c", p.config, "staging")
	if strings.Contains(stderr, "holds the environment's lock") {
		t.Errorf("ferry bake after the bake ahead: exit %d, the lock still held\n%s", code, stderr)
	}
	if got := groupState(t, p.sim.URL, "shop-staging-web"); got != before {
		t.Errorf("the group changed while the window was closed:\n got %s\nwant %s", got, before)
	}
}

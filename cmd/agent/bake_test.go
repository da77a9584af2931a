package main

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
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
	run, err := c.EC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-base"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
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
			baking := strings.Replace(string(doc), "ssh.user", "launch.image = \"bake\"\nlaunch.base_image = \"ami-0base\"\nssh.user", 1)
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

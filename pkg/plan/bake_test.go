package plan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// imageOf registers an available image tagged as baked for c.
func (f *fixture) imageOf(t *testing.T, c string) string {
	t.Helper()
	run, err := f.clients.EC2.RunInstances(f.ctx, &ec2.RunInstancesInput{ImageId: aws.String(simenv.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	var tags []ec2types.Tag
	for k, v := range plan.BakedImageTags("shop", "staging", commit.MustParse(c)) {
		tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	img, err := f.clients.EC2.CreateImage(f.ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("baked-" + c[:12]),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: tags}}})
	if err != nil {
		t.Fatal(err)
	}
	w := ec2.NewImageAvailableWaiter(f.clients.EC2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := w.Wait(f.ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(img.ImageId)
}

// TestBakePlan: with launch.image = "bake" a deploy's first step bakes the
// commit's image unless one is tagged for it, which the launch source then
// names; a prepared launch source, or an environment that does not bake,
// has no bake step. The text and the JSON say the same.
func TestBakePlan(t *testing.T) {
	h := newHistory(t)
	const bake = "launch.image = \"bake\"\nlaunch.base_image = \"debian-stack\"\n"
	for _, tc := range []struct {
		name      string
		toml      string
		imageOf   string // a commit whose image exists
		prepared  bool
		wantBake  bool
		wantImage bool // prepare-launch-source names the existing image
		wantText  string
	}{
		{name: "fixed image", toml: ""},
		{name: "no image yet", toml: bake, wantBake: true, wantText: "Image: baked for"},
		{name: "another commit's image", toml: bake, imageOf: "app1", wantBake: true, wantText: "Image: baked for"},
		{name: "the commit's image exists", toml: bake, imageOf: "app2", wantImage: true, wantText: "(reused)"},
		{name: "prepared launch source", toml: bake, prepared: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, h.app1, tc.toml)
			var img string
			switch tc.imageOf {
			case "app1":
				img = f.imageOf(t, h.app1)
			case "app2":
				img = f.imageOf(t, h.app2)
			}
			in := f.input(h.app2)
			if tc.prepared {
				in.LaunchSource = plan.LaunchSourceName("shop", "staging", commit.MustParse(h.app2), now.Add(-time.Hour))
			}
			p, err := plan.Make(f.ctx, f.cloud, h.repo, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			bakes := p.Steps[0].Name == plan.StepBakeImage
			if bakes != tc.wantBake {
				t.Errorf("first step %s, want a bake: %v", p.Steps[0].Name, tc.wantBake)
			}
			if bakes && (p.Steps[0].Commit.String() != h.app2 || p.Steps[0].Timeout.Std() != 30*time.Minute) {
				t.Errorf("bake step %+v, want the target and policy.timeouts.bake", p.Steps[0])
			}
			for _, s := range p.Steps[1:] {
				if s.Name == plan.StepBakeImage {
					t.Errorf("a bake step after the first: %v", s)
				}
			}
			var prep *plan.Step
			for i := range p.Steps {
				if p.Steps[i].Name == plan.StepPrepareLaunchSource {
					prep = &p.Steps[i]
				}
			}
			switch {
			case tc.prepared && prep != nil:
				t.Errorf("a prepared launch source is prepared again: %+v", prep)
			case !tc.prepared && prep == nil:
				t.Fatal("no prepare-launch-source step")
			case tc.wantImage && prep.Image != img:
				t.Errorf("prepare-launch-source names image %q, want %s", prep.Image, img)
			case !tc.wantImage && prep != nil && prep.Image != "":
				t.Errorf("prepare-launch-source names image %q, want none", prep.Image)
			}
			if (p.Image != nil) != (tc.toml != "" && !tc.prepared) {
				t.Errorf("plan image %+v", p.Image)
			}

			var text, js bytes.Buffer
			if err := p.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if tc.wantText != "" && !strings.Contains(text.String(), tc.wantText) {
				t.Errorf("text lacks %q:\n%s", tc.wantText, text.String())
			}
			if bakes && !strings.Contains(text.String(), "1. bake-image commit="+h.app2) {
				t.Errorf("text does not show the bake first:\n%s", text.String())
			}
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back plan.Plan
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if err := back.Validate(); err != nil {
				t.Fatalf("the JSON plan does not validate: %v", err)
			}
			if (back.Image == nil) != (p.Image == nil) || back.Image != nil && *back.Image != *p.Image || back.Steps[0].Name != p.Steps[0].Name {
				t.Errorf("JSON round trip: image %+v steps[0] %s, want %+v %s", back.Image, back.Steps[0].Name, p.Image, p.Steps[0].Name)
			}
		})
	}
}

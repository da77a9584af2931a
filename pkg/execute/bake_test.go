package execute_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// The images TestBakeStep's fake baker hands out and an earlier bake left:
// AMI ids of EC2's form, which the simulator knows as public images
// (execute_test.go), as real bakes' images exist.
const (
	bakedImage    = "ami-0ba6ed00000000001"
	existingImage = "ami-0e415700000000001"
)

// fakeBaker stands in for pkg/bake (tested against the simulator there):
// it answers an image or an error and counts its calls.
type fakeBaker struct {
	mu    sync.Mutex
	image string
	err   error
	calls []commit.ID
	// stop, when set, is called on the first bake, whose error it
	// returns instead: an agent stopped mid-bake.
	stop func() error
}

func (b *fakeBaker) Bake(_ context.Context, c commit.ID) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, c)
	if b.stop != nil && len(b.calls) == 1 {
		return "", b.stop()
	}
	return b.image, b.err
}

// TestBakeStep: with launch.image = "bake" the deploy's first step bakes
// the target's image and the new launch source names it; an image that
// existed at plan time is named without a bake; a failed bake leaves the
// environment as it was, the reason in the report.
func TestBakeStep(t *testing.T) {
	for _, tc := range []struct {
		name       string
		existing   bool // an image is tagged for the target when planned
		bakeErr    error
		wantBakes  int
		wantImage  string
		wantResult execute.Outcome
	}{
		{name: "bakes first", wantBakes: 1, wantImage: bakedImage, wantResult: execute.Succeeded},
		{name: "reuses the commit's image", existing: true, wantBakes: 0, wantImage: existingImage, wantResult: execute.Succeeded},
		{name: "bake fails", bakeErr: errors.New("bake-failed: web build 1/1 exited 1"), wantBakes: 1, wantResult: execute.RolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 2, false, "")
			f.env.Launch.Image, f.env.Launch.BaseImage = "bake", "debian-stack"
			p := f.plan()
			if tc.existing {
				// As the planner writes it when ImagesTagged finds one
				// (pkg/plan's TestBakePlan).
				p.Image = &plan.ImagePlan{ID: existingImage, BaseImage: "debian-stack"}
				for i, s := range p.Steps {
					if s.Name == plan.StepBakeImage {
						p.Steps = append(p.Steps[:i:i], p.Steps[i+1:]...)
						break
					}
				}
				for i := range p.Steps {
					if p.Steps[i].Name == plan.StepPrepareLaunchSource {
						p.Steps[i].Image = existingImage
					}
				}
			} else if p.Steps[0].Name != plan.StepBakeImage {
				t.Fatalf("first step %s, want bake-image", p.Steps[0].Name)
			}
			baker := &fakeBaker{image: bakedImage, err: tc.bakeErr}
			ex := f.executor()
			ex.Baker = baker
			r, err := ex.Run(f.ctx, p, "d1")
			if r.Outcome != tc.wantResult {
				t.Fatalf("outcome %s (%v), want %s", r.Outcome, err, tc.wantResult)
			}
			if len(baker.calls) != tc.wantBakes || tc.wantBakes > 0 && baker.calls[0].String() != f.new {
				t.Errorf("bakes %v, want %d of %s", baker.calls, tc.wantBakes, f.new)
			}
			if tc.bakeErr != nil {
				if !strings.Contains(r.Reason, "bake-failed") {
					t.Errorf("reason %q does not say the bake failed", r.Reason)
				}
				f.assertOldVersion()
				return
			}
			f.assertNewVersion(p)
			g := f.group()
			v, err := f.cloud.LaunchTemplateVersion(f.ctx, *g.LaunchTemplate)
			if err != nil || v.ImageID != tc.wantImage {
				t.Errorf("launch template version's image %q (%v), want %s", v.ImageID, err, tc.wantImage)
			}
		})
	}
}

// TestInterruptedBakeRunsOnOnRecover: a deploy stopped while its first
// step bakes has changed nothing and its journal records no step done;
// its recovery runs it on rather than rolling it back: the bake again
// (pkg/bake's Bake first recovers what the stopped bake left), then the
// rest, to the new version in the baked image. The crash matrix's "bake
// in deploy" cells want this end after a SIGKILL at each of the bake's
// points (e2e, docs/reliability.md).
func TestInterruptedBakeRunsOnOnRecover(t *testing.T) {
	f := newFixture(t, 2, false, "")
	f.env.Launch.Image, f.env.Launch.BaseImage = "bake", "debian-stack"
	p := f.plan()
	if p.Steps[0].Name != plan.StepBakeImage {
		t.Fatalf("first step %s, want bake-image", p.Steps[0].Name)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	baker := &fakeBaker{image: bakedImage, stop: func() error { cancel(); return context.Canceled }}
	ex := f.executor()
	ex.Baker = baker
	r, err := ex.Run(ctx, p, "d1")
	if !errors.Is(err, execute.ErrInterrupted) || r.Outcome != execute.Interrupted {
		t.Fatalf("outcome %s: %v, want interrupted", r.Outcome, err)
	}
	j, err := execute.JournalStore{Dir: f.stateDir}.Load("staging")
	if err != nil || j == nil || j.Finished || j.Next != 0 || j.Image != "" {
		t.Fatalf("journal after the stop in the bake: %+v (%v), want unfinished at step 1 with no image", j, err)
	}
	rec, err := ex.Recover(f.ctx, "staging")
	if rec == nil || rec.Outcome != execute.Succeeded {
		t.Fatalf("recover: %+v, %v; want succeeded", rec, err)
	}
	if len(baker.calls) != 2 || baker.calls[1].String() != f.new {
		t.Errorf("bakes %v, want the stopped one and one more, of %s", baker.calls, f.new)
	}
	f.assertNewVersion(p)
	v, err := f.cloud.LaunchTemplateVersion(f.ctx, *f.group().LaunchTemplate)
	if err != nil || v.ImageID != bakedImage {
		t.Errorf("launch template version's image %q (%v), want %s", v.ImageID, err, bakedImage)
	}
}

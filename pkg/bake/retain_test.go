package bake

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// TestRetention: with images.keep = 2, four bakes leave the two newest
// images and the one the group launches from; the others are deregistered
// with their snapshots.
func TestRetention(t *testing.T) {
	f := newFixture(t, "[environments.staging.images]\nkeep = 2\n")
	if err := simenv.Create(f.ctx, simenv.Connect(f.endpoint), simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-staging-web",
		Groups: []simenv.Group{{Name: "shop-staging-web", Size: 1, ClassicLB: "shop-staging"}}, Now: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	b := f.baker(f.cloud, &fakeShell{dir: t.TempDir()})
	var imgs []string
	var commits []commit.ID
	for i := range 4 {
		c, err := commit.Parse(f.repo.Commit("v", map[string]string{"index.html": string(rune('a'+i)) + "\n"}))
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.Bake(f.ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		imgs, commits = append(imgs, res.Image), append(commits, c)
		if i == 0 {
			// The group launches from the first image from now on.
			g, err := f.cloud.Group(f.ctx, "shop-staging-web", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := f.cloud.CreateLaunchTemplateVersion(f.ctx, *g.LaunchTemplate, "first", cloud.LaunchOverrides{ImageID: res.Image})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.cloud.UpdateGroup(f.ctx, "shop-staging-web", cloud.GroupUpdate{LaunchTemplate: &ref}); err != nil {
				t.Fatal(err)
			}
		}
	}
	left, err := b.Images(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, img := range left {
		ids = append(ids, img.ID)
		if img.ID == imgs[0] && !slices.Equal(img.InUse, []string{"group shop-staging-web"}) {
			t.Errorf("%s in use by %v, want the group", img.ID, img.InUse)
		}
		if img.ID != imgs[0] && len(img.InUse) > 0 {
			t.Errorf("%s in use by %v, want nothing", img.ID, img.InUse)
		}
	}
	if want := []string{imgs[3], imgs[2], imgs[0]}; !slices.Equal(ids, want) {
		t.Errorf("images left %v, want %v (the newest two and the group's)", ids, want)
	}
	snaps, err := f.ec2.DescribeSnapshots(f.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + plan.TagBaking), Values: []string{commits[1].String()}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps.Snapshots) != 0 {
		t.Errorf("the removed image's snapshots are left: %v", snaps.Snapshots)
	}
	if _, found, err := b.Find(f.ctx, commits[1]); err != nil || found {
		t.Errorf("the removed image is still found (%v)", err)
	}
}

// TestRetentionKeepsTheRollbackTarget: an image only an unfinished
// deploy's rollback would return a group to (its launch source recorded in
// the deploy journal, RollbackSources) is kept, whatever images.keep says.
func TestRetentionKeepsTheRollbackTarget(t *testing.T) {
	f := newFixture(t, "[environments.staging.images]\nkeep = 1\n")
	if err := simenv.Create(f.ctx, simenv.Connect(f.endpoint), simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-staging-web",
		Groups: []simenv.Group{{Name: "shop-staging-web", Size: 1, ClassicLB: "shop-staging"}}, Now: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	b := f.baker(f.cloud, &fakeShell{dir: t.TempDir()})
	var rollback []LaunchSource
	b.RollbackSources = func() ([]LaunchSource, error) { return rollback, nil }
	var imgs []string
	for i := range 3 {
		c := commit.MustParse(f.repo.Commit("v", map[string]string{"index.html": string(rune('a'+i)) + "\n"}))
		res, err := b.Bake(f.ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, res.Image)
		if i == 0 {
			// A deploy of the first image began and stopped: its
			// rollback returns the group to this version.
			g, err := f.cloud.Group(f.ctx, "shop-staging-web", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := f.cloud.CreateLaunchTemplateVersion(f.ctx, *g.LaunchTemplate, "before", cloud.LaunchOverrides{ImageID: res.Image})
			if err != nil {
				t.Fatal(err)
			}
			rollback = []LaunchSource{{LaunchTemplate: &ref}}
		}
	}
	left, err := b.Images(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, img := range left {
		ids = append(ids, img.ID)
		if img.ID == imgs[0] && !slices.Equal(img.InUse, []string{"rollback"}) {
			t.Errorf("%s in use by %v, want the rollback", img.ID, img.InUse)
		}
	}
	if want := []string{imgs[2], imgs[0]}; !slices.Equal(ids, want) {
		t.Errorf("images left %v, want %v (the newest, and the rollback's)", ids, want)
	}
}

// TestRetentionKeepsThePreviousDeploy: once no deploy is unfinished, the
// image of the commit the environment ran before its deployed one
// (Previous, from the deploy notes) is kept whatever images.keep says, so
// that a rollback to it does not bake it again; once the environment has
// moved on, the image that was the previous deploy's is not.
func TestRetentionKeepsThePreviousDeploy(t *testing.T) {
	f := newFixture(t, "[environments.staging.images]\nkeep = 1\n")
	if err := simenv.Create(f.ctx, simenv.Connect(f.endpoint), simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-staging-web",
		Groups: []simenv.Group{{Name: "shop-staging-web", Size: 1, ClassicLB: "shop-staging"}}, Now: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	b := f.baker(f.cloud, &fakeShell{dir: t.TempDir()})
	var previous commit.ID
	b.Previous = func(context.Context) (commit.ID, error) { return previous, nil }
	var imgs []string
	var commits []commit.ID
	bakeNext := func() {
		t.Helper()
		c := commit.MustParse(f.repo.Commit("v", map[string]string{"index.html": fmt.Sprintf("%d\n", len(commits))}))
		res, err := b.Bake(f.ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		imgs, commits = append(imgs, res.Image), append(commits, c)
	}
	left := func(want ...string) {
		t.Helper()
		imgs, err := b.Images(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, img := range imgs {
			ids = append(ids, img.ID)
			wantBy := []string(nil)
			if img.Commit == previous {
				wantBy = []string{InUsePrevious}
			}
			if !slices.Equal(img.InUse, wantBy) {
				t.Errorf("%s (%s) in use by %v, want %v", img.ID, img.Commit.Short(), img.InUse, wantBy)
			}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("images left %v, want %v (the newest, and the previous deploy's)", ids, want)
		}
	}
	bakeNext()
	previous = commits[0]
	bakeNext()
	bakeNext()
	left(imgs[2], imgs[0])
	previous = commits[2]
	bakeNext()
	left(imgs[3], imgs[2])
}

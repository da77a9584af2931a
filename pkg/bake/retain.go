package bake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// Image is one of an environment's baked images and what uses it.
type Image struct {
	cloud.Image
	Commit commit.ID
	// InUse names what launches from it: "group G" for a group's launch
	// source, "instance I" for a running instance's, "rollback" for the
	// source an unfinished deploy's rollback returns to, InUsePrevious
	// for the image of the commit deployed before the one running. Empty
	// when unused.
	InUse []string
}

// InUsePrevious marks the image of the commit the environment ran before
// its deployed one: a rollback's target once no deploy is unfinished.
const InUsePrevious = "previous deploy"

// Images lists the environment's baked images (tagged with their commit),
// newest first, with what uses each.
func (b *Baker) Images(ctx context.Context) ([]Image, error) {
	imgs, err := b.Cloud.ImagesTagged(ctx, map[string]string{plan.TagProject: b.Project, plan.TagEnv: b.Env.Name})
	if err != nil {
		return nil, err
	}
	used, err := b.inUse(ctx)
	if err != nil {
		return nil, err
	}
	var previous commit.ID
	if b.Previous != nil {
		if previous, err = b.Previous(ctx); err != nil {
			return nil, fmt.Errorf("the commit deployed before: %w", err)
		}
	}
	var out []Image
	for _, img := range imgs {
		c, err := commit.Parse(img.Tags[plan.TagCommit])
		if err != nil {
			continue // half-made: Recover's, not retention's
		}
		by := used[img.ID]
		if !previous.IsZero() && c == previous {
			by = append(by, InUsePrevious)
		}
		out = append(out, Image{Image: img, Commit: c, InUse: by})
	}
	return out, nil
}

// Retain deregisters the environment's baked images beyond the newest
// images.keep, and deletes their snapshots, keeping every image in use
// (a group's launch source, a running instance's, the one an unfinished
// deploy's rollback returns a group to: a rollback launches from the old
// source again, and the image of the commit deployed before the running
// one, which a rollback deploys again). It returns the images it removed.
func (b *Baker) Retain(ctx context.Context) ([]string, error) {
	imgs, err := b.Images(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for i, img := range imgs {
		if i < b.Env.Images.Keep || len(img.InUse) > 0 {
			continue
		}
		if err := b.Cloud.DeleteImage(ctx, img.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, img.ID)
		b.log().Info("bake: old image deregistered, its snapshots deleted", "env", b.Env.Name, "image", img.ID,
			"commit", img.Commit.Short(), "keep", b.Env.Images.Keep)
	}
	return removed, errors.Join(errs...)
}

// inUse maps each image a group of the environment, or an instance of
// one, launches from to what does.
func (b *Baker) inUse(ctx context.Context) (map[string][]string, error) {
	used := map[string][]string{}
	images := map[string]string{} // launch source → image, read once
	imageOf := func(lt *cloud.LaunchTemplateRef, lc string) (string, error) {
		key := "lc:" + lc
		if lt != nil {
			key = fmt.Sprintf("lt:%s/%s/%s", lt.ID, lt.Name, lt.Version)
		}
		if img, ok := images[key]; ok {
			return img, nil
		}
		var img string
		switch {
		case lt != nil:
			v, err := b.Cloud.LaunchTemplateVersion(ctx, *lt)
			if err != nil {
				return "", err
			}
			img = v.ImageID
		case lc != "":
			c, err := b.Cloud.LaunchConfiguration(ctx, lc)
			switch {
			case errors.Is(err, cloud.ErrNotFound):
			case err != nil:
				return "", err
			default:
				img = c.ImageID
			}
		}
		images[key] = img
		return img, nil
	}
	add := func(img, by string) {
		if img != "" && !slices.Contains(used[img], by) {
			used[img] = append(used[img], by)
		}
	}
	if b.RollbackSources != nil {
		srcs, err := b.RollbackSources()
		if err != nil {
			return nil, err
		}
		for _, src := range srcs {
			img, err := imageOf(src.LaunchTemplate, src.LaunchConfiguration)
			if err != nil {
				return nil, fmt.Errorf("a rollback's launch source: %w", err)
			}
			add(img, "rollback")
		}
	}
	for _, role := range slices.Sorted(maps.Keys(b.Env.Groups)) {
		name := b.Env.Groups[role]
		g, err := b.Cloud.Group(ctx, name, nil, nil)
		if errors.Is(err, cloud.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		img, err := imageOf(g.LaunchTemplate, g.LaunchConfiguration)
		if err != nil {
			return nil, fmt.Errorf("the launch source of %s: %w", name, err)
		}
		add(img, "group "+name)
		for _, inst := range g.Instances {
			img, err := imageOf(inst.LaunchTemplate, inst.LaunchConfiguration)
			if err != nil {
				return nil, fmt.Errorf("the launch source of %s: %w", inst.ID, err)
			}
			add(img, "instance "+inst.ID)
		}
	}
	return used, nil
}

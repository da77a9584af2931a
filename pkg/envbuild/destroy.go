package envbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// Destroy removes what carries the environment's tags, in the order AWS
// needs: the groups (their instances terminate with them) and the
// long-lived servers, the balancer and the launch templates, and once every
// instance has terminated, the security groups. It returns what it removed;
// run again after a failure, it removes what is left.
func (b *Builder) Destroy(ctx context.Context) ([]Made, error) {
	b.defaults()
	s := b.Spec
	var gone []Made
	groups, err := b.Cloud.GroupsTagged(ctx, s.EnvTags())
	if err != nil {
		return gone, err
	}
	for _, g := range groups {
		if err := b.Cloud.DeleteGroup(ctx, g); err != nil {
			return gone, err
		}
		gone = append(gone, Made{Kind: "group", Name: g})
		b.progress("group %s: deleting, with its instances", g)
	}
	if err := b.waitFor(ctx, "groups to go", func() (string, error) {
		left, err := b.Cloud.GroupsTagged(ctx, s.EnvTags())
		return strings.Join(left, ", "), err
	}); err != nil {
		return gone, err
	}
	ms, err := b.Cloud.MachinesTagged(ctx, s.EnvTags())
	if err != nil {
		return gone, err
	}
	var ids []string
	for _, m := range ms {
		if m.State != "shutting-down" {
			ids = append(ids, m.ID)
			gone = append(gone, Made{Kind: "server", Name: m.Tags["Name"], ID: m.ID})
		}
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		if err := b.Cloud.TerminateInstances(ctx, ids); err != nil {
			return gone, err
		}
		b.progress("servers terminating: %s", strings.Join(ids, ", "))
	}
	switch lb, err := b.Cloud.ClassicBalancer(ctx, s.Balancer); {
	case errors.Is(err, cloud.ErrNotFound):
	case err != nil:
		return gone, err
	case lb.Tags[plan.TagEnv] != s.Env || lb.Tags[plan.TagProject] != s.Project:
		b.progress("load balancer %s: kept, it is not environment %s's", s.Balancer, s.Env)
	default:
		if err := b.Cloud.DeleteClassicBalancer(ctx, s.Balancer); err != nil {
			return gone, err
		}
		gone = append(gone, Made{Kind: "load balancer", Name: s.Balancer})
		b.progress("load balancer %s: deleted", s.Balancer)
	}
	tpls, err := b.Cloud.LaunchTemplatesTagged(ctx, s.EnvTags())
	if err != nil {
		return gone, err
	}
	for _, t := range tpls {
		if err := b.Cloud.DeleteLaunchTemplate(ctx, t.ID); err != nil {
			return gone, err
		}
		gone = append(gone, Made{Kind: "launch template", Name: t.Name, ID: t.ID})
		b.progress("launch template %s: deleted", t.Name)
	}
	// A security group cannot go while an instance (or a balancer's
	// network interface) still uses it.
	if err := b.waitFor(ctx, "instances to terminate", func() (string, error) {
		ms, err := b.Cloud.MachinesTagged(ctx, s.EnvTags())
		var left []string
		for _, m := range ms {
			left = append(left, m.ID+" "+m.State)
		}
		return strings.Join(left, ", "), err
	}); err != nil {
		return gone, err
	}
	sgs, err := b.Cloud.SecurityGroupsTagged(ctx, s.EnvTags())
	if err != nil {
		return gone, err
	}
	for _, g := range sgs {
		err := b.waitFor(ctx, "security group "+g.Name+" to be free", func() (string, error) {
			err := b.Cloud.DeleteSecurityGroup(ctx, g.ID)
			if errors.Is(err, cloud.ErrInUse) {
				return "in use", nil
			}
			return "", err
		})
		if err != nil {
			return gone, err
		}
		gone = append(gone, Made{Kind: "security group", Name: g.Name, ID: g.ID})
		b.progress("security group %s: deleted", g.Name)
	}
	if err := os.Remove(journalPath(b.StateDir, s.Env)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return gone, fmt.Errorf("remove create journal: %w", err)
	}
	return gone, nil
}

// waitFor polls check until it reports nothing left, saying what it waits
// for each time that changes; Timeout bounds it.
func (b *Builder) waitFor(ctx context.Context, what string, check func() (string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	start, last := time.Now(), ""
	for {
		left, err := check()
		if err != nil {
			return err
		}
		if left == "" {
			return nil
		}
		if left != last {
			b.progress("waiting for %s (%s): %s", what, time.Since(start).Round(time.Second), left)
			last = left
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: still %s after %s: %w", what, last, b.Timeout, ctx.Err())
		case <-time.After(b.Poll):
		}
	}
}

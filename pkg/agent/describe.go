package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Description is what ferry describe shows of an environment, read from
// AWS as it is now.
type Description struct {
	Env   string     `json:"env"`
	Roles []RoleView `json:"roles"`
	// Drift lists the [launch] settings the groups' launch sources lack
	// (as ferry status does): ferry redeploy applies them.
	Drift []string `json:"launch_drift,omitempty"`
}

// RoleView is one role: its group, or the hosts the config lists for it.
type RoleView struct {
	Role  string     `json:"role"`
	Group *GroupView `json:"group,omitempty"`
	// Hosts are the servers the config lists for a role without a group
	// (hosts.ROLE).
	Hosts []string `json:"hosts,omitempty"`
}

// GroupView is a group's sizes, processes, launch source and instances.
type GroupView struct {
	Name      string   `json:"name"`
	Desired   int      `json:"desired"`
	Min       int      `json:"min"`
	Max       int      `json:"max"`
	Suspended []string `json:"suspended_processes,omitempty"`
	// Source is the launch source new instances start from; Image is its
	// image, Commit the commit its name carries (plan.CommitOfLaunchSource).
	Source    string         `json:"launch_source"`
	Image     string         `json:"image,omitempty"`
	Commit    string         `json:"commit,omitempty"`
	Tag       string         `json:"tag_commit,omitempty"`
	Instances []InstanceView `json:"instances"`
}

// InstanceView is one instance of a group.
type InstanceView struct {
	ID        string `json:"id"`
	Address   string `json:"address"`
	Zone      string `json:"zone"`
	Source    string `json:"launch_source"`
	Commit    string `json:"commit,omitempty"`
	Lifecycle string `json:"lifecycle"`
	Health    string `json:"health"`
	// Balancers is the instance's state in each balancer or target group.
	Balancers map[string]string `json:"balancers,omitempty"`
}

// describeCloud is what Describe reads beyond a deploy's needs.
type describeCloud interface {
	plan.Cloud
	LaunchConfiguration(ctx context.Context, name string) (*cloud.LaunchConfiguration, error)
}

// Describe reads env as it is now: per role, its group (sizes, suspended
// processes, launch source and image, each instance with its address,
// zone, launch source, commit, lifecycle and health in each balancer) or
// its listed hosts; and the [launch] settings the launch sources lack.
func (p *Project) Describe(ctx context.Context, name string) (*Description, error) {
	env, err := p.Env(name)
	if err != nil {
		return nil, err
	}
	c, err := p.Connect(ctx, env, p.Logger)
	if err != nil {
		return nil, err
	}
	dc, ok := c.(describeCloud)
	if !ok {
		return nil, fmt.Errorf("describe: the AWS client of %s cannot read launch configurations", env.Name)
	}
	d := &Description{Env: env.Name}
	sources := map[string]launchView{} // by launch source key
	for _, role := range roles.All() {
		r := string(role)
		gname, hasGroup := env.Groups[r]
		hosts := env.Hosts[r]
		if !hasGroup && len(hosts) == 0 {
			continue
		}
		view := RoleView{Role: r, Hosts: slices.Clone(hosts)}
		if hasGroup {
			var classic, tgs []string
			if role == roles.Web {
				classic, tgs = env.LoadBalancers.Classic, env.LoadBalancers.TargetGroups
			}
			g, err := dc.Group(ctx, gname, classic, tgs)
			if err != nil {
				return nil, fmt.Errorf("%s (the %s group): %w", gname, r, err)
			}
			gv := &GroupView{Name: g.Name, Desired: g.DesiredCapacity, Min: g.MinSize, Max: g.MaxSize,
				Suspended: g.SuspendedProcesses, Tag: g.Tags[plan.TagCommit], Instances: []InstanceView{}}
			src, err := readSource(ctx, dc, sources, g.LaunchConfiguration, g.LaunchTemplate)
			if err != nil {
				return nil, err
			}
			gv.Source, gv.Image, gv.Commit = src.label, src.image, src.commit
			for _, inst := range g.Instances {
				is, err := readSource(ctx, dc, sources, inst.LaunchConfiguration, inst.LaunchTemplate)
				if err != nil {
					return nil, err
				}
				iv := InstanceView{ID: inst.ID, Address: inst.PrivateIP, Zone: inst.AvailabilityZone, Source: is.label,
					Commit: is.commit, Lifecycle: inst.LifecycleState, Health: inst.HealthStatus}
				for b, h := range inst.Balancers {
					if iv.Balancers == nil {
						iv.Balancers = map[string]string{}
					}
					iv.Balancers[b] = h.State
				}
				gv.Instances = append(gv.Instances, iv)
			}
			view.Group = gv
		}
		d.Roles = append(d.Roles, view)
	}
	if d.Drift, err = launchDrift(ctx, dc, env); err != nil {
		return nil, fmt.Errorf("compare the [launch] settings with the launch sources: %w", err)
	}
	return d, nil
}

// launchView is a launch source as Describe shows it.
type launchView struct{ label, image, commit string }

// readSource reads a launch configuration or template version once per
// describe (its instances mostly share their group's).
func readSource(ctx context.Context, c describeCloud, seen map[string]launchView, lc string, lt *cloud.LaunchTemplateRef) (launchView, error) {
	var key string
	switch {
	case lc != "":
		key = "lc:" + lc
	case lt != nil:
		key = "lt:" + lt.ID + lt.Name + ":" + lt.Version
	default:
		return launchView{label: "-"}, nil
	}
	if v, ok := seen[key]; ok {
		return v, nil
	}
	var v launchView
	if lc != "" {
		v.label = "launch configuration " + lc
		v.commit = plan.CommitOfLaunchSource(lc)
		got, err := c.LaunchConfiguration(ctx, lc)
		switch {
		case errors.Is(err, cloud.ErrNotFound):
			v.label += " (deleted)"
		case err != nil:
			return v, err
		default:
			v.image = got.ImageID
		}
	} else {
		name := lt.Name
		if name == "" {
			name = lt.ID
		}
		v.label = "launch template " + name + " version " + lt.Version
		got, err := c.LaunchTemplateVersion(ctx, *lt)
		switch {
		case errors.Is(err, cloud.ErrNotFound):
			v.label += " (deleted)"
		case err != nil:
			return v, err
		default:
			v.label = "launch template " + got.TemplateName + " version " + strconv.FormatInt(got.Number, 10)
			if got.Description != "" {
				v.label += " (" + got.Description + ")"
			}
			v.image, v.commit = got.ImageID, plan.CommitOfLaunchSource(got.Description)
		}
	}
	seen[key] = v
	return v, nil
}

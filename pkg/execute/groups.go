package execute

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// groupPlan returns the plan's entry for a group.
func groupPlan(j *Journal, name string) (plan.GroupPlan, error) {
	for _, g := range j.Plan.Groups {
		if g.Name == name {
			return g, nil
		}
	}
	return plan.GroupPlan{}, fmt.Errorf("group %q is not in the plan", name)
}

// plannedGroup returns the plan's entry for a group and the group as it
// is now (readGroup).
func (e *Executor) plannedGroup(ctx context.Context, j *Journal, name string) (plan.GroupPlan, *cloud.Group, error) {
	gp, err := groupPlan(j, name)
	if err != nil {
		return plan.GroupPlan{}, nil, err
	}
	g, err := e.readGroup(ctx, gp)
	return gp, g, err
}

// balancers returns the balancers a group's instances serve behind.
func (e *Executor) balancers(balanced bool) (classic, targetGroups []string) {
	if !balanced {
		return nil, nil
	}
	return e.Env.LoadBalancers.Classic, e.Env.LoadBalancers.TargetGroups
}

// readGroup reads a group with its instances' state in every balancer the
// environment names.
func (e *Executor) readGroup(ctx context.Context, gp plan.GroupPlan) (*cloud.Group, error) {
	classic, tgs := e.balancers(gp.Balanced)
	return e.Cloud.Group(ctx, gp.Name, classic, tgs)
}

// snapshot records every group as it is before anything changes.
func (e *Executor) snapshot(ctx context.Context, j *Journal) error {
	for _, gp := range j.Plan.Groups {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return err
		}
		snap := GroupSnapshot{
			MinSize: g.MinSize, MaxSize: g.MaxSize, DesiredCapacity: g.DesiredCapacity,
			LaunchConfiguration: g.LaunchConfiguration, LaunchTemplate: g.LaunchTemplate,
			TerminationPolicies: g.TerminationPolicies, CommitTag: g.Tags[plan.TagCommit],
		}
		for _, inst := range g.Instances {
			snap.Instances = append(snap.Instances, inst.ID)
		}
		j.Before[gp.Name] = snap
	}
	return nil
}

// serving reports whether an instance takes traffic: InService and healthy
// in its group and, for a balanced group, healthy in every balancer.
func (e *Executor) serving(inst cloud.Instance, balanced bool) bool {
	if inst.LifecycleState != "InService" || (inst.HealthStatus != "" && inst.HealthStatus != "Healthy") {
		return false
	}
	classic, tgs := e.balancers(balanced)
	for _, b := range append(slices.Clone(classic), tgs...) {
		// An instance a balancer does not know yet (the classic API's
		// InvalidInstance) is simply not healthy yet.
		if h, ok := inst.Balancers[b]; !ok || !h.Healthy {
			return false
		}
	}
	return true
}

// newInstances returns the group's instances that were not there before
// the deploy, skipping those on their way out and those launched from the
// launch source the group had before it (one AZRebalance launched just
// after the snapshot, before the deploy suspended it, say): they run the
// old version.
func newInstances(j *Journal, g *cloud.Group) []cloud.Instance {
	before := j.Before[g.Name]
	var out []cloud.Instance
	for _, inst := range g.Instances {
		if !slices.Contains(before.Instances, inst.ID) && !leaving(inst) && !fromSource(inst, before) {
			out = append(out, inst)
		}
	}
	return out
}

// fromSource reports whether inst was launched from the launch source the
// snapshot recorded, as far as it names one exactly (a version number, not
// $Latest or $Default).
func fromSource(inst cloud.Instance, s GroupSnapshot) bool {
	switch {
	case s.LaunchConfiguration != "":
		return inst.LaunchConfiguration == s.LaunchConfiguration
	case s.LaunchTemplate != nil && inst.LaunchTemplate != nil:
		return inst.LaunchTemplate.ID == s.LaunchTemplate.ID && inst.LaunchTemplate.Version == s.LaunchTemplate.Version &&
			!strings.HasPrefix(s.LaunchTemplate.Version, "$")
	}
	return false
}

// oldInstances returns the group's instances of the old version: those
// not leaving that newInstances does not count.
func oldInstances(j *Journal, g *cloud.Group) []cloud.Instance {
	fresh := ids(newInstances(j, g))
	var out []cloud.Instance
	for _, inst := range g.Instances {
		if !leaving(inst) && !slices.Contains(fresh, inst.ID) {
			out = append(out, inst)
		}
	}
	return out
}

// leaving reports an instance being terminated or detached.
func leaving(inst cloud.Instance) bool {
	switch inst.LifecycleState {
	case "Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated", "Detaching", "Detached":
		return true
	}
	return false
}

func ids(insts []cloud.Instance) []string {
	out := make([]string, len(insts))
	for i, inst := range insts {
		out[i] = inst.ID
	}
	return out
}

func hosts(insts []cloud.Instance) []Host {
	out := make([]Host, 0, len(insts))
	for _, inst := range insts {
		out = append(out, Host{InstanceID: inst.ID, Address: inst.PrivateIP})
	}
	return out
}

// inService returns the group's InService instances, sorted by id.
func inService(g *cloud.Group) []cloud.Instance {
	var out []cloud.Instance
	for _, inst := range g.Instances {
		if inst.LifecycleState == "InService" {
			out = append(out, inst)
		}
	}
	return out
}

// webGroups returns the plan's balanced groups.
func webGroups(j *Journal) []plan.GroupPlan {
	var out []plan.GroupPlan
	for _, g := range j.Plan.Groups {
		if g.Balanced || g.Role == string(roles.Web) {
			out = append(out, g)
		}
	}
	return out
}

package execute

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// rollback returns every group to what the journal recorded before the
// deploy: the old launch source and tag, only old-version instances serving,
// the old sizes, the page down and every process resumed. It runs with its
// own bounded context when the deploy's has ended, so an interrupted agent
// still leaves the group whole.
func (e *Executor) rollback(ctx context.Context, j *Journal) error {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), e.rollbackLimit())
		defer cancel()
	}
	log := e.log().With("env", j.Plan.Environment, "deploy", j.DeployID)
	log.Warn("rolling back")
	var errs []error
	// AZRebalance and Launch are held (suspended now if the deploy had
	// already resumed them, or never suspended them) while the groups are
	// put back. Evening out zones launches an instance above desired and
	// then terminates one, under the rollback's feet. And a group whose
	// desired capacity the deploy had raised would launch the difference
	// the moment Launch resumed, before its old launch source and sizes
	// are back; restoring desired then makes the group terminate by its
	// own policy, which picks the old instances first. rollbackGroup
	// resumes Launch once its group is restored; finish resumes the rest.
	held := []string{cloud.ProcessAZRebalance, cloud.ProcessLaunch}
	for _, gp := range j.Plan.Groups {
		// A process a person suspended before the deploy is already held
		// and stays so: suspending it here would record it as Ferry's,
		// and finish would resume it.
		procs := slices.DeleteFunc(slices.Clone(held), func(p string) bool { return slices.Contains(gp.KeptSuspended, p) })
		if len(procs) == 0 {
			continue
		}
		if err := e.suspend(ctx, j, gp.Name, procs); err != nil {
			errs = append(errs, err)
		}
	}
	// Instances launched from here on must join the balancers: resume
	// everything else first.
	for _, group := range sortedKeys(j.Suspended) {
		procs := slices.DeleteFunc(slices.Clone(j.Suspended[group]), func(p string) bool { return slices.Contains(held, p) })
		if len(procs) == 0 {
			continue
		}
		if err := e.resume(ctx, j, group, procs); err != nil {
			errs = append(errs, err)
		}
	}
	for _, gp := range j.Plan.Groups {
		if err := e.rollbackGroup(ctx, j, gp); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", gp.Name, err))
		}
	}
	if j.PageOn {
		if err := e.pageOffAll(ctx, j); err != nil {
			errs = append(errs, fmt.Errorf("upgrade page: %w", err))
		} else {
			j.PageOn = false
		}
	}
	if err := e.save(j); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (e *Executor) rollbackLimit() time.Duration {
	t := e.Env.Policy.Timeouts
	return t.HealthyInBalancers.Std()*2 + t.Drain.Std() + t.Command.Std()
}

func (e *Executor) rollbackGroup(ctx context.Context, j *Journal, gp plan.GroupPlan) error {
	before, ok := j.Before[gp.Name]
	if !ok {
		return nil
	}
	log := e.log().With("group", gp.Name)
	// Old instances a batch had detached when the deploy stopped are
	// terminated first: they are out of the group, and the group's old
	// size is restored below with instances it launches.
	if err := e.endDetached(ctx, j, gp, nil, e.Env.Policy.Timeouts.Drain.Std()); err != nil {
		return err
	}
	restore := cloud.GroupUpdate{LaunchConfiguration: before.LaunchConfiguration, LaunchTemplate: before.LaunchTemplate,
		TerminationPolicies: before.TerminationPolicies}
	if err := e.Cloud.UpdateGroup(ctx, gp.Name, restore); err != nil {
		return err
	}
	if err := e.Cloud.TagGroup(ctx, gp.Name, map[string]string{plan.TagCommit: before.CommitTag}); err != nil {
		return err
	}

	g, err := e.readGroup(ctx, gp)
	if err != nil {
		return err
	}
	newer := ids(newInstances(j, g))
	oldLeft := len(oldInstances(j, g))
	// New instances beyond the old size go away outright; those that
	// replaced old ones (a serial deploy's finished batches) are replaced
	// again, one at a time, by instances of the old version.
	surplus := max(0, min(len(newer), oldLeft+len(newer)-before.DesiredCapacity))
	log.Info("removing new instances", "terminate", newer[:surplus], "replace", newer[surplus:])
	if surplus > 0 {
		if err := e.terminate(ctx, j, gp.Name, newer[:surplus], e.Env.Policy.Timeouts.Drain.Std()); err != nil {
			return err
		}
	}
	// The group's own sizes, while Launch is held: nothing launches for a
	// desired capacity the deploy raised. Then Launch may resume: the
	// group launches (the old version) only what it lacks.
	sizes := cloud.GroupUpdate{MinSize: &before.MinSize, MaxSize: &before.MaxSize, DesiredCapacity: &before.DesiredCapacity}
	if err := e.Cloud.UpdateGroup(ctx, gp.Name, sizes); err != nil {
		return err
	}
	if err := e.resume(ctx, j, gp.Name, []string{cloud.ProcessLaunch}); err != nil {
		return err
	}
	for _, id := range newer[surplus:] {
		if err := e.replaceWithOld(ctx, j, gp, id); err != nil {
			return err
		}
	}
	// replaceWithOld may have raised MaxSize to surge.
	if err := e.Cloud.UpdateGroup(ctx, gp.Name, sizes); err != nil {
		return err
	}
	if err := e.reregisterOld(ctx, j, gp); err != nil {
		return err
	}
	return e.waitFor(ctx, fmt.Sprintf("%s back to %d serving instance(s)", gp.Name, before.DesiredCapacity),
		e.Env.Policy.Timeouts.HealthyInBalancers.Std(), func(ctx context.Context) (bool, string, error) {
			g, err := e.readGroup(ctx, gp)
			if err != nil {
				return false, "", err
			}
			n := 0
			for _, inst := range g.Instances {
				if e.serving(inst, gp.Balanced) {
					n++
				}
			}
			return n >= before.DesiredCapacity, fmt.Sprintf("serving %d/%d", n, before.DesiredCapacity), nil
		})
}

// reregisterOld puts the old-version instances still in the group back in
// its balancers. A batch deregisters its old instances before it detaches
// them: a deploy stopped between the two leaves them in the group,
// InService and out of every balancer, and Auto Scaling registers only
// the instances it launches. So does an old instance that went InService
// while AddToLoadBalancer was suspended, whether the snapshot saw it or
// AZRebalance launched it just after. Registering an instance a balancer
// has is a no-op.
func (e *Executor) reregisterOld(ctx context.Context, j *Journal, gp plan.GroupPlan) error {
	classic, tgs := e.balancers(gp.Balanced)
	if len(classic) == 0 && len(tgs) == 0 {
		return nil
	}
	g, err := e.readGroup(ctx, gp)
	if err != nil {
		return err
	}
	var old []string
	for _, inst := range oldInstances(j, g) {
		if inst.LifecycleState == "InService" && !e.serving(inst, gp.Balanced) {
			old = append(old, inst.ID)
		}
	}
	if len(old) == 0 {
		return nil
	}
	e.log().Info("registering old instances out of the balancers again", "group", gp.Name, "instances", old)
	return e.Cloud.Register(ctx, classic, tgs, old)
}

// replaceWithOld surges one old-version instance in, then removes a new one.
func (e *Executor) replaceWithOld(ctx context.Context, j *Journal, gp plan.GroupPlan, id string) error {
	g, err := e.readGroup(ctx, gp)
	if err != nil {
		return err
	}
	known := ids(g.Instances)
	desired := g.DesiredCapacity + 1
	u := cloud.GroupUpdate{DesiredCapacity: &desired}
	if desired > g.MaxSize {
		u.MaxSize = &desired
	}
	if err := e.Cloud.UpdateGroup(ctx, gp.Name, u); err != nil {
		return err
	}
	err = e.waitFor(ctx, "an old-version instance to replace "+id, e.Env.Policy.Timeouts.HealthyInBalancers.Std(),
		func(ctx context.Context) (bool, string, error) {
			g, err := e.readGroup(ctx, gp)
			if err != nil {
				return false, "", err
			}
			for _, inst := range g.Instances {
				if !slices.Contains(known, inst.ID) && e.serving(inst, gp.Balanced) {
					return true, inst.ID + " serving", nil
				}
			}
			return false, "not yet", nil
		})
	if err != nil {
		return err
	}
	return e.terminate(ctx, j, gp.Name, []string{id}, e.Env.Policy.Timeouts.Drain.Std())
}

// pageOffAll removes the upgrade page from every web server.
func (e *Executor) pageOffAll(ctx context.Context, j *Journal) error {
	var all []cloud.Instance
	for _, gp := range webGroups(j) {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return err
		}
		all = append(all, inService(g)...)
	}
	return e.runHook(ctx, j, roles.Web, roles.UpgradePageOff, all)
}

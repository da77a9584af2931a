package execute

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// step carries out one step. Every handler can run again after a crash
// without harm: it looks at what is there before it changes anything.
func (e *Executor) step(ctx context.Context, j *Journal, s plan.Step) error {
	switch s.Name {
	case plan.StepBakeImage:
		return e.bakeImage(ctx, j, s.Commit)
	case plan.StepPrepareLaunchSource:
		if j.Image == "" && s.Image != "" {
			j.Image = s.Image
		}
		return e.prepareLaunchSource(ctx, j, *s.LaunchSource, s.Commit)
	case plan.StepSuspendProcesses:
		return e.suspend(ctx, j, s.Group, s.Processes)
	case plan.StepResumeProcesses:
		return e.resume(ctx, j, s.Group, s.Processes)
	case plan.StepInstallLaunchSource:
		return e.installLaunchSource(ctx, j, s.Group, s.Commit)
	case plan.StepRaiseCapacity:
		return e.raiseCapacity(ctx, j, s)
	case plan.StepRestoreCapacity:
		return e.setCapacity(ctx, s)
	case plan.StepWaitInService:
		return e.waitInService(ctx, j, s)
	case plan.StepUpgradePageOn:
		j.PageOn = true
		if err := e.save(j); err != nil {
			return err
		}
		return e.runOnWeb(ctx, j, roles.UpgradePageOn, false)
	case plan.StepUpgradePageOff:
		if err := e.runOnWeb(ctx, j, roles.UpgradePageOff, true); err != nil {
			return err
		}
		j.PageOn = false
		return nil
	case plan.StepWorkerDeploy:
		return e.workerDeploy(ctx, j)
	case plan.StepRegisterInstances:
		return e.registerNew(ctx, j, s.Group)
	case plan.StepWaitHealthy:
		return e.waitNewServing(ctx, j, s)
	case plan.StepTerminateOld:
		return e.terminateOld(ctx, j, s)
	case plan.StepReplaceBatch:
		return e.replaceBatch(ctx, j, s)
	case plan.StepPostDeploy:
		return e.postDeploy(ctx, j)
	}
	return fmt.Errorf("unknown step %q", s.Name)
}

func (e *Executor) suspend(ctx context.Context, j *Journal, group string, procs []string) error {
	// Record first: a crash between the call and the save must still
	// resume them.
	j.Suspended[group] = union(j.Suspended[group], procs)
	if err := e.save(j); err != nil {
		return err
	}
	return e.Cloud.SuspendProcesses(ctx, group, procs)
}

func (e *Executor) resume(ctx context.Context, j *Journal, group string, procs []string) error {
	if err := e.Cloud.ResumeProcesses(ctx, group, procs); err != nil {
		return err
	}
	j.Suspended[group] = slices.DeleteFunc(j.Suspended[group], func(p string) bool { return slices.Contains(procs, p) })
	if len(j.Suspended[group]) == 0 {
		delete(j.Suspended, group)
	}
	return e.save(j)
}

// resumeAll resumes every process Ferry suspended and has not resumed.
func (e *Executor) resumeAll(ctx context.Context, j *Journal) error {
	var errs []error
	for _, group := range sortedKeys(j.Suspended) {
		if err := e.resume(ctx, j, group, j.Suspended[group]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// bakeImage bakes the commit's image (or finds it baked) and journals it.
// Run again after a crash, the bake cleans up what the killed one left and
// bakes anew; an image it had finished is reused.
func (e *Executor) bakeImage(ctx context.Context, j *Journal, c commit.ID) error {
	img, err := e.image(ctx, c)
	if err != nil {
		return err
	}
	j.Image = img
	return e.save(j)
}

// image is the image new instances of commit c start from: with
// launch.image = "bake" the commit's baked image (baked now unless it
// exists); otherwise launch.image_id (empty: the copied source's).
func (e *Executor) image(ctx context.Context, c commit.ID) (string, error) {
	if e.Env.Launch.Image != config.LaunchImageBake {
		return e.Env.Launch.ImageID, nil
	}
	if e.Baker == nil {
		return "", fmt.Errorf("launch.image = %q, but this executor has no baker", config.LaunchImageBake)
	}
	return e.Baker.Bake(ctx, c)
}

// prepareLaunchSource creates (or finds, when prepared ahead of time) the
// launch source ls of commit for every group.
func (e *Executor) prepareLaunchSource(ctx context.Context, j *Journal, ls plan.LaunchSource, c commit.ID) error {
	if j.Image == "" && e.Env.Launch.Image == config.LaunchImageBake {
		// A plan made without a bake step (the image existed then).
		img, err := e.image(ctx, c)
		if err != nil {
			return err
		}
		j.Image = img
	}
	for _, gp := range j.Plan.Groups {
		if _, done := j.Sources[gp.Name]; done {
			continue
		}
		before := j.Before[gp.Name]
		src, err := e.launchSource(ctx, ls, c, j.Image, gp.Name, gp.Role, len(j.Plan.Groups) > 1,
			Source{LaunchConfiguration: before.LaunchConfiguration, LaunchTemplate: before.LaunchTemplate})
		if err != nil {
			return err
		}
		j.Sources[gp.Name] = src
		e.log().Info("launch source ready", "group", gp.Name, "launch_configuration", src.LaunchConfiguration, "launch_template", src.LaunchTemplate)
		if err := e.save(j); err != nil {
			return err
		}
	}
	return nil
}

// launchSource creates, or finds, the launch source of commit for one group
// whose current source is current. A source named ls.Name that already
// exists is reused (a step run again after a crash, or ferry prepare);
// with ls.Existing it must exist. Launch configurations get the role as a
// suffix when the environment has several groups: each group's is copied
// from its own. A new source names image (empty: launch.image_id, or the
// copied source's).
func (e *Executor) launchSource(ctx context.Context, ls plan.LaunchSource, c commit.ID, image, group, role string, multi bool, current Source) (Source, error) {
	var src Source
	switch ls.Kind {
	case config.LaunchConfiguration:
		if current.LaunchConfiguration == "" {
			return src, fmt.Errorf("group %s does not use a launch configuration; set launch.kind = %q", group, config.LaunchTemplate)
		}
		name := ls.Name
		if multi {
			name = plan.RoleLaunchConfigurationName(name, role)
		}
		exists, err := e.Cloud.LaunchConfigurationExists(ctx, name)
		if err != nil {
			return src, err
		}
		if !exists && ls.Existing {
			return src, fmt.Errorf("launch configuration %s (--launch-config) does not exist", name)
		}
		if !exists {
			overrides, err := e.overrides(c, image)
			if err != nil {
				return src, err
			}
			if err := e.Cloud.CreateLaunchConfiguration(ctx, current.LaunchConfiguration, name, overrides); err != nil {
				return src, err
			}
		}
		src.LaunchConfiguration = name
	default:
		base := current.LaunchTemplate
		if base == nil {
			return src, fmt.Errorf("group %s does not use a launch template; set launch.kind = %q", group, config.LaunchConfiguration)
		}
		if t := e.Env.Launch.Template; t != "" && t != base.Name {
			base = &cloud.LaunchTemplateRef{Name: t, Version: "$Default"}
		}
		ref, err := e.Cloud.FindLaunchTemplateVersion(ctx, *base, ls.Name)
		switch {
		case err == nil:
		case errors.Is(err, cloud.ErrNotFound) && ls.Existing:
			return src, fmt.Errorf("--launch-config %s: %w", ls.Name, err)
		case errors.Is(err, cloud.ErrNotFound):
			overrides, err := e.overrides(c, image)
			if err != nil {
				return src, err
			}
			if ref, err = e.Cloud.CreateLaunchTemplateVersion(ctx, *base, ls.Name, overrides); err != nil {
				return src, err
			}
		default:
			return src, err
		}
		src.LaunchTemplate = &ref
	}
	return src, nil
}

func (e *Executor) overrides(c commit.ID, image string) (cloud.LaunchOverrides, error) {
	l := e.Env.Launch
	if image == "" {
		image = l.ImageID
	}
	o := cloud.LaunchOverrides{
		ImageID: image, InstanceType: l.InstanceType, SecurityGroups: l.SecurityGroups,
		KeyName: l.KeyName, IAMInstanceProfile: l.IAMInstanceProfile,
	}
	if l.HTTPTokens != "" {
		// IMDSv2 by default: the instance profile's credentials, which
		// read the environment's secrets at boot, are not for IMDSv1.
		o.Metadata = &cloud.MetadataOptions{HTTPTokens: l.HTTPTokens, HopLimit: int32(max(l.MetadataHopLimit, 1)),
			// An environment env create built bakes one image for its
			// groups' roles: each instance starts its own, its ferry:role
			// tag read from its metadata at boot (docs/roles.md). Kept on
			// whatever template the group had, so a new image never runs
			// from a version without it.
			InstanceTags: e.Env.Create != nil}
	}
	ud, err := e.userData(c)
	if err != nil {
		return o, fmt.Errorf("render user data: %w", err)
	}
	o.UserData = ud
	return o, nil
}

// installLaunchSource points the group at its new launch source and tags
// it with the commit that source runs.
func (e *Executor) installLaunchSource(ctx context.Context, j *Journal, group string, c commit.ID) error {
	src, ok := j.Sources[group]
	if !ok {
		return fmt.Errorf("no launch source prepared for %s", group)
	}
	u := cloud.GroupUpdate{LaunchConfiguration: src.LaunchConfiguration, LaunchTemplate: src.LaunchTemplate}
	if err := e.Cloud.UpdateGroup(ctx, group, u); err != nil {
		return err
	}
	return e.Cloud.TagGroup(ctx, group, map[string]string{plan.TagCommit: c.String()})
}

func (e *Executor) setCapacity(ctx context.Context, s plan.Step) error {
	u := cloud.GroupUpdate{MinSize: s.Sizes.MinSize, MaxSize: s.Sizes.MaxSize, DesiredCapacity: s.Sizes.Desired}
	return e.Cloud.UpdateGroup(ctx, s.Group, u)
}

// raiseCapacity makes room for a full deploy's new set beside the old
// instances the group has now, not only beside its desired capacity. A
// group can hold more than desired: AZRebalance launches before it
// terminates [auto-scaling-benefits], as after a serial deploy whose
// batches left the zones uneven. Raised to the plan's doubled desired
// capacity, such a group would count the extra old instance as one of the
// new set, launch one new instance too few, and the wait for the new set
// would time out. MaxSize follows when it must (restore-capacity, or a
// rollback, puts it back).
func (e *Executor) raiseCapacity(ctx context.Context, j *Journal, s plan.Step) error {
	if s.Sizes.Desired == nil {
		return e.setCapacity(ctx, s) // a serial deploy's room above MaxSize
	}
	gp, g, err := e.plannedGroup(ctx, j, s.Group)
	if err != nil {
		return err
	}
	old := len(oldInstances(j, g))
	desired := max(*s.Sizes.Desired, old+gp.Capacity.DesiredBefore)
	u := cloud.GroupUpdate{DesiredCapacity: &desired, MaxSize: s.Sizes.MaxSize}
	if desired != *s.Sizes.Desired {
		e.log().Info("raising desired capacity above the plan's: the group holds more old instances than its desired capacity",
			"group", gp.Name, "old", old, "planned", *s.Sizes.Desired, "desired", desired)
	}
	if maxSize := max(g.MaxSize, ptrOr(s.Sizes.MaxSize, 0)); desired > maxSize {
		u.MaxSize = &desired
	}
	return e.Cloud.UpdateGroup(ctx, gp.Name, u)
}

func ptrOr(p *int, v int) int {
	if p == nil {
		return v
	}
	return *p
}

func (e *Executor) waitInService(ctx context.Context, j *Journal, s plan.Step) error {
	gp, err := groupPlan(j, s.Group)
	if err != nil {
		return err
	}
	want := s.Count
	return e.waitFor(ctx, fmt.Sprintf("%d new instance(s) of %s InService", want, s.Group), s.Timeout.Std(),
		func(ctx context.Context) (bool, string, error) {
			g, err := e.readGroup(ctx, gp)
			if err != nil {
				return false, "", err
			}
			n := len(inService(&cloud.Group{Instances: newInstances(j, g)}))
			return n >= want, fmt.Sprintf("%d/%d InService", n, want), nil
		})
}

// runOnWeb runs a hook on the web servers: every InService instance of the
// balanced groups (old and new), or only the new ones.
func (e *Executor) runOnWeb(ctx context.Context, j *Journal, hook roles.Hook, onlyNew bool) error {
	var all []cloud.Instance
	for _, gp := range webGroups(j) {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return err
		}
		insts := inService(g)
		if onlyNew {
			insts = inService(&cloud.Group{Instances: newInstances(j, g)})
		}
		all = append(all, insts...)
	}
	return e.runHook(ctx, j, roles.Web, hook, all)
}

func (e *Executor) runHook(ctx context.Context, j *Journal, role roles.Role, hook roles.Hook, insts []cloud.Instance) error {
	if e.Hooks == nil || len(insts) == 0 {
		return nil
	}
	// Not bounded here by timeouts.command: that bounds each command, and
	// a hook runs several in a row (Hooks bounds them).
	return e.Hooks.RunHook(ctx, HookRun{
		DeployID: j.DeployID, Env: j.Plan.Environment, Commit: j.Plan.Target.Commit,
		Role: role, Hook: hook, Hosts: hosts(insts),
	})
}

// workerDeploy runs the worker's deploy step on exactly one instance: a new
// instance of the worker group when there is one, an existing worker
// otherwise, and with no worker group, one new web instance (it carries
// the same code).
func (e *Executor) workerDeploy(ctx context.Context, j *Journal) error {
	pick := func(gp plan.GroupPlan) (*cloud.Instance, error) {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return nil, err
		}
		candidates := inService(&cloud.Group{Instances: newInstances(j, g)})
		if len(candidates) == 0 {
			candidates = inService(g)
		}
		if len(candidates) == 0 {
			return nil, nil
		}
		return &candidates[0], nil
	}
	var host *cloud.Instance
	var err error
	for _, gp := range j.Plan.Groups {
		if gp.Role == string(roles.Worker) {
			if host, err = pick(gp); err != nil {
				return err
			}
		}
	}
	// No worker group: the standalone worker the environment lists (the
	// seed's one worker server), the first of them, before any web
	// instance, whose worker hooks would stop services it runs.
	if hasWorker := slices.ContainsFunc(j.Plan.Groups, func(gp plan.GroupPlan) bool { return gp.Role == string(roles.Worker) }); !hasWorker {
		if hosts := e.Env.Hosts[string(roles.Worker)]; len(hosts) > 0 {
			host = &cloud.Instance{ID: hosts[0], PrivateIP: hosts[0]}
		}
	}
	for _, gp := range webGroups(j) {
		if host != nil {
			break
		}
		if host, err = pick(gp); err != nil {
			return err
		}
	}
	if host == nil {
		return errors.New("no InService instance to run the worker's deploy step on")
	}
	e.log().Info("worker deploy step", "instance", host.ID)
	return e.runHook(ctx, j, roles.Worker, roles.Deploy, []cloud.Instance{*host})
}

func (e *Executor) registerNew(ctx context.Context, j *Journal, group string) error {
	gp, g, err := e.plannedGroup(ctx, j, group)
	if err != nil {
		return err
	}
	classic, tgs := e.balancers(gp.Balanced)
	return e.Cloud.Register(ctx, classic, tgs, ids(newInstances(j, g)))
}

func (e *Executor) waitNewServing(ctx context.Context, j *Journal, s plan.Step) error {
	gp, err := groupPlan(j, s.Group)
	if err != nil {
		return err
	}
	want := s.Count
	return e.waitFor(ctx, fmt.Sprintf("%d new instance(s) of %s healthy in every balancer", want, s.Group), s.Timeout.Std(),
		func(ctx context.Context) (bool, string, error) {
			g, err := e.readGroup(ctx, gp)
			if err != nil {
				return false, "", err
			}
			n := 0
			for _, inst := range newInstances(j, g) {
				if e.serving(inst, gp.Balanced) {
					n++
				}
			}
			return n >= want, fmt.Sprintf("healthy %d/%d", n, want), nil
		})
}

// terminateOld removes every old instance: those the plan listed and any
// other of the old version the group holds (AZRebalance launches before
// it terminates, and may have launched after the plan was made).
func (e *Executor) terminateOld(ctx context.Context, j *Journal, s plan.Step) error {
	_, g, err := e.plannedGroup(ctx, j, s.Group)
	if err != nil {
		return err
	}
	return e.terminate(ctx, j, s.Group, union(s.Instances, ids(oldInstances(j, g))), s.Timeout.Std())
}

// terminate takes instances out of the balancers and the group,
// decrementing its capacity, and terminates them once they have drained.
// Calls are per batch, not per instance: DetachInstances takes 20 ids and
// TerminateInstances 1000, where TerminateInstanceInAutoScalingGroup
// takes one (and Auto Scaling's calls share one rate limit per account
// and region).
func (e *Executor) terminate(ctx context.Context, j *Journal, group string, victims []string, limit time.Duration) error {
	gp, g, err := e.plannedGroup(ctx, j, group)
	if err != nil {
		return err
	}
	present := map[string]cloud.Instance{}
	for _, inst := range g.Instances {
		present[inst.ID] = inst
	}
	var live []cloud.Instance
	for _, id := range victims {
		if inst, ok := present[id]; ok && !leaving(inst) {
			live = append(live, inst)
		}
	}
	classic, tgs := e.balancers(gp.Balanced)
	if err := e.Cloud.Deregister(ctx, classic, tgs, ids(live)); err != nil {
		return err
	}
	if err := e.detach(ctx, j, group, live, true); err != nil {
		return err
	}
	return e.endDetached(ctx, j, gp, victims, limit)
}

// detach asks the group to detach insts, recording them in the journal
// first (see Journal.Detached). AWS detaches only InService instances
// [ec2-auto-scaling-detach-attach-instances]: the group terminates the
// others (new instances still booting, when a rollback removes them) one
// call each. So it does when the journal cannot be written: slower, but
// the group then owns them to the end and nothing needs recording.
func (e *Executor) detach(ctx context.Context, j *Journal, group string, insts []cloud.Instance, decrement bool) error {
	var ids, others []string
	for _, inst := range insts {
		if inst.LifecycleState == "InService" {
			ids = append(ids, inst.ID)
		} else {
			others = append(others, inst.ID)
		}
	}
	if len(ids) > 0 {
		if j.Detached == nil {
			j.Detached = map[string][]string{}
		}
		before := j.Detached[group]
		j.Detached[group] = union(before, ids)
		if err := e.save(j); err != nil {
			j.Detached[group] = before
			if len(before) == 0 {
				delete(j.Detached, group)
			}
			e.log().Warn("terminating through the group, one instance a call: the journal cannot record detached instances",
				"group", group, "instances", len(ids), "err", err)
			others, ids = append(others, ids...), nil
		}
	}
	for _, id := range others {
		if err := e.Cloud.TerminateInstance(ctx, id, decrement); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	gp, err := groupPlan(j, group)
	if err != nil {
		return err
	}
	// A call AWS carried out whose answer was lost is retried by the SDK
	// and refused (the instances are no longer InService, or no longer in
	// the group): what counts is whether they are on their way out. Those
	// still serving are asked for again, a few times at most.
	for attempt := 1; ; attempt++ {
		err := e.Cloud.DetachInstances(ctx, group, ids, decrement)
		if err == nil {
			return nil
		}
		g, rerr := e.readGroup(ctx, gp)
		if rerr != nil || attempt == 3 {
			return err
		}
		var left []string
		for _, inst := range g.Instances {
			if slices.Contains(ids, inst.ID) && !leaving(inst) {
				left = append(left, inst.ID)
			}
		}
		if len(left) == len(ids) {
			return err
		}
		e.log().Info("detach partly done; asking again for the rest", "group", group, "left", len(left), "err", err)
		if ids = left; len(ids) == 0 {
			return nil
		}
	}
}

// endDetached finishes what detach started for a group, after a crash
// too: it waits until the instances the journal lists, and those of
// also, have left the group (the balancers drain them meanwhile), then
// terminates the listed ones and forgets them. A listed one still serving
// in the group was never detached (the call failed or never went out): it
// is the group's again, and is dropped from the list.
func (e *Executor) endDetached(ctx context.Context, j *Journal, gp plan.GroupPlan, also []string, limit time.Duration) error {
	pending := j.Detached[gp.Name]
	if len(pending) > 0 {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return err
		}
		for _, inst := range g.Instances {
			if slices.Contains(pending, inst.ID) && !leaving(inst) {
				pending = slices.DeleteFunc(pending, func(id string) bool { return id == inst.ID })
			}
		}
		j.Detached[gp.Name] = pending
	}
	gone := union(pending, also)
	if len(gone) == 0 {
		return nil
	}
	err := e.waitFor(ctx, fmt.Sprintf("%d instance(s) out of %s", len(gone), gp.Name), limit,
		func(ctx context.Context) (bool, string, error) {
			g, err := e.readGroup(ctx, gp)
			if err != nil {
				return false, "", err
			}
			left := 0
			for _, inst := range g.Instances {
				if slices.Contains(gone, inst.ID) {
					left++
				}
			}
			return left == 0, fmt.Sprintf("%d left", left), nil
		})
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		delete(j.Detached, gp.Name)
		return nil
	}
	if err := e.Cloud.TerminateInstances(ctx, pending); err != nil {
		return err
	}
	e.log().Info("terminated detached instances", "group", gp.Name, "instances", len(pending))
	delete(j.Detached, gp.Name)
	return e.save(j)
}

// endAllDetached runs endDetached for every group with instances the
// journal lists as detached. What it could not terminate is named in the
// error: those instances run outside any group until someone does.
func (e *Executor) endAllDetached(ctx context.Context, j *Journal) error {
	var errs []error
	for _, group := range sortedKeys(j.Detached) {
		gp, err := groupPlan(j, group)
		if err == nil {
			err = e.endDetached(ctx, j, gp, nil, e.Env.Policy.Timeouts.Drain.Std())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("instances %s detached from %s may still be running; terminate them: %w",
				strings.Join(j.Detached[group], ", "), group, err))
		}
	}
	return errors.Join(errs...)
}

// replaceBatch replaces a batch of old instances. In surge mode it adds the
// replacements first and removes the old ones once the new ones serve, so
// capacity never dips; in replace-unhealthy mode (the seed's) it marks the
// old ones unhealthy and waits for the group to replace them.
func (e *Executor) replaceBatch(ctx context.Context, j *Journal, s plan.Step) error {
	gp, g, err := e.plannedGroup(ctx, j, s.Group)
	if err != nil {
		return err
	}
	limit := s.Timeout.Std()
	if s.Mode == config.SerialReplaceUnhealthy {
		var batchInsts []cloud.Instance
		for _, id := range s.Instances {
			for _, inst := range g.Instances {
				if inst.ID == id && !leaving(inst) {
					batchInsts = append(batchInsts, inst)
				}
			}
		}
		batch := ids(batchInsts)
		if len(batch) == 0 {
			// Done before a restart, but for terminating what it detached.
			return e.endDetached(ctx, j, gp, nil, e.Env.Policy.Timeouts.Drain.Std())
		}
		// Detached without decrementing, the batch leaves the balancers
		// and the group launches its replacements, as for instances
		// marked unhealthy, but in one call per 20 instances instead of
		// one SetInstanceHealth each; Ferry terminates them once drained.
		classic, tgs := e.balancers(gp.Balanced)
		if err := e.Cloud.Deregister(ctx, classic, tgs, batch); err != nil {
			return err
		}
		if err := e.detach(ctx, j, gp.Name, batchInsts, false); err != nil {
			return err
		}
		if err := e.waitFresh(ctx, gp, ids(g.Instances), len(batch), limit); err != nil {
			return err
		}
		return e.endDetached(ctx, j, gp, nil, e.Env.Policy.Timeouts.Drain.Std())
	}
	// Surge mode. The step replaces as many of the group's old instances
	// as its batch lists, but which ones is chosen once the replacements
	// are up, by the zones they landed in (zoneVictims). One the plan
	// listed may be gone meanwhile (AZRebalance terminated it): the batch
	// still replaces old instances while the group has any, so the
	// batches that do nothing are the last ones, not the first.
	left := oldLeft(g, gp)
	todo := min(len(s.Instances), len(left))
	if todo == 0 {
		// Done before a restart, but for terminating what it detached.
		e.log().Info("no old instance left to replace", "group", gp.Name, "planned", strings.Join(s.Instances, ", "))
		return e.endDetached(ctx, j, gp, nil, e.Env.Policy.Timeouts.Drain.Std())
	}
	if err := e.surge(ctx, gp, g, todo, limit); err != nil {
		return err
	}
	if g, err = e.readGroup(ctx, gp); err != nil {
		return err
	}
	left = oldLeft(g, gp)
	victims := zoneVictims(active(g), left, todo)
	if err := e.terminate(ctx, j, gp.Name, victims, e.Env.Policy.Timeouts.Drain.Std()); err != nil {
		return err
	}
	if len(left) > len(victims) {
		return nil
	}
	return e.settleZones(ctx, j, gp, limit)
}

// settleZones ends a group's serial deploy with its zones balanced: a
// batch of several replacements can land unevenly whichever old instances
// it removes (AWS places each in a least used zone, any of equal ones).
// As AZRebalance would, but before it is resumed, it surges one instance
// (into a least used zone) and removes one from the most used zone, until
// no zone holds more than one instance above another.
func (e *Executor) settleZones(ctx context.Context, j *Journal, gp plan.GroupPlan, limit time.Duration) error {
	for {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return err
		}
		if crowded(g.Zones, active(g)) == "" {
			return nil
		}
		if err := e.surge(ctx, gp, g, 1, limit); err != nil {
			return err
		}
		if g, err = e.readGroup(ctx, gp); err != nil {
			return err
		}
		insts := active(g)
		z := crowded(g.Zones, insts)
		var victim []string
		for _, inst := range insts {
			if inst.AvailabilityZone == z && e.serving(inst, gp.Balanced) {
				victim = []string{inst.ID}
				break
			}
		}
		if victim == nil {
			return nil // the surge evened the zones out
		}
		e.log().Info("balancing zones after the last batch", "group", gp.Name, "zone", z, "instance", victim[0])
		if err := e.terminate(ctx, j, gp.Name, victim, e.Env.Policy.Timeouts.Drain.Std()); err != nil {
			return err
		}
	}
}

// surge raises the group's desired capacity by n and waits until n
// instances it did not have serve. It surges from the instances the group
// has, not only from desired: a group caught above desired (AZRebalance
// launches first and terminates after) would otherwise launch nothing, and
// the wait would time out. MaxSize makes room when it must.
func (e *Executor) surge(ctx context.Context, gp plan.GroupPlan, g *cloud.Group, n int, limit time.Duration) error {
	desired := max(g.DesiredCapacity, len(active(g))) + n
	u := cloud.GroupUpdate{DesiredCapacity: &desired}
	if desired > g.MaxSize {
		u.MaxSize = &desired // restore-capacity (or a rollback) puts it back
	}
	if err := e.Cloud.UpdateGroup(ctx, gp.Name, u); err != nil {
		return err
	}
	return e.waitFresh(ctx, gp, ids(g.Instances), n, limit)
}

// waitFresh waits until n instances not in known serve.
func (e *Executor) waitFresh(ctx context.Context, gp plan.GroupPlan, known []string, n int, limit time.Duration) error {
	what := fmt.Sprintf("%d replacement(s) serving", n)
	return e.waitFor(ctx, what, limit, func(ctx context.Context) (bool, string, error) {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return false, "", err
		}
		serving := 0
		for _, inst := range g.Instances {
			if !slices.Contains(known, inst.ID) && e.serving(inst, gp.Balanced) {
				serving++
			}
		}
		return serving >= n, fmt.Sprintf("healthy %d/%d", serving, n), nil
	})
}

// active lists the group's instances that are not leaving.
func active(g *cloud.Group) []cloud.Instance {
	var out []cloud.Instance
	for _, inst := range g.Instances {
		if !leaving(inst) {
			out = append(out, inst)
		}
	}
	return out
}

// oldLeft lists the instances the deploy replaces that the group still
// has, in the plan's order (oldest first).
func oldLeft(g *cloud.Group, gp plan.GroupPlan) []cloud.Instance {
	var out []cloud.Instance
	for _, id := range gp.Replace {
		for _, inst := range g.Instances {
			if inst.ID == id && !leaving(inst) {
				out = append(out, inst)
			}
		}
	}
	return out
}

func (e *Executor) postDeploy(ctx context.Context, j *Journal) error {
	for _, gp := range j.Plan.Groups {
		g, err := e.readGroup(ctx, gp)
		if err != nil {
			return err
		}
		if err := e.runHook(ctx, j, roles.Role(gp.Role), roles.PostDeploy, inService(g)); err != nil {
			return err
		}
	}
	// Then the roles outside Auto Scaling (database, cache, queue servers),
	// by the addresses the environment lists; each is named by its
	// address in logs, having no instance id Ferry knows.
	for _, role := range roles.All() {
		var servers []cloud.Instance
		for _, a := range e.Env.Hosts[string(role)] {
			servers = append(servers, cloud.Instance{ID: a, PrivateIP: a})
		}
		if err := e.runHook(ctx, j, role, roles.PostDeploy, servers); err != nil {
			return err
		}
	}
	return nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

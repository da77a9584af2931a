package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// steps lays out the deploy in the order pkg/execute carries it out.
func steps(p *Plan, env *config.Environment) []Step {
	var s []Step
	kept := map[string][]string{}
	for _, g := range p.Groups {
		kept[g.Name] = g.KeptSuspended
	}
	add := func(step Step, reason string, args ...any) {
		if step.Name == StepSuspendProcesses || step.Name == StepResumeProcesses {
			// What a person suspended stays as found.
			step.Processes = slices.DeleteFunc(step.Processes, func(proc string) bool { return slices.Contains(kept[step.Group], proc) })
			if len(step.Processes) == 0 {
				return
			}
		}
		step.Reason = fmt.Sprintf(reason, args...)
		s = append(s, step)
	}
	// Each step gets its own copies of what it shares with the plan, so
	// that no change to one step changes another.
	source := func() *LaunchSource { ls := p.LaunchSource; return &ls }
	timeouts := env.Policy.Timeouts
	if p.Image != nil && p.Image.Bake {
		add(Step{Name: StepBakeImage, Commit: p.Target.Commit, Timeout: timeouts.Bake},
			"no image of %s exists yet: a builder from %s gets the commit's tree and build hook and is imaged; nothing of the environment changes until the image is available", p.Target.Commit.Short(), p.Image.BaseImage)
	}
	if !p.LaunchSource.Existing {
		step := Step{Name: StepPrepareLaunchSource, LaunchSource: source(), Commit: p.Target.Commit}
		switch {
		case p.Image != nil && p.Image.ID != "":
			step.Image = p.Image.ID
			add(step, "new instances must start from %s, whose image %s was baked before", p.Target.Commit.Short(), p.Image.ID)
		case p.Image != nil:
			add(step, "new instances must start from %s, in the image bake-image makes", p.Target.Commit.Short())
		default:
			add(step, "new instances must start from %s", p.Target.Commit.Short())
		}
	}
	worker := workerHost(p, env)

	switch p.Method {
	case Full:
		for _, g := range p.Groups {
			procs := []string{cloud.ProcessLaunch, cloud.ProcessAZRebalance}
			if g.Balanced {
				procs = append([]string{cloud.ProcessAddToLoadBalancer}, procs...)
			}
			add(Step{Name: StepSuspendProcesses, Group: g.Name, Processes: procs},
				"new instances must not join the load balancers before the switch, nor be rebalanced away")
			add(Step{Name: StepInstallLaunchSource, Group: g.Name, LaunchSource: source(), Commit: p.Target.Commit},
				"instances launched from now on run the new commit")
			add(Step{Name: StepRaiseCapacity, Group: g.Name, Sizes: raiseSizes(g)},
				"a complete new set of %d instance(s) comes up beside the old one%s", g.Capacity.DesiredBefore, maxNote(g))
			add(Step{Name: StepResumeProcesses, Group: g.Name, Processes: []string{cloud.ProcessLaunch}},
				"the group may launch the new instances")
			add(Step{Name: StepWaitInService, Group: g.Name, Count: g.Capacity.DesiredBefore, Timeout: timeouts.InstancesInService},
				"the new instances must be running before the switch starts")
		}
		add(Step{Name: StepUpgradePageOn, Role: roles.Web, Hosts: "all (old and new)"},
			"users see the \"upgrade in progress\" page while the schema changes; /healthcheck.html stays 200")
		add(Step{Name: StepWorkerDeploy, Role: roles.Worker, Hosts: worker},
			"migrations and static media for %s run once, while no old code writes to the database", p.Target.Commit.Short())
		for _, g := range p.Groups {
			if !g.Balanced {
				continue
			}
			add(Step{Name: StepResumeProcesses, Group: g.Name, Processes: []string{cloud.ProcessAddToLoadBalancer}},
				"instances launched from now on join the load balancers")
			add(Step{Name: StepRegisterInstances, Group: g.Name, Balancers: balancers(env)},
				"AWS does not register instances launched while AddToLoadBalancer was suspended")
			add(Step{Name: StepWaitHealthy, Group: g.Name, Count: g.Capacity.DesiredBefore, Timeout: timeouts.HealthyInBalancers},
				"every new instance must pass every balancer's health check before the old ones go")
		}
		for i, g := range p.Groups {
			// The first termination is the point of no return.
			add(Step{Name: StepTerminateOld, Group: g.Name, Instances: slices.Clone(g.Replace), Timeout: timeouts.Drain, NoReturn: i == 0},
				"the old version stops serving (the point of no return: from here a failure finishes forward)")
		}
		add(Step{Name: StepUpgradePageOff, Role: roles.Web, Hosts: "all new"},
			"the new version serves users")
		for _, g := range p.Groups {
			add(Step{Name: StepRestoreCapacity, Group: g.Name, Sizes: restoreSizes(g)},
				"the group returns to its own size and limits")
			add(Step{Name: StepResumeProcesses, Group: g.Name, Processes: []string{cloud.ProcessAZRebalance}},
				"every process Ferry suspended is resumed")
		}
	case Serial:
		// The worker's deploy step needs the new commit's code, which only
		// the new image's instances have: it runs once the worker group's
		// batches are replaced (its group goes first), or with no worker
		// group, on a new web instance of the first batch. The migrations
		// are backwards-compatible (serial), so the old instances serving
		// meanwhile work with them; a batch of new code before them is the
		// price of having no worker group.
		groups := slices.Clone(p.Groups)
		slices.SortStableFunc(groups, func(a, b GroupPlan) int {
			return cmpBool(b.Role == string(roles.Worker), a.Role == string(roles.Worker))
		})
		hasWorker := len(groups) > 0 && groups[0].Role == string(roles.Worker)
		deployed := false
		workerDeploy := func(why string) {
			if !deployed {
				add(Step{Name: StepWorkerDeploy, Role: roles.Worker, Hosts: worker},
					"migrations for %s, %s; both versions can use them (a serial change is backwards-compatible)", p.Target.Commit.Short(), why)
				deployed = true
			}
		}
		batch := env.Policy.SerialBatchSize
		lastBatch := -1
		for _, g := range groups {
			add(Step{Name: StepSuspendProcesses, Group: g.Name, Processes: []string{cloud.ProcessAZRebalance}},
				"rebalancing must not terminate instances while batches are replaced")
			add(Step{Name: StepInstallLaunchSource, Group: g.Name, LaunchSource: source(), Commit: p.Target.Commit},
				"replacement instances run the new commit")
			if g.Capacity.MaxDuring > g.Capacity.MaxBefore {
				add(Step{Name: StepRaiseCapacity, Group: g.Name, Sizes: &Sizes{MaxSize: ptr(g.Capacity.MaxDuring)}},
					"surging a batch needs room above the current maximum of %d", g.Capacity.MaxBefore)
			}
			for i := 0; i < len(g.Replace); i += batch {
				ids := slices.Clone(g.Replace[i:min(i+batch, len(g.Replace))])
				step := Step{Name: StepReplaceBatch, Group: g.Name, Instances: ids, Mode: env.Policy.SerialMode, Timeout: timeouts.HealthyInBalancers}
				if env.Policy.SerialMode == config.SerialSurge {
					add(step, "start %d new instance(s), wait until they serve, then terminate %s: capacity never dips", len(ids), strings.Join(ids, ", "))
				} else {
					add(step, "mark %s unhealthy and wait for the replacement(s) to serve", strings.Join(ids, ", "))
				}
				lastBatch = len(s) - 1
				if !hasWorker {
					workerDeploy("on a new web instance of the first batch (no worker group), where the new code is")
				}
			}
			add(Step{Name: StepRestoreCapacity, Group: g.Name, Sizes: restoreSizes(g)},
				"the group returns to its own limits")
			add(Step{Name: StepResumeProcesses, Group: g.Name, Processes: []string{cloud.ProcessAZRebalance}},
				"every process Ferry suspended is resumed")
			if hasWorker && g.Role == string(roles.Worker) {
				workerDeploy("on a new instance of " + g.Name + ", where the new code is, before the web servers get it")
			}
		}
		// Nothing to replace: the instances already run the commit.
		workerDeploy("on an instance that already runs it")
		// Once the last batch is replaced every instance runs the new
		// version: rolling back a later failure would replace them all
		// again. Its group's restore-capacity step always follows it.
		if lastBatch >= 0 {
			s[lastBatch].Reason += " (once done, the point of no return: a later failure finishes forward)"
			for i := lastBatch + 1; i < len(s); i++ {
				if s[i].Name == StepRestoreCapacity {
					s[i].NoReturn = true
					break
				}
			}
		}
	}
	add(Step{Name: StepPostDeploy, On: postDeployTargets(env)}, "the deploy is done")
	return s
}

// postDeployTargets says where the post_deploy hook will run: each role
// that has commands for it, on its group's instances or on the servers the
// environment lists for it.
func postDeployTargets(env *config.Environment) string {
	cmds, err := roles.Resolve(env.Hooks)
	if err != nil { // config validation reports it
		return "every role with post_deploy commands"
	}
	var on []string
	for _, role := range roles.All() {
		if len(cmds[role][roles.PostDeploy]) == 0 {
			continue
		}
		switch group, hosts := env.Groups[string(role)], env.Hosts[string(role)]; {
		case group != "":
			on = append(on, fmt.Sprintf("%s (the instances of %s)", role, group))
		case len(hosts) > 0:
			on = append(on, fmt.Sprintf("%s (%s)", role, strings.Join(hosts, ", ")))
		}
	}
	if len(on) == 0 {
		return "nothing: no role has post_deploy commands"
	}
	return strings.Join(on, "; ")
}

// workerHost says where the worker's deploy step runs: one instance of the
// worker group; with no worker group, the first server hosts.worker lists
// (the seed's standalone worker); with neither, one new web instance (it
// runs the same code). (*Executor).workerDeploy picks the same.
func workerHost(p *Plan, env *config.Environment) string {
	for _, g := range p.Groups {
		if g.Role == string(roles.Worker) {
			return "one instance of " + g.Name
		}
	}
	if hosts := env.Hosts[string(roles.Worker)]; len(hosts) > 0 {
		return hosts[0] + " (the first of hosts.worker; no worker group)"
	}
	return "one new web instance (no worker group)"
}

// raiseSizes doubles a group's desired capacity, with room for it.
func raiseSizes(g GroupPlan) *Sizes {
	sz := &Sizes{Desired: ptr(g.Capacity.DesiredDuring)}
	if g.Capacity.MaxDuring > g.Capacity.MaxBefore {
		sz.MaxSize = ptr(g.Capacity.MaxDuring)
	}
	return sz
}

// restoreSizes puts a group's own sizes back.
func restoreSizes(g GroupPlan) *Sizes {
	return &Sizes{Desired: ptr(g.Capacity.DesiredAfter), MinSize: ptr(g.Capacity.MinBefore), MaxSize: ptr(g.Capacity.MaxBefore)}
}

func ptr(n int) *int { return &n }

func maxNote(g GroupPlan) string {
	if g.Capacity.MaxDuring > g.Capacity.MaxBefore {
		return fmt.Sprintf("; MaxSize is raised from %d to %d for the deploy and restored afterwards", g.Capacity.MaxBefore, g.Capacity.MaxDuring)
	}
	return ""
}

func balancers(env *config.Environment) []string {
	return append(slices.Clone(env.LoadBalancers.Classic), env.LoadBalancers.TargetGroups...)
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

package plan

import (
	"fmt"
	"strings"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Auto Scaling processes a deploy suspends. AddToLoadBalancer keeps new
// instances out of the balancers until the switch (full deploys);
// AZRebalance would otherwise terminate instances to even out zones in the
// middle of a scale-out; Launch is held while the group's launch source and
// capacity change, so no instance starts from the old source.
const (
	processAddToLoadBalancer = "AddToLoadBalancer"
	processAZRebalance       = "AZRebalance"
	processLaunch            = "Launch"
)

// steps lays out the deploy in the order pkg/execute carries it out.
func steps(p *Plan, env *config.Environment) []Step {
	var s []Step
	add := func(name StepName, group string, params map[string]string, reason string, args ...any) {
		s = append(s, Step{Name: name, Group: group, Params: params, Reason: fmt.Sprintf(reason, args...)})
	}
	ls := p.LaunchSource
	if !ls.Existing {
		add(StepPrepareLaunchSource, "", map[string]string{"kind": ls.Kind, "name": ls.Name, "commit": p.Target.Commit},
			"new instances must start from %s", short(p.Target.Commit))
	}
	timeouts := env.Policy.Timeouts
	worker := workerHost(p)

	switch p.Method {
	case Full:
		for _, g := range p.Groups {
			procs := []string{processLaunch, processAZRebalance}
			if g.Balanced {
				procs = append([]string{processAddToLoadBalancer}, procs...)
			}
			add(StepSuspendProcesses, g.Name, map[string]string{"processes": strings.Join(procs, ",")},
				"new instances must not join the load balancers before the switch, nor be rebalanced away")
			add(StepInstallLaunchSource, g.Name, map[string]string{"name": ls.Name, "tag": TagCommit + "=" + p.Target.Commit},
				"instances launched from now on run the new commit")
			add(StepRaiseCapacity, g.Name, capacityParams(g), "a complete new set of %d instance(s) comes up beside the old one%s", g.Capacity.DesiredBefore, maxNote(g))
			add(StepResumeProcesses, g.Name, map[string]string{"processes": processLaunch}, "the group may launch the new instances")
			add(StepWaitInService, g.Name, map[string]string{"count": itoa(g.Capacity.DesiredBefore), "timeout": timeouts.InstancesInService.String()},
				"the new instances must be running before the switch starts")
		}
		add(StepUpgradePageOn, "", map[string]string{"role": string(roles.Web), "hosts": "all (old and new)"},
			"users see the \"upgrade in progress\" page while the schema changes; /healthcheck.html stays 200")
		add(StepWorkerDeploy, "", map[string]string{"role": string(roles.Worker), "hosts": worker},
			"migrations and static media for %s run once, while no old code writes to the database", short(p.Target.Commit))
		for _, g := range p.Groups {
			if !g.Balanced {
				continue
			}
			add(StepResumeProcesses, g.Name, map[string]string{"processes": processAddToLoadBalancer}, "instances launched from now on join the load balancers")
			add(StepRegisterInstances, g.Name, map[string]string{"instances": "new", "balancers": balancers(env)},
				"AWS does not register instances launched while AddToLoadBalancer was suspended")
			add(StepWaitHealthy, g.Name, map[string]string{"instances": "new", "timeout": timeouts.HealthyInBalancers.String()},
				"every new instance must pass every balancer's health check before the old ones go")
		}
		for _, g := range p.Groups {
			add(StepTerminateOld, g.Name, map[string]string{"instances": strings.Join(g.Replace, ","), "timeout": timeouts.Drain.String()},
				"the old version stops serving (the point of no return: from here a failure finishes forward)")
		}
		add(StepUpgradePageOff, "", map[string]string{"role": string(roles.Web), "hosts": "all new"},
			"the new version serves users")
		for _, g := range p.Groups {
			add(StepRestoreCapacity, g.Name, restoreParams(g), "the group returns to its own size and limits")
			add(StepResumeProcesses, g.Name, map[string]string{"processes": processAZRebalance}, "every process Ferry suspended is resumed")
		}
	case Serial:
		add(StepWorkerDeploy, "", map[string]string{"role": string(roles.Worker), "hosts": worker},
			"migrations and static media for %s run first; both versions can use them (a serial change is backwards-compatible)", short(p.Target.Commit))
		batch := env.Policy.SerialBatchSize
		for _, g := range p.Groups {
			add(StepSuspendProcesses, g.Name, map[string]string{"processes": processAZRebalance},
				"rebalancing must not terminate instances while batches are replaced")
			add(StepInstallLaunchSource, g.Name, map[string]string{"name": ls.Name, "tag": TagCommit + "=" + p.Target.Commit},
				"replacement instances run the new commit")
			if g.Capacity.MaxDuring > g.Capacity.MaxBefore {
				add(StepRaiseCapacity, g.Name, map[string]string{"max_size": itoa(g.Capacity.MaxDuring)},
					"surging a batch needs room above the current maximum of %d", g.Capacity.MaxBefore)
			}
			for i := 0; i < len(g.Replace); i += batch {
				ids := g.Replace[i:min(i+batch, len(g.Replace))]
				params := map[string]string{"instances": strings.Join(ids, ","), "mode": env.Policy.SerialMode,
					"timeout": timeouts.HealthyInBalancers.String()}
				if env.Policy.SerialMode == config.SerialSurge {
					add(StepReplaceBatch, g.Name, params, "start %d new instance(s), wait until they serve, then terminate %s: capacity never dips", len(ids), strings.Join(ids, ", "))
				} else {
					add(StepReplaceBatch, g.Name, params, "mark %s unhealthy and wait for the replacement(s) to serve", strings.Join(ids, ", "))
				}
			}
			add(StepRestoreCapacity, g.Name, restoreParams(g), "the group returns to its own limits")
			add(StepResumeProcesses, g.Name, map[string]string{"processes": processAZRebalance}, "every process Ferry suspended is resumed")
		}
		// pkg/execute passes the point of no return as the last batch is
		// replaced: say so where the plan shows it.
		if i := LastStep(s, StepReplaceBatch); i >= 0 {
			s[i].Reason += " (once done, the point of no return: a later failure finishes forward)"
		}
	}
	add(StepPostDeploy, "", map[string]string{"on": postDeployTargets(env)}, "the deploy is done")
	return s
}

// LastStep returns the index of the last step named name, or -1: for a
// serial deploy, the last replace-batch is its point of no return.
func LastStep(steps []Step, name StepName) int {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Name == name {
			return i
		}
	}
	return -1
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
// worker group, or, with no worker group, one new web instance (it runs the
// same code).
func workerHost(p *Plan) string {
	for _, g := range p.Groups {
		if g.Role == string(roles.Worker) {
			return "one instance of " + g.Name
		}
	}
	return "one new web instance (no worker group)"
}

func capacityParams(g GroupPlan) map[string]string {
	m := map[string]string{"desired": itoa(g.Capacity.DesiredDuring)}
	if g.Capacity.MaxDuring > g.Capacity.MaxBefore {
		m["max_size"] = itoa(g.Capacity.MaxDuring)
	}
	return m
}

func restoreParams(g GroupPlan) map[string]string {
	return map[string]string{
		"desired":  itoa(g.Capacity.DesiredAfter),
		"min_size": itoa(g.Capacity.MinBefore),
		"max_size": itoa(g.Capacity.MaxBefore),
	}
}

func maxNote(g GroupPlan) string {
	if g.Capacity.MaxDuring > g.Capacity.MaxBefore {
		return fmt.Sprintf("; MaxSize is raised from %d to %d for the deploy and restored afterwards", g.Capacity.MaxBefore, g.Capacity.MaxDuring)
	}
	return ""
}

func balancers(env *config.Environment) string {
	all := append(append([]string{}, env.LoadBalancers.Classic...), env.LoadBalancers.TargetGroups...)
	return strings.Join(all, ",")
}

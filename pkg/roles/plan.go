package roles

import (
	"cmp"
	"fmt"
	"slices"
)

// Instance is a server that can take part in a hook.
type Instance struct {
	// ID is the EC2 instance ID; it orders instances and names their logs.
	ID   string
	Role Role
	// Addr is the address Ferry connects to (private IP or DNS name).
	Addr string
	// Commit is the commit the instance runs, when known. The deploy step
	// prefers an instance that already runs the commit being deployed.
	Commit string
}

// Step is one hook of one role: the commands, rendered, and the instances
// that run them (each runs all of them, in order).
type Step struct {
	Hook      Hook
	Role      Role
	Commands  []string
	Instances []Instance
	// Why says how the instances were chosen, for the plan and the log.
	Why string
}

// PlanHook returns the steps of hook for the given instances: one per role
// (in the order of All) that has commands for the hook. The deploy step runs
// on exactly one instance of its role; every other hook on every instance
// of the role, old and new alike (the "upgrade in progress" page belongs on
// every web server that might answer).
func PlanHook(hook Hook, cmds map[Role]Commands, instances []Instance, v Vars) ([]Step, error) {
	if _, err := ParseHook(string(hook)); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, in := range instances {
		if seen[in.ID] {
			return nil, fmt.Errorf("instance %s listed twice", in.ID)
		}
		seen[in.ID] = true
	}
	var steps []Step
	for _, role := range All() {
		list := cmds[role][hook]
		if len(list) == 0 {
			continue
		}
		rendered, err := Render(role, hook, list, v)
		if err != nil {
			return nil, err
		}
		of := ofRole(instances, role)
		step := Step{Hook: hook, Role: role, Commands: rendered}
		if hook == Deploy {
			in, why, err := pickOne(role, of, v)
			if err != nil {
				return nil, err
			}
			step.Instances, step.Why = []Instance{in}, why
		} else {
			step.Instances = of
			step.Why = fmt.Sprintf("every %s instance (%d)", role, len(of))
		}
		steps = append(steps, step)
	}
	return steps, nil
}

// ofRole returns the instances of role ordered by ID.
func ofRole(instances []Instance, role Role) []Instance {
	var of []Instance
	for _, in := range instances {
		if in.Role == role {
			of = append(of, in)
		}
	}
	slices.SortFunc(of, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	return of
}

// pickOne chooses the instance that runs a role's deploy step: among those
// already running the target commit if any (a new instance has the new
// release on disk), else among all, the lowest instance ID, so that a plan
// computed twice picks the same one. FabulAWS ran it on "the first worker";
// Ferry's choice is stable and says which.
func pickOne(role Role, of []Instance, v Vars) (Instance, string, error) {
	if len(of) == 0 {
		return Instance{}, "", fmt.Errorf("no %s instance to run the %s step on: it must run on exactly one", role, Deploy)
	}
	candidates := slices.DeleteFunc(slices.Clone(of), func(in Instance) bool { return in.Commit != v.Commit })
	which := fmt.Sprintf("of %d %s instances running %s", len(candidates), role, v.ShortCommit)
	if len(candidates) == 0 {
		candidates = of
		which = fmt.Sprintf("of %d %s instances (none reports running %s)", len(of), role, v.ShortCommit)
	}
	in := candidates[0]
	return in, fmt.Sprintf("only on %s: the lowest instance ID %s", in.ID, which), nil
}

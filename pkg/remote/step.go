package remote

import (
	"context"
	"fmt"

	"github.com/ferry-deploy/ferry/pkg/roles"
)

// RunStep runs a planned hook step (roles.PlanHook): every command of the
// step, in order, on each of its instances, at most limit instances at a
// time. env is passed to every command (see Command.Env).
func (r *Runner) RunStep(ctx context.Context, step roles.Step, limit int, env map[string]string) []Result {
	hosts := make([]Host, len(step.Instances))
	for i, in := range step.Instances {
		hosts[i] = Host{Addr: in.Addr, Instance: in.ID, Role: in.Role}
	}
	cmds := make([]Command, len(step.Commands))
	for i, line := range step.Commands {
		cmds[i] = Command{
			Name: fmt.Sprintf("%s %s %d/%d", step.Role, step.Hook, i+1, len(step.Commands)),
			Line: line,
			Env:  env,
		}
	}
	r.logger.Info("running hook", "hook", step.Hook, "role", step.Role, "instances", len(hosts), "why", step.Why)
	return r.RunAll(ctx, hosts, limit, cmds...)
}

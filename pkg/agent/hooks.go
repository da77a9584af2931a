package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// parallelHosts bounds how many instances a hook runs on at once.
const parallelHosts = 10

// SSHHooks runs the executor's hooks over SSH with the environment's
// commands (the roles' defaults with the config's overrides).
type SSHHooks struct {
	cmds   map[roles.Role]roles.Commands
	runner *remote.Runner
}

var _ execute.Hooks = (*SSHHooks)(nil)

// NewHooks prepares the hooks of one deploy. The SSH runner is built only
// when some hook has commands: an environment whose hooks are all empty
// needs no SSH at all.
func NewHooks(stateDir string, env *config.Environment, deployID string, log *slog.Logger) (*SSHHooks, error) {
	return newHooks(stateDir, env, deployID, nil, log)
}

// newHooks is NewHooks with the SSH connections made by dialer (nil: a
// net.Dialer).
func newHooks(stateDir string, env *config.Environment, deployID string, dialer remote.Dialer, log *slog.Logger) (*SSHHooks, error) {
	// Resolve applies the environment's overrides to the defaults and
	// checks every command renders.
	cmds, err := roles.Resolve(env.Hooks)
	if err != nil {
		return nil, err
	}
	any := false
	for _, byHook := range cmds {
		for hook, list := range byHook {
			// secrets_changed runs in `ferry secrets push` and build in
			// a bake, not in a deploy.
			any = any || hook != roles.SecretsChanged && hook != roles.Build && len(list) > 0
		}
	}
	h := &SSHHooks{cmds: cmds}
	if any {
		rc := remote.FromConfig(stateDir, env, deployID, os.Getenv("SSH_AUTH_SOCK"))
		rc.Dialer = dialer
		h.runner, err = remote.New(rc, log)
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *SSHHooks) RunHook(ctx context.Context, run execute.HookRun) error {
	list := h.cmds[run.Role][run.Hook]
	if len(list) == 0 || len(run.Hosts) == 0 {
		return nil
	}
	vars, err := roles.NewVars(run.Env, run.Commit)
	if err != nil {
		return err
	}
	insts := make([]roles.Instance, len(run.Hosts))
	for i, host := range run.Hosts {
		insts[i] = roles.Instance{ID: host.InstanceID, Role: run.Role, Addr: host.Address}
	}
	steps, err := roles.PlanHook(run.Hook, map[roles.Role]roles.Commands{run.Role: {run.Hook: list}}, insts, vars)
	if err != nil {
		return err
	}
	var errs []error
	for _, step := range steps {
		for _, r := range h.runner.RunStep(ctx, step, parallelHosts, nil) {
			if r.Err != nil {
				errs = append(errs, fmt.Errorf("%s on %s: %w", run.Hook, r.Host.Instance, r.Err))
			}
		}
	}
	return errors.Join(errs...)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/lock"
)

// ScalingChange is the last change a person made to an environment's
// Auto Scaling processes (ferry asg suspend / resume): kept in the
// control directory, where the running agent sees it and writes it to its
// log, and ferry status shows it.
type ScalingChange struct {
	Action    string    `json:"action"` // suspend or resume
	Processes []string  `json:"processes"`
	Groups    []string  `json:"groups"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// GroupProcesses is a group's suspended processes after a change.
type GroupProcesses struct {
	Group     string   `json:"group"`
	Suspended []string `json:"suspended"`
}

// SuspendProcesses suspends processes (every one when empty) on each
// group of env, under the environment's lock: refused while a deploy
// holds it. by names the person, for the audit line and ferry status.
func (p *Project) SuspendProcesses(ctx context.Context, env string, processes []string, by string) ([]GroupProcesses, error) {
	return p.changeProcesses(ctx, env, "suspend", processes, by)
}

// ResumeProcesses resumes processes (every one when empty) on each group
// of env, under the environment's lock.
func (p *Project) ResumeProcesses(ctx context.Context, env string, processes []string, by string) ([]GroupProcesses, error) {
	return p.changeProcesses(ctx, env, "resume", processes, by)
}

func (p *Project) changeProcesses(ctx context.Context, name, action string, processes []string, by string) ([]GroupProcesses, error) {
	env, err := p.Env(name)
	if err != nil {
		return nil, err
	}
	procs, err := checkProcesses(processes)
	if err != nil {
		return nil, err
	}
	groups := envGroups(env)
	if len(groups) == 0 {
		return nil, &RequestError{fmt.Errorf("%s has no Auto Scaling groups (groups.* in %s)", env.Name, p.Config.File)}
	}
	c, err := p.Connect(ctx, env, p.Logger)
	if err != nil {
		return nil, err
	}
	d := NewDeployer(p.Config, env, p.Mirror, c, p.Logger)
	lctx, release, err := d.lock(ctx)
	var held *lock.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%s: refused, nothing was changed: a deploy holds the environment's lock (%s until %s)", env.Name, held.Holder, held.Expires.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return nil, err
	}
	defer release()
	// A deploy interrupted here would find the processes it needs as a
	// person left them; recovery comes first, as for a deploy.
	if err := d.recover(lctx); err != nil {
		return nil, err
	}
	var out []GroupProcesses
	for _, g := range groups {
		change := c.SuspendProcesses
		if action == "resume" {
			change = c.ResumeProcesses
		}
		if err := change(lctx, g, procs); err != nil {
			return out, err
		}
		grp, err := c.Group(lctx, g, nil, nil)
		if err != nil {
			return out, err
		}
		out = append(out, GroupProcesses{Group: g, Suspended: grp.SuspendedProcesses})
	}
	rec := ScalingChange{Action: action, Processes: procs, Groups: groups, By: by, At: time.Now().UTC()}
	d.log.Info("audit: Auto Scaling processes "+action+"ed by a person", "by", by, "processes", strings.Join(procs, ","), "groups", strings.Join(groups, ","))
	if err := ControlFor(p.Config).write(ControlFor(p.Config).path("asg", env.Name), rec); err != nil {
		return out, fmt.Errorf("record the change for ferry status: %w", err)
	}
	return out, nil
}

// ScalingState returns the last change a person made to env's processes,
// or nil.
func (c Control) ScalingState(env string) (*ScalingChange, error) {
	var s ScalingChange
	ok, err := c.read(c.path("asg", env), &s)
	if !ok {
		return nil, err
	}
	return &s, nil
}

// checkProcesses returns the processes named (every one when none), each
// checked against AWS's list.
func checkProcesses(names []string) ([]string, error) {
	all := cloud.AllProcesses()
	if len(names) == 0 {
		return all, nil
	}
	var out []string
	for _, n := range names {
		i := slices.IndexFunc(all, func(p string) bool { return strings.EqualFold(p, n) })
		if i < 0 {
			return nil, &RequestError{fmt.Errorf("no Auto Scaling process %q (they are: %s)", n, strings.Join(all, ", "))}
		}
		if !slices.Contains(out, all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// envGroups lists the environment's groups, sorted by name.
func envGroups(env *config.Environment) []string {
	var out []string
	for _, g := range env.Groups {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

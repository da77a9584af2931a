package execute

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Prepared is a launch source made ahead of a deploy (ferry prepare).
type Prepared struct {
	// Name is what `ferry deploy --launch-config` takes: the launch
	// template version's description, or the launch configuration's name
	// (with "-ROLE" appended per group when the environment has several).
	Name string
	// Sources holds, per group, the source new instances will start from.
	Sources map[string]Source
}

// Prepare creates the launch source of commit for every group of the
// environment, named name (plan.LaunchSourceName), and changes nothing
// else: no group is touched, no journal written. It is the seed's
// create_launch_config_for_deployment, done ahead of time so that the
// deploy itself (with the plan's LaunchSource.Existing) only installs it.
// A source of that name that already exists is reused, so Prepare may be
// run again.
func (e *Executor) Prepare(ctx context.Context, c commit.ID, name string) (Prepared, error) {
	if !c.HasPrefix(plan.CommitOfLaunchSource(name)) {
		return Prepared{}, fmt.Errorf("launch source name %q does not name commit %s (use plan.LaunchSourceName)", name, c)
	}
	ls := plan.LaunchSource{Kind: e.Env.Launch.Kind, Template: e.Env.Launch.Template, Name: name}
	// With launch.image = "bake", the commit's image first (baked unless
	// it exists): the source names it.
	image, err := e.image(ctx, c)
	if err != nil {
		return Prepared{}, err
	}
	byRole := sortedRoles(e.Env.Groups)
	out := Prepared{Name: name, Sources: map[string]Source{}}
	for _, role := range byRole {
		group := e.Env.Groups[role]
		g, err := e.Cloud.Group(ctx, group, nil, nil)
		if err != nil {
			return out, fmt.Errorf("the %s group: %w", role, err)
		}
		src, err := e.launchSource(ctx, ls, c, image, group, role, len(byRole) > 1,
			Source{LaunchConfiguration: g.LaunchConfiguration, LaunchTemplate: g.LaunchTemplate})
		if err != nil {
			return out, err
		}
		out.Sources[group] = src
		e.log().Info("launch source ready", "env", e.Env.Name, "group", group, "commit", c,
			"launch_configuration", src.LaunchConfiguration, "launch_template", src.LaunchTemplate)
	}
	return out, nil
}

// findPrepared looks up the launch sources a deploy was told to reuse
// (--launch-config), before anything changes: a missing source, or one
// prepared for another commit, fails the deploy while the groups are
// still untouched.
func (e *Executor) findPrepared(ctx context.Context, j *Journal) error {
	ls := j.Plan.LaunchSource
	if !j.Plan.Target.Commit.HasPrefix(plan.CommitOfLaunchSource(ls.Name)) {
		return fmt.Errorf("--launch-config %s was not prepared for %s: give the name ferry prepare printed for this commit",
			ls.Name, j.Plan.Target.Commit)
	}
	for _, gp := range j.Plan.Groups {
		before := j.Before[gp.Name]
		src, err := e.launchSource(ctx, ls, j.Plan.Target.Commit, "", gp.Name, gp.Role, len(j.Plan.Groups) > 1,
			Source{LaunchConfiguration: before.LaunchConfiguration, LaunchTemplate: before.LaunchTemplate})
		if err != nil {
			return err
		}
		j.Sources[gp.Name] = src
	}
	return nil
}

// sortedRoles returns the roles of groups in the order of roles.All (web
// first), unknown roles last by name.
func sortedRoles(groups map[string]string) []string {
	out := make([]string, 0, len(groups))
	for role := range groups {
		out = append(out, role)
	}
	rank := func(r string) int {
		if i := slices.Index(roles.All(), roles.Role(r)); i >= 0 {
			return i
		}
		return len(roles.All())
	}
	slices.SortFunc(out, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return out
}

package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// launchDrift compares the environment's [launch] settings with the
// launch source each group starts instances from now, and says what
// differs: a setting changed since the last deploy. The agent does not
// deploy for it (the commit is the same); ferry redeploy does.
func launchDrift(ctx context.Context, c describeCloud, env *config.Environment) ([]string, error) {
	l := env.Launch
	var out []string
	for _, name := range envGroups(env) {
		g, err := c.Group(ctx, name, nil, nil)
		if err != nil {
			return out, err
		}
		var image, itype, tokens string
		var hops int32
		var what string
		switch {
		case g.LaunchTemplate != nil:
			v, err := c.LaunchTemplateVersion(ctx, *g.LaunchTemplate)
			if errors.Is(err, cloud.ErrNotFound) {
				continue
			}
			if err != nil {
				return out, err
			}
			image, itype, tokens, hops = v.ImageID, v.InstanceType, v.HTTPTokens, v.HopLimit
			what = fmt.Sprintf("launch template %s version %d", v.TemplateName, v.Number)
		case g.LaunchConfiguration != "":
			lc, err := c.LaunchConfiguration(ctx, g.LaunchConfiguration)
			if errors.Is(err, cloud.ErrNotFound) {
				continue
			}
			if err != nil {
				return out, err
			}
			image, itype = lc.ImageID, lc.InstanceType
			what = "launch configuration " + lc.Name
		default:
			continue
		}
		differs := func(key, want, have string) {
			if want != "" && have != "" && want != have {
				out = append(out, fmt.Sprintf("%s: %s is %q, its %s has %q", name, key, want, what, have))
			}
		}
		if l.Image != config.LaunchImageBake {
			differs("launch.image_id", l.ImageID, image)
		}
		differs("launch.instance_type", l.InstanceType, itype)
		if g.LaunchTemplate != nil && l.HTTPTokens != "" {
			differs("launch.http_tokens", l.HTTPTokens, tokens)
			if hops != 0 {
				differs("launch.metadata_hop_limit", fmt.Sprint(max(l.MetadataHopLimit, 1)), fmt.Sprint(hops))
			}
		}
	}
	return out, nil
}

// driftWarnings says, for a plan with nothing to deploy, which [launch]
// settings the running launch sources lack: the commit is deployed, but
// not as the config now asks, and only a redeploy changes that.
func driftWarnings(ctx context.Context, c plan.Cloud, env *config.Environment) []string {
	dc, ok := c.(describeCloud)
	if !ok {
		return nil
	}
	drift, err := launchDrift(ctx, dc, env)
	if err != nil {
		return []string{fmt.Sprintf("the [launch] settings could not be compared with the launch sources: %v", err)}
	}
	var out []string
	for _, d := range drift {
		out = append(out, fmt.Sprintf("[launch] drift: %s; ferry redeploy %s applies it", d, env.Name))
	}
	return out
}

package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Make reads the environment's state and returns the plan for deploying
// in.Target. A deploy that must not happen returns a *RefusedError listing
// every reason; other errors are failures to read state.
func Make(ctx context.Context, c Cloud, repo Repo, in Input) (*Plan, error) {
	env := in.Env
	p := &Plan{
		SchemaVersion: SchemaVersion,
		Project:       in.Project,
		Environment:   env.Name,
		Target:        in.Target,
	}
	refuse := &RefusedError{Environment: env.Name}

	groups, err := readGroups(ctx, c, env, refuse)
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return nil, refuse
	}
	for _, g := range groups {
		preflight(g, p, refuse)
	}

	deployed, err := deployedCommit(ctx, c, groups[0].group, p)
	if err != nil {
		return nil, err
	}
	p.Deployed = deployed

	if deployed.Commit == in.Target.Commit && !in.Redeploy {
		p.Action = NoOp
		for _, g := range groups {
			if n := unhealthy(g); n > 0 {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s is already deployed, but %d instance(s) of %s are not healthy; the agent does not redeploy the same commit on its own (ferry redeploy %s does)", in.Target.Commit.Short(), n, g.group.Name, env.Name))
			}
		}
		if len(refuse.Reasons) > 0 {
			return nil, refuse
		}
		return p, nil
	}
	p.Action = Deploy

	if err := chooseAndCheckMethod(ctx, repo, in, p, refuse); err != nil {
		return nil, err
	}
	if len(refuse.Reasons) > 0 {
		return nil, refuse
	}

	p.LaunchSource = launchSource(in)
	if p.Image, err = imagePlan(ctx, c, in, p.LaunchSource); err != nil {
		return nil, err
	}
	for _, g := range groups {
		gp, err := groupPlan(g, p.Method, env.Policy)
		if err != nil {
			refuse.Reasons = append(refuse.Reasons, err.Error())
			continue
		}
		p.Groups = append(p.Groups, gp)
	}
	if len(refuse.Reasons) > 0 {
		return nil, refuse
	}
	p.Downtime = p.Method == Full
	p.Steps = steps(p, env)
	if err := drainingWarnings(ctx, c, env, p); err != nil {
		return nil, err
	}
	return p, nil
}

// drainingWarnings warns about balancers that would cut requests in flight
// to the instances a deploy removes (connection draining off, as AWS
// creates a classic balancer through its API), or whose draining outlasts
// the wait Ferry gives old instances to leave (policy.timeouts.drain).
func drainingWarnings(ctx context.Context, c Cloud, env *config.Environment, p *Plan) error {
	if _, web := env.Groups[string(roles.Web)]; !web {
		return nil
	}
	ds, err := c.Draining(ctx, env.LoadBalancers.Classic, env.LoadBalancers.TargetGroups)
	if errors.Is(err, cloud.ErrNotFound) {
		return nil // the group read already said what is missing
	}
	if err != nil {
		return err
	}
	limit := env.Policy.Timeouts.Drain.Std()
	for _, d := range ds {
		switch {
		case !d.Enabled && d.Kind == cloud.Classic:
			p.Warnings = append(p.Warnings, fmt.Sprintf("load balancer %s has connection draining off: requests in flight to an instance the deploy removes are cut; enable it (ModifyLoadBalancerAttributes ConnectionDraining)", d.Balancer))
		case !d.Enabled:
			p.Warnings = append(p.Warnings, fmt.Sprintf("target group %s has a deregistration delay of 0: requests in flight to an instance the deploy removes are cut", d.Balancer))
		case d.Timeout > limit:
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s drains for up to %s, longer than policy.timeouts.drain (%s): waiting for old instances to leave may time out", d.Balancer, d.Timeout, limit))
		}
	}
	return nil
}

// roleGroup is a group read from the cloud with the role it plays.
type roleGroup struct {
	role     string
	group    *cloud.Group
	balanced bool
}

// groupRoles lists the roles of the environment's groups in roles.All's
// order, web first: the first is the group whose tag says what is deployed.
func groupRoles(env *config.Environment) []string {
	rolesInEnv := make([]string, 0, len(env.Groups))
	for role := range env.Groups {
		rolesInEnv = append(rolesInEnv, role)
	}
	order := func(r string) int { return slices.Index(roles.All(), roles.Role(r)) }
	slices.SortFunc(rolesInEnv, func(a, b string) int { return order(a) - order(b) })
	return rolesInEnv
}

// Deployed reads the commit env runs now, as a deploy would: the ferry:commit
// tag of its primary group (see groupRoles), checked against the group's
// launch source. A tag the launch source does not confirm makes the commit
// unknown (empty), with Source saying why. It is the one definition of
// "deployed" that ferry status, ferry plan and the agent share.
func Deployed(ctx context.Context, c GroupReader, env *config.Environment) (Revision, error) {
	rs := groupRoles(env)
	if len(rs) == 0 {
		return Revision{}, nil
	}
	g, err := c.Group(ctx, env.Groups[rs[0]], nil, nil)
	if err != nil {
		return Revision{}, err
	}
	return deployedCommit(ctx, c, g, &Plan{})
}

// readGroups reads every group of the environment, web first: the web group
// is the one whose tag says what is deployed.
func readGroups(ctx context.Context, c Cloud, env *config.Environment, refuse *RefusedError) ([]roleGroup, error) {
	var out []roleGroup
	for _, role := range groupRoles(env) {
		name := env.Groups[role]
		balanced := role == string(roles.Web)
		var classic, tgs []string
		if balanced {
			classic, tgs = env.LoadBalancers.Classic, env.LoadBalancers.TargetGroups
		}
		g, err := c.Group(ctx, name, classic, tgs)
		if errors.Is(err, cloud.ErrNotFound) {
			refuse.Reasons = append(refuse.Reasons, fmt.Sprintf("%s (the %s group): %v", name, role, err))
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, roleGroup{role: role, group: g, balanced: balanced})
	}
	return out, nil
}

// Keepable reports whether a deploy can run with process suspended, left
// as a person suspended it. The others it needs: Launch and Terminate to
// replace instances, HealthCheck and ReplaceUnhealthy for a serial
// batch, AddToLoadBalancer for replacements to serve.
func Keepable(process string) bool {
	switch process {
	case cloud.ProcessLaunch, "Terminate", "HealthCheck", "ReplaceUnhealthy", cloud.ProcessAddToLoadBalancer:
		return false
	}
	return true
}

// preflight refuses a group someone else is changing or left half-changed,
// and warns about one that is not in its best shape.
func preflight(g roleGroup, p *Plan, refuse *RefusedError) {
	if needed := slices.DeleteFunc(slices.Clone(g.group.SuspendedProcesses), Keepable); len(needed) > 0 {
		refuse.Reasons = append(refuse.Reasons, fmt.Sprintf(
			"%s has suspended processes (%s) a deploy needs running: a deploy may be running, a failed one left them, or a person suspended them; finish or resume them first (ferry asg resume %s)",
			g.group.Name, strings.Join(g.group.SuspendedProcesses, ", "), p.Environment))
	} else if kept := slices.DeleteFunc(slices.Clone(g.group.SuspendedProcesses), func(p string) bool { return p == cloud.ProcessDeprecated }); len(kept) > 0 {
		// The deprecated process does nothing: not worth a warning.
		p.Warnings = append(p.Warnings, fmt.Sprintf(
			"%s has %s suspended since before the deploy: kept suspended (the deploy neither suspends nor resumes them; ferry asg resume %s does)",
			g.group.Name, strings.Join(kept, ", "), p.Environment))
	}
	for _, inst := range g.group.Instances {
		switch {
		case inst.LifecycleState != "InService":
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: instance %s is %s", g.group.Name, inst.ID, inst.LifecycleState))
		case inst.HealthStatus != "" && inst.HealthStatus != "Healthy":
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: instance %s is %s", g.group.Name, inst.ID, inst.HealthStatus))
		case g.balanced:
			for name, h := range inst.Balancers {
				if !h.Healthy {
					p.Warnings = append(p.Warnings, fmt.Sprintf("%s: instance %s is %s in %s", g.group.Name, inst.ID, h.State, name))
				}
			}
		}
	}
}

// unhealthy counts the instances of a group that do not serve.
func unhealthy(g roleGroup) int {
	n := 0
	for _, inst := range g.group.Instances {
		ok := inst.LifecycleState == "InService" && (inst.HealthStatus == "" || inst.HealthStatus == "Healthy")
		if g.balanced {
			for _, h := range inst.Balancers {
				ok = ok && h.Healthy
			}
		}
		if !ok {
			n++
		}
	}
	if d := g.group.DesiredCapacity - len(g.group.Instances); d > 0 {
		n += d
	}
	return n
}

// deployedCommit reads the deployed commit from the group's tag and checks
// it against the launch source's name. Any doubt makes it unknown: an
// unknown deployed commit means a full deploy, never a risky serial one.
// (chooseAndCheckMethod also treats one the repository lacks as unknown.)
func deployedCommit(ctx context.Context, c GroupReader, g *cloud.Group, p *Plan) (Revision, error) {
	tag := g.Tags[TagCommit]
	if tag == "" {
		return Revision{}, nil
	}
	var sourceName string
	switch {
	case g.LaunchConfiguration != "":
		sourceName = g.LaunchConfiguration
	case g.LaunchTemplate != nil:
		v, err := c.LaunchTemplateVersion(ctx, *g.LaunchTemplate)
		if err != nil && !errors.Is(err, cloud.ErrNotFound) {
			return Revision{}, err
		}
		if v != nil {
			sourceName = v.Description
		}
	}
	id, err := commit.Parse(tag)
	if err != nil {
		p.Warnings = append(p.Warnings, fmt.Sprintf(
			"%s is tagged %s=%q, which is not a full commit id (changed by hand?): treating the deployed commit as unknown",
			g.Name, TagCommit, tag))
		return Revision{Source: "unknown: tag " + TagCommit + " is not a commit id"}, nil
	}
	if !id.HasPrefix(CommitOfLaunchSource(sourceName)) {
		p.Warnings = append(p.Warnings, fmt.Sprintf(
			"%s is tagged %s=%s but its launch source %q does not name that commit (changed by hand?): treating the deployed commit as unknown",
			g.Name, TagCommit, id.Short(), sourceName))
		return Revision{Source: "unknown: tag and launch source disagree"}, nil
	}
	return Revision{Commit: id, Source: "tag " + TagCommit + " of " + g.Name + ", launch source " + sourceName}, nil
}

func chooseAndCheckMethod(ctx context.Context, repo Repo, in Input, p *Plan, refuse *RefusedError) error {
	reasons, err := methodReasons(ctx, repo, in, p, refuse)
	if err != nil {
		return err
	}
	method := reasons[0].Method
	switch {
	case in.Method == Full && method == Serial:
		reasons = append([]Reason{{Rule: RuleRequested, Method: Full, Detail: "--method full was asked for"}}, reasons...)
		method = Full
	case in.Method == Serial && method == Full:
		refuse.Reasons = append(refuse.Reasons, fmt.Sprintf("--method serial was asked for, but this change needs a full deploy: %s", reasons[0].Detail))
	}
	p.Method, p.Reasons = method, reasons
	if !slices.Contains(in.Env.Policy.Methods, string(method)) {
		refuse.Reasons = append(refuse.Reasons, fmt.Sprintf("the %s method is not allowed in %s (policy.methods = %q), and this change needs it: %s",
			method, in.Env.Name, in.Env.Policy.Methods, reasons[0].Detail))
	}
	return nil
}

// methodReasons compares the deployed commit with the target in git and
// applies the method rules. A deployed commit that is not known (no tag,
// a tag its launch source does not confirm, or a commit the repository
// does not hold) asks for a full deploy.
func methodReasons(ctx context.Context, repo Repo, in Input, p *Plan, refuse *RefusedError) ([]Reason, error) {
	unknown := func() []Reason {
		detail := "no " + TagCommit + " tag: first deploy by Ferry"
		if p.Deployed.Source != "" {
			detail = p.Deployed.Source
		}
		return []Reason{{Rule: RuleUnknownDeployed, Method: Full, Detail: detail}}
	}
	from, to := p.Deployed.Commit, in.Target.Commit
	if from.IsZero() {
		return unknown(), nil
	}
	if in.Redeploy && from == to {
		return []Reason{{Rule: RuleRedeploy, Method: Serial,
			Detail: fmt.Sprintf("a redeploy of the deployed %s was asked for: the same code on new instances, from a new launch source", to.Short())}}, nil
	}
	back, err := repo.IsAncestor(ctx, to, from)
	if uc := (*UnknownCommitError)(nil); errors.As(err, &uc) && uc.Commit == from {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the deployed commit %s is not in the repository (history rewritten?)", from.Short()))
		p.Deployed.Source += "; not in the repository"
		return unknown(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("compare %s with %s: %w", to.Short(), from.Short(), err)
	}
	if back {
		p.TargetIsOlder = true
		if !in.AllowRollback {
			refuse.Reasons = append(refuse.Reasons, fmt.Sprintf(
				"%s is an ancestor of the deployed %s: this is a rollback; pass --allow-rollback to do it", to.Short(), from.Short()))
		}
		from, to = to, from // the rules judge the commits being undone
	} else if fwd, err := repo.IsAncestor(ctx, from, to); err != nil {
		return nil, fmt.Errorf("compare %s with %s: %w", from.Short(), to.Short(), err)
	} else if !fwd {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s does not descend from the deployed %s (the branch was force-pushed?)", to.Short(), from.Short()))
	}
	return chooseMethod(ctx, repo, in, from, to)
}

func launchSource(in Input) LaunchSource {
	ls := LaunchSource{Kind: in.Env.Launch.Kind, Template: in.Env.Launch.Template}
	if in.LaunchSource != "" {
		ls.Name, ls.Existing = in.LaunchSource, true
		return ls
	}
	ls.Name = LaunchSourceName(in.Project, in.Env.Name, in.Target.Commit, in.Now)
	return ls
}

// imagePlan says where the commit's image comes from when the environment
// bakes one per commit: the image tagged for it, or a bake. A launch source
// prepared ahead of time already names its image.
func imagePlan(ctx context.Context, c Cloud, in Input, ls LaunchSource) (*ImagePlan, error) {
	if in.Env.Launch.Image != config.LaunchImageBake || ls.Existing {
		return nil, nil
	}
	ip := &ImagePlan{BaseImage: in.Env.Launch.BaseImage}
	imgs, err := c.ImagesTagged(ctx, BakedImageTags(in.Project, in.Env.Name, in.Target.Commit))
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		if img.State == "available" {
			ip.ID = img.ID
			return ip, nil
		}
	}
	ip.Bake = true
	return ip, nil
}

// leaving reports whether an instance in this lifecycle state is leaving
// its group.
func leaving(state string) bool {
	return strings.HasPrefix(state, "Terminat") || strings.HasPrefix(state, "Detach")
}

// groupPlan sizes one group's deploy.
func groupPlan(g roleGroup, method Method, policy config.Policy) (GroupPlan, error) {
	grp := g.group
	n := grp.DesiredCapacity
	gp := GroupPlan{
		Role:          g.role,
		Name:          grp.Name,
		Balanced:      g.balanced,
		KeptSuspended: slices.Clone(grp.SuspendedProcesses),
		Capacity: Capacity{
			MinBefore:     grp.MinSize,
			MaxBefore:     grp.MaxSize,
			DesiredBefore: n,
			DesiredAfter:  n,
		},
	}
	old := slices.Clone(grp.Instances)
	slices.SortStableFunc(old, func(a, b cloud.Instance) int { return a.LaunchTime.Compare(b.LaunchTime) })
	for _, inst := range old {
		// An instance already on its way out (AZRebalance or a scale-in
		// terminating it) is no one's to replace: a batch of it would
		// find nothing to do.
		if !leaving(inst.LifecycleState) {
			gp.Replace = append(gp.Replace, inst.ID)
		}
	}
	switch method {
	case Full:
		gp.Capacity.DesiredDuring = 2 * n
	case Serial:
		batch := min(policy.SerialBatchSize, max(n, 1))
		switch policy.SerialMode {
		case config.SerialSurge:
			gp.Capacity.DesiredDuring = n + batch
		default: // replace-unhealthy: capacity dips by a batch
			gp.Capacity.DesiredDuring = n
			if g.balanced && n-batch < policy.MinHealthy {
				return gp, fmt.Errorf("%s: replacing %d of %d instances at once leaves %d serving, below policy.min_healthy = %d; lower serial_batch_size or use serial_mode = %q",
					grp.Name, batch, n, n-batch, policy.MinHealthy, config.SerialSurge)
			}
		}
	}
	gp.Capacity.MaxDuring = max(grp.MaxSize, gp.Capacity.DesiredDuring)
	return gp, nil
}

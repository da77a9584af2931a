package awssim

import (
	"fmt"
	"slices"
	"strings"
)

func (s *Sim) ltRefNode(name string, r *ltRef) *node {
	if r == nil {
		return nil
	}
	return el(name, leaf("LaunchTemplateId", r.ID), leaf("LaunchTemplateName", r.Name), leaf("Version", r.Version))
}

func (s *Sim) asgInstanceNode(inst *instance, withGroup bool) *node {
	n := el("",
		leaf("InstanceId", inst.ID), leaf("InstanceType", inst.InstanceType),
		leaf("AvailabilityZone", inst.AZ), leaf("LifecycleState", inst.Lifecycle),
		leaf("HealthStatus", inst.Health), opt("LaunchConfigurationName", inst.LaunchConfig),
		s.ltRefNode("LaunchTemplate", inst.LaunchTemplate), leaf("ProtectedFromScaleIn", inst.ProtectScale))
	if withGroup {
		n.kids = append(n.kids, leaf("AutoScalingGroupName", inst.Group))
	}
	return n
}

func (s *Sim) groupNodeLocked(g *group) *node {
	var ins []*node
	for _, inst := range s.membersLocked(g) {
		ins = append(ins, s.asgInstanceNode(inst, false))
	}
	var sus []*node
	for _, pr := range sortedKeys(g.Suspended) {
		sus = append(sus, el("", leaf("ProcessName", pr), leaf("SuspensionReason", g.Suspended[pr])))
	}
	var tags []*node
	for _, t := range g.Tags {
		tags = append(tags, el("", leaf("ResourceId", g.Name), leaf("ResourceType", "auto-scaling-group"),
			leaf("Key", t.Key), leaf("Value", t.Value), leaf("PropagateAtLaunch", t.Propagate)))
	}
	return el("",
		leaf("AutoScalingGroupName", g.Name), leaf("AutoScalingGroupARN", g.ARN),
		opt("LaunchConfigurationName", g.LaunchConfig), s.ltRefNode("LaunchTemplate", g.LaunchTemplate),
		leaf("MinSize", g.Min), leaf("MaxSize", g.Max), leaf("DesiredCapacity", g.Desired),
		leaf("DefaultCooldown", g.DefaultCooldown), strMembers("AvailabilityZones", g.AZs),
		strMembers("LoadBalancerNames", g.LoadBalancers), strMembers("TargetGroupARNs", g.TargetGroups),
		leaf("HealthCheckType", g.HealthCheckType), leaf("HealthCheckGracePeriod", g.HealthCheckGrace),
		members("Instances", ins), leaf("CreatedTime", g.Created), members("SuspendedProcesses", sus),
		opt("VPCZoneIdentifier", g.VPCZoneIdentifier), members("EnabledMetrics", nil),
		members("Tags", tags), strMembers("TerminationPolicies", g.TerminationPolicies),
		leaf("NewInstancesProtectedFromScaleIn", g.NewProtected))
}

// DescribeAutoScalingGroups [API_DescribeAutoScalingGroups]: by name or by
// tag filter (tag:K, tag-key, tag-value); MaxRecords (≤100, default 50).
func asDescribeAutoScalingGroups(s *Sim, p params) ([]*node, *APIError) {
	names := p.strs("AutoScalingGroupNames.member")
	if len(names) == 0 {
		names = sortedKeys(s.st.Groups)
	}
	var fs []filter
	for _, f := range p.subs("Filters.member") {
		fs = append(fs, filter{Name: f.str("Name"), Values: f.strs("Values.member")})
	}
	var keep []*group
	for _, n := range names {
		g := s.st.Groups[n]
		if g == nil {
			continue
		}
		ok := matchFilters(fs, func(name string) []string {
			var out []string
			for _, t := range g.Tags {
				switch {
				case name == "tag-key":
					out = append(out, t.Key)
				case name == "tag-value":
					out = append(out, t.Value)
				case name == "tag:"+t.Key:
					out = append(out, t.Value)
				}
			}
			return out
		})
		if ok {
			keep = append(keep, g)
		}
	}
	page, next, apiErr := paginateRecords(p, len(keep), 50)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, g := range keep[page.from:page.to] {
		its = append(its, s.groupNodeLocked(g))
	}
	return []*node{members("AutoScalingGroups", its), opt("NextToken", next)}, nil
}

// DescribeAutoScalingInstances [API_DescribeAutoScalingInstances].
func asDescribeAutoScalingInstances(s *Sim, p params) ([]*node, *APIError) {
	ids := p.strs("InstanceIds.member")
	var keep []*instance
	for _, id := range sortedKeys(s.st.Instances) {
		inst := s.st.Instances[id]
		if inst.Group == "" || len(ids) > 0 && !contains(ids, id) {
			continue
		}
		keep = append(keep, inst)
	}
	page, next, apiErr := paginateRecords(p, len(keep), 50)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, inst := range keep[page.from:page.to] {
		n := s.asgInstanceNode(inst, true)
		for _, k := range n.kids {
			if k.name == "HealthStatus" {
				k.text = strings.ToUpper(k.text) // this call answers HEALTHY / UNHEALTHY
			}
		}
		its = append(its, n)
	}
	return []*node{members("AutoScalingInstances", its), opt("NextToken", next)}, nil
}

// memberLocked finds the group of an instance the group manages.
func (s *Sim) memberLocked(id string) (*instance, *group) {
	inst := s.st.Instances[id]
	if inst == nil || inst.Group == "" || inst.Lifecycle == lcTerminated {
		return nil, nil
	}
	return inst, s.st.Groups[inst.Group]
}

// SetInstanceHealth [API_SetInstanceHealth]: Unhealthy instances are
// replaced by ReplaceUnhealthy (terminate, then launch). When the call
// respects the grace period (the default) and the instance is still within
// it, the call has no effect.
func asSetInstanceHealth(s *Sim, p params) ([]*node, *APIError) {
	id := p.str("InstanceId")
	inst, g := s.memberLocked(id)
	if inst == nil || g == nil {
		return nil, noManagedInstance(id)
	}
	hs := p.str("HealthStatus")
	if hs != healthy && hs != unhealthy {
		return nil, validation("Valid values for HealthStatus are: Healthy, Unhealthy")
	}
	if inst.Lifecycle == lcTerminating || inst.Lifecycle == lcDetaching {
		// "If the instance is already terminating, you get an error." [healthcheck]
		return nil, validation("Instance %s is already terminating", id)
	}
	if p.boolOr("ShouldRespectGracePeriod", true) && g.HealthCheckGrace > 0 && s.inGraceLocked(g, inst) {
		return nil, nil
	}
	inst.Health = hs
	return nil, nil
}

// TerminateInstanceInAutoScalingGroup
// [API_TerminateInstanceInAutoScalingGroup]: with
// ShouldDecrementDesiredCapacity the group shrinks by one (never below
// MinSize); without, the group launches a replacement.
func asTerminateInstanceInAutoScalingGroup(s *Sim, p params) ([]*node, *APIError) {
	id := p.str("InstanceId")
	if !p.has("ShouldDecrementDesiredCapacity") {
		return nil, validation("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	inst, g := s.memberLocked(id)
	if inst == nil || g == nil || inst.Lifecycle == lcTerminating || inst.Lifecycle == lcDetaching {
		return nil, noManagedInstance(id)
	}
	dec := p.boolOr("ShouldDecrementDesiredCapacity", false)
	now := s.now().Format("2006-01-02T15:04:05Z")
	var cause string
	if dec {
		if g.Desired <= g.Min {
			return nil, validation("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Min)
		}
		cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request, shrinking the capacity from %d to %d.", now, id, g.Desired, g.Desired-1)
		g.Desired--
	} else {
		cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", now, id)
	}
	a := s.startTerminationLocked(g, inst, cause)
	return []*node{s.activityNode("Activity", a)}, nil
}

// maxDetach is how many instances one DetachInstances call takes
// [API_DetachInstances].
const maxDetach = 20

// DetachInstances [API_DetachInstances, ec2-auto-scaling-detach-attach-instances]:
// only InService instances of the group may be detached, all or none. Each
// is deregistered from the group's classic balancers and target groups at
// once and is Detaching while they drain it (connection draining,
// deregistration delay), then leaves the group still running: it is then
// the caller's to terminate. With ShouldDecrementDesiredCapacity desired
// drops by the number detached (never below MinSize); without, the group
// launches replacements at once.
func asDetachInstances(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	if !p.has("ShouldDecrementDesiredCapacity") {
		return nil, validation("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	ids := p.strs("InstanceIds.member")
	if len(ids) > maxDetach {
		return nil, validation("1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to %d", maxDetach)
	}
	var insts []*instance
	for _, id := range ids {
		inst, ig := s.memberLocked(id)
		if inst == nil || ig != g {
			return nil, validation("The instance %s is not part of Auto Scaling group %s.", id, g.Name)
		}
		if inst.Lifecycle != lcInService {
			return nil, validation("The instance %s is not in InService.", id)
		}
		if !slices.Contains(insts, inst) {
			insts = append(insts, inst)
		}
	}
	dec := p.boolOr("ShouldDecrementDesiredCapacity", false)
	if dec && g.Desired-len(insts) < g.Min {
		return nil, validation("Detaching %d instance(s) with ShouldDecrementDesiredCapacity would violate group's min size constraint (%d). Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", len(insts), g.Min)
	}
	now := s.now().Format("2006-01-02T15:04:05Z")
	var acts []*node
	for _, inst := range insts {
		var cause string
		if dec {
			cause = fmt.Sprintf("At %s instance %s was detached in response to a user request, shrinking the capacity from %d to %d.", now, inst.ID, g.Desired, g.Desired-1)
			g.Desired--
		} else {
			cause = fmt.Sprintf("At %s instance %s was detached in response to a user request.", now, inst.ID)
		}
		inst.Lifecycle = lcDetaching
		inst.DrainUntil = s.now().Add(s.deregisterEverywhereLocked(g, inst))
		a := s.newActivityLocked(g, "Detaching EC2 instance: "+inst.ID, cause)
		inst.ActivityID = a.ID
		acts = append(acts, s.activityNode("", a))
	}
	return []*node{members("Activities", acts)}, nil
}

// DescribeScalingActivities [API_DescribeScalingActivities]: newest first,
// MaxRecords ≤100 (default 100).
func asDescribeScalingActivities(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("AutoScalingGroupName")
	ids := p.strs("ActivityIds.member")
	if name != "" {
		if _, apiErr := s.groupLocked(name); apiErr != nil {
			return nil, apiErr
		}
	}
	var keep []*activity
	for i := len(s.st.Activities) - 1; i >= 0; i-- {
		a := s.st.Activities[i]
		if name != "" && a.Group != name || len(ids) > 0 && !contains(ids, a.ID) {
			continue
		}
		keep = append(keep, a)
	}
	page, next, apiErr := paginateRecords(p, len(keep), 100)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, a := range keep[page.from:page.to] {
		its = append(its, s.activityNode("", a))
	}
	return []*node{members("Activities", its), opt("NextToken", next)}, nil
}

func (s *Sim) activityNode(name string, a *activity) *node {
	n := el(name, leaf("ActivityId", a.ID), leaf("AutoScalingGroupName", a.Group),
		leaf("Description", a.Description), leaf("Cause", a.Cause), leaf("StartTime", a.Start),
		leaf("StatusCode", a.Status), opt("StatusMessage", a.StatusMsg), leaf("Progress", a.Progress),
		leaf("Details", "{}"))
	if !a.End.IsZero() {
		n.kids = append(n.kids, leaf("EndTime", a.End))
	}
	return n
}

// AttachLoadBalancers [API_AttachLoadBalancers]: the group's InService
// instances are registered with the balancers.
func asAttachLoadBalancers(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	lbs, _, apiErr := s.readBalancersLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	for _, n := range lbs {
		if !contains(g.LoadBalancers, n) {
			g.LoadBalancers = append(g.LoadBalancers, n)
		}
		for _, inst := range s.membersLocked(g) {
			if inst.Lifecycle == lcInService {
				s.registerELBLocked(s.st.ELBs[n], inst.ID)
			}
		}
	}
	return nil, nil
}

// DetachLoadBalancers [API_DetachLoadBalancers]: the group's instances are
// deregistered.
func asDetachLoadBalancers(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	for _, n := range p.strs("LoadBalancerNames.member") {
		g.LoadBalancers = remove(g.LoadBalancers, n)
		if lb := s.st.ELBs[n]; lb != nil {
			for _, inst := range s.membersLocked(g) {
				delete(lb.Members, inst.ID)
			}
		}
	}
	return nil, nil
}

// AttachLoadBalancerTargetGroups [API_AttachLoadBalancerTargetGroups].
func asAttachLoadBalancerTargetGroups(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	_, tgs, apiErr := s.readBalancersLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	for _, a := range tgs {
		if !contains(g.TargetGroups, a) {
			g.TargetGroups = append(g.TargetGroups, a)
		}
		for _, inst := range s.membersLocked(g) {
			if inst.Lifecycle == lcInService {
				s.registerTargetLocked(s.st.TargetGroups[a], inst.ID, 0)
			}
		}
	}
	return nil, nil
}

// DetachLoadBalancerTargetGroups [API_DetachLoadBalancerTargetGroups]: the
// group's instances are deregistered (they drain).
func asDetachLoadBalancerTargetGroups(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	for _, a := range p.strs("TargetGroupARNs.member") {
		g.TargetGroups = remove(g.TargetGroups, a)
		if tg := s.st.TargetGroups[a]; tg != nil {
			for _, inst := range s.membersLocked(g) {
				s.deregisterTargetLocked(tg, inst.ID)
			}
		}
	}
	return nil, nil
}

// SetInstanceProtection [API_SetInstanceProtection]: protected instances
// are not chosen on scale-in [ec2-auto-scaling-instance-protection].
func asSetInstanceProtection(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	if !p.has("ProtectedFromScaleIn") {
		return nil, validation("1 validation error detected: Value null at 'protectedFromScaleIn' failed to satisfy constraint: Member must not be null")
	}
	ids := p.strs("InstanceIds.member")
	for _, id := range ids {
		if inst, ig := s.memberLocked(id); inst == nil || ig != g {
			return nil, validation("The instance %s is not part of Auto Scaling group %s.", id, g.Name)
		}
	}
	for _, id := range ids {
		s.st.Instances[id].ProtectScale = p.boolOr("ProtectedFromScaleIn", false)
	}
	return nil, nil
}

func remove(xs []string, x string) []string {
	var out []string
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func autoscalingActions() map[string]handlerFunc {
	return map[string]handlerFunc{
		"CreateLaunchConfiguration":           asCreateLaunchConfiguration,
		"DescribeLaunchConfigurations":        asDescribeLaunchConfigurations,
		"DeleteLaunchConfiguration":           asDeleteLaunchConfiguration,
		"CreateAutoScalingGroup":              asCreateAutoScalingGroup,
		"DescribeAutoScalingGroups":           asDescribeAutoScalingGroups,
		"UpdateAutoScalingGroup":              asUpdateAutoScalingGroup,
		"DeleteAutoScalingGroup":              asDeleteAutoScalingGroup,
		"SetDesiredCapacity":                  asSetDesiredCapacity,
		"SuspendProcesses":                    asSuspendProcesses,
		"ResumeProcesses":                     asResumeProcesses,
		"SetInstanceHealth":                   asSetInstanceHealth,
		"TerminateInstanceInAutoScalingGroup": asTerminateInstanceInAutoScalingGroup,
		"DetachInstances":                     asDetachInstances,
		"SetInstanceProtection":               asSetInstanceProtection,
		"CreateOrUpdateTags":                  asCreateOrUpdateTags,
		"DeleteTags":                          asDeleteTags,
		"DescribeTags":                        asDescribeTags,
		"DescribeScalingProcessTypes":         asDescribeScalingProcessTypes,
		"DescribeTerminationPolicyTypes":      asDescribeTerminationPolicyTypes,
		"DescribeLoadBalancers":               asDescribeLoadBalancers,
		"DescribeLoadBalancerTargetGroups":    asDescribeLoadBalancerTargetGroups,
		"DescribeScalingActivities":           asDescribeScalingActivities,
		"DescribeAutoScalingInstances":        asDescribeAutoScalingInstances,
		"AttachLoadBalancers":                 asAttachLoadBalancers,
		"DetachLoadBalancers":                 asDetachLoadBalancers,
		"AttachLoadBalancerTargetGroups":      asAttachLoadBalancerTargetGroups,
		"DetachLoadBalancerTargetGroups":      asDetachLoadBalancerTargetGroups,
	}
}

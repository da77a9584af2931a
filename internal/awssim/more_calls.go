package awssim

import (
	"slices"
	"strings"
)

// Calls an operator makes by hand around Ferry that the AWS CLI and boto3
// sessions (internal/awssim/clients) found missing.

// DescribeRegions [API_DescribeRegions]: the simulator's one region;
// another RegionName is InvalidParameterValue.
func ec2DescribeRegions(s *Sim, p params) ([]*node, *APIError) {
	for _, n := range p.strs("RegionName") {
		if n != s.opts.Region {
			return nil, errf("InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	return []*node{items("regionInfo", []*node{el("",
		leaf("regionName", s.opts.Region), leaf("regionEndpoint", "ec2."+s.opts.Region+".amazonaws.com"),
		leaf("optInStatus", "opt-in-not-required"))})}, nil
}

// DeleteTags [API_DeleteTags] (EC2): a Tag with a Value deletes the key
// only when it has that value; without Tags every tag goes (but the
// aws: ones, which no one may delete).
func ec2DeleteTags(s *Sim, p params) ([]*node, *APIError) {
	_, all, apiErr := s.tagTargetsLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	for _, t := range p.subs("Tag") {
		if strings.HasPrefix(t.str("Key"), "aws:") {
			return nil, errf("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	for _, tags := range all {
		if len(p.indices("Tag")) == 0 {
			for k := range tags {
				if !strings.HasPrefix(k, "aws:") {
					delete(tags, k)
				}
			}
			continue
		}
		for _, t := range p.subs("Tag") {
			if v, ok := tags[t.str("Key")]; ok && (!t.has("Value") || t.str("Value") == v) {
				delete(tags, t.str("Key"))
			}
		}
	}
	return []*node{leaf("return", true)}, nil
}

// DescribeInstanceAttribute [API_DescribeInstanceAttribute]: instanceType,
// userData (base64, as launched), groupSet, disableApiTermination (always
// false: termination protection is not simulated).
func ec2DescribeInstanceAttribute(s *Sim, p params) ([]*node, *APIError) {
	id := p.str("InstanceId")
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if apiErr := instanceIDs.check(id); apiErr != nil {
		return nil, apiErr
	}
	inst := s.st.Instances[id]
	if inst == nil || !inst.visible(s.now()) {
		return nil, errf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	out := []*node{leaf("instanceId", id)}
	switch attr := p.str("Attribute"); attr {
	case "instanceType":
		out = append(out, el("instanceType", leaf("value", inst.InstanceType)))
	case "userData":
		n := el("userData")
		if inst.UserData != "" {
			n.kids = append(n.kids, leaf("value", inst.UserData))
		}
		out = append(out, n)
	case "groupSet":
		var gs []*node
		for _, g := range inst.SecurityGroups {
			gs = append(gs, el("", leaf("groupId", g)))
		}
		out = append(out, items("groupSet", gs))
	case "disableApiTermination":
		out = append(out, el("disableApiTermination", leaf("value", false)))
	default:
		return nil, errf("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	return out, nil
}

// RevokeSecurityGroupIngress [API_RevokeSecurityGroupIngress]: removes the
// rules named; a rule the group does not have is reported in
// UnknownIpPermissions (the call still succeeds).
func ec2RevokeSecurityGroupIngress(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.ingressGroupLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	var unknown []sgRule
	for _, perm := range p.subs("IpPermissions") {
		proto := perm.str("IpProtocol")
		from, to, apiErr := permPorts(perm)
		if apiErr != nil {
			return nil, apiErr
		}
		var rules []sgRule
		for _, r := range perm.subs("IpRanges") {
			rules = append(rules, sgRule{Proto: proto, From: from, To: to, CIDR: r.str("CidrIp")})
		}
		for _, r := range perm.subs("Groups") {
			rules = append(rules, sgRule{Proto: proto, From: from, To: to, Group: r.str("GroupId")})
		}
		for _, r := range rules {
			if i := slices.Index(g.Ingress, r); i >= 0 {
				g.Ingress = slices.Delete(g.Ingress, i, i+1)
			} else {
				unknown = append(unknown, r)
			}
		}
	}
	return []*node{leaf("return", true), items("unknownIpPermissionSet", ingressNodes(unknown))}, nil
}

// DescribeLoadBalancers [API_DescribeLoadBalancers] (Auto Scaling): the
// group's Classic ELBs, each InService once attached (registration is
// not tracked apart).
func asDescribeLoadBalancers(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, n := range g.LoadBalancers {
		its = append(its, el("", leaf("LoadBalancerName", n), leaf("State", "InService")))
	}
	return []*node{members("LoadBalancers", its)}, nil
}

// DescribeLoadBalancerTargetGroups [API_DescribeLoadBalancerTargetGroups]:
// the group's target groups, each InService once attached.
func asDescribeLoadBalancerTargetGroups(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, a := range g.TargetGroups {
		its = append(its, el("", leaf("LoadBalancerTargetGroupARN", a), leaf("State", "InService")))
	}
	return []*node{members("LoadBalancerTargetGroups", its)}, nil
}

// DescribeTerminationPolicyTypes [API_DescribeTerminationPolicyTypes].
func asDescribeTerminationPolicyTypes(*Sim, params) ([]*node, *APIError) {
	return []*node{strMembers("TerminationPolicyTypes", terminationPolicyNames)}, nil
}

// RemoveTags [API_RemoveTags] (classic): removes keys from one balancer.
func elbRemoveTags(s *Sim, p params) ([]*node, *APIError) {
	names := p.strs("LoadBalancerNames.member")
	if len(names) != 1 {
		return nil, validation("LoadBalancerNames must have exactly one member")
	}
	lb, apiErr := s.elbLocked(names[0])
	if apiErr != nil {
		return nil, apiErr
	}
	for _, t := range p.subs("Tags.member") {
		delete(lb.Tags, t.str("Key"))
	}
	return nil, nil
}

// elbv2TagsLocked is the tag map of a load balancer or target group by
// ARN.
func (s *Sim) elbv2TagsLocked(arn string) (map[string]string, *APIError) {
	if lb := s.st.LoadBalancersV2[arn]; lb != nil {
		if lb.Tags == nil {
			lb.Tags = map[string]string{}
		}
		return lb.Tags, nil
	}
	if tg := s.st.TargetGroups[arn]; tg != nil {
		if tg.Tags == nil {
			tg.Tags = map[string]string{}
		}
		return tg.Tags, nil
	}
	if strings.Contains(arn, ":targetgroup/") {
		return nil, tgNotFound()
	}
	return nil, lbV2NotFound()
}

// AddTags [API_AddTags] (ELBv2): tags on load balancers and target groups.
func elbv2AddTags(s *Sim, p params) ([]*node, *APIError) {
	arns := p.strs("ResourceArns.member")
	tags := p.subs("Tags.member")
	if len(arns) == 0 || len(tags) == 0 {
		return nil, validation("ResourceArns and Tags are required")
	}
	for _, a := range arns {
		m, apiErr := s.elbv2TagsLocked(a)
		if apiErr != nil {
			return nil, apiErr
		}
		for _, t := range tags {
			m[t.str("Key")] = t.str("Value")
		}
	}
	return nil, nil
}

// RemoveTags [API_RemoveTags] (ELBv2).
func elbv2RemoveTags(s *Sim, p params) ([]*node, *APIError) {
	for _, a := range p.strs("ResourceArns.member") {
		m, apiErr := s.elbv2TagsLocked(a)
		if apiErr != nil {
			return nil, apiErr
		}
		for _, k := range p.strs("TagKeys.member") {
			delete(m, k)
		}
	}
	return nil, nil
}

// DescribeTags [API_DescribeTags] (ELBv2): the tags of up to 20 resources.
func elbv2DescribeTags(s *Sim, p params) ([]*node, *APIError) {
	arns := p.strs("ResourceArns.member")
	if len(arns) == 0 || len(arns) > 20 {
		return nil, validation("ResourceArns must have 1 to 20 members")
	}
	var its []*node
	for _, a := range arns {
		m, apiErr := s.elbv2TagsLocked(a)
		if apiErr != nil {
			return nil, apiErr
		}
		its = append(its, el("", leaf("ResourceArn", a), tagMembers(m)))
	}
	return []*node{members("TagDescriptions", its)}, nil
}

// ModifyTargetGroup [API_ModifyTargetGroup]: the health check settings;
// the next checks use them, the thresholds' counts so far stay.
func elbv2ModifyTargetGroup(s *Sim, p params) ([]*node, *APIError) {
	tg, apiErr := s.targetGroupLocked(p.str("TargetGroupArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	hc := tg.HealthCheck
	if v := strings.ToUpper(p.str("HealthCheckProtocol")); v != "" {
		hc.Protocol = v
	}
	if v := p.str("HealthCheckPath"); v != "" {
		hc.Path = v
	}
	if v := p.str("Matcher.HttpCode"); v != "" {
		hc.Matcher = v
	}
	if v := p.str("HealthCheckPort"); v != "" {
		hc.PortSpec, hc.Port = v, tg.Port
		if v != "traffic-port" {
			if hc.Port, apiErr = p.intOr("HealthCheckPort", tg.Port); apiErr != nil {
				return nil, apiErr
			}
		}
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"HealthCheckIntervalSeconds", &hc.Interval}, {"HealthCheckTimeoutSeconds", &hc.Timeout}, {"HealthyThresholdCount", &hc.Healthy}, {"UnhealthyThresholdCount", &hc.Unhealthy}} {
		v, apiErr := p.intOr(f.key, *f.dst)
		if apiErr != nil {
			return nil, apiErr
		}
		*f.dst = v
	}
	if hc.Interval < 5 || hc.Interval > 300 || hc.Timeout < 2 || hc.Timeout > 120 || hc.Healthy < 2 || hc.Healthy > 10 || hc.Unhealthy < 2 || hc.Unhealthy > 10 {
		return nil, validation("Health check settings out of range")
	}
	if hc.Timeout >= hc.Interval {
		return nil, validation("Health check interval must be greater than the timeout.")
	}
	tg.HealthCheck = hc
	return []*node{members("TargetGroups", []*node{s.targetGroupNode(tg)})}, nil
}

package awssim

import (
	"slices"
	"strings"
)

// DeleteSecurityGroup [API_DeleteSecurityGroup]: by GroupId or (default
// VPC) GroupName. A group an instance that is not terminated still uses, or
// a classic load balancer names, cannot be deleted: DependencyViolation,
// which a caller retries once the instance has terminated.
func ec2DeleteSecurityGroup(s *Sim, p params) ([]*node, *APIError) {
	id, name := p.str("GroupId"), p.str("GroupName")
	var g *securityGroup
	switch {
	case id != "":
		if apiErr := groupIDs.check(id); apiErr != nil {
			return nil, apiErr
		}
		if g = s.st.SecurityGroups[id]; g == nil {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	case name != "":
		if g = s.securityGroupByNameLocked(name); g == nil {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, defaultVPCID)
		}
	default:
		return nil, errf("MissingParameter", "The request must contain the parameter GroupName or GroupId")
	}
	for _, iid := range sortedKeys(s.st.Instances) {
		inst := s.st.Instances[iid]
		if inst.State != stateTerminated && contains(inst.SecurityGroups, g.ID) {
			return nil, errf("DependencyViolation", "resource %s has a dependent object", g.ID)
		}
	}
	for _, lb := range s.st.ELBs {
		if contains(lb.SecGroups, g.ID) {
			return nil, errf("DependencyViolation", "resource %s has a dependent object", g.ID)
		}
	}
	delete(s.st.SecurityGroups, g.ID)
	return []*node{leaf("return", true), leaf("groupId", g.ID)}, nil
}

// DeleteLaunchTemplate [API_DeleteLaunchTemplate]: the template and all
// its versions, by LaunchTemplateId or LaunchTemplateName.
func ec2DeleteLaunchTemplate(s *Sim, p params) ([]*node, *APIError) {
	id, name := p.str("LaunchTemplateId"), p.str("LaunchTemplateName")
	var lt *launchTemplate
	switch {
	case id != "":
		if apiErr := templateIDs.check(id); apiErr != nil {
			return nil, apiErr
		}
		if lt = s.st.LaunchTemplates[id]; lt == nil {
			return nil, errf("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
		}
	case name != "":
		for _, t := range s.st.LaunchTemplates {
			if t.Name == name {
				lt = t
			}
		}
		if lt == nil {
			return nil, errf("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
		}
	default:
		return nil, errf("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
	}
	delete(s.st.LaunchTemplates, lt.ID)
	return []*node{el("launchTemplate", leaf("launchTemplateId", lt.ID), leaf("launchTemplateName", lt.Name),
		leaf("createTime", lt.Created), leaf("defaultVersionNumber", lt.DefaultVersion),
		leaf("latestVersionNumber", len(lt.Versions)))}, nil
}

// AuthorizeSecurityGroupIngress [API_AuthorizeSecurityGroupIngress]: the
// rules of IpPermissions (IpRanges and Groups sources) added to the group;
// a rule it already has is InvalidPermission.Duplicate and adds nothing,
// a source group that does not exist InvalidGroup.NotFound. Rules are kept
// and described, not enforced.
func ec2AuthorizeSecurityGroupIngress(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.ingressGroupLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	var add []sgRule
	for _, perm := range p.subs("IpPermissions") {
		proto := perm.str("IpProtocol")
		from, to, apiErr := permPorts(perm)
		if apiErr != nil {
			return nil, apiErr
		}
		if proto == "" {
			return nil, errf("MissingParameter", "The request must contain the parameter ipProtocol")
		}
		for _, r := range perm.subs("IpRanges") {
			add = append(add, sgRule{Proto: proto, From: from, To: to, CIDR: r.str("CidrIp")})
		}
		for _, r := range perm.subs("Groups") {
			id := r.str("GroupId")
			if apiErr := groupIDs.check(id); apiErr != nil {
				return nil, apiErr
			}
			if s.st.SecurityGroups[id] == nil {
				return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
			}
			add = append(add, sgRule{Proto: proto, From: from, To: to, Group: id})
		}
	}
	if len(add) == 0 {
		return nil, errf("MissingParameter", "The request must contain the parameter IpPermissions")
	}
	for _, r := range add {
		if slices.Contains(g.Ingress, r) {
			src := r.CIDR + r.Group
			return nil, errf("InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists", src, strings.ToUpper(r.Proto), r.From, r.To)
		}
	}
	g.Ingress = append(g.Ingress, add...)
	return []*node{leaf("return", true)}, nil
}

// ingressNodes describes rules as EC2 does: one ipPermissions item per
// protocol and port range, its sources under ipRanges and groups.
func ingressNodes(rules []sgRule) []*node {
	type key struct {
		proto    string
		from, to int
	}
	var order []key
	byKey := map[key][]sgRule{}
	for _, r := range rules {
		k := key{r.Proto, r.From, r.To}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	var out []*node
	for _, k := range order {
		var cidrs, groups []*node
		for _, r := range byKey[k] {
			if r.CIDR != "" {
				cidrs = append(cidrs, el("", leaf("cidrIp", r.CIDR)))
			} else {
				groups = append(groups, el("", leaf("groupId", r.Group)))
			}
		}
		out = append(out, el("", leaf("ipProtocol", k.proto), leaf("fromPort", k.from), leaf("toPort", k.to),
			items("groups", groups), items("ipRanges", cidrs)))
	}
	return out
}

// ingressGroupLocked finds the security group an ingress call names by
// GroupId or, failing that, GroupName.
func (s *Sim) ingressGroupLocked(p params) (*securityGroup, *APIError) {
	if id := p.str("GroupId"); id != "" {
		if apiErr := groupIDs.check(id); apiErr != nil {
			return nil, apiErr
		}
	}
	g := s.st.SecurityGroups[p.str("GroupId")]
	if g == nil && p.str("GroupName") != "" {
		g = s.securityGroupByNameLocked(p.str("GroupName"))
	}
	if g == nil {
		return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist", p.str("GroupId")+p.str("GroupName"))
	}
	return g, nil
}

// permPorts reads an IpPermissions entry's FromPort and ToPort (-1 when
// absent).
func permPorts(perm params) (from, to int, apiErr *APIError) {
	if from, apiErr = perm.intOr("FromPort", -1); apiErr != nil {
		return 0, 0, apiErr
	}
	if to, apiErr = perm.intOr("ToPort", -1); apiErr != nil {
		return 0, 0, apiErr
	}
	return from, to, nil
}

package awssim

// DeleteSecurityGroup [API_DeleteSecurityGroup]: by GroupId or (default
// VPC) GroupName. A group an instance that is not terminated still uses, or
// a classic load balancer names, cannot be deleted: DependencyViolation,
// which a caller retries once the instance has terminated.
func ec2DeleteSecurityGroup(s *Sim, p params) ([]*node, *APIError) {
	id, name := p.str("GroupId"), p.str("GroupName")
	var g *securityGroup
	switch {
	case id != "":
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

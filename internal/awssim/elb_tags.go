package awssim

// AddTags [API_AddTags] (classic): adds tags to a balancer or replaces
// the values of keys it has (one balancer per call here; AWS takes one).
func elbAddTags(s *Sim, p params) ([]*node, *APIError) {
	names := p.strs("LoadBalancerNames.member")
	if len(names) != 1 {
		return nil, validation("LoadBalancerNames must have exactly one member")
	}
	lb, apiErr := s.elbLocked(names[0])
	if apiErr != nil {
		return nil, apiErr
	}
	tags := p.subs("Tags.member")
	if len(tags) == 0 {
		return nil, validation("Tags is required")
	}
	if lb.Tags == nil {
		lb.Tags = map[string]string{}
	}
	for _, t := range tags {
		lb.Tags[t.str("Key")] = t.str("Value")
	}
	return nil, nil
}

// DescribeTags [API_DescribeTags] (classic): the tags of 1 to 20
// balancers by name; a missing one is LoadBalancerNotFound.
func elbDescribeTags(s *Sim, p params) ([]*node, *APIError) {
	names := p.strs("LoadBalancerNames.member")
	if len(names) == 0 || len(names) > 20 {
		return nil, validation("LoadBalancerNames must have 1 to 20 members")
	}
	var its []*node
	for _, n := range names {
		lb, apiErr := s.elbLocked(n)
		if apiErr != nil {
			return nil, apiErr
		}
		its = append(its, el("", leaf("LoadBalancerName", lb.Name), tagMembers(lb.Tags)))
	}
	return []*node{members("TagDescriptions", its)}, nil
}

// tagMembers renders a tag map as a Tags member list in key order, as
// both load balancer APIs' DescribeTags answer.
func tagMembers(m map[string]string) *node {
	var tags []*node
	for _, k := range sortedKeys(m) {
		tags = append(tags, el("", leaf("Key", k), leaf("Value", m[k])))
	}
	return members("Tags", tags)
}

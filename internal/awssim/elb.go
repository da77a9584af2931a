package awssim

import (
	"fmt"
	"strings"
)

func lbNotFound(name string) *APIError {
	return errf("LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", name)
}

func (s *Sim) elbLocked(name string) (*classicLB, *APIError) {
	if name == "" {
		return nil, validation("LoadBalancerName is required")
	}
	lb := s.st.ELBs[name]
	if lb == nil {
		return nil, lbNotFound(name)
	}
	return lb, nil
}

// CreateLoadBalancer [API_CreateLoadBalancer]: the default health check is
// TCP to the first listener's instance port, Interval 30, Timeout 5,
// UnhealthyThreshold 2, HealthyThreshold 10.
func elbCreateLoadBalancer(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("LoadBalancerName")
	if name == "" {
		return nil, validation("LoadBalancerName is required")
	}
	if s.st.ELBs[name] != nil {
		return nil, errf("DuplicateLoadBalancerName", "Load Balancer named '%s' already exists", name)
	}
	var ls []elbListener
	for _, l := range p.subs("Listeners.member") {
		port, apiErr := l.intOr("LoadBalancerPort", 0)
		if apiErr != nil {
			return nil, apiErr
		}
		iport, apiErr := l.intOr("InstancePort", 0)
		if apiErr != nil {
			return nil, apiErr
		}
		proto := strings.ToUpper(l.str("Protocol"))
		iproto := strings.ToUpper(l.str("InstanceProtocol"))
		if iproto == "" {
			iproto = proto
		}
		ls = append(ls, elbListener{Protocol: proto, Port: port, InstanceProtocol: iproto, InstancePort: iport})
	}
	if len(ls) == 0 {
		return nil, validation("Listeners is required")
	}
	lb := &classicLB{
		Name: name, Created: s.now(), Listeners: ls,
		DNSName:      fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", name, 1000000+s.st.Seq, s.opts.Region),
		AZs:          p.strs("AvailabilityZones.member"),
		Subnets:      p.strs("Subnets.member"),
		SecGroups:    p.strs("SecurityGroups.member"),
		Scheme:       p.str("Scheme"),
		HealthCheck:  healthCheck{Protocol: "TCP", Port: ls[0].InstancePort, Interval: 30, Timeout: 5, Unhealthy: 2, Healthy: 10},
		Members:      map[string]*target{},
		Known:        map[string]bool{},
		DrainTimeout: 300,
		Tags:         map[string]string{},
	}
	for _, t := range p.subs("Tags.member") {
		lb.Tags[t.str("Key")] = t.str("Value")
	}
	if lb.Scheme == "" {
		lb.Scheme = "internet-facing"
	}
	s.st.ELBs[name] = lb
	if err := s.startProxyLocked("elb/" + name); err != nil {
		s.log.Warn("awssim: balancer listener", "err", err)
	}
	return []*node{leaf("DNSName", lb.DNSName)}, nil
}

// DeleteLoadBalancer [API_DeleteLoadBalancer].
func elbDeleteLoadBalancer(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("LoadBalancerName")
	if s.st.ELBs[name] == nil {
		return nil, nil // deleting a missing balancer succeeds
	}
	delete(s.st.ELBs, name)
	s.stopProxiesLocked("elb/" + name)
	return nil, nil
}

func healthCheckNode(hc healthCheck) *node {
	return el("HealthCheck", leaf("Target", hc.target()), leaf("Interval", hc.Interval),
		leaf("Timeout", hc.Timeout), leaf("UnhealthyThreshold", hc.Unhealthy), leaf("HealthyThreshold", hc.Healthy))
}

// ConfigureHealthCheck [API_ConfigureHealthCheck].
func elbConfigureHealthCheck(s *Sim, p params) ([]*node, *APIError) {
	lb, apiErr := s.elbLocked(p.str("LoadBalancerName"))
	if apiErr != nil {
		return nil, apiErr
	}
	hp := p.sub("HealthCheck")
	proto, port, path, ok := parseHealthTarget(hp.str("Target"))
	if !ok {
		return nil, validation("Invalid health check target: %q", hp.str("Target"))
	}
	hc := healthCheck{Protocol: proto, Port: port, Path: path}
	for _, f := range []struct {
		key      string
		dst      *int
		min, max int
	}{{"Interval", &hc.Interval, 5, 300}, {"Timeout", &hc.Timeout, 2, 60}, {"UnhealthyThreshold", &hc.Unhealthy, 2, 10}, {"HealthyThreshold", &hc.Healthy, 2, 10}} {
		v, apiErr := hp.intOr(f.key, 0)
		if apiErr != nil {
			return nil, apiErr
		}
		if v < f.min || v > f.max {
			return nil, validation("Value %d for HealthCheck.%s must be between %d and %d", v, f.key, f.min, f.max)
		}
		*f.dst = v
	}
	if hc.Timeout >= hc.Interval {
		return nil, validation("HealthCheck Timeout must be less than Interval")
	}
	lb.HealthCheck = hc
	return []*node{healthCheckNode(hc)}, nil
}

func instanceMembers(ids []string) *node {
	var its []*node
	for _, id := range ids {
		its = append(its, el("", leaf("InstanceId", id)))
	}
	return members("Instances", its)
}

// registerELBLocked adds an instance to a balancer: OutOfService until it
// passes HealthyThreshold checks [API_RegisterInstancesWithLoadBalancer].
// Its first check is due at once (see firstCheckDue).
func (s *Sim) registerELBLocked(lb *classicLB, id string) {
	if lb.Members[id] != nil {
		return
	}
	now := s.now()
	lb.Members[id] = &target{ID: id, Registered: now, State: elbOutOfService, Reason: elbRegistering, NextCheck: firstCheckDue(now)}
	lb.Known[id] = true
}

// RegisterInstancesWithLoadBalancer [API_RegisterInstancesWithLoadBalancer].
func elbRegisterInstances(s *Sim, p params) ([]*node, *APIError) {
	lb, apiErr := s.elbLocked(p.str("LoadBalancerName"))
	if apiErr != nil {
		return nil, apiErr
	}
	var ids []string
	for _, m := range p.subs("Instances.member") {
		ids = append(ids, m.str("InstanceId"))
	}
	for _, id := range ids {
		inst := s.st.Instances[id]
		if inst == nil || inst.State == stateTerminated || inst.State == stateShuttingDown {
			return nil, errf("InvalidInstance", "The following instances are not valid: %s", id)
		}
	}
	for _, id := range ids {
		s.registerELBLocked(lb, id)
	}
	return []*node{instanceMembers(sortedKeys(lb.Members))}, nil
}

// DeregisterInstancesFromLoadBalancer [API_DeregisterInstancesFromLoadBalancer]:
// the balancer stops sending new requests to the instance at once.
func elbDeregisterInstances(s *Sim, p params) ([]*node, *APIError) {
	lb, apiErr := s.elbLocked(p.str("LoadBalancerName"))
	if apiErr != nil {
		return nil, apiErr
	}
	for _, m := range p.subs("Instances.member") {
		id := m.str("InstanceId")
		if !lb.Known[id] && s.st.Instances[id] == nil {
			return nil, errf("InvalidInstance", "Could not find EC2 instance %s.", id)
		}
		delete(lb.Members, id)
	}
	return []*node{instanceMembers(sortedKeys(lb.Members))}, nil
}

// DescribeInstanceHealth [API_DescribeInstanceHealth]. An instance the
// balancer has never known is InvalidInstance "Could not find EC2 instance";
// one it knew but no longer has is OutOfService, ReasonCode N/A.
func elbDescribeInstanceHealth(s *Sim, p params) ([]*node, *APIError) {
	lb, apiErr := s.elbLocked(p.str("LoadBalancerName"))
	if apiErr != nil {
		return nil, apiErr
	}
	now := s.now()
	var ids []string
	for _, m := range p.subs("Instances.member") {
		ids = append(ids, m.str("InstanceId"))
	}
	if len(ids) == 0 {
		ids = sortedKeys(lb.Members)
	}
	var its []*node
	for _, id := range ids {
		inst := s.st.Instances[id]
		if !lb.Known[id] || inst != nil && !inst.visible(now) {
			return nil, errf("InvalidInstance", "Could not find EC2 instance %s.", id)
		}
		state, code, desc := elbOutOfService, "N/A", elbNotMember
		if m := lb.Members[id]; m != nil {
			state = m.State
			switch {
			case m.State == elbInService:
				code, desc = "N/A", "N/A"
			case m.Reason == elbRegistering:
				code, desc = "ELB", m.Reason
			default:
				code, desc = "Instance", m.Reason
			}
		}
		its = append(its, el("", leaf("InstanceId", id), leaf("State", state), leaf("ReasonCode", code), leaf("Description", desc)))
	}
	return []*node{members("InstanceStates", its)}, nil
}

// DescribeLoadBalancers [API_DescribeLoadBalancers]: Marker / PageSize
// (1–400).
func elbDescribeLoadBalancers(s *Sim, p params) ([]*node, *APIError) {
	names := p.strs("LoadBalancerNames.member")
	for _, n := range names {
		if s.st.ELBs[n] == nil {
			return nil, lbNotFound(n)
		}
	}
	if len(names) == 0 {
		names = sortedKeys(s.st.ELBs)
	}
	size, apiErr := p.intOr("PageSize", 400)
	if apiErr != nil {
		return nil, apiErr
	}
	if size < 1 || size > 400 {
		return nil, validation("PageSize must be between 1 and 400")
	}
	page, next, ok := paginate(p.str("Marker"), size, len(names))
	if !ok {
		return nil, validation("Invalid Marker")
	}
	var its []*node
	for _, n := range names[page.from:page.to] {
		lb := s.st.ELBs[n]
		var ls []*node
		for _, l := range lb.Listeners {
			ls = append(ls, el("", el("Listener", leaf("Protocol", l.Protocol), leaf("LoadBalancerPort", l.Port),
				leaf("InstanceProtocol", l.InstanceProtocol), leaf("InstancePort", l.InstancePort)), members("PolicyNames", nil)))
		}
		its = append(its, el("",
			leaf("LoadBalancerName", lb.Name), leaf("DNSName", lb.DNSName),
			members("ListenerDescriptions", ls), healthCheckNode(lb.HealthCheck),
			instanceMembers(sortedKeys(lb.Members)),
			strMembers("AvailabilityZones", lb.AZs), strMembers("Subnets", lb.Subnets),
			strMembers("SecurityGroups", lb.SecGroups),
			leaf("CreatedTime", lb.Created), leaf("Scheme", lb.Scheme)))
	}
	return []*node{members("LoadBalancerDescriptions", its), opt("NextMarker", next)}, nil
}

func lbAttributes(lb *classicLB) *node {
	return el("LoadBalancerAttributes",
		el("ConnectionDraining", leaf("Enabled", lb.DrainEnabled), leaf("Timeout", lb.DrainTimeout)),
		el("CrossZoneLoadBalancing", leaf("Enabled", true)),
		el("ConnectionSettings", leaf("IdleTimeout", 60)),
		el("AccessLog", leaf("Enabled", false)))
}

// ModifyLoadBalancerAttributes [API_ModifyLoadBalancerAttributes]: only
// ConnectionDraining (timeout 1–3600 s) has an effect: the group waits for
// it before terminating an instance it deregistered.
func elbModifyLoadBalancerAttributes(s *Sim, p params) ([]*node, *APIError) {
	lb, apiErr := s.elbLocked(p.str("LoadBalancerName"))
	if apiErr != nil {
		return nil, apiErr
	}
	cd := p.sub("LoadBalancerAttributes.ConnectionDraining")
	if cd.has("Enabled") {
		timeout, apiErr := cd.intOr("Timeout", 300)
		if apiErr != nil {
			return nil, apiErr
		}
		if timeout < 1 || timeout > 3600 {
			return nil, validation("ConnectionDraining Timeout must be between 1 and 3600")
		}
		lb.DrainEnabled, lb.DrainTimeout = cd.boolOr("Enabled", false), timeout
	}
	return []*node{leaf("LoadBalancerName", lb.Name), lbAttributes(lb)}, nil
}

// DescribeLoadBalancerAttributes [API_DescribeLoadBalancerAttributes].
func elbDescribeLoadBalancerAttributes(s *Sim, p params) ([]*node, *APIError) {
	lb, apiErr := s.elbLocked(p.str("LoadBalancerName"))
	if apiErr != nil {
		return nil, apiErr
	}
	return []*node{lbAttributes(lb)}, nil
}

func elbActions() map[string]handlerFunc {
	return map[string]handlerFunc{
		"ModifyLoadBalancerAttributes":        elbModifyLoadBalancerAttributes,
		"DescribeLoadBalancerAttributes":      elbDescribeLoadBalancerAttributes,
		"CreateLoadBalancer":                  elbCreateLoadBalancer,
		"DeleteLoadBalancer":                  elbDeleteLoadBalancer,
		"ConfigureHealthCheck":                elbConfigureHealthCheck,
		"RegisterInstancesWithLoadBalancer":   elbRegisterInstances,
		"DeregisterInstancesFromLoadBalancer": elbDeregisterInstances,
		"DescribeInstanceHealth":              elbDescribeInstanceHealth,
		"DescribeLoadBalancers":               elbDescribeLoadBalancers,
		"AddTags":                             elbAddTags,
		"DescribeTags":                        elbDescribeTags,
		"RemoveTags":                          elbRemoveTags,
	}
}

package awssim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

func tgNotFound() *APIError {
	return errf("TargetGroupNotFound", "One or more target groups not found")
}

func (s *Sim) targetGroupLocked(arn string) (*targetGroup, *APIError) {
	tg := s.st.TargetGroups[arn]
	if tg == nil {
		return nil, tgNotFound()
	}
	return tg, nil
}

// CreateTargetGroup [API_CreateTargetGroup]: HTTP health checks of "/" every
// 30 s, timeout 5 s, 5 passes to be healthy, 2 failures to be unhealthy,
// matcher 200, deregistration delay 300 s unless set.
func elbv2CreateTargetGroup(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("Name")
	if name == "" {
		return nil, validation("Name is required")
	}
	if !validELBv2Name(name) {
		return nil, validation("Target group name '%s' can only contain characters that are alphanumeric characters or hyphens(-), must be at most 32 characters, and must not begin or end with a hyphen", name)
	}
	port, apiErr := p.intOr("Port", 80)
	if apiErr != nil {
		return nil, apiErr
	}
	hc := healthCheck{Protocol: strings.ToUpper(p.str("HealthCheckProtocol")), Path: p.str("HealthCheckPath"), Matcher: p.str("Matcher.HttpCode")}
	proto := strings.ToUpper(p.str("Protocol"))
	if proto == "" {
		proto = "HTTP"
	}
	if hc.Protocol == "" {
		hc.Protocol = proto
	}
	if hc.Path == "" && (hc.Protocol == "HTTP" || hc.Protocol == "HTTPS") {
		hc.Path = "/"
	}
	if hc.Matcher == "" && (hc.Protocol == "HTTP" || hc.Protocol == "HTTPS") {
		hc.Matcher = "200"
	}
	hc.Port, hc.PortSpec = port, "traffic-port"
	if hp := p.str("HealthCheckPort"); hp != "" && hp != "traffic-port" {
		if hc.Port, apiErr = p.intOr("HealthCheckPort", port); apiErr != nil {
			return nil, apiErr
		}
		hc.PortSpec = hp
	}
	for _, f := range []struct {
		key string
		dst *int
		def int
	}{{"HealthCheckIntervalSeconds", &hc.Interval, 30}, {"HealthCheckTimeoutSeconds", &hc.Timeout, 5}, {"HealthyThresholdCount", &hc.Healthy, 5}, {"UnhealthyThresholdCount", &hc.Unhealthy, 2}} {
		v, apiErr := p.intOr(f.key, f.def)
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
	tt := p.str("TargetType")
	if tt == "" {
		tt = "instance"
	}
	// "VpcId: ... This parameter is required if the target type is
	// instance, ip or alb" (one VPC here: the default one).
	switch vpc := p.str("VpcId"); {
	case vpc == "" && tt != "lambda":
		return nil, validation("A VPC ID must be specified")
	case vpc != "" && vpc != defaultVPCID:
		return nil, validation("The VPC ID '%s' is not found", vpc)
	}
	// The call is idempotent: the same name with the same settings answers
	// the existing group; other settings are DuplicateTargetGroupName.
	for _, tg := range s.st.TargetGroups {
		if tg.Name != name {
			continue
		}
		if tg.Protocol == proto && tg.Port == port && tg.HealthCheck == hc && tg.TargetType == tt && (p.str("VpcId") == "" || p.str("VpcId") == tg.VpcID) {
			return []*node{members("TargetGroups", []*node{s.targetGroupNode(tg)})}, nil
		}
		return nil, errf("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", name)
	}
	s.st.Seq++
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%016x", s.opts.Region, s.opts.AccountID, name, 0xa0000000+s.st.Seq)
	tg := &targetGroup{ARN: arn, Name: name, Protocol: proto, Port: port, VpcID: p.str("VpcId"), TargetType: tt,
		HealthCheck: hc, DeregDelay: 300, Targets: map[string]*target{}, Created: s.now(), Tags: map[string]string{}}
	for _, t := range p.subs("Tags.member") {
		tg.Tags[t.str("Key")] = t.str("Value")
	}
	s.st.TargetGroups[arn] = tg
	if err := s.startProxyLocked("tg/" + arn); err != nil {
		s.log.Warn("awssim: target group listener", "err", err)
	}
	return []*node{members("TargetGroups", []*node{s.targetGroupNode(tg)})}, nil
}

func (s *Sim) targetGroupNode(tg *targetGroup) *node {
	hc := tg.HealthCheck
	return el("",
		leaf("TargetGroupArn", tg.ARN), leaf("TargetGroupName", tg.Name),
		leaf("Protocol", tg.Protocol), leaf("Port", tg.Port), opt("VpcId", tg.VpcID),
		leaf("HealthCheckProtocol", hc.Protocol), leaf("HealthCheckPort", hc.PortSpec),
		leaf("HealthCheckEnabled", true),
		leaf("HealthCheckIntervalSeconds", hc.Interval), leaf("HealthCheckTimeoutSeconds", hc.Timeout),
		leaf("HealthyThresholdCount", hc.Healthy), leaf("UnhealthyThresholdCount", hc.Unhealthy),
		opt("HealthCheckPath", hc.Path), el("Matcher", opt("HttpCode", hc.Matcher)),
		strMembers("LoadBalancerArns", s.targetGroupLoadBalancersLocked(tg.ARN)), leaf("TargetType", tg.TargetType))
}

// DeleteTargetGroup [API_DeleteTargetGroup]: not while a listener
// forwards to it (ResourceInUse); an unknown one succeeds.
func elbv2DeleteTargetGroup(s *Sim, p params) ([]*node, *APIError) {
	arn := p.str("TargetGroupArn")
	if s.st.TargetGroups[arn] == nil {
		return nil, nil
	}
	if len(s.targetGroupLoadBalancersLocked(arn)) > 0 {
		return nil, errf("ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", arn)
	}
	delete(s.st.TargetGroups, arn)
	s.stopProxiesLocked("tg/" + arn)
	return nil, nil
}

// DescribeTargetGroups [API_DescribeTargetGroups]: by ARN, name or load
// balancer, or all; Marker / PageSize.
func elbv2DescribeTargetGroups(s *Sim, p params) ([]*node, *APIError) {
	arns, names := p.strs("TargetGroupArns.member"), p.strs("Names.member")
	keep, apiErr := lookupByARNOrName(arns, names, s.targetGroupLocked, s.st.TargetGroups,
		func(tg *targetGroup) string { return tg.Name }, tgNotFound)
	if apiErr != nil {
		return nil, apiErr
	}
	lbARN := p.str("LoadBalancerArn")
	if lbARN != "" {
		if _, apiErr := s.loadBalancerV2Locked(lbARN); apiErr != nil {
			return nil, apiErr
		}
	}
	if len(arns) == 0 && len(names) == 0 {
		for _, a := range sortedKeys(s.st.TargetGroups) {
			if lbARN == "" || slices.Contains(s.targetGroupLoadBalancersLocked(a), lbARN) {
				keep = append(keep, s.st.TargetGroups[a])
			}
		}
	}
	page, next, apiErr := pageV2(p, len(keep))
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, tg := range keep[page.from:page.to] {
		its = append(its, s.targetGroupNode(tg))
	}
	return []*node{members("TargetGroups", its), opt("NextMarker", next)}, nil
}

// registerTargetLocked adds an instance to a target group in state initial
// [API_RegisterTargets]; a draining target registered again starts over.
func (s *Sim) registerTargetLocked(tg *targetGroup, id string, port int) {
	if t := tg.Targets[id]; t != nil && t.State != tgDraining {
		return
	}
	if port == 0 {
		port = tg.Port
	}
	now := s.now()
	tg.Targets[id] = &target{ID: id, Port: port, Registered: now, State: tgInitial, Reason: "Elb.RegistrationInProgress",
		NextCheck: firstCheckDue(now)}
}

// deregisterTargetLocked starts the deregistration delay.
func (s *Sim) deregisterTargetLocked(tg *targetGroup, id string) {
	t := tg.Targets[id]
	if t == nil || t.State == tgDraining {
		return
	}
	t.State, t.Reason = tgDraining, "Target.DeregistrationInProgress"
	t.DrainUntil = s.now().Add(s.opts.secs(tg.DeregDelay))
	t.probeCounter++
	t.probing = false
}

func readTargets(p params) ([]string, []int, *APIError) {
	var ids []string
	var ports []int
	for _, t := range p.subs("Targets.member") {
		port, apiErr := t.intOr("Port", 0)
		if apiErr != nil {
			return nil, nil, apiErr
		}
		ids = append(ids, t.str("Id"))
		ports = append(ports, port)
	}
	return ids, ports, nil
}

// RegisterTargets [API_RegisterTargets]: only running instances.
func elbv2RegisterTargets(s *Sim, p params) ([]*node, *APIError) {
	tg, apiErr := s.targetGroupLocked(p.str("TargetGroupArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	ids, ports, apiErr := readTargets(p)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(ids) == 0 {
		return nil, validation("Targets is required")
	}
	var bad []string
	for _, id := range ids {
		if inst := s.st.Instances[id]; inst == nil || inst.State != stateRunning {
			bad = append(bad, "'"+id+"'")
		}
	}
	if len(bad) > 0 {
		return nil, errf("InvalidTarget", "The following targets are not in a running state and cannot be registered: %s", strings.Join(bad, ", "))
	}
	for i, id := range ids {
		s.registerTargetLocked(tg, id, ports[i])
	}
	return nil, nil
}

// DeregisterTargets [API_DeregisterTargets]: targets drain for the
// deregistration delay; deregistering an unknown target succeeds.
func elbv2DeregisterTargets(s *Sim, p params) ([]*node, *APIError) {
	tg, apiErr := s.targetGroupLocked(p.str("TargetGroupArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	ids, _, apiErr := readTargets(p)
	if apiErr != nil {
		return nil, apiErr
	}
	for _, id := range ids {
		s.deregisterTargetLocked(tg, id)
	}
	return nil, nil
}

var tgDescriptions = map[string]string{
	"Elb.RegistrationInProgress":      "Target registration is in progress",
	"Elb.InitialHealthChecking":       "Initial health checks in progress",
	"Target.FailedHealthChecks":       "Health checks failed",
	"Target.DeregistrationInProgress": "Target deregistration is in progress",
	"Target.NotRegistered":            "Target is not registered to the target group",
	"Target.InvalidState":             "Target is in the stopped or terminated state",
	"Target.NotInUse":                 "Target group is not configured to receive traffic from the load balancer",
}

// DescribeTargetHealth [API_DescribeTargetHealth], states per
// [API_TargetHealth]: initial, healthy, unhealthy, unused, draining. The
// targets of a group no listener forwards to are unused, Target.NotInUse
// ("Target group is not configured to receive traffic from the load
// balancer"), and not health checked.
func elbv2DescribeTargetHealth(s *Sim, p params) ([]*node, *APIError) {
	tg, apiErr := s.targetGroupLocked(p.str("TargetGroupArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	now := s.now()
	inUse := len(s.targetGroupLoadBalancersLocked(tg.ARN)) > 0
	ids, ports, apiErr := readTargets(p)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(ids) == 0 {
		ids = sortedKeys(tg.Targets)
		ports = make([]int, len(ids))
	}
	var its []*node
	for i, id := range ids {
		inst := s.st.Instances[id]
		if inst == nil || !inst.visible(now) {
			return nil, errf("InvalidTarget", "The following targets are not valid instances: '%s'", id)
		}
		state, reason, port := tgUnused, "Target.NotRegistered", ports[i]
		if t := tg.Targets[id]; t != nil {
			state, reason, port = t.State, t.Reason, t.Port
			if !inUse && t.State != tgDraining {
				state, reason = tgUnused, "Target.NotInUse"
			}
		}
		if port == 0 {
			port = tg.Port
		}
		th := el("TargetHealth", leaf("State", state))
		if reason != "" {
			th.kids = append(th.kids, leaf("Reason", reason), leaf("Description", tgDescriptions[reason]))
		}
		its = append(its, el("", el("Target", leaf("Id", id), leaf("Port", port)),
			leaf("HealthCheckPort", strconv.Itoa(tg.HealthCheck.Port)), th)) // the port actually checked
	}
	return []*node{members("TargetHealthDescriptions", its)}, nil
}

// ModifyTargetGroupAttributes [API_ModifyTargetGroupAttributes]: only
// deregistration_delay.timeout_seconds (0–3600) has an effect.
func elbv2ModifyTargetGroupAttributes(s *Sim, p params) ([]*node, *APIError) {
	tg, apiErr := s.targetGroupLocked(p.str("TargetGroupArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	for _, a := range p.subs("Attributes.member") {
		if a.str("Key") == "deregistration_delay.timeout_seconds" {
			n, err := strconv.Atoi(a.str("Value"))
			if err != nil || n < 0 || n > 3600 {
				return nil, validation("'%s' must be an integer between 0 and 3600", a.str("Key"))
			}
			tg.DeregDelay = n
		}
	}
	return tgAttributes(tg), nil
}

// DescribeTargetGroupAttributes [API_DescribeTargetGroupAttributes].
func elbv2DescribeTargetGroupAttributes(s *Sim, p params) ([]*node, *APIError) {
	tg, apiErr := s.targetGroupLocked(p.str("TargetGroupArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	return tgAttributes(tg), nil
}

func tgAttributes(tg *targetGroup) []*node {
	return []*node{members("Attributes", []*node{
		el("", leaf("Key", "deregistration_delay.timeout_seconds"), leaf("Value", strconv.Itoa(tg.DeregDelay))),
	})}
}

func elbv2Actions() map[string]handlerFunc {
	return map[string]handlerFunc{
		"CreateTargetGroup":             elbv2CreateTargetGroup,
		"DeleteTargetGroup":             elbv2DeleteTargetGroup,
		"DescribeTargetGroups":          elbv2DescribeTargetGroups,
		"RegisterTargets":               elbv2RegisterTargets,
		"DeregisterTargets":             elbv2DeregisterTargets,
		"DescribeTargetHealth":          elbv2DescribeTargetHealth,
		"ModifyTargetGroupAttributes":   elbv2ModifyTargetGroupAttributes,
		"DescribeTargetGroupAttributes": elbv2DescribeTargetGroupAttributes,
		"CreateLoadBalancer":            elbv2CreateLoadBalancer,
		"DescribeLoadBalancers":         elbv2DescribeLoadBalancers,
		"DeleteLoadBalancer":            elbv2DeleteLoadBalancer,
		"CreateListener":                elbv2CreateListener,
		"DescribeListeners":             elbv2DescribeListeners,
		"ModifyListener":                elbv2ModifyListener,
		"DeleteListener":                elbv2DeleteListener,
		"ModifyTargetGroup":             elbv2ModifyTargetGroup,
		"AddTags":                       elbv2AddTags,
		"RemoveTags":                    elbv2RemoveTags,
		"DescribeTags":                  elbv2DescribeTags,
	}
}

// lookupByARNOrName resolves ELBv2 resources named by ARN (via byARN) and
// then by name (scanning all; an unknown name yields notFound), in order.
func lookupByARNOrName[T any](arns, names []string, byARN func(string) (T, *APIError),
	all map[string]T, name func(T) string, notFound func() *APIError) ([]T, *APIError) {
	var keep []T
	for _, a := range arns {
		v, apiErr := byARN(a)
		if apiErr != nil {
			return nil, apiErr
		}
		keep = append(keep, v)
	}
	for _, n := range names {
		var found T
		ok := false
		for _, v := range all {
			if name(v) == n {
				found, ok = v, true
			}
		}
		if !ok {
			return nil, notFound()
		}
		keep = append(keep, found)
	}
	return keep, nil
}

package awssim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// loadBalancerV2 is an Application or Network Load Balancer
// [API_LoadBalancer]. It routes nothing itself: what it does here is put
// the target groups its listeners forward to in use, so that their
// targets are health checked (a target group in no load balancer reports
// its targets unused, Target.NotInUse [API_TargetHealth]). Traffic
// reaches a target group through its own listener (TargetGroupURL).
type loadBalancerV2 struct {
	ARN       string            `json:"arn"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`   // application, network
	Scheme    string            `json:"scheme"` // internet-facing, internal
	DNSName   string            `json:"dnsName"`
	Subnets   []string          `json:"subnets"`
	AZs       []string          `json:"azs"`
	SecGroups []string          `json:"secGroups,omitempty"`
	IPType    string            `json:"ipAddressType"`
	Created   time.Time         `json:"created"`
	Tags      map[string]string `json:"tags,omitempty"`
	Listeners []*listenerV2     `json:"listeners"`
}

// listenerV2 is one listener of a load balancer: a protocol and port
// whose default action forwards to target groups [API_Listener].
type listenerV2 struct {
	ARN          string   `json:"arn"`
	Protocol     string   `json:"protocol"`
	Port         int      `json:"port"`
	TargetGroups []string `json:"targetGroups"` // of its forward action
	Certificates []string `json:"certificates,omitempty"`
	SSLPolicy    string   `json:"sslPolicy,omitempty"`
}

func lbV2NotFound() *APIError {
	return errf("LoadBalancerNotFound", "One or more load balancers not found")
}

func listenerNotFound() *APIError {
	return errf("ListenerNotFound", "One or more listeners not found")
}

// targetGroupInUseLocked reports whether a listener of some load balancer
// forwards to the target group, and names those load balancers.
func (s *Sim) targetGroupLoadBalancersLocked(arn string) []string {
	var lbs []string
	for _, la := range sortedKeys(s.st.LoadBalancersV2) {
		lb := s.st.LoadBalancersV2[la]
		for _, l := range lb.Listeners {
			if slices.Contains(l.TargetGroups, arn) {
				lbs = append(lbs, la)
				break
			}
		}
	}
	return lbs
}

// subnetsByID maps the default subnets' ids to their zones.
func (s *Sim) subnetZones() map[string]string {
	zones := map[string]string{}
	for i, sn := range s.opts.defaultSubnets() {
		zones[subnetID(sn)] = s.opts.AvailabilityZones[i]
	}
	return zones
}

// CreateLoadBalancer [API_CreateLoadBalancer] (ELBv2): an application
// (default) or network load balancer in subnets of the default VPC; an
// application one needs subnets in at least two zones. Creating one with
// the name of an existing one and the same settings answers the existing
// one (the call is idempotent); other settings are
// DuplicateLoadBalancerName. The load balancer is active at once (AWS
// provisions for a few minutes).
func elbv2CreateLoadBalancer(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("Name")
	if name == "" {
		return nil, validation("A load balancer name must be specified")
	}
	if !validELBv2Name(name) || strings.HasPrefix(strings.ToLower(name), "internal-") {
		return nil, validation("The load balancer name '%s' is not valid", name)
	}
	typ := p.str("Type")
	if typ == "" {
		typ = "application"
	}
	if typ != "application" && typ != "network" {
		return nil, validation("Load balancer type '%s' is not supported", typ)
	}
	scheme := p.str("Scheme")
	if scheme == "" {
		scheme = "internet-facing"
	}
	ipType := p.str("IpAddressType")
	if ipType == "" {
		ipType = "ipv4"
	}
	subnets := p.strs("Subnets.member")
	for _, m := range p.subs("SubnetMappings.member") {
		subnets = append(subnets, m.str("SubnetId"))
	}
	zones := s.subnetZones()
	var azs []string
	for _, sn := range subnets {
		az, ok := zones[sn]
		if !ok {
			return nil, errf("SubnetNotFound", "The subnet ID '%s' is not valid", sn)
		}
		if slices.Contains(azs, az) {
			return nil, errf("InvalidConfigurationRequest", "A load balancer cannot be attached to multiple subnets in the same Availability Zone")
		}
		azs = append(azs, az)
	}
	if typ == "application" && len(azs) < 2 {
		return nil, validation("At least two subnets in two different Availability Zones must be specified")
	}
	if typ == "network" && len(azs) < 1 {
		return nil, validation("At least one subnet must be specified")
	}
	sgs := p.strs("SecurityGroups.member")
	for _, id := range sgs {
		if s.st.SecurityGroups[id] == nil {
			return nil, errf("InvalidSecurityGroup", "Security group '%s' does not exist", id)
		}
	}
	if typ == "application" && len(sgs) == 0 {
		sgs = []string{s.defaultSecurityGroupLocked()}
	}
	slices.Sort(subnets)
	for _, lb := range s.st.LoadBalancersV2 {
		if lb.Name != name {
			continue
		}
		if lb.Type == typ && lb.Scheme == scheme && slices.Equal(lb.Subnets, subnets) {
			return []*node{members("LoadBalancers", []*node{lb.node(s)})}, nil
		}
		return nil, errf("DuplicateLoadBalancerName", "A load balancer with the same name '%s' exists, but with different settings", name)
	}
	s.st.Seq++
	short := "app"
	if typ == "network" {
		short = "net"
	}
	id := fmt.Sprintf("%016x", 0xb0000000+s.st.Seq)
	lb := &loadBalancerV2{
		ARN:  fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/%s/%s/%s", s.opts.Region, s.opts.AccountID, short, name, id),
		Name: name, Type: typ, Scheme: scheme, Subnets: subnets, AZs: azs, SecGroups: sgs, IPType: ipType,
		DNSName: fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", name, 0xb0000000+s.st.Seq, s.opts.Region),
		Created: s.now(), Tags: map[string]string{},
	}
	if scheme == "internal" {
		lb.DNSName = "internal-" + lb.DNSName
	}
	for _, t := range p.subs("Tags.member") {
		lb.Tags[t.str("Key")] = t.str("Value")
	}
	s.st.LoadBalancersV2[lb.ARN] = lb
	return []*node{members("LoadBalancers", []*node{lb.node(s)})}, nil
}

// validELBv2Name: at most 32 alphanumerics and hyphens, not beginning or
// ending with a hyphen [API_CreateLoadBalancer, API_CreateTargetGroup].
func validELBv2Name(name string) bool {
	return len(name) <= 32 && !strings.HasPrefix(name, "-") && !strings.HasSuffix(name, "-") &&
		strings.IndexFunc(name, func(r rune) bool {
			return !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) < 0
}

// defaultSecurityGroupLocked is the id of the default VPC's default
// security group, which an application load balancer created without
// security groups gets [API_CreateLoadBalancer].
func (s *Sim) defaultSecurityGroupLocked() string {
	if g := s.securityGroupByNameLocked("default"); g != nil {
		return g.ID
	}
	return ""
}

func (lb *loadBalancerV2) node(s *Sim) *node {
	zones := s.subnetZones()
	var azs []*node
	for _, sn := range lb.Subnets {
		azs = append(azs, el("", leaf("ZoneName", zones[sn]), leaf("SubnetId", sn)))
	}
	n := el("",
		leaf("LoadBalancerArn", lb.ARN), leaf("DNSName", lb.DNSName),
		leaf("CanonicalHostedZoneId", "Z35SXDOTRQ7X7K"), leaf("CreatedTime", lb.Created),
		leaf("LoadBalancerName", lb.Name), leaf("Scheme", lb.Scheme), leaf("VpcId", defaultVPCID),
		el("State", leaf("Code", "active")), leaf("Type", lb.Type),
		members("AvailabilityZones", azs), leaf("IpAddressType", lb.IPType))
	if lb.Type == "application" {
		n.kids = append(n.kids, strMembers("SecurityGroups", lb.SecGroups))
	}
	return n
}

func (s *Sim) loadBalancerV2Locked(arn string) (*loadBalancerV2, *APIError) {
	if lb := s.st.LoadBalancersV2[arn]; lb != nil {
		return lb, nil
	}
	return nil, lbV2NotFound()
}

// DescribeLoadBalancers [API_DescribeLoadBalancers] (ELBv2): by ARN or
// name (any unknown: LoadBalancerNotFound) or all; Marker / PageSize.
func elbv2DescribeLoadBalancers(s *Sim, p params) ([]*node, *APIError) {
	arns, names := p.strs("LoadBalancerArns.member"), p.strs("Names.member")
	if len(arns) > 0 && len(names) > 0 {
		return nil, validation("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	keep, apiErr := lookupByARNOrName(arns, names, s.loadBalancerV2Locked, s.st.LoadBalancersV2,
		func(lb *loadBalancerV2) string { return lb.Name }, lbV2NotFound)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(arns) == 0 && len(names) == 0 {
		for _, a := range sortedKeys(s.st.LoadBalancersV2) {
			keep = append(keep, s.st.LoadBalancersV2[a])
		}
	}
	page, next, apiErr := pageV2(p, len(keep))
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, lb := range keep[page.from:page.to] {
		its = append(its, lb.node(s))
	}
	return []*node{members("LoadBalancers", its), opt("NextMarker", next)}, nil
}

// pageV2 applies ELBv2's Marker / PageSize (1–400).
func pageV2(p params, total int) (pageRange, string, *APIError) {
	size, apiErr := p.intOr("PageSize", 400)
	if apiErr != nil {
		return pageRange{}, "", apiErr
	}
	if size < 1 || size > 400 {
		return pageRange{}, "", validation("PageSize must be between 1 and 400")
	}
	page, next, ok := paginate(p.str("Marker"), size, total)
	if !ok {
		return pageRange{}, "", validation("Invalid Marker")
	}
	return page, next, nil
}

// DeleteLoadBalancer [API_DeleteLoadBalancer] (ELBv2): with its
// listeners; the target groups stay (no longer in use). Deleting one that
// does not exist succeeds ("If the load balancer does not exist or has
// already been deleted, the call succeeds").
func elbv2DeleteLoadBalancer(s *Sim, p params) ([]*node, *APIError) {
	delete(s.st.LoadBalancersV2, p.str("LoadBalancerArn"))
	return nil, nil
}

// listenerProtocols are the protocols a listener of each type takes.
var listenerProtocols = map[string][]string{
	"application": {"HTTP", "HTTPS"},
	"network":     {"TCP", "TLS", "UDP", "TCP_UDP"},
}

// readForward reads a listener's default actions: forward actions to
// target groups (TargetGroupArn or ForwardConfig.TargetGroups) are
// simulated; other action types are InvalidConfigurationRequest.
func (s *Sim) readForwardLocked(p params) ([]string, *APIError) {
	acts := p.subs("DefaultActions.member")
	if len(acts) == 0 {
		return nil, validation("A default action must be specified")
	}
	var tgs []string
	for _, a := range acts {
		if t := a.str("Type"); t != "forward" {
			return nil, errf("InvalidConfigurationRequest", "The simulator supports forward actions only, not '%s'", t)
		}
		if arn := a.str("TargetGroupArn"); arn != "" {
			tgs = append(tgs, arn)
		}
		for _, tg := range a.subs("ForwardConfig.TargetGroups.member") {
			if arn := tg.str("TargetGroupArn"); arn != "" && !slices.Contains(tgs, arn) {
				tgs = append(tgs, arn)
			}
		}
	}
	if len(tgs) == 0 {
		return nil, validation("A target group ARN must be specified")
	}
	for _, arn := range tgs {
		if s.st.TargetGroups[arn] == nil {
			return nil, tgNotFound()
		}
	}
	return tgs, nil
}

// CreateListener [API_CreateListener]: a listener whose default action
// forwards to target groups. The protocol must suit the load balancer's
// type and the target group's protocol (IncompatibleProtocols); HTTPS and
// TLS need a certificate; one port takes one listener (DuplicateListener);
// a target group of an application load balancer cannot serve another
// load balancer too (TargetGroupAssociationLimit).
func elbv2CreateListener(s *Sim, p params) ([]*node, *APIError) {
	lb, apiErr := s.loadBalancerV2Locked(p.str("LoadBalancerArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	proto := strings.ToUpper(p.str("Protocol"))
	if proto == "" {
		proto = map[string]string{"application": "HTTP", "network": "TCP"}[lb.Type]
	}
	if !slices.Contains(listenerProtocols[lb.Type], proto) {
		return nil, errf("UnsupportedProtocol", "Protocol '%s' is not supported by a load balancer of type '%s'", proto, lb.Type)
	}
	port, apiErr := p.intOr("Port", 0)
	if apiErr != nil {
		return nil, apiErr
	}
	if port < 1 || port > 65535 {
		return nil, validation("A listener port must be specified between 1 and 65535")
	}
	var certs []string
	for _, c := range p.subs("Certificates.member") {
		certs = append(certs, c.str("CertificateArn"))
	}
	if (proto == "HTTPS" || proto == "TLS") && len(certs) == 0 {
		return nil, validation("A certificate must be specified for %s listeners", proto)
	}
	tgs, apiErr := s.readForwardLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	for _, arn := range tgs {
		tg := s.st.TargetGroups[arn]
		if (lb.Type == "application") != (tg.Protocol == "HTTP" || tg.Protocol == "HTTPS") {
			return nil, errf("IncompatibleProtocols", "The protocol of target group '%s' is not compatible with the load balancer type '%s'", tg.Name, lb.Type)
		}
		for _, other := range s.targetGroupLoadBalancersLocked(arn) {
			if other != lb.ARN {
				return nil, errf("TargetGroupAssociationLimit", "The following target groups cannot be associated with more than one load balancer: %s", arn)
			}
		}
	}
	for _, l := range lb.Listeners {
		if l.Port == port {
			if l.Protocol == proto && slices.Equal(l.TargetGroups, tgs) {
				return []*node{members("Listeners", []*node{l.node(lb)})}, nil // idempotent
			}
			return nil, errf("DuplicateListener", "A listener already exists on this port for this load balancer '%s'", lb.ARN)
		}
	}
	s.st.Seq++
	l := &listenerV2{
		ARN:      fmt.Sprintf("%s/%016x", strings.Replace(lb.ARN, ":loadbalancer/", ":listener/", 1), 0xc0000000+s.st.Seq),
		Protocol: proto, Port: port, TargetGroups: tgs, Certificates: certs, SSLPolicy: p.str("SslPolicy"),
	}
	if (proto == "HTTPS" || proto == "TLS") && l.SSLPolicy == "" {
		l.SSLPolicy = "ELBSecurityPolicy-2016-08"
	}
	lb.Listeners = append(lb.Listeners, l)
	return []*node{members("Listeners", []*node{l.node(lb)})}, nil
}

func (l *listenerV2) node(lb *loadBalancerV2) *node {
	var tgs []*node
	for _, a := range l.TargetGroups {
		tgs = append(tgs, el("", leaf("TargetGroupArn", a), leaf("Weight", 1)))
	}
	action := el("", leaf("Type", "forward"))
	if len(l.TargetGroups) == 1 {
		action.kids = append(action.kids, leaf("TargetGroupArn", l.TargetGroups[0]))
	}
	action.kids = append(action.kids, el("ForwardConfig", members("TargetGroups", tgs)))
	var certs []*node
	for _, c := range l.Certificates {
		certs = append(certs, el("", leaf("CertificateArn", c)))
	}
	return el("",
		leaf("ListenerArn", l.ARN), leaf("LoadBalancerArn", lb.ARN),
		leaf("Port", l.Port), leaf("Protocol", l.Protocol),
		members("Certificates", certs), opt("SslPolicy", l.SSLPolicy),
		members("DefaultActions", []*node{action}))
}

// listenerLocked finds a listener and its load balancer.
func (s *Sim) listenerLocked(arn string) (*loadBalancerV2, int, *APIError) {
	for _, lb := range s.st.LoadBalancersV2 {
		for i, l := range lb.Listeners {
			if l.ARN == arn {
				return lb, i, nil
			}
		}
	}
	return nil, 0, listenerNotFound()
}

// DescribeListeners [API_DescribeListeners]: a load balancer's listeners
// or the ones named (either is required); Marker / PageSize.
func elbv2DescribeListeners(s *Sim, p params) ([]*node, *APIError) {
	lbARN, arns := p.str("LoadBalancerArn"), p.strs("ListenerArns.member")
	type entry struct {
		lb *loadBalancerV2
		l  *listenerV2
	}
	var keep []entry
	switch {
	case lbARN != "" && len(arns) > 0:
		return nil, validation("Listener ARNs and a load balancer ARN cannot be specified at the same time")
	case lbARN != "":
		lb, apiErr := s.loadBalancerV2Locked(lbARN)
		if apiErr != nil {
			return nil, apiErr
		}
		for _, l := range lb.Listeners {
			keep = append(keep, entry{lb, l})
		}
	case len(arns) > 0:
		for _, a := range arns {
			lb, i, apiErr := s.listenerLocked(a)
			if apiErr != nil {
				return nil, apiErr
			}
			keep = append(keep, entry{lb, lb.Listeners[i]})
		}
	default:
		return nil, validation("You must specify either listener ARNs or a load balancer ARN")
	}
	page, next, apiErr := pageV2(p, len(keep))
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, e := range keep[page.from:page.to] {
		its = append(its, e.l.node(e.lb))
	}
	return []*node{members("Listeners", its), opt("NextMarker", next)}, nil
}

// ModifyListener [API_ModifyListener]: port, protocol and default actions.
func elbv2ModifyListener(s *Sim, p params) ([]*node, *APIError) {
	lb, i, apiErr := s.listenerLocked(p.str("ListenerArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	l := lb.Listeners[i]
	if p.has("Port") {
		port, apiErr := p.intOr("Port", l.Port)
		if apiErr != nil {
			return nil, apiErr
		}
		for _, o := range lb.Listeners {
			if o != l && o.Port == port {
				return nil, errf("DuplicateListener", "A listener already exists on this port for this load balancer '%s'", lb.ARN)
			}
		}
		l.Port = port
	}
	if pr := strings.ToUpper(p.str("Protocol")); pr != "" {
		if !slices.Contains(listenerProtocols[lb.Type], pr) {
			return nil, errf("UnsupportedProtocol", "Protocol '%s' is not supported by a load balancer of type '%s'", pr, lb.Type)
		}
		l.Protocol = pr
	}
	if len(p.indices("DefaultActions.member")) > 0 {
		tgs, apiErr := s.readForwardLocked(p)
		if apiErr != nil {
			return nil, apiErr
		}
		l.TargetGroups = tgs
	}
	return []*node{members("Listeners", []*node{l.node(lb)})}, nil
}

// DeleteListener [API_DeleteListener]: an unknown listener is
// ListenerNotFound.
func elbv2DeleteListener(s *Sim, p params) ([]*node, *APIError) {
	lb, i, apiErr := s.listenerLocked(p.str("ListenerArn"))
	if apiErr != nil {
		return nil, apiErr
	}
	lb.Listeners = slices.Delete(lb.Listeners, i, i+1)
	return nil, nil
}

package awssim

import (
	"fmt"
	"slices"
	"strings"
)

// Auto Scaling lifecycle states [ec2-auto-scaling-lifecycle] and health.
const (
	lcPending     = "Pending"
	lcInService   = "InService"
	lcTerminating = "Terminating"
	lcTerminated  = "Terminated"
	lcDetaching   = "Detaching"
	healthy       = "Healthy"
	unhealthy     = "Unhealthy"
)

// processes are the suspendable Auto Scaling processes [as-suspend-resume-processes].
var processNames = []string{"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
	"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}

// deprecatedProcess is accepted when named, and then shown by
// DescribeAutoScalingGroups, but does nothing and is not among "all
// processes": AWS keeps it "only for backward compatibility", and tools
// still name it [suspend-resume-considerations].
const deprecatedProcess = "RemoveFromLoadBalancerLowPriority"

var terminationPolicyNames = []string{"Default", "OldestInstance", "NewestInstance", "OldestLaunchConfiguration",
	"OldestLaunchTemplate", "ClosestToNextInstanceHour", "AllocationStrategy"}

func groupNotFound(name string) *APIError {
	return validation("AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
}

func (s *Sim) groupLocked(name string) (*group, *APIError) {
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	g := s.st.Groups[name]
	if g == nil {
		return nil, groupNotFound(name)
	}
	return g, nil
}

func noManagedInstance(id string) *APIError {
	return validation("Instance Id not found - No managed instance found for instance ID: %s", id)
}

// CreateLaunchConfiguration [API_CreateLaunchConfiguration].
func asCreateLaunchConfiguration(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("LaunchConfigurationName")
	if name == "" {
		return nil, validation("LaunchConfigurationName is required")
	}
	if s.st.LaunchConfigs[name] != nil {
		return nil, errf("AlreadyExists", "Launch Configuration by this name already exists - A launch configuration already exists with the name %s", name)
	}
	if p.str("ImageId") == "" || p.str("InstanceType") == "" {
		return nil, validation("ImageId and InstanceType are required when not creating from an instance")
	}
	if img := s.imageLocked(p.str("ImageId")); img == nil || img.State == "deregistered" {
		return nil, validation("AMI %s is invalid: The image id '[%s]' does not exist", p.str("ImageId"), p.str("ImageId"))
	}
	meta, apiErr := readMetadataOptions(p, "MetadataOptions", metadataOptions{}, false)
	if apiErr != nil {
		apiErr.Code = "ValidationError" // Auto Scaling's code for a bad parameter
		return nil, apiErr
	}
	s.st.LaunchConfigs[name] = &launchConfig{
		Name: name, ImageID: p.str("ImageId"), InstanceType: p.str("InstanceType"),
		SecurityGroups: p.strs("SecurityGroups.member"), UserData: p.str("UserData"),
		KeyName: p.str("KeyName"), Created: s.now(), Metadata: meta, Profile: p.str("IamInstanceProfile"),
	}
	return nil, nil
}

func (s *Sim) lcARN(name string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:launchConfiguration:00000000-0000-4000-8000-000000000000:launchConfigurationName/%s", s.opts.Region, s.opts.AccountID, name)
}

// DescribeLaunchConfigurations [API_DescribeLaunchConfigurations]:
// MaxRecords (1–100, default 50) / NextToken; unknown names are left out.
func asDescribeLaunchConfigurations(s *Sim, p params) ([]*node, *APIError) {
	names := p.strs("LaunchConfigurationNames.member")
	var keep []*launchConfig
	if len(names) == 0 {
		names = sortedKeys(s.st.LaunchConfigs)
	}
	for _, n := range names {
		if lc := s.st.LaunchConfigs[n]; lc != nil {
			keep = append(keep, lc)
		}
	}
	page, next, apiErr := paginateRecords(p, len(keep), 50)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, lc := range keep[page.from:page.to] {
		its = append(its, el("",
			leaf("LaunchConfigurationName", lc.Name), leaf("LaunchConfigurationARN", s.lcARN(lc.Name)),
			leaf("ImageId", lc.ImageID), leaf("InstanceType", lc.InstanceType), opt("KeyName", lc.KeyName),
			strMembers("SecurityGroups", lc.SecurityGroups), leaf("UserData", lc.UserData),
			leaf("CreatedTime", lc.Created), el("InstanceMonitoring", leaf("Enabled", false)),
			opt("IamInstanceProfile", lc.Profile), configMetadataNode(lc.Metadata)))
	}
	return []*node{members("LaunchConfigurations", its), opt("NextToken", next)}, nil
}

// DeleteLaunchConfiguration [API_DeleteLaunchConfiguration]: not while a
// group uses it.
func asDeleteLaunchConfiguration(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("LaunchConfigurationName")
	if s.st.LaunchConfigs[name] == nil {
		return nil, validation("Launch configuration name not found - Launch configuration %s not found", name)
	}
	for _, gn := range sortedKeys(s.st.Groups) {
		if s.st.Groups[gn].LaunchConfig == name {
			return nil, errf("ResourceInUse", "Cannot delete launch configuration %s because it is attached to AutoScalingGroup %s", name, gn)
		}
	}
	delete(s.st.LaunchConfigs, name)
	return nil, nil
}

// paginateRecords applies awsQuery MaxRecords (1–100) / NextToken.
func paginateRecords(p params, total, def int) (pageRange, string, *APIError) {
	size, apiErr := p.intOr("MaxRecords", def)
	if apiErr != nil {
		return pageRange{}, "", apiErr
	}
	if size < 1 || size > 100 {
		return pageRange{}, "", validation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100", size)
	}
	r, next, ok := paginate(p.str("NextToken"), size, total)
	if !ok {
		return pageRange{}, "", errf("InvalidNextToken", "The token '%s' is invalid.", p.str("NextToken"))
	}
	return r, next, nil
}

// readLaunchSource reads LaunchConfigurationName or LaunchTemplate.* and
// checks that what it names exists.
func (s *Sim) readLaunchSourceLocked(p params) (lc string, lt *ltRef, set bool, apiErr *APIError) {
	lc = p.str("LaunchConfigurationName")
	ltID, ltName := p.str("LaunchTemplate.LaunchTemplateId"), p.str("LaunchTemplate.LaunchTemplateName")
	if lc != "" && (ltID != "" || ltName != "") {
		return "", nil, false, validation("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.")
	}
	if lc != "" {
		if s.st.LaunchConfigs[lc] == nil {
			return "", nil, false, validation("Launch configuration name not found - Launch configuration %s not found", lc)
		}
		return lc, nil, true, nil
	}
	if ltID != "" || ltName != "" {
		t, apiErr := s.findLaunchTemplateLocked(ltID, ltName)
		if apiErr != nil {
			return "", nil, false, validation("You must use a valid fully-formed launch template. %s", apiErr.Message)
		}
		v := p.str("LaunchTemplate.Version")
		if _, apiErr := t.version(v); apiErr != nil {
			return "", nil, false, validation("You must use a valid fully-formed launch template. %s", apiErr.Message)
		}
		if v == "" {
			v = "$Default"
		}
		return "", &ltRef{ID: t.ID, Name: t.Name, Version: v}, true, nil
	}
	return "", nil, false, nil
}

func checkCapacity(min, max, desired int) *APIError {
	if max < min {
		return validation("Max bound, %d, must be greater than or equal to min bound, %d", max, min)
	}
	if desired < min || desired > max {
		return validation("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, min, max)
	}
	return nil
}

func (s *Sim) readBalancersLocked(p params) ([]string, []string, *APIError) {
	lbs := p.strs("LoadBalancerNames.member")
	for _, n := range lbs {
		if s.st.ELBs[n] == nil {
			return nil, nil, validation("Provided Load Balancers may not be valid. Please ensure they exist and try again.")
		}
	}
	tgs := p.strs("TargetGroupARNs.member")
	for _, a := range tgs {
		if s.st.TargetGroups[a] == nil {
			return nil, nil, validation("Provided Target Groups may not be valid. Please ensure they exist and try again.")
		}
	}
	return lbs, tgs, nil
}

func readPolicies(p params) ([]string, *APIError) {
	pols := p.strs("TerminationPolicies.member")
	for _, pol := range pols {
		if !contains(terminationPolicyNames, pol) && !strings.HasPrefix(pol, "arn:") {
			return nil, validation("Invalid termination policy: %s", pol)
		}
	}
	return pols, nil
}

func (s *Sim) zonesFor(p params) ([]string, string, *APIError) {
	azs := p.strs("AvailabilityZones.member")
	vpc := p.str("VPCZoneIdentifier")
	if vpc != "" {
		// The subnets' zones [API_CreateAutoScalingGroup: "If you specify
		// VPCZoneIdentifier with AvailabilityZones, the subnets that you
		// specify must reside in those Availability Zones"].
		zones := s.subnetZones()
		var fromSubnets []string
		for _, sn := range strings.Split(vpc, ",") {
			az, ok := zones[strings.TrimSpace(sn)]
			if !ok {
				return nil, "", validation("The subnet ID '%s' does not exist", strings.TrimSpace(sn))
			}
			if !contains(fromSubnets, az) {
				fromSubnets = append(fromSubnets, az)
			}
		}
		if len(azs) == 0 {
			azs = fromSubnets
		}
	}
	for _, az := range azs {
		if !contains(s.opts.AvailabilityZones, az) {
			return nil, "", validation("The availability zone %s is not legal", az)
		}
	}
	return azs, vpc, nil
}

// CreateAutoScalingGroup [API_CreateAutoScalingGroup].
func asCreateAutoScalingGroup(s *Sim, p params) ([]*node, *APIError) {
	name := p.str("AutoScalingGroupName")
	if name == "" {
		return nil, validation("AutoScalingGroupName is required")
	}
	if s.st.Groups[name] != nil {
		return nil, errf("AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
	}
	lc, lt, set, apiErr := s.readLaunchSourceLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	if !set {
		return nil, validation("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.")
	}
	if !p.has("MinSize") || !p.has("MaxSize") {
		return nil, validation("MinSize and MaxSize are required")
	}
	minSize, apiErr := p.intOr("MinSize", 0)
	if apiErr != nil {
		return nil, apiErr
	}
	maxSize, apiErr := p.intOr("MaxSize", 0)
	if apiErr != nil {
		return nil, apiErr
	}
	desired, apiErr := p.intOr("DesiredCapacity", minSize)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := checkCapacity(minSize, maxSize, desired); apiErr != nil {
		return nil, apiErr
	}
	azs, vpc, apiErr := s.zonesFor(p)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(azs) == 0 {
		return nil, validation("At least one Availability Zone or VPC Subnet is required.")
	}
	lbs, tgs, apiErr := s.readBalancersLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	pols, apiErr := readPolicies(p)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(pols) == 0 {
		pols = []string{"Default"}
	}
	hct := p.str("HealthCheckType")
	if hct == "" {
		hct = "EC2"
	}
	grace, apiErr := p.intOr("HealthCheckGracePeriod", 0)
	if apiErr != nil {
		return nil, apiErr
	}
	cooldown, apiErr := p.intOr("DefaultCooldown", 300)
	if apiErr != nil {
		return nil, apiErr
	}
	g := &group{
		Name: name, LaunchConfig: lc, LaunchTemplate: lt, Min: minSize, Max: maxSize, Desired: desired,
		DefaultCooldown: cooldown, AZs: azs, VPCZoneIdentifier: vpc, LoadBalancers: lbs, TargetGroups: tgs,
		HealthCheckType: hct, HealthCheckGrace: grace, TerminationPolicies: pols,
		Suspended: map[string]string{}, Created: s.now(),
		NewProtected: p.boolOr("NewInstancesProtectedFromScaleIn", false),
		ARN: fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%08x-0000-4000-8000-%012x:autoScalingGroupName/%s",
			s.opts.Region, s.opts.AccountID, s.st.Seq, s.st.Seq, name),
	}
	for _, t := range p.subs("Tags.member") {
		g.setTag(t.str("Key"), t.str("Value"), t.boolOr("PropagateAtLaunch", false))
	}
	s.st.Groups[name] = g
	return nil, nil
}

func (g *group) setTag(k, v string, propagate bool) {
	for i := range g.Tags {
		if g.Tags[i].Key == k {
			g.Tags[i] = groupTag{k, v, propagate}
			return
		}
	}
	g.Tags = append(g.Tags, groupTag{k, v, propagate})
}

// UpdateAutoScalingGroup [API_UpdateAutoScalingGroup]: unspecified fields
// keep their values; a new MinSize above desired raises desired to it, a
// new MaxSize below desired lowers desired to it.
func asUpdateAutoScalingGroup(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	minSize, apiErr := p.intOr("MinSize", g.Min)
	if apiErr != nil {
		return nil, apiErr
	}
	maxSize, apiErr := p.intOr("MaxSize", g.Max)
	if apiErr != nil {
		return nil, apiErr
	}
	desired := g.Desired
	if p.has("DesiredCapacity") {
		if desired, apiErr = p.intOr("DesiredCapacity", g.Desired); apiErr != nil {
			return nil, apiErr
		}
	} else {
		if p.has("MinSize") && minSize > desired {
			desired = minSize
		}
		if p.has("MaxSize") && maxSize < desired {
			desired = maxSize
		}
	}
	if apiErr := checkCapacity(minSize, maxSize, desired); apiErr != nil {
		return nil, apiErr
	}
	lc, lt, set, apiErr := s.readLaunchSourceLocked(p)
	if apiErr != nil {
		return nil, apiErr
	}
	pols, apiErr := readPolicies(p)
	if apiErr != nil {
		return nil, apiErr
	}
	azs, vpc, apiErr := s.zonesFor(p)
	if apiErr != nil {
		return nil, apiErr
	}
	grace, apiErr := p.intOr("HealthCheckGracePeriod", g.HealthCheckGrace)
	if apiErr != nil {
		return nil, apiErr
	}
	cooldown, apiErr := p.intOr("DefaultCooldown", g.DefaultCooldown)
	if apiErr != nil {
		return nil, apiErr
	}
	if desired != g.Desired {
		g.DesiredCause = fmt.Sprintf("At %s a user request update of AutoScalingGroup constraints to min: %d, max: %d, desired: %d changing the desired capacity from %d to %d.",
			s.now().Format("2006-01-02T15:04:05Z"), minSize, maxSize, desired, g.Desired, desired)
	}
	g.Min, g.Max, g.Desired = minSize, maxSize, desired
	if set {
		g.LaunchConfig, g.LaunchTemplate = lc, lt
	}
	if len(pols) > 0 {
		g.TerminationPolicies = pols
	}
	if len(azs) > 0 {
		g.AZs, g.VPCZoneIdentifier = azs, vpc
	}
	if v := p.str("HealthCheckType"); v != "" {
		g.HealthCheckType = v
	}
	g.HealthCheckGrace, g.DefaultCooldown = grace, cooldown
	if p.has("NewInstancesProtectedFromScaleIn") {
		g.NewProtected = p.boolOr("NewInstancesProtectedFromScaleIn", false)
	}
	return nil, nil
}

// DeleteAutoScalingGroup [API_DeleteAutoScalingGroup]: with instances only
// when ForceDelete, which terminates them.
func asDeleteAutoScalingGroup(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	ms := s.membersLocked(g)
	if len(ms) > 0 && !p.boolOr("ForceDelete", false) {
		return nil, errf("ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.")
	}
	for _, inst := range ms {
		s.deregisterEverywhereLocked(g, inst)
		s.terminateInstanceLocked(inst, "Service initiated", true)
		inst.Group, inst.Lifecycle = "", ""
	}
	delete(s.st.Groups, g.Name)
	return nil, nil
}

// SetDesiredCapacity [API_SetDesiredCapacity].
func asSetDesiredCapacity(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	if !p.has("DesiredCapacity") {
		return nil, validation("1 validation error detected: Value null at 'desiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	d, apiErr := p.intOr("DesiredCapacity", 0)
	if apiErr != nil {
		return nil, apiErr
	}
	if d > g.Max {
		return nil, validation("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", d, g.Max)
	}
	if d < g.Min {
		return nil, validation("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", d, g.Min)
	}
	if d != g.Desired {
		g.DesiredCause = fmt.Sprintf("At %s a user request explicitly set group desired capacity changing the desired capacity from %d to %d.",
			s.now().Format("2006-01-02T15:04:05Z"), g.Desired, d)
	}
	g.Desired = d
	return nil, nil
}

// readProcesses reads ScalingProcesses; none means every process.
func readProcesses(p params) ([]string, *APIError) {
	ps := p.strs("ScalingProcesses.member")
	var out []string
	for _, pr := range ps {
		if pr == "" {
			continue
		}
		if !contains(processNames, pr) && pr != deprecatedProcess {
			return nil, validation("Process %s is not a valid scaling process. Valid processes are: %s", pr, strings.Join(processNames, ", "))
		}
		out = append(out, pr)
	}
	if len(out) == 0 {
		out = processNames
	}
	return out, nil
}

// SuspendProcesses [API_SuspendProcesses].
func asSuspendProcesses(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	ps, apiErr := readProcesses(p)
	if apiErr != nil {
		return nil, apiErr
	}
	reason := "User suspended at " + s.now().Format("2006-01-02T15:04:05Z")
	for _, pr := range ps {
		if _, ok := g.Suspended[pr]; !ok {
			g.Suspended[pr] = reason
		}
	}
	return nil, nil
}

// ResumeProcesses [API_ResumeProcesses]. Resuming AddToLoadBalancer does
// not register the instances launched while it was suspended.
func asResumeProcesses(s *Sim, p params) ([]*node, *APIError) {
	g, apiErr := s.groupLocked(p.str("AutoScalingGroupName"))
	if apiErr != nil {
		return nil, apiErr
	}
	ps, apiErr := readProcesses(p)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(p.strs("ScalingProcesses.member")) == 0 {
		ps = append(ps, deprecatedProcess) // "all": whatever is suspended
	}
	for _, pr := range ps {
		delete(g.Suspended, pr)
	}
	return nil, nil
}

func (g *group) suspended(process string) bool {
	_, ok := g.Suspended[process]
	return ok
}

// CreateOrUpdateTags [API_CreateOrUpdateTags].
func asCreateOrUpdateTags(s *Sim, p params) ([]*node, *APIError) {
	tags := p.subs("Tags.member")
	for _, t := range tags {
		if t.str("ResourceType") != "" && t.str("ResourceType") != "auto-scaling-group" {
			return nil, validation("Invalid resource type %s", t.str("ResourceType"))
		}
		if _, apiErr := s.groupLocked(t.str("ResourceId")); apiErr != nil {
			return nil, apiErr
		}
		if t.str("Key") == "" {
			return nil, validation("Tag key must not be empty")
		}
	}
	for _, t := range tags {
		s.st.Groups[t.str("ResourceId")].setTag(t.str("Key"), t.str("Value"), t.boolOr("PropagateAtLaunch", false))
	}
	return nil, nil
}

// DeleteTags [API_DeleteTags].
func asDeleteTags(s *Sim, p params) ([]*node, *APIError) {
	for _, t := range p.subs("Tags.member") {
		g, apiErr := s.groupLocked(t.str("ResourceId"))
		if apiErr != nil {
			return nil, apiErr
		}
		for i := range g.Tags {
			if g.Tags[i].Key == t.str("Key") {
				g.Tags = append(g.Tags[:i], g.Tags[i+1:]...)
				break
			}
		}
	}
	return nil, nil
}

// DescribeTags [API_DescribeTags] (Auto Scaling): every group's tags, by
// group name then key; filters auto-scaling-group,
// key, value and propagate-at-launch (the values of one filter are ORed,
// filters ANDed); MaxRecords (≤100, default 50) / NextToken.
func asDescribeTags(s *Sim, p params) ([]*node, *APIError) {
	var fs []filter
	for _, f := range p.subs("Filters.member") {
		switch name := f.str("Name"); name {
		case "auto-scaling-group", "key", "value", "propagate-at-launch":
			fs = append(fs, filter{Name: name, Values: f.strs("Values.member")})
		default:
			return nil, validation("Filter type %s is not correct. Allowed Filter types are: auto-scaling-group key value propagate-at-launch", name)
		}
	}
	var keep []*node
	for _, gn := range sortedKeys(s.st.Groups) {
		tags := slices.Clone(s.st.Groups[gn].Tags)
		slices.SortFunc(tags, func(a, b groupTag) int { return strings.Compare(a.Key, b.Key) })
		for _, t := range tags {
			attrs := map[string]string{"auto-scaling-group": gn, "key": t.Key, "value": t.Value, "propagate-at-launch": fmt.Sprint(t.Propagate)}
			if !matchFiltersExact(fs, attrs) {
				continue
			}
			keep = append(keep, el("", leaf("ResourceId", gn), leaf("ResourceType", "auto-scaling-group"),
				leaf("Key", t.Key), leaf("Value", t.Value), leaf("PropagateAtLaunch", t.Propagate)))
		}
	}
	page, next, apiErr := paginateRecords(p, len(keep), 50)
	if apiErr != nil {
		return nil, apiErr
	}
	return []*node{members("Tags", keep[page.from:page.to]), opt("NextToken", next)}, nil
}

// matchFiltersExact is matchFilters without wildcards: Auto Scaling's
// filters compare values as they are.
func matchFiltersExact(fs []filter, attrs map[string]string) bool {
	for _, f := range fs {
		if !slices.Contains(f.Values, attrs[f.Name]) {
			return false
		}
	}
	return true
}

// DescribeScalingProcessTypes [API_DescribeScalingProcessTypes]: the
// processes SuspendProcesses and ResumeProcesses take.
func asDescribeScalingProcessTypes(*Sim, params) ([]*node, *APIError) {
	var its []*node
	for _, pr := range processNames {
		its = append(its, el("", leaf("ProcessName", pr)))
	}
	return []*node{members("Processes", its)}, nil
}

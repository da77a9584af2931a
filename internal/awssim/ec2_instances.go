package awssim

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// launchSpec is what an instance is launched from.
type launchSpec struct {
	ImageID        string
	InstanceType   string
	SecurityGroups []string
	UserData       string
	KeyName        string
	Metadata       metadataOptions
	Profile        string
	Tags           map[string]string
	AZ             string
	LaunchConfig   string
	LaunchTemplate *ltRef
	ReservationID  string
	LaunchIndex    int // in its reservation
}

// instanceTypeRE is the form of an instance type's name, family.size
// [instance-type-names]: the simulator knows no list of families, but a
// size that is none of EC2's (t3.mirco, t3.huge) is refused as EC2
// refuses an unknown type.
var instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge|metal(-[1-9][0-9]*xl)?)$`)

// launchInstanceLocked creates one pending instance.
func (s *Sim) launchInstanceLocked(spec launchSpec) (*instance, *APIError) {
	if spec.ImageID == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter ImageId")
	}
	if apiErr := imageIDs.check(spec.ImageID); apiErr != nil {
		return nil, apiErr
	}
	img := s.imageLocked(spec.ImageID)
	if img == nil {
		return nil, errf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", spec.ImageID)
	}
	if img.State != "available" {
		if img.State == "deregistered" {
			return nil, errf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", spec.ImageID)
		}
		return nil, errf("InvalidAMIID.Unavailable", "The image id '[%s]' is not available", spec.ImageID)
	}
	if spec.InstanceType == "" {
		spec.InstanceType = "m1.small"
	}
	if !instanceTypeRE.MatchString(spec.InstanceType) {
		return nil, errf("InvalidParameterValue", "Invalid value '%s' for InstanceType.", spec.InstanceType)
	}
	if spec.KeyName != "" && s.st.KeyPairs[spec.KeyName] == nil {
		return nil, errf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", spec.KeyName)
	}
	if apiErr := checkMetadataTagKeys(spec.Metadata, spec.Tags); apiErr != nil {
		return nil, apiErr
	}
	if s.takeCapacityErrorLocked() {
		return nil, insufficientCapacity(spec.InstanceType)
	}
	now := s.now()
	if spec.AZ == "" {
		spec.AZ = s.opts.AvailabilityZones[0]
	}
	inst := &instance{
		ID:             s.newIDLocked("i"),
		ImageID:        spec.ImageID,
		InstanceType:   spec.InstanceType,
		AZ:             spec.AZ,
		State:          statePending,
		LaunchTime:     now,
		ReadyAt:        now.Add(s.opts.BootDelay),
		Tags:           map[string]string{},
		SecurityGroups: spec.SecurityGroups,
		UserData:       spec.UserData,
		KeyName:        spec.KeyName,
		Metadata:       spec.Metadata,
		Profile:        spec.Profile,
		ReservationID:  spec.ReservationID,
		LaunchIndex:    spec.LaunchIndex,
		LaunchConfig:   spec.LaunchConfig,
		LaunchTemplate: spec.LaunchTemplate,
		NeverHealthy:   s.neverHealthyImages[spec.ImageID],
	}
	if s.consistency > 0 {
		inst.VisibleAt = now.Add(s.consistency)
	}
	for k, v := range spec.Tags {
		inst.Tags[k] = v
	}
	if apiErr := s.backend.launchLocked(inst, img); apiErr != nil {
		return nil, apiErr
	}
	s.st.Instances[inst.ID] = inst
	s.log.Debug("awssim: instance launched", "instance", inst.ID, "ip", inst.PrivateIP, "image", inst.ImageID)
	return inst, nil
}

// allocIPLocked hands out the next address of 127.1.0.1–127.254.255.254.
func (s *Sim) allocIPLocked() string {
	for {
		n := s.st.NextIP
		s.st.NextIP++
		b2, b3, b4 := byte(n>>16)+1, byte(n>>8), byte(n)
		if b4 == 0 || b4 == 255 || b2 == 255 {
			continue
		}
		return fmt.Sprintf("127.%d.%d.%d", b2, b3, b4)
	}
}

// visible reports whether the instance is past its eventual
// consistency window.
func (inst *instance) visible(now time.Time) bool {
	return inst.VisibleAt.IsZero() || !now.Before(inst.VisibleAt)
}

// terminateInstanceLocked starts shutting an instance down. Its app stops
// (or its machine starts powering off) at once: it is gone from the
// network whether or not balancers know it. A graceful stop lets requests
// in flight finish (Auto Scaling terminates after deregistration);
// otherwise connections are cut.
func (s *Sim) terminateInstanceLocked(inst *instance, reason string, graceful bool) {
	if inst.State == stateShuttingDown || inst.State == stateTerminated {
		return
	}
	inst.State = stateShuttingDown
	inst.StateReason = reason
	inst.GoneAt = s.now().Add(s.opts.ShutdownDelay)
	s.backend.terminateLocked(inst, graceful)
}

// advanceInstancesLocked moves instances through pending → running and
// shutting-down → terminated as their backend reports them booted or
// stopped, terminates those whose host stopped by itself, and forgets
// long-terminated ones.
func (s *Sim) advanceInstancesLocked(now time.Time) {
	for _, id := range sortedKeys(s.st.Instances) {
		inst := s.st.Instances[id]
		switch inst.State {
		case statePending, stateRunning:
			switch host, reason := s.backend.observeLocked(inst, now); host {
			case hostRunning:
				if inst.State == statePending {
					inst.State = stateRunning
					s.backend.runningLocked(inst)
				}
			case hostStopping, hostStopped:
				// A host that stops on its own is gone for the API too:
				// EC2 reports the reason [API_StateReason].
				s.log.Warn("awssim: instance stopped by itself", "instance", inst.ID, "reason", reason)
				s.terminateInstanceLocked(inst, reason, false)
			}
		case stateShuttingDown:
			if host, _ := s.backend.observeLocked(inst, now); host == hostStopped {
				inst.State = stateTerminated
			}
		case stateTerminated:
			if now.Sub(inst.GoneAt) > s.opts.TerminatedRetention && inst.Group == "" {
				delete(s.st.Instances, id)
			}
		}
	}
}

func stateNode(name, st string) *node {
	return el(name, leaf("code", stateCodes[st]), leaf("name", st))
}

func ec2TagSet(tags map[string]string) *node {
	var its []*node
	for _, k := range sortedKeys(tags) {
		its = append(its, el("", leaf("key", k), leaf("value", tags[k])))
	}
	return items("tagSet", its)
}

func (s *Sim) instanceNodeLocked(inst *instance) *node {
	var groups []*node
	for _, id := range inst.SecurityGroups {
		name := id
		if g := s.st.SecurityGroups[id]; g != nil {
			name = g.Name
		}
		groups = append(groups, el("", leaf("groupId", id), leaf("groupName", name)))
	}
	n := el("",
		leaf("instanceId", inst.ID),
		leaf("imageId", inst.ImageID),
		stateNode("instanceState", inst.State),
		leaf("privateDnsName", "ip-"+strings.ReplaceAll(inst.PrivateIP, ".", "-")+".ec2.internal"),
		leaf("dnsName", ""),
		leaf("amiLaunchIndex", inst.LaunchIndex),
		leaf("instanceType", inst.InstanceType),
		opt("keyName", inst.KeyName),
		leaf("launchTime", inst.LaunchTime),
		el("placement", leaf("availabilityZone", inst.AZ), leaf("tenancy", "default")),
		leaf("subnetId", subnetID(s.opts.subnetOf(inst.AZ))), leaf("vpcId", defaultVPCID),
		el("monitoring", leaf("state", "disabled")),
		leaf("privateIpAddress", inst.PrivateIP),
		items("groupSet", groups),
		leaf("architecture", "x86_64"),
		leaf("rootDeviceType", "ebs"),
		leaf("rootDeviceName", rootDevice),
		instanceBlockDevices(inst),
		leaf("virtualizationType", "hvm"),
		leaf("hypervisor", "xen"),
	)
	if inst.StateReason != "" && inst.State != statePending && inst.State != stateRunning {
		n.kids = append(n.kids, leaf("reason", inst.StateReason))
	}
	if len(inst.Tags) > 0 {
		n.kids = append(n.kids, ec2TagSet(inst.Tags))
	}
	if prof, ok := profileOf(s.opts.AccountID, inst.Profile); ok {
		n.kids = append(n.kids, el("iamInstanceProfile", leaf("arn", prof.ARN), leaf("id", prof.ID())))
	}
	n.kids = append(n.kids, instanceMetadataNode(inst.Metadata))
	return n
}

// rootVolumeID is the id of an instance's root EBS volume: the instance's
// own digits, so that it is known without being stored and is no other
// resource's (ids count from one sequence).
func rootVolumeID(inst *instance) string {
	return "vol-" + strings.TrimPrefix(inst.ID, "i-")
}

// instanceBlockDevices is an instance's block device mapping as
// DescribeInstances lists it [API_InstanceBlockDeviceMapping,
// API_EbsInstanceBlockDevice]: its root EBS volume on the image's root
// device, attached at launch, DeleteOnTermination as its image's mapping
// says (blockDevicesLocked). A pending instance lists none yet: EC2 may
// answer a launch and the first reads with an empty mapping
// (aws/aws-sdk-php#2804; hashicorp/packer#9480 reads again until it is
// there). A terminated instance's volume went with it, so it lists none.
func instanceBlockDevices(inst *instance) *node {
	if inst.State == statePending || inst.State == stateTerminated {
		return items("blockDeviceMapping", nil)
	}
	return items("blockDeviceMapping", []*node{el("", leaf("deviceName", rootDevice),
		el("ebs", leaf("volumeId", rootVolumeID(inst)), leaf("status", "attached"),
			leaf("attachTime", inst.LaunchTime), leaf("deleteOnTermination", true)))})
}

// RunInstances [API_RunInstances].
func ec2RunInstances(s *Sim, p params) ([]*node, *APIError) {
	minCount, err := p.intOr("MinCount", 1)
	if err != nil {
		return nil, err
	}
	maxCount, err := p.intOr("MaxCount", minCount)
	if err != nil {
		return nil, err
	}
	if minCount < 1 || maxCount < minCount {
		return nil, errf("InvalidParameterValue", "Invalid value '%d' for maxCount. Must be greater than or equal to minCount.", maxCount)
	}
	spec := launchSpec{
		ImageID:        p.str("ImageId"),
		InstanceType:   p.str("InstanceType"),
		SecurityGroups: p.strs("SecurityGroupId"),
		UserData:       p.str("UserData"),
		KeyName:        p.str("KeyName"),
		AZ:             p.str("Placement.AvailabilityZone"),
		Tags:           tagSpecs(p, "TagSpecification", "instance"),
		Profile:        readProfile(p, "IamInstanceProfile"),
	}
	meta, apiErr := readMetadataOptions(p, "MetadataOptions", metadataOptions{}, true)
	if apiErr != nil {
		return nil, apiErr
	}
	spec.Metadata = meta
	for _, name := range p.strs("SecurityGroup") {
		if g := s.securityGroupByNameLocked(name); g != nil {
			spec.SecurityGroups = append(spec.SecurityGroups, g.ID)
		} else {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC", name)
		}
	}
	if apiErr := groupIDs.check(spec.SecurityGroups...); apiErr != nil {
		return nil, apiErr
	}
	for _, id := range spec.SecurityGroups {
		if s.st.SecurityGroups[id] == nil {
			return nil, errf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	if p.has("LaunchTemplate.LaunchTemplateId") || p.has("LaunchTemplate.LaunchTemplateName") {
		lt, v, apiErr := s.resolveLaunchTemplateLocked(p.str("LaunchTemplate.LaunchTemplateId"), p.str("LaunchTemplate.LaunchTemplateName"), p.str("LaunchTemplate.Version"))
		if apiErr != nil {
			return nil, apiErr
		}
		spec = mergeTemplate(spec, lt, v)
	}
	// A retried request with the same ClientToken gets the same
	// reservation [ec2-api-idempotency].
	token := p.str("ClientToken")
	if resID, ok := s.st.ClientTokens[token]; ok && token != "" {
		var its []*node
		for _, id := range sortedKeys(s.st.Instances) {
			if inst := s.st.Instances[id]; inst.ReservationID == resID {
				its = append(its, s.instanceNodeLocked(inst))
			}
		}
		return []*node{leaf("reservationId", resID), leaf("ownerId", s.opts.AccountID), items("groupSet", nil), items("instancesSet", its)}, nil
	}
	resID := s.newIDLocked("r")
	spec.ReservationID = resID
	var its []*node
	for i := range maxCount {
		spec.LaunchIndex = i
		inst, apiErr := s.launchInstanceLocked(spec)
		if apiErr != nil {
			if len(its) >= minCount {
				break
			}
			return nil, apiErr
		}
		its = append(its, s.instanceNodeLocked(inst))
	}
	if token != "" {
		s.st.ClientTokens[token] = resID
	}
	return []*node{
		leaf("reservationId", resID),
		leaf("ownerId", s.opts.AccountID),
		items("groupSet", nil),
		items("instancesSet", its),
	}, nil
}

// mergeTemplate fills what the request left unset from a template version,
// as RunInstances does with a LaunchTemplate [API_RunInstances].
func mergeTemplate(spec launchSpec, lt *launchTemplate, v *ltVersion) launchSpec {
	if spec.ImageID == "" {
		spec.ImageID = v.Data.ImageID
	}
	if spec.InstanceType == "" {
		spec.InstanceType = v.Data.InstanceType
	}
	if len(spec.SecurityGroups) == 0 {
		spec.SecurityGroups = v.Data.SecurityGroups
	}
	if spec.UserData == "" {
		spec.UserData = v.Data.UserData
	}
	if spec.KeyName == "" {
		spec.KeyName = v.Data.KeyName
	}
	if spec.Profile == "" {
		spec.Profile = v.Data.Profile
	}
	spec.Metadata = v.Data.Metadata.override(spec.Metadata)
	if spec.Tags == nil {
		spec.Tags = map[string]string{}
	}
	for k, val := range v.InstTags {
		if _, ok := spec.Tags[k]; !ok {
			spec.Tags[k] = val
		}
	}
	spec.Tags["aws:ec2launchtemplate:id"] = lt.ID
	spec.Tags["aws:ec2launchtemplate:version"] = fmt.Sprint(v.Number)
	spec.LaunchTemplate = &ltRef{ID: lt.ID, Name: lt.Name, Version: fmt.Sprint(v.Number)}
	return spec
}

// tagSpecs reads the tags of a TagSpecification list for one resource type.
func tagSpecs(p params, prefix, resourceType string) map[string]string {
	tags := map[string]string{}
	for _, ts := range p.subs(prefix) {
		if ts.str("ResourceType") != resourceType {
			continue
		}
		for _, t := range ts.subs("Tag") {
			tags[t.str("Key")] = t.str("Value")
		}
	}
	return tags
}

// DescribeInstances [API_DescribeInstances]: by id and filter, grouped by
// reservation, paginated with MaxResults/NextToken.
func ec2DescribeInstances(s *Sim, p params) ([]*node, *APIError) {
	now := s.now()
	ids := p.strs("InstanceId")
	filters := ec2Filters(p)
	if len(ids) > 0 && p.has("MaxResults") {
		return nil, errf("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	matched, apiErr := s.visibleInstancesLocked(ids, now)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := checkInstanceFilters(filters); apiErr != nil {
		return nil, apiErr
	}
	var keep []*instance
	for _, inst := range matched {
		if matchFilters(filters, func(name string) []string { return s.instanceAttr(inst, name) }) {
			keep = append(keep, inst)
		}
	}
	page, next, apiErr := paginateEC2(p, len(keep), 1000)
	if apiErr != nil {
		return nil, apiErr
	}
	keep = keep[page.from:page.to]
	// One reservation per instance group launched together.
	var res []*node
	byRes := map[string]*node{}
	for _, inst := range keep {
		r := byRes[inst.ReservationID]
		if r == nil {
			r = el("", leaf("reservationId", inst.ReservationID), leaf("ownerId", s.opts.AccountID), items("groupSet", nil), items("instancesSet", nil))
			byRes[inst.ReservationID] = r
			res = append(res, r)
		}
		set := r.kids[3]
		it := s.instanceNodeLocked(inst)
		it.name = "item"
		set.kids = append(set.kids, it)
	}
	return []*node{items("reservationSet", res), opt("nextToken", next)}, nil
}

// instanceFilters are the DescribeInstances filters instanceAttr knows,
// besides tag:KEY; AWS refuses a name it does not know
// (InvalidParameterValue) rather than match nothing.
var instanceFilters = []string{"instance-id", "instance-state-name", "instance-state-code", "image-id", "instance-type",
	"private-ip-address", "availability-zone", "reservation-id", "instance.group-id", "tag-key", "tag-value",
	"vpc-id", "subnet-id", "network-interface.subnet-id", "network-interface.vpc-id", "key-name", "ami-launch-index"}

func checkInstanceFilters(fs []filter) *APIError {
	for _, f := range fs {
		if !slices.Contains(instanceFilters, f.Name) && !strings.HasPrefix(f.Name, "tag:") {
			return errf("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
	}
	return nil
}

// instanceAttr returns an instance's values for a DescribeInstances filter.
func (s *Sim) instanceAttr(inst *instance, name string) []string {
	switch name {
	case "vpc-id", "network-interface.vpc-id":
		return []string{defaultVPCID}
	case "subnet-id", "network-interface.subnet-id":
		return []string{subnetID(s.opts.subnetOf(inst.AZ))}
	case "key-name":
		return []string{inst.KeyName}
	case "ami-launch-index":
		return []string{strconv.Itoa(inst.LaunchIndex)}
	case "tag-value":
		var vs []string
		for _, k := range sortedKeys(inst.Tags) {
			vs = append(vs, inst.Tags[k])
		}
		return vs
	case "instance-id":
		return []string{inst.ID}
	case "instance-state-name":
		return []string{inst.State}
	case "instance-state-code":
		return []string{fmt.Sprint(stateCodes[inst.State])}
	case "image-id":
		return []string{inst.ImageID}
	case "instance-type":
		return []string{inst.InstanceType}
	case "private-ip-address":
		return []string{inst.PrivateIP}
	case "availability-zone":
		return []string{inst.AZ}
	case "reservation-id":
		return []string{inst.ReservationID}
	case "instance.group-id":
		return inst.SecurityGroups
	case "tag-key":
		return sortedKeys(inst.Tags)
	}
	if k, ok := strings.CutPrefix(name, "tag:"); ok {
		if v, ok := inst.Tags[k]; ok {
			return []string{v}
		}
		return nil
	}
	return nil
}

// TerminateInstances [API_TerminateInstances]: the instance is shutting-down
// at once and terminated later; an instance of an Auto Scaling group is not
// removed from its group or balancers (the group's health check finds it).
func ec2TerminateInstances(s *Sim, p params) ([]*node, *APIError) {
	ids := p.strs("InstanceId")
	if len(ids) == 0 {
		return nil, errf("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if apiErr := instanceIDs.check(ids...); apiErr != nil {
		return nil, apiErr
	}
	var missing []string
	for _, id := range ids {
		if s.st.Instances[id] == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, errf("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	var its []*node
	for _, id := range ids {
		inst := s.st.Instances[id]
		prev := inst.State
		s.terminateInstanceLocked(inst, "Client.UserInitiatedShutdown: User initiated shutdown", false)
		its = append(its, el("", leaf("instanceId", id), stateNode("currentState", inst.State), stateNode("previousState", prev)))
	}
	return []*node{items("instancesSet", its)}, nil
}

// visibleInstancesLocked returns the named instances (any malformed:
// InvalidInstanceID.Malformed; any unknown or no longer visible:
// InvalidInstanceID.NotFound listing them all), or every visible instance
// in id order when ids is empty.
func (s *Sim) visibleInstancesLocked(ids []string, now time.Time) ([]*instance, *APIError) {
	if apiErr := instanceIDs.check(ids...); apiErr != nil {
		return nil, apiErr
	}
	var matched []*instance
	if len(ids) > 0 {
		var missing []string
		for _, id := range ids {
			inst := s.st.Instances[id]
			if inst == nil || !inst.visible(now) {
				missing = append(missing, id)
				continue
			}
			matched = append(matched, inst)
		}
		if len(missing) > 0 {
			return nil, errf("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
		}
		return matched, nil
	}
	for _, id := range sortedKeys(s.st.Instances) {
		if inst := s.st.Instances[id]; inst.visible(now) {
			matched = append(matched, inst)
		}
	}
	return matched, nil
}

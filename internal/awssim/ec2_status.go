package awssim

import (
	"fmt"
	"strings"
)

// DescribeInstanceStatus [API_DescribeInstanceStatus]: by default only
// running instances ("By default, only running instances are described,
// unless you specifically indicate to return the status of all
// instances"); with IncludeAllInstances the others too, their checks
// not-applicable [API_InstanceStatusSummary]. A running instance's system
// and instance reachability checks pass at once (the simulator has no
// hardware to impair and does not model the minutes of initializing).
// Unknown ids are InvalidInstanceID.NotFound; MaxResults with ids is
// InvalidParameterCombination; filters availability-zone,
// instance-state-name, instance-state-code, instance-status.status,
// instance-status.reachability, system-status.status,
// system-status.reachability.
func ec2DescribeInstanceStatus(s *Sim, p params) ([]*node, *APIError) {
	now := s.now()
	ids := p.strs("InstanceId")
	if len(ids) > 0 && p.has("MaxResults") {
		return nil, errf("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	all := p.boolOr("IncludeAllInstances", false)
	matched, apiErr := s.visibleInstancesLocked(ids, now)
	if apiErr != nil {
		return nil, apiErr
	}
	filters := ec2Filters(p)
	for _, f := range filters {
		if !strings.HasPrefix(f.Name, "instance-status.") && !strings.HasPrefix(f.Name, "system-status.") {
			if apiErr := checkInstanceFilters([]filter{f}); apiErr != nil {
				return nil, apiErr
			}
		}
	}
	var keep []*instance
	for _, inst := range matched {
		if inst.State != stateRunning && !all {
			continue
		}
		status := instanceCheckStatus(inst)
		if matchFilters(filters, func(name string) []string {
			switch name {
			case "instance-status.status", "system-status.status":
				return []string{status}
			case "instance-status.reachability", "system-status.reachability":
				if status == "ok" {
					return []string{"passed"}
				}
				return nil
			}
			return s.instanceAttr(inst, name)
		}) {
			keep = append(keep, inst)
		}
	}
	page, next, apiErr := paginateEC2(p, len(keep), 1000)
	if apiErr != nil {
		return nil, apiErr
	}
	var its []*node
	for _, inst := range keep[page.from:page.to] {
		status := instanceCheckStatus(inst)
		summary := func(name string) *node {
			n := el(name, leaf("status", status))
			if status == "ok" {
				n.kids = append(n.kids, items("details", []*node{el("", leaf("name", "reachability"), leaf("status", "passed"))}))
			}
			return n
		}
		its = append(its, el("",
			leaf("instanceId", inst.ID), leaf("availabilityZone", inst.AZ),
			items("eventsSet", nil), stateNode("instanceState", inst.State),
			summary("systemStatus"), summary("instanceStatus")))
	}
	return []*node{items("instanceStatusSet", its), opt("nextToken", next)}, nil
}

// instanceCheckStatus is the outcome of an instance's status checks:
// ok while it runs, not-applicable otherwise [API_InstanceStatusSummary].
func instanceCheckStatus(inst *instance) string {
	if inst.State == stateRunning {
		return "ok"
	}
	return "not-applicable"
}

// DescribeAvailabilityZones [API_DescribeAvailabilityZones]: the region's
// zones, each available, with ids use1-az1… as AWS names them per account.
// ZoneName entries that are not zones of the region are
// InvalidParameterValue; filters zone-name, zone-id, state, region-name,
// zone-type.
func ec2DescribeAvailabilityZones(s *Sim, p params) ([]*node, *APIError) {
	known := map[string]bool{}
	for _, z := range s.opts.AvailabilityZones {
		known[z] = true
	}
	names := p.strs("ZoneName")
	for _, n := range names {
		if !known[n] {
			return nil, errf("InvalidParameterValue", "Invalid availability zone: [%s]", n)
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	filters := ec2Filters(p)
	var its []*node
	for i, z := range s.opts.AvailabilityZones {
		if len(want) > 0 && !want[z] {
			continue
		}
		id := fmt.Sprintf("%s-az%d", regionShort(s.opts.Region), i+1)
		attrs := map[string]string{"zone-name": z, "zone-id": id, "state": "available", "region-name": s.opts.Region,
			"zone-type": "availability-zone", "group-name": s.opts.Region, "opt-in-status": "opt-in-not-required"}
		if !matchFilters(filters, func(name string) []string {
			if v, ok := attrs[name]; ok {
				return []string{v}
			}
			return nil
		}) {
			continue
		}
		its = append(its, el("",
			leaf("zoneName", z), leaf("zoneId", id), leaf("zoneState", "available"),
			leaf("regionName", s.opts.Region), leaf("groupName", s.opts.Region),
			leaf("optInStatus", "opt-in-not-required"), leaf("networkBorderGroup", s.opts.Region),
			leaf("zoneType", "availability-zone"), items("messageSet", nil)))
	}
	return []*node{items("availabilityZoneInfo", its)}, nil
}

// regionShort is the prefix of a region's zone ids: us-east-1 → use1,
// eu-west-2 → euw2.
func regionShort(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	return parts[0] + parts[1][:1] + parts[2]
}

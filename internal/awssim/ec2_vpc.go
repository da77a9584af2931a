package awssim

import "net/netip"

// The default VPC's DHCP options set and CIDR association, as
// DescribeVpcs shows them.
const (
	defaultDHCPOptionsID = "dopt-0a000000000000000"
	defaultVPCCIDRAssoc  = "vpc-cidr-assoc-0a000000000000000"
)

// DescribeVpcs [API_DescribeVpcs]: the account's one VPC, its default VPC
// [default-vpc]. An unknown VpcId is InvalidVpcID.NotFound; filters
// vpc-id, cidr, cidr-block-association.cidr-block, is-default, state,
// owner-id, dhcp-options-id.
func ec2DescribeVpcs(s *Sim, p params) ([]*node, *APIError) {
	if apiErr := vpcIDs.check(p.strs("VpcId")...); apiErr != nil {
		return nil, apiErr
	}
	for _, id := range p.strs("VpcId") {
		if id != defaultVPCID {
			return nil, errf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	}
	cidr := defaultVPCCIDR.String()
	ok := matchFilters(ec2Filters(p), func(name string) []string {
		switch name {
		case "vpc-id":
			return []string{defaultVPCID}
		case "cidr", "cidr-block-association.cidr-block", "cidrBlock":
			return []string{cidr}
		case "is-default", "isDefault":
			return []string{"true"}
		case "state":
			return []string{"available"}
		case "owner-id":
			return []string{s.opts.AccountID}
		case "dhcp-options-id":
			return []string{defaultDHCPOptionsID}
		}
		return nil
	})
	var its []*node
	if ok {
		its = append(its, el("",
			leaf("vpcId", defaultVPCID), leaf("ownerId", s.opts.AccountID), leaf("state", "available"),
			leaf("cidrBlock", cidr),
			items("cidrBlockAssociationSet", []*node{el("",
				leaf("associationId", defaultVPCCIDRAssoc), leaf("cidrBlock", cidr),
				el("cidrBlockState", leaf("state", "associated")))}),
			leaf("dhcpOptionsId", defaultDHCPOptionsID), leaf("instanceTenancy", "default"),
			leaf("isDefault", true), ec2TagSet(nil)))
	}
	return []*node{items("vpcSet", its)}, nil
}

// DescribeSubnets [API_DescribeSubnets]: the default VPC's default subnet
// in each zone, a /20 [default-vpc], with the addresses its instances hold
// taken from the count of free ones (AWS reserves five of each subnet
// [vpc-sizing-ipv4]). An unknown SubnetId is InvalidSubnetID.NotFound;
// filters subnet-id, vpc-id, availability-zone, default-for-az, cidr-block,
// state, owner-id.
func ec2DescribeSubnets(s *Sim, p params) ([]*node, *APIError) {
	subnets := s.opts.defaultSubnets()
	ids := p.strs("SubnetId")
	if apiErr := subnetIDs.check(ids...); apiErr != nil {
		return nil, apiErr
	}
	for _, id := range ids {
		known := false
		for _, sn := range subnets {
			known = known || subnetID(sn) == id
		}
		if !known {
			return nil, errf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	filters := ec2Filters(p)
	var its []*node
	for i, sn := range subnets {
		id, az, cidr := subnetID(sn), s.opts.AvailabilityZones[i], sn.String()
		if len(ids) > 0 && !contains(ids, id) {
			continue
		}
		if !matchFilters(filters, func(name string) []string {
			switch name {
			case "subnet-id", "subnetId":
				return []string{id}
			case "vpc-id", "vpcId":
				return []string{defaultVPCID}
			case "availability-zone", "availabilityZone":
				return []string{az}
			case "default-for-az", "defaultForAz":
				return []string{"true"}
			case "cidr-block", "cidr", "cidrBlock":
				return []string{cidr}
			case "state":
				return []string{"available"}
			case "owner-id":
				return []string{s.opts.AccountID}
			}
			return nil
		}) {
			continue
		}
		its = append(its, el("",
			leaf("subnetId", id),
			leaf("subnetArn", "arn:aws:ec2:"+s.opts.Region+":"+s.opts.AccountID+":subnet/"+id),
			leaf("state", "available"), leaf("ownerId", s.opts.AccountID), leaf("vpcId", defaultVPCID),
			leaf("cidrBlock", cidr), items("ipv6CidrBlockAssociationSet", nil),
			leaf("availableIpAddressCount", s.freeAddressesLocked(sn)),
			leaf("availabilityZone", az), leaf("defaultForAz", true),
			leaf("mapPublicIpOnLaunch", true), leaf("assignIpv6AddressOnCreation", false),
			ec2TagSet(nil)))
	}
	return []*node{items("subnetSet", its)}, nil
}

// freeAddressesLocked counts the addresses of subnet that neither AWS
// reserves (the first four and the last [vpc-sizing-ipv4]) nor an
// instance that is not terminated holds.
func (s *Sim) freeAddressesLocked(subnet netip.Prefix) int {
	free := 1<<(32-subnet.Bits()) - 5
	for _, inst := range s.st.Instances {
		if inst.State == stateTerminated || inst.PrivateIP == "" {
			continue
		}
		if a, err := netip.ParseAddr(inst.PrivateIP); err == nil && subnet.Contains(a) {
			free--
		}
	}
	return free
}

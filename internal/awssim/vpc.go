package awssim

import (
	"net/netip"
	"slices"
)

// The default VPC every account has in each region [default-vpc]: its
// CIDR block is 172.31.0.0/16, with one default subnet, a /20, in each
// Availability Zone. Here the zones get them in order: the first zone
// 172.31.0.0/20, the second 172.31.16.0/20, and so on. Security groups
// and instances are in it; the machine backend's network carries exactly
// these subnets, so an instance's PrivateIpAddress is the address its
// machine has.
const defaultVPCID = "vpc-0a000000000000000"

var defaultVPCCIDR = netip.MustParsePrefix("172.31.0.0/16")

// defaultSubnets returns the default subnet of each zone, in order.
func (o Options) defaultSubnets() []netip.Prefix {
	var out []netip.Prefix
	base := defaultVPCCIDR.Addr().As4()
	for i := range o.AvailabilityZones {
		a := base
		a[2] = byte(16 * i)
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), 20))
	}
	return out
}

// subnetOf returns the default subnet of zone az (the first zone's for an
// unknown zone).
func (o Options) subnetOf(az string) netip.Prefix {
	i := max(slices.Index(o.AvailabilityZones, az), 0)
	return o.defaultSubnets()[i]
}

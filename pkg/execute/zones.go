package execute

import (
	"slices"

	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// zoneVictims chooses which n of the old instances a surged batch removes,
// so that the group ends the deploy with its zones balanced as AWS would
// leave them. Auto Scaling launches each replacement into the zone with
// the fewest instances and documents no order among equal zones
// [ec2-auto-scaling-availability-zone-balanced]; the plan's choice, fixed
// before anything launched, could leave every replacement in one zone, and
// resuming AZRebalance then launches above desired and terminates.
//
// The rule: take old instances from the zones that keep the fewest
// instances staying (those not among old), the zone with more old ones
// first on a tie, the oldest instance of a zone first. A zone emptied of
// old instances then has the fewest instances in all, so the next batch's
// launches go where staying instances are fewest, whichever zone AWS picks
// among equal ones; TestZoneVictims plays every such pick.
//
// group holds the group's instances that are not leaving; old are the
// instances still to be replaced, in the order to prefer among equals.
func zoneVictims(group []cloud.Instance, old []cloud.Instance, n int) []string {
	isOld := map[string]bool{}
	for _, inst := range old {
		isOld[inst.ID] = true
	}
	staying, olds := map[string]int{}, map[string]int{}
	for _, inst := range group {
		if isOld[inst.ID] {
			olds[inst.AvailabilityZone]++
		} else {
			staying[inst.AvailabilityZone]++
		}
	}
	left := slices.Clone(old)
	var out []string
	for len(out) < n && len(left) > 0 {
		best := 0
		for i, inst := range left[1:] {
			z, b := inst.AvailabilityZone, left[best].AvailabilityZone
			if staying[z] < staying[b] || staying[z] == staying[b] && olds[z] > olds[b] {
				best = i + 1
			}
		}
		z := left[best].AvailabilityZone
		olds[z]--
		out = append(out, left[best].ID)
		left = slices.Delete(left, best, best+1)
	}
	return out
}

// crowded names the zone with the most instances when it holds more than
// one above the least used of zones (the group's and those instances are
// in), else "".
func crowded(zones []string, insts []cloud.Instance) string {
	count := map[string]int{}
	for _, z := range zones {
		count[z] = 0
	}
	for _, inst := range insts {
		count[inst.AvailabilityZone]++
	}
	lo, hi, most := -1, -1, ""
	for _, z := range sortedKeys(count) {
		if lo < 0 || count[z] < lo {
			lo = count[z]
		}
		if count[z] > hi {
			hi, most = count[z], z
		}
	}
	if hi-lo <= 1 {
		return ""
	}
	return most
}

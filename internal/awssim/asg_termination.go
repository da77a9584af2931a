package awssim

import (
	"strconv"
	"time"
)

// pickVictimsLocked chooses n instances to terminate on scale-in, one at a
// time, by the group's termination policies
// [ec2-auto-scaling-termination-policies]: instances protected from scale-in
// are skipped; the zones with the most instances are chosen first; then each
// policy in order keeps the instances it would terminate first, until one is
// left; the Default policy, then a random pick, breaks remaining ties.
func (s *Sim) pickVictimsLocked(g *group, active []*instance, n int) []*instance {
	var cands []*instance
	for _, inst := range active {
		if !inst.ProtectScale {
			cands = append(cands, inst)
		}
	}
	var out []*instance
	for range n {
		if len(cands) == 0 {
			break
		}
		v := s.pickOneLocked(g, cands)
		out = append(out, v)
		cands = removeInst(cands, v)
	}
	return out
}

func removeInst(xs []*instance, x *instance) []*instance {
	var out []*instance
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func (s *Sim) pickOneLocked(g *group, cands []*instance) *instance {
	// Zones with the most instances.
	count := map[string]int{}
	most := 0
	for _, inst := range cands {
		count[inst.AZ]++
		most = max(most, count[inst.AZ])
	}
	var set []*instance
	for _, inst := range cands {
		if count[inst.AZ] == most {
			set = append(set, inst)
		}
	}
	pols := append(append([]string(nil), g.TerminationPolicies...), "Default")
	for _, pol := range pols {
		if len(set) == 1 {
			break
		}
		set = s.applyPolicyLocked(g, pol, set)
	}
	if len(set) == 1 {
		return set[0]
	}
	return set[s.rnd.IntN(len(set))]
}

// keepMin keeps the instances with the smallest key.
func keepMin[K int | int64](set []*instance, key func(*instance) K) []*instance {
	var out []*instance
	var best K
	for i, inst := range set {
		k := key(inst)
		switch {
		case i == 0 || k < best:
			best, out = k, []*instance{inst}
		case k == best:
			out = append(out, inst)
		}
	}
	return out
}

func (s *Sim) applyPolicyLocked(g *group, pol string, set []*instance) []*instance {
	now := s.now()
	switch pol {
	case "OldestInstance":
		return keepMin(set, func(i *instance) int64 { return i.LaunchTime.UnixNano() })
	case "NewestInstance":
		return keepMin(set, func(i *instance) int64 { return -i.LaunchTime.UnixNano() })
	case "OldestLaunchConfiguration":
		return s.oldestLaunchConfigLocked(set)
	case "OldestLaunchTemplate":
		return s.oldestLaunchTemplate(g, set)
	case "ClosestToNextInstanceHour":
		return keepMin(set, func(i *instance) int64 {
			return int64(time.Hour - now.Sub(i.LaunchTime)%time.Hour)
		})
	case "Default":
		// Instances launched from the oldest launch template or
		// configuration, then closest to the next billing hour.
		if g.LaunchTemplate != nil {
			set = s.oldestLaunchTemplate(g, set)
		} else {
			set = s.oldestLaunchConfigLocked(set)
		}
		return s.applyPolicyLocked(g, "ClosestToNextInstanceHour", set)
	}
	return set
}

// oldestLaunchConfigLocked keeps the instances whose launch configuration was
// created first (instances without one count as oldest).
func (s *Sim) oldestLaunchConfigLocked(set []*instance) []*instance {
	return keepMin(set, func(i *instance) int64 {
		if lc := s.st.LaunchConfigs[i.LaunchConfig]; lc != nil {
			return lc.Created.UnixNano()
		}
		return -1 << 62
	})
}

// oldestLaunchTemplate keeps, in this order of preference, instances
// launched from a launch configuration, instances of another launch template
// than the group's, then those with the oldest version of the group's
// template [ec2-auto-scaling-termination-policies].
func (s *Sim) oldestLaunchTemplate(g *group, set []*instance) []*instance {
	curID := ""
	if g.LaunchTemplate != nil {
		curID = g.LaunchTemplate.ID
	}
	var fromLC, other []*instance
	for _, inst := range set {
		switch {
		case inst.LaunchTemplate == nil:
			fromLC = append(fromLC, inst)
		case inst.LaunchTemplate.ID != curID:
			other = append(other, inst)
		}
	}
	if len(fromLC) > 0 {
		return fromLC
	}
	if len(other) > 0 {
		return other
	}
	return keepMin(set, func(i *instance) int {
		n, _ := strconv.Atoi(i.LaunchTemplate.Version)
		return n
	})
}

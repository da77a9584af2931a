package execute

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// TestZoneVictims plays serial surge deploys against Auto Scaling's launch
// rule (each launch into a zone with the fewest instances), taking every
// zone AWS may pick among equal ones, and checks that the group always
// ends with its zones balanced: no zone more than one instance above
// another, so AZRebalance has nothing to do once resumed. Batches of one
// (the default) end balanced by the choice of old instances alone; larger
// ones may need settleZones' extra rounds, played here too.
func TestZoneVictims(t *testing.T) {
	for zones := 1; zones <= 3; zones++ {
		for size := 1; size <= 8; size++ {
			for batch := 1; batch <= 3; batch++ {
				t.Run(fmt.Sprintf("%d zones, %d instances, batch %d", zones, size, batch), func(t *testing.T) {
					azs := []string{"us-east-1a", "us-east-1b", "us-east-1c"}[:zones]
					var group []cloud.Instance
					for i := range size {
						group = append(group, cloud.Instance{ID: fmt.Sprintf("i-old%d", i), AvailabilityZone: azs[i%zones]})
					}
					var bad []string
					playSerial(azs, group, slices.Clone(group), batch, 0, nil, &bad)
					if len(bad) > 0 {
						t.Errorf("%d of the ways AWS may place the replacements end unbalanced, e.g. %s", len(bad), bad[0])
					}
				})
			}
		}
	}
}

// playSerial replaces old a batch at a time: launches go one by one into
// a least used zone (every choice among equals is played), then
// zoneVictims picks the old instances to remove. Unbalanced ends are
// appended to bad with the launch zones that led there.
func playSerial(azs []string, group, old []cloud.Instance, batch, launched int, path []string, bad *[]string) {
	if len(old) == 0 {
		if batch == 1 && crowded(azs, group) != "" {
			// One at a time, the choice of old instances suffices.
			*bad = append(*bad, fmt.Sprintf("launches into %v need settling", path))
		}
		settle(azs, group, launched, path, bad)
		return
	}
	n := min(batch, len(old))
	var launch func(group []cloud.Instance, k int, path []string)
	launch = func(group []cloud.Instance, k int, path []string) {
		if k == n {
			victims := zoneVictims(group, old, n)
			if len(victims) != n {
				*bad = append(*bad, fmt.Sprintf("%d victims for a batch of %d", len(victims), n))
				return
			}
			keep := func(inst cloud.Instance) bool { return slices.Contains(victims, inst.ID) }
			playSerial(azs, slices.DeleteFunc(slices.Clone(group), keep), slices.DeleteFunc(slices.Clone(old), keep), batch, launched+n, path, bad)
			return
		}
		count := map[string]int{}
		for _, inst := range group {
			count[inst.AvailabilityZone]++
		}
		lo, _ := size(count, azs)
		for _, az := range azs {
			if count[az] == lo {
				inst := cloud.Instance{ID: fmt.Sprintf("i-new%d", launched+k), AvailabilityZone: az}
				launch(append(slices.Clone(group), inst), k+1, append(slices.Clone(path), az[len(az)-1:]))
			}
		}
	}
	launch(group, 0, path)
}

// settle plays settleZones: while a zone holds two instances more than
// another, one launch (every choice among equals), then one instance of
// the most used zone removed.
func settle(azs []string, group []cloud.Instance, launched int, path []string, bad *[]string) {
	if crowded(azs, group) == "" {
		return
	}
	if len(path) > 40 {
		*bad = append(*bad, fmt.Sprintf("launches into %v never settle", path))
		return
	}
	count := map[string]int{}
	for _, inst := range group {
		count[inst.AvailabilityZone]++
	}
	lo, _ := size(count, azs)
	for _, az := range azs {
		if count[az] != lo {
			continue
		}
		g := append(slices.Clone(group), cloud.Instance{ID: fmt.Sprintf("i-new%d", launched), AvailabilityZone: az})
		if z := crowded(azs, g); z != "" {
			i := slices.IndexFunc(g, func(inst cloud.Instance) bool { return inst.AvailabilityZone == z })
			g = slices.Delete(g, i, i+1)
		}
		settle(azs, g, launched+1, append(slices.Clone(path), az[len(az)-1:]), bad)
	}
}

func size(count map[string]int, azs []string) (lo, hi int) {
	lo, hi = count[azs[0]], count[azs[0]]
	for _, az := range azs {
		lo, hi = min(lo, count[az]), max(hi, count[az])
	}
	return lo, hi
}

package awssim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// asgHealthCheckPeriod is how often, in AWS seconds, a group checks the
// health of its instances.
const asgHealthCheckPeriod = 10

// membersLocked returns the instances a group manages (not yet
// terminated), oldest first.
func (s *Sim) membersLocked(g *group) []*instance {
	var out []*instance
	for _, inst := range s.st.Instances {
		if inst.Group == g.Name && inst.Lifecycle != lcTerminated {
			out = append(out, inst)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LaunchTime.Equal(out[j].LaunchTime) {
			return out[i].LaunchTime.Before(out[j].LaunchTime)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (s *Sim) inGraceLocked(g *group, inst *instance) bool {
	if inst.Lifecycle == lcPending {
		return true
	}
	return s.now().Before(inst.InServiceAt.Add(s.opts.secs(g.HealthCheckGrace)))
}

func (s *Sim) newActivityLocked(g *group, desc, cause string) *activity {
	a := &activity{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", s.st.Seq, s.st.Seq), Group: g.Name,
		Description: desc, Cause: cause, Start: s.now(), Status: "InProgress", Progress: 50}
	s.st.Seq++
	s.st.Activities = append(s.st.Activities, a)
	if len(s.st.Activities) > 2000 {
		s.st.Activities = s.st.Activities[len(s.st.Activities)-2000:]
	}
	return a
}

func (s *Sim) finishActivityLocked(id, status, msg string) {
	for i := len(s.st.Activities) - 1; i >= 0; i-- {
		if a := s.st.Activities[i]; a.ID == id {
			a.Status, a.StatusMsg, a.Progress, a.End = status, msg, 100, s.now()
			return
		}
	}
}

// reconcileGroupLocked is one pass of a group's control loop: lifecycle
// transitions, health checks, replacement of unhealthy instances, and
// launches or terminations toward desired capacity, each step skipped while
// its process is suspended [as-suspend-resume-processes].
func (s *Sim) reconcileGroupLocked(g *group, now time.Time) {
	ms := s.membersLocked(g)
	// Health checks run periodically, not continuously [healthcheck]: a
	// dead instance keeps its place in the group, and in its balancers,
	// until the next one.
	checkHealth := !now.Before(g.NextHealthCheck)
	if checkHealth {
		g.NextHealthCheck = now.Add(s.opts.secs(asgHealthCheckPeriod))
	}
	for _, inst := range ms {
		switch inst.Lifecycle {
		case lcPending:
			switch inst.State {
			case stateRunning:
				// The group registers the instance with its balancers
				// before it is InService [ec2-auto-scaling-lifecycle].
				if !g.suspended("AddToLoadBalancer") {
					s.registerEverywhereLocked(g, inst)
				}
				inst.Lifecycle, inst.InServiceAt = lcInService, now
				s.finishActivityLocked(inst.ActivityID, "Successful", "")
			case stateShuttingDown, stateTerminated:
				inst.Health = unhealthy
				if inst.StateReason == reasonInternalError && inst.ActivityID != "" {
					// A launch that failed after RunInstances (a machine
					// that did not boot) is a failed launch: the group
					// waits before the next one, as it does after a launch
					// error, instead of replacing it at once, forever.
					s.finishActivityLocked(inst.ActivityID, "Failed", inst.StateReason)
					inst.ActivityID = ""
					g.LaunchRetryAt = now.Add(s.opts.secs(10))
				}
			}
		case lcInService:
			if checkHealth && !g.suspended("HealthCheck") && inst.Health == healthy && s.failsHealthLocked(g, inst, now) {
				inst.Health = unhealthy
			}
		case lcTerminating:
			if !now.Before(inst.DrainUntil) {
				s.terminateInstanceLocked(inst, "Service initiated", true)
				inst.Lifecycle = lcTerminated
				inst.Group = ""
				s.finishActivityLocked(inst.ActivityID, "Successful", "")
			}
		case lcDetaching:
			// Drained: the instance leaves the group, still running.
			if !now.Before(inst.DrainUntil) {
				inst.Lifecycle, inst.Group, inst.Health = "", "", ""
				s.finishActivityLocked(inst.ActivityID, "Successful", "")
			}
		}
	}
	// ReplaceUnhealthy: terminate first; the launch below replaces.
	if !g.suspended("ReplaceUnhealthy") && !g.suspended("Terminate") {
		for _, inst := range ms {
			if inst.Health == unhealthy && (inst.Lifecycle == lcInService || inst.Lifecycle == lcPending) {
				cause := fmt.Sprintf("At %s an instance was taken out of service in response to a health check indicating it is unhealthy.", now.Format("2006-01-02T15:04:05Z"))
				s.startTerminationLocked(g, inst, cause)
			}
		}
	}
	var active []*instance
	for _, inst := range s.membersLocked(g) {
		if inst.Lifecycle == lcPending || inst.Lifecycle == lcInService {
			active = append(active, inst)
		}
	}
	rebalancing := false
	for _, inst := range active {
		if inst.Rebalance && inst.Lifecycle == lcPending {
			rebalancing = true // launch first, terminate once it is InService
		}
	}
	// A cause names the request that changed desired capacity, if one did
	// since the group was last at it, then the difference it acts on
	// (len(active) is the actual capacity, g.Desired the desired).
	at := now.Format("2006-01-02T15:04:05Z")
	switch {
	case len(active) == g.Desired && !rebalancing:
		g.DesiredCause = ""
		s.rebalanceLocked(g, active, now)
	case len(active) < g.Desired && !g.suspended("Launch") && !now.Before(g.LaunchRetryAt):
		for i := len(active); i < g.Desired; i++ {
			cause := fmt.Sprintf("%s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.",
				s.causePrefix(g, at), i, g.Desired)
			if !s.launchIntoGroupLocked(g, cause) {
				g.LaunchRetryAt = now.Add(s.opts.secs(10))
				break
			}
		}
	case len(active) > g.Desired && !g.suspended("Terminate") && !rebalancing:
		victims := s.pickVictimsLocked(g, active, len(active)-g.Desired)
		for _, v := range victims {
			cause := fmt.Sprintf("%s an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from %d to %d.",
				s.causePrefix(g, at), len(active), g.Desired)
			s.startTerminationLocked(g, v, cause)
		}
	}
}

// causePrefix opens a scaling activity's cause: "At <time> <the request
// that changed desired capacity>. At <time>" when one did, else "At <time>".
func (s *Sim) causePrefix(g *group, at string) string {
	if g.DesiredCause == "" {
		return "At " + at
	}
	return g.DesiredCause + " At " + at
}

// rebalanceLocked is AZRebalance [auto-scaling-benefits, as-suspend-resume-processes]:
// when the group's zones differ by more than one instance, it launches one
// instance in the least used zone (above desired, up to 10 % above
// MaxSize), and once that is InService the scale-in above terminates one in
// the most used zone. With Terminate suspended the group stays above
// desired.
func (s *Sim) rebalanceLocked(g *group, active []*instance, now time.Time) {
	if len(g.AZs) < 2 || g.suspended("AZRebalance") || g.suspended("Launch") || now.Before(g.LaunchRetryAt) {
		return
	}
	for _, inst := range s.membersLocked(g) {
		if inst.Lifecycle != lcInService {
			return // only a group at rest is rebalanced
		}
	}
	count := map[string]int{}
	for _, inst := range active {
		count[inst.AZ]++
	}
	lo, hi := count[g.AZs[0]], count[g.AZs[0]]
	for _, az := range g.AZs {
		lo, hi = min(lo, count[az]), max(hi, count[az])
	}
	limit := max(g.Max+1, g.Max*11/10)
	if hi-lo <= 1 || len(active)+1 > limit {
		return
	}
	var short []string
	for _, az := range g.AZs {
		if count[az] == lo {
			short = append(short, az)
		}
	}
	cause := fmt.Sprintf("At %s instances were launched to balance instances in zones %s with other zones resulting in more than desired number of instances in the group.",
		now.Format("2006-01-02T15:04:05Z"), strings.Join(short, " "))
	if s.launchIntoGroupLocked(g, cause) {
		for _, inst := range s.membersLocked(g) {
			if inst.Lifecycle == lcPending {
				inst.Rebalance = true
			}
		}
	} else {
		g.LaunchRetryAt = now.Add(s.opts.secs(10))
	}
}

// failsHealthLocked applies the group's health checks: EC2 status (the
// instance is not running) always, and with HealthCheckType ELB, after the
// grace period, a balancer or target group that reports it unhealthy.
func (s *Sim) failsHealthLocked(g *group, inst *instance, now time.Time) bool {
	if inst.State != stateRunning {
		return true
	}
	if g.HealthCheckType != "ELB" || s.inGraceLocked(g, inst) {
		return false
	}
	for _, n := range g.LoadBalancers {
		if lb := s.st.ELBs[n]; lb != nil {
			// Any OutOfService counts, registration still in progress
			// included: that is what the grace period is for
			// [health-check-grace-period].
			if m := lb.Members[inst.ID]; m != nil && m.State == elbOutOfService {
				return true
			}
		}
	}
	for _, a := range g.TargetGroups {
		if tg := s.st.TargetGroups[a]; tg != nil {
			if t := tg.Targets[inst.ID]; t != nil && t.State == tgUnhealthy {
				return true
			}
		}
	}
	return false
}

// launchIntoGroupLocked launches one instance with the group's launch
// configuration or launch template version, in its least used zone; cause
// is its activity's.
func (s *Sim) launchIntoGroupLocked(g *group, cause string) bool {
	spec := launchSpec{AZ: s.leastUsedZoneLocked(g), Tags: map[string]string{}}
	switch {
	case g.LaunchConfig != "":
		lc := s.st.LaunchConfigs[g.LaunchConfig]
		if lc == nil {
			s.failedLaunchLocked(g, fmt.Sprintf("Launch configuration %s not found.", g.LaunchConfig))
			return false
		}
		spec.ImageID, spec.InstanceType, spec.SecurityGroups, spec.UserData, spec.KeyName = lc.ImageID, lc.InstanceType, lc.SecurityGroups, lc.UserData, lc.KeyName
		spec.Metadata, spec.Profile = lc.Metadata, lc.Profile
		spec.LaunchConfig = lc.Name
	case g.LaunchTemplate != nil:
		lt, v, apiErr := s.resolveLaunchTemplateLocked(g.LaunchTemplate.ID, "", g.LaunchTemplate.Version)
		if apiErr != nil {
			s.failedLaunchLocked(g, apiErr.Message)
			return false
		}
		spec = mergeTemplate(spec, lt, v)
	}
	for _, t := range g.Tags {
		if t.Propagate {
			spec.Tags[t.Key] = t.Value
		}
	}
	spec.Tags["aws:autoscaling:groupName"] = g.Name
	spec.ReservationID = s.newIDLocked("r")
	inst, apiErr := s.launchInstanceLocked(spec)
	if apiErr != nil {
		s.failedLaunchLocked(g, apiErr.Code+": "+apiErr.Message)
		return false
	}
	g.FailingSince = time.Time{}
	inst.Group, inst.Lifecycle, inst.Health, inst.ProtectScale = g.Name, lcPending, healthy, g.NewProtected
	a := s.newActivityLocked(g, "Launching a new EC2 instance: "+inst.ID, cause)
	inst.ActivityID = a.ID
	return true
}

func (s *Sim) failedLaunchLocked(g *group, msg string) {
	now := s.now()
	if g.FailingSince.IsZero() {
		g.FailingSince = now
	}
	if lim := s.opts.AdministrativeSuspension; lim > 0 && now.Sub(g.FailingSince) >= lim && !g.suspended("Launch") {
		g.Suspended["Launch"] = "Administrative suspension: the group has failed to launch instances since " + g.FailingSince.Format("2006-01-02T15:04:05Z") + "."
		s.log.Warn("awssim: administrative suspension", "group", g.Name)
	}
	a := s.newActivityLocked(g, "Launching a new EC2 instance.  Status Reason: "+msg,
		fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity.", s.now().Format("2006-01-02T15:04:05Z")))
	s.finishActivityLocked(a.ID, "Failed", msg)
}

// leastUsedZoneLocked picks the zone of g's next launch.
func (s *Sim) leastUsedZoneLocked(g *group) string {
	count := map[string]int{}
	for _, inst := range s.membersLocked(g) {
		if inst.Lifecycle != lcTerminating && inst.Lifecycle != lcDetaching {
			count[inst.AZ]++
		}
	}
	var least []string
	for _, az := range g.AZs {
		switch {
		case len(least) == 0 || count[az] < count[least[0]]:
			least = []string{az}
		case count[az] == count[least[0]]:
			least = append(least, az)
		}
	}
	// AWS launches into the zone with the fewest instances and documents
	// no order among equal ones [auto-scaling-benefits,
	// ec2-auto-scaling-availability-zone-balanced]: any of them, at random
	// (seeded), as for equal candidates for termination, so that no
	// client comes to rely on the first zone.
	return least[s.zoneRnd.IntN(len(least))]
}

// startTerminationLocked takes an instance out of service: it is
// deregistered from the group's balancers at once, and terminated when the
// longest deregistration delay of its target groups (or connection draining
// timeout of its Classic ELBs) has passed.
func (s *Sim) startTerminationLocked(g *group, inst *instance, cause string) *activity {
	inst.Lifecycle = lcTerminating
	delay := s.deregisterEverywhereLocked(g, inst)
	inst.DrainUntil = s.now().Add(delay)
	a := s.newActivityLocked(g, "Terminating EC2 instance: "+inst.ID, cause)
	inst.ActivityID = a.ID
	return a
}

func (s *Sim) registerEverywhereLocked(g *group, inst *instance) {
	for _, n := range g.LoadBalancers {
		if lb := s.st.ELBs[n]; lb != nil {
			s.registerELBLocked(lb, inst.ID)
		}
	}
	for _, a := range g.TargetGroups {
		if tg := s.st.TargetGroups[a]; tg != nil {
			s.registerTargetLocked(tg, inst.ID, 0)
		}
	}
}

// deregisterEverywhereLocked removes the instance from the group's
// balancers and returns how long they drain it.
func (s *Sim) deregisterEverywhereLocked(g *group, inst *instance) time.Duration {
	var delay time.Duration
	for _, n := range g.LoadBalancers {
		if lb := s.st.ELBs[n]; lb != nil {
			if lb.Members[inst.ID] != nil && lb.DrainEnabled {
				delay = max(delay, s.opts.secs(lb.DrainTimeout))
			}
			delete(lb.Members, inst.ID)
		}
	}
	for _, a := range g.TargetGroups {
		if tg := s.st.TargetGroups[a]; tg != nil && tg.Targets[inst.ID] != nil {
			s.deregisterTargetLocked(tg, inst.ID)
			delay = max(delay, s.opts.secs(tg.DeregDelay))
		}
	}
	return delay
}

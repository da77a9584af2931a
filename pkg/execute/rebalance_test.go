package execute_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// pausableClock is the simulator's clock, which a test stops for a while:
// nothing the simulator times (boots, health checks) moves meanwhile, so
// an instance stays Pending across a window of the deploy's calls.
type pausableClock struct {
	mu     sync.Mutex
	offset time.Duration // time spent stopped
	at     time.Time     // when stopped; zero while running
}

func (c *pausableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() {
		return c.at
	}
	return time.Now().Add(-c.offset)
}

func (c *pausableClock) stop() {
	now := c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		c.at = now
	}
}

func (c *pausableClock) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() {
		c.offset = time.Since(c.at)
		c.at = time.Time{}
	}
}

// rebalancing is a fixture whose group's instances are all in one zone of
// the two it spans: resuming AZRebalance there launches one instance
// above desired capacity in the other, as after a serial deploy that left
// the zones uneven.
type rebalancing struct {
	*fixture
	clock *pausableClock
	asg   *autoscaling.Client
}

func newRebalancing(t *testing.T, size int) *rebalancing {
	t.Helper()
	clock := &pausableClock{}
	f := newFixtureSim(t, size, true, "", awssim.Options{App: awssim.DemoApp, Clock: clock})
	r := &rebalancing{fixture: f, clock: clock, asg: simenv.Connect(f.sim.URL).ASG}
	t.Cleanup(clock.start)
	// Narrow the group to its first zone and replace the instances of the
	// second there; AZRebalance has nothing to do in one zone.
	if err := f.cloud.SuspendProcesses(f.ctx, group, []string{cloud.ProcessAZRebalance}); err != nil {
		t.Fatal(err)
	}
	r.zones("us-east-1a")
	for _, inst := range f.group().Instances {
		if inst.AvailabilityZone == "us-east-1a" {
			continue
		}
		if _, err := r.asg.TerminateInstanceInAutoScalingGroup(f.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(inst.ID), ShouldDecrementDesiredCapacity: aws.Bool(false)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 20*time.Second, "every instance serving in us-east-1a", func() (bool, string) {
		g := f.group()
		ok := len(g.Instances) == size
		for _, inst := range g.Instances {
			ok = ok && inst.AvailabilityZone == "us-east-1a" && inst.LifecycleState == "InService" && inst.Balancers["shop-staging"].Healthy
		}
		return ok, fmt.Sprintf("%+v", g.Instances)
	})
	if err := f.cloud.ResumeProcesses(f.ctx, group, []string{cloud.ProcessAZRebalance}); err != nil {
		t.Fatal(err)
	}
	f.before = f.group()
	return r
}

func (r *rebalancing) zones(zones ...string) {
	r.t.Helper()
	if _, err := r.asg.UpdateAutoScalingGroup(r.ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group), AvailabilityZones: zones}); err != nil {
		r.t.Fatal(err)
	}
}

// unbalance adds the group's second zone back and waits until AZRebalance
// has launched its instance there, above desired capacity. The
// simulator's clock is stopped first, so that the instance stays Pending
// (on AWS a boot takes a minute, far longer than a deploy's first calls)
// until the deploy's raise-capacity starts the clock again.
func (r *rebalancing) unbalance() string {
	r.t.Helper()
	r.clock.stop()
	r.zones("us-east-1a", "us-east-1b")
	var extra string
	testutil.Eventually(r.t, 10*time.Second, "AZRebalance to launch into us-east-1b", func() (bool, string) {
		g := r.group()
		for _, inst := range g.Instances {
			if inst.AvailabilityZone == "us-east-1b" {
				extra = inst.ID
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", g.Instances)
	})
	return extra
}

// rebalanceCloud is the executor's Cloud for such a group: the clock
// starts again once raise-capacity has sized the group, and with
// atSuspend, AZRebalance launches its instance just as the deploy
// suspends the group's processes (after the deploy's snapshot).
type rebalanceCloud struct {
	execute.Cloud
	r         *rebalancing
	atSuspend bool
	extra     string
}

func (c *rebalanceCloud) SuspendProcesses(ctx context.Context, g string, procs []string) error {
	if c.atSuspend && c.extra == "" && slices.Contains(procs, cloud.ProcessLaunch) {
		c.extra = c.r.unbalance()
	}
	return c.Cloud.SuspendProcesses(ctx, g, procs)
}

func (c *rebalanceCloud) UpdateGroup(ctx context.Context, g string, u cloud.GroupUpdate) error {
	err := c.Cloud.UpdateGroup(ctx, g, u)
	if u.DesiredCapacity != nil {
		c.r.clock.start()
	}
	return err
}

// TestFullDeployWhileRebalancing: a full deploy while AZRebalance is
// launching an instance above desired capacity, whether the plan saw it
// or it was launched after the deploy's snapshot (from the old launch
// source, so it is old too). raise-capacity makes room for the whole new
// set beside every old instance the group holds; terminate-old removes
// every instance of the old version, the one the plan did not list
// included, so that after the switch no old code serves; the group ends
// with only new instances, at its own sizes.
func TestFullDeployWhileRebalancing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		atSuspend bool
	}{
		{"planned while launching", false},
		{"launched after the snapshot", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRebalancing(t, 2)
			c := &rebalanceCloud{Cloud: r.cloud, r: r, atSuspend: tc.atSuspend}
			if !tc.atSuspend {
				c.extra = r.unbalance()
			}
			p := r.plan()
			if listed := slices.Contains(p.Groups[0].Replace, c.extra); listed == tc.atSuspend {
				t.Fatalf("plan lists %v to replace; the extra instance %s listed: %v", p.Groups[0].Replace, c.extra, listed)
			}
			old := *r.before.LaunchTemplate
			r.hooks.onRun = func(run execute.HookRun) error {
				if run.Hook != roles.UpgradePageOff {
					return nil
				}
				// After terminate-old: nothing of the old version left
				// to serve.
				for _, inst := range r.group().Instances {
					if inst.LaunchTemplate != nil && *inst.LaunchTemplate == old && inst.LifecycleState == "InService" {
						t.Errorf("after terminate-old, instance %s of the old launch source is still InService (balancer %+v)", inst.ID, inst.Balancers["shop-staging"])
					}
				}
				return nil
			}
			e := r.executor()
			e.Cloud = c
			rep, err := e.Run(r.ctx, p, "d1")
			if err != nil || rep.Outcome != execute.Succeeded {
				t.Fatalf("outcome %s: %v", rep.Outcome, err)
			}
			if c.extra == "" {
				t.Fatal("AZRebalance launched nothing")
			}
			r.assertNewVersion(p)
			g := r.group()
			for _, inst := range g.Instances {
				if inst.ID == c.extra || inst.LaunchTemplate == nil || *inst.LaunchTemplate != *g.LaunchTemplate {
					t.Errorf("instance %s runs %+v, not the new launch source %+v", inst.ID, inst.LaunchTemplate, *g.LaunchTemplate)
				}
			}
		})
	}
}

// TestRollbackWhileRebalancing: a full deploy that fails before its switch,
// while the group held an old-version instance AZRebalance launched after
// the deploy's snapshot (it went InService with AddToLoadBalancer
// suspended, so no balancer knows it). The rollback puts back a group
// whose every instance runs the old launch source and serves.
func TestRollbackWhileRebalancing(t *testing.T) {
	r := newRebalancing(t, 2)
	c := &rebalanceCloud{Cloud: r.cloud, r: r, atSuspend: true}
	p := r.plan()
	r.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == roles.Deploy {
			return errors.New("migrate: exit status 1")
		}
		return nil
	}
	e := r.executor()
	e.Cloud = c
	rep, err := e.Run(r.ctx, p, "d1")
	if rep.Outcome != execute.RolledBack {
		t.Fatalf("outcome %s (%v); want rolled back by the failed migration", rep.Outcome, err)
	}
	if c.extra == "" {
		t.Fatal("AZRebalance launched nothing")
	}
	g := r.settled()
	r.assertClean(g)
	if g.Tags[plan.TagCommit] != r.old || *g.LaunchTemplate != *r.before.LaunchTemplate {
		t.Errorf("group runs %s from %+v; want the old commit from %+v", g.Tags[plan.TagCommit], *g.LaunchTemplate, *r.before.LaunchTemplate)
	}
	for _, inst := range g.Instances {
		if inst.LaunchTemplate == nil || *inst.LaunchTemplate != *r.before.LaunchTemplate {
			t.Errorf("instance %s runs %+v, not the old launch source", inst.ID, inst.LaunchTemplate)
		}
	}
}

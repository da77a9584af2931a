package execute_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// TestRollbackRegistersOldInstances: an old instance that went InService
// while AddToLoadBalancer was suspended (an instance AZRebalance launched
// just before a full deploy suspended it, say) is in no balancer, and
// resuming the process does not register it. A rollback registers it
// (reregisterOld), so that the whole old set serves again.
func TestRollbackRegistersOldInstances(t *testing.T) {
	f := newFixture(t, 2, true, "timeouts.healthy_in_balancers = \"5s\"\ntimeouts.instances_in_service = \"20s\"\n")
	p := f.plan()
	// A third old instance, InService but unknown to the balancer.
	three := 3
	if err := f.cloud.SuspendProcesses(f.ctx, group, []string{cloud.ProcessAddToLoadBalancer}); err != nil {
		t.Fatal(err)
	}
	if err := f.cloud.UpdateGroup(f.ctx, group, cloud.GroupUpdate{DesiredCapacity: &three, MaxSize: &three}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "a third instance InService", func() (bool, string) {
		g := f.group()
		return len(inService(g)) == 3, fmt.Sprintf("%+v", g.Instances)
	})
	if err := f.cloud.ResumeProcesses(f.ctx, group, []string{cloud.ProcessAddToLoadBalancer}); err != nil {
		t.Fatal(err)
	}
	f.before = f.group()
	f.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == roles.Deploy {
			return errors.New("migrate: exit status 1")
		}
		return nil
	}
	r, err := f.executor().Run(f.ctx, p, "d1")
	if r.Outcome != execute.RolledBack || !strings.Contains(r.Reason, "migrate") {
		t.Fatalf("outcome %s (%v); want rolled back by the failed migration", r.Outcome, err)
	}
	f.assertOldVersion() // every old instance InService and healthy in the balancer
}

func inService(g *cloud.Group) []string {
	var out []string
	for _, inst := range g.Instances {
		if inst.LifecycleState == "InService" {
			out = append(out, inst.ID)
		}
	}
	return out
}

// launchAtSuspend is a Cloud under which the group launches one more
// instance of the old version just as the deploy suspends its processes:
// an instance AZRebalance launches between the deploy's snapshot and its
// suspension, say.
type launchAtSuspend struct {
	execute.Cloud
	f    *fixture
	done atomic.Bool
}

func (c *launchAtSuspend) SuspendProcesses(ctx context.Context, g string, procs []string) error {
	if slices.Contains(procs, cloud.ProcessLaunch) && c.done.CompareAndSwap(false, true) {
		known := instanceIDs(c.f.group())
		three := 3
		if err := c.Cloud.UpdateGroup(ctx, g, cloud.GroupUpdate{DesiredCapacity: &three, MaxSize: &three}); err != nil {
			return err
		}
		testutil.Eventually(c.f.t, 10*time.Second, "a third instance launched", func() (bool, string) {
			ids := instanceIDs(c.f.group())
			return len(ids) > len(known), fmt.Sprint(ids)
		})
	}
	return c.Cloud.SuspendProcesses(ctx, g, procs)
}

// TestOldInstanceLaunchedMeanwhileIsOld: an instance of the old version
// the group launches after the deploy's snapshot is not one of the new
// set: the full deploy still brings up a whole new set, takes the extra
// instance away with the old ones, and ends with only instances of the
// new launch source.
func TestOldInstanceLaunchedMeanwhileIsOld(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	e := f.executor()
	e.Cloud = &launchAtSuspend{Cloud: f.cloud, f: f}
	r, err := e.Run(f.ctx, p, "d1")
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	f.assertNewVersion(p)
	g := f.group()
	for _, inst := range g.Instances {
		if inst.LaunchTemplate == nil || *inst.LaunchTemplate != *g.LaunchTemplate {
			t.Errorf("instance %s runs %+v, not the new launch source %+v", inst.ID, inst.LaunchTemplate, *g.LaunchTemplate)
		}
	}
}

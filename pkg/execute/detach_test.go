package execute_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/execute"
)

// killAtTerminate is a Cloud whose agent dies as it is about to make the
// first TerminateInstances call, after the group has detached the
// instances: it keeps the journal as it is at that moment (what a kill
// leaves on disk), and from then on the simulator refuses every call, as
// nothing reaches AWS from a dead process.
type killAtTerminate struct {
	execute.Cloud
	f       *fixture
	cancel  context.CancelFunc
	journal []byte
	killed  atomic.Bool
	ids     []string
}

func (c *killAtTerminate) TerminateInstances(ctx context.Context, ids []string) error {
	if c.killed.CompareAndSwap(false, true) {
		data, err := os.ReadFile(c.f.journalPath())
		if err != nil {
			c.f.t.Error(err)
		}
		c.journal, c.ids = data, slices.Clone(ids)
		c.f.sim.SetFault(awssim.Fault{Action: "*", ErrorRate: 1, ErrorCode: "AccessDenied", ErrorStatus: 403})
		c.cancel()
		return context.Canceled
	}
	return c.Cloud.TerminateInstances(ctx, ids)
}

// restart puts back the journal the kill left and lets AWS answer again.
func (c *killAtTerminate) restart() {
	c.f.t.Helper()
	if !c.killed.Load() || c.journal == nil {
		c.f.t.Fatal("the agent was never killed between detaching and terminating")
	}
	c.f.sim.ClearFaults()
	if err := os.WriteFile(c.f.journalPath(), c.journal, 0o640); err != nil {
		c.f.t.Fatal(err)
	}
}

// assertNoOrphans: every instance EC2 has running or starting belongs to
// the group, and the given ones are on their way out or gone.
func (f *fixture) assertNoOrphans(ended []string) {
	f.t.Helper()
	out, err := simenv.Connect(f.sim.URL).EC2.DescribeInstances(f.ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	members := instanceIDs(f.group())
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			id, state := *inst.InstanceId, inst.State.Name
			live := state == ec2types.InstanceStateNameRunning || state == ec2types.InstanceStateNamePending
			if live && !slices.Contains(members, id) {
				f.t.Errorf("orphan: %s is %s outside the group", id, state)
			}
			if live && slices.Contains(ended, id) {
				f.t.Errorf("%s was detached and is still %s", id, state)
			}
		}
	}
}

// TestKilledBetweenDetachAndTerminate: an agent killed after the group
// detached the old instances and before it terminated them leaves them
// running outside any group, where only the journal knows them. Recovery
// terminates them: past the point of no return (a full deploy's
// terminate-old) it finishes the deploy; before it (a serial deploy's
// first batch of two) it rolls back.
func TestKilledBetweenDetachAndTerminate(t *testing.T) {
	for _, c := range []struct {
		name    string
		full    bool
		outcome execute.Outcome
	}{
		{"full, past no return", true, execute.Succeeded},
		{"serial, first batch", false, execute.RolledBack},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 2, c.full, "")
			p := f.plan()
			ctx, cancel := context.WithCancel(f.ctx)
			kill := &killAtTerminate{Cloud: f.cloud, f: f, cancel: cancel}
			e := f.executor()
			e.Cloud = kill
			if _, err := e.Run(ctx, p, "d1"); !errors.Is(err, execute.ErrInterrupted) {
				t.Fatalf("%v, want the deploy interrupted", err)
			}
			kill.restart()
			if !strings.Contains(string(kill.journal), `"detached"`) {
				t.Fatalf("the journal at the kill does not list the detached instances:\n%s", kill.journal)
			}
			for _, id := range kill.ids {
				if slices.Contains(instanceIDs(f.group()), id) {
					t.Fatalf("%s is still in the group at the kill: the test did not stop between detach and terminate", id)
				}
			}
			rec, err := f.executor().Recover(f.ctx, "staging")
			if rec == nil || rec.Outcome != c.outcome {
				t.Fatalf("recover: %+v, %v; want %s", rec, err, c.outcome)
			}
			if c.full {
				f.assertNewVersion(p)
			} else {
				g := f.settled()
				f.assertClean(g)
				if g.Tags["ferry:commit"] != f.old || len(g.Instances) != 2 {
					t.Errorf("after the rollback: %d instances, commit %s; want 2 of the old", len(g.Instances), g.Tags["ferry:commit"])
				}
			}
			f.assertNoOrphans(kill.ids)
		})
	}
}

// TestTerminateCallsPerBatch: replacing instances takes one
// DetachInstances and one TerminateInstances per batch, never a call per
// instance, in each way a deploy replaces them.
func TestTerminateCallsPerBatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		full   bool
		policy string
		calls  int64 // of each, for 4 instances
	}{
		{"full", true, "", 1},
		{"serial surge, batches of 2", false, "serial_batch_size = 2\n", 2},
		{"serial replace-unhealthy, batches of 2", false, "serial_batch_size = 2\nserial_mode = \"replace-unhealthy\"\nmin_healthy = 2\n", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 4, c.full, c.policy)
			p := f.plan()
			f.sim.ResetCounts()
			if r, err := f.executor().Run(f.ctx, p, "d1"); err != nil || r.Outcome != execute.Succeeded {
				t.Fatalf("outcome %s: %v", r.Outcome, err)
			}
			f.assertNewVersion(p)
			n := f.sim.Counts()
			if n["autoscaling:DetachInstances"] != c.calls || n["ec2:TerminateInstances"] != c.calls {
				t.Errorf("DetachInstances %d, TerminateInstances %d; want %d each", n["autoscaling:DetachInstances"], n["ec2:TerminateInstances"], c.calls)
			}
			for _, per := range []string{"autoscaling:TerminateInstanceInAutoScalingGroup", "autoscaling:SetInstanceHealth"} {
				if n[per] != 0 {
					t.Errorf("%d %s call(s)", n[per], per)
				}
			}
			f.assertNoOrphans(instanceIDs(f.before))
		})
	}
}

// lostDetach is a Cloud whose first DetachInstances takes effect but
// reports an error, as when the SDK retries a call whose answer was lost
// and AWS refuses the retry (the instances are no longer InService).
type lostDetach struct {
	execute.Cloud
	once atomic.Bool
}

func (c *lostDetach) DetachInstances(ctx context.Context, group string, ids []string, decrement bool) error {
	err := c.Cloud.DetachInstances(ctx, group, ids, decrement)
	if err == nil && c.once.CompareAndSwap(false, true) {
		return errors.New("ValidationError: The instance " + ids[0] + " is not in InService.")
	}
	return err
}

// TestDetachAnswerLost: a detach that took effect but answered an error
// is not a failed deploy: the instances are on their way out.
func TestDetachAnswerLost(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	e := f.executor()
	lost := &lostDetach{Cloud: f.cloud}
	e.Cloud = lost
	if r, err := e.Run(f.ctx, p, "d1"); err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	if !lost.once.Load() {
		t.Fatal("no detach was made")
	}
	f.assertNewVersion(p)
	f.assertNoOrphans(instanceIDs(f.before))
}

// killAtDetach is a Cloud whose agent dies as it is about to make the
// first DetachInstances call: the batch's old instances are out of the
// balancers and still in the group, InService.
type killAtDetach struct {
	execute.Cloud
	f       *fixture
	cancel  context.CancelFunc
	journal []byte
	killed  atomic.Bool
}

func (c *killAtDetach) DetachInstances(ctx context.Context, group string, ids []string, decrement bool) error {
	if c.killed.CompareAndSwap(false, true) {
		data, err := os.ReadFile(c.f.journalPath())
		if err != nil {
			c.f.t.Error(err)
		}
		c.journal = data
		c.f.sim.SetFault(awssim.Fault{Action: "*", ErrorRate: 1, ErrorCode: "AccessDenied", ErrorStatus: 403})
		c.cancel()
		return context.Canceled
	}
	return c.Cloud.DetachInstances(ctx, group, ids, decrement)
}

// TestKilledBetweenDeregisterAndDetach: an agent killed after a batch took
// its old instances out of the balancers, before it detached them from the
// group, leaves them serving nothing; Auto Scaling registers only the
// instances it launches. The rollback registers them again, so that the
// group is back to its size of serving instances (found by the crash
// matrix, docs/reliability.md).
func TestKilledBetweenDeregisterAndDetach(t *testing.T) {
	for _, mode := range []string{"surge", "replace-unhealthy"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, 2, false, `serial_mode = "`+mode+`"`+"\n")
			p := f.plan()
			ctx, cancel := context.WithCancel(f.ctx)
			kill := &killAtDetach{Cloud: f.cloud, f: f, cancel: cancel}
			e := f.executor()
			e.Cloud = kill
			if _, err := e.Run(ctx, p, "d1"); !errors.Is(err, execute.ErrInterrupted) {
				t.Fatalf("%v, want the deploy interrupted", err)
			}
			if !kill.killed.Load() {
				t.Fatal("the agent was never killed before detaching")
			}
			f.sim.ClearFaults()
			if err := os.WriteFile(f.journalPath(), kill.journal, 0o640); err != nil {
				t.Fatal(err)
			}
			rec, err := f.executor().Recover(f.ctx, "staging")
			if rec == nil || rec.Outcome != execute.RolledBack {
				t.Fatalf("recover: %+v, %v; want rolled back", rec, err)
			}
			f.assertOldVersion()
		})
	}
}

package awssim

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// manualClock is a Clock a test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The simulator's time is injectable: with a manual clock, an instance with
// an hour-long boot stays pending however long the test runs, and is
// running as soon as the clock is moved past its boot delay.
func TestClock_InjectedClockDrivesDelays(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := fastOptions()
	opts.Clock = clock
	opts.BootDelay = time.Hour
	e := newEnv(t, opts)
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t)
	id := *out.Instances[0].InstanceId
	if !out.Instances[0].LaunchTime.Equal(clock.Now()) {
		t.Errorf("launch time %v, clock %v", out.Instances[0].LaunchTime, clock.Now())
	}
	for range 10 {
		e.srv.Step()
	}
	if s := e.instance(id).State.Name; s != ec2types.InstanceStateNamePending {
		t.Fatalf("state %s before the boot delay", s)
	}
	clock.Advance(time.Hour)
	e.srv.Step()
	if s := e.instance(id).State.Name; s != ec2types.InstanceStateNameRunning {
		t.Fatalf("state %s after the boot delay", s)
	}
}

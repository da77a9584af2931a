package awssim

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Two simulators at once (test packages run in parallel) share the image
// store, and both count their ids from the same start: their first
// CreateImage answers the same AMI id. Each image gets a layer of its own,
// so both become available and neither sees the other's files.
func TestMachines_TwoSimulatorsShareTheStore(t *testing.T) {
	envs := []*env{newMachineEnv(t, machineOptions(t)), newMachineEnv(t, machineOptions(t))}
	insts := make([]ec2types.Instance, len(envs))
	for i, e := range envs {
		insts[i] = e.runMachine(&ec2.RunInstancesInput{ImageId: e.baseImage().ImageId})
	}
	ids := make([]string, len(envs))
	for i, e := range envs {
		out := try(e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: insts[i].InstanceId, Name: aws.String("same-id")})).must(t)
		ids[i] = aws.ToString(out.ImageId)
	}
	if ids[0] != ids[1] {
		t.Logf("the simulators answered %s and %s; the test wants the same id to prove anything", ids[0], ids[1])
	}
	var wg sync.WaitGroup
	for i, e := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := ec2.NewImageAvailableWaiter(e.ec2, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
			if err := w.Wait(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{ids[i]}}, 3*time.Minute); err != nil {
				t.Errorf("simulator %d's image %s: %v", i, ids[i], err)
			}
		}()
	}
	wg.Wait()
}

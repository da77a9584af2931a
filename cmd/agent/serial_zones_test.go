package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// TestSerialDeployKeepsZonesBalanced: a serial deploy ends with the
// group's zones balanced, as Auto Scaling's launch rule leaves them (no
// zone two instances above another), so once the deploy resumes
// AZRebalance the group has nothing to rebalance: no scaling activity
// launches to balance zones, and the group stays at its size. Before,
// a surge deploy of two instances in two zones ended with both in one.
// In replace-unhealthy mode the group itself launches each batch's
// replacements into its least used zones, having lost the batch: that
// refills the zones the batch emptied, whatever the batch's size.
func TestSerialDeployKeepsZonesBalanced(t *testing.T) {
	for _, tc := range []struct {
		size, zones int
		mode        string
		batch       int
	}{
		{2, 2, "surge", 1}, {2, 3, "surge", 1}, {4, 2, "surge", 1}, {4, 3, "surge", 1},
		{2, 2, "replace-unhealthy", 1}, {4, 3, "replace-unhealthy", 1}, {5, 3, "replace-unhealthy", 2},
	} {
		t.Run(fmt.Sprintf("%s, %d instances in %d zones, batch %d", tc.mode, tc.size, tc.zones, tc.batch), func(t *testing.T) {
			p := newProjectSimZones(t, tc.size, tc.zones, awssim.Options{App: awssim.DemoApp})
			serialPolicy(t, p.config, tc.mode, tc.batch)
			c := simenv.Connect(p.sim.URL)
			before := describeGroup(t, c)
			if got := zoneCounts(before); spread(got, before.AvailabilityZones) > 1 {
				t.Fatalf("zones before the deploy: %v", got)
			}

			serial := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
			code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging", "--yes")
			if code != exitOK || !strings.Contains(stdout, "staging: succeeded "+serial[:12]+" (serial)") {
				t.Fatalf("serial deploy: exit %d\n%s\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "mode="+tc.mode) {
				t.Fatalf("the plan's batches are not in %s mode:\n%s", tc.mode, stdout)
			}
			var g astypes.AutoScalingGroup
			testutil.Eventually(t, 30*time.Second, "the old instances to leave", func() (bool, string) {
				g = describeGroup(t, c)
				for _, inst := range g.Instances {
					if inst.LifecycleState != astypes.LifecycleStateInService {
						return false, fmt.Sprintf("%s is %s", aws.ToString(inst.InstanceId), inst.LifecycleState)
					}
				}
				return len(g.Instances) == tc.size, fmt.Sprintf("%d instances", len(g.Instances))
			})
			if len(g.SuspendedProcesses) != 0 {
				t.Errorf("processes still suspended: %v", g.SuspendedProcesses)
			}
			if got := zoneCounts(g); spread(got, g.AvailabilityZones) > 1 {
				t.Errorf("zones after the serial deploy: %v; want none two above another", got)
			}
			if aws.ToInt32(g.DesiredCapacity) != int32(tc.size) {
				t.Errorf("desired capacity %d; want %d", aws.ToInt32(g.DesiredCapacity), tc.size)
			}
			out, err := c.ASG.DescribeScalingActivities(context.Background(), &autoscaling.DescribeScalingActivitiesInput{
				AutoScalingGroupName: aws.String("shop-staging-web")})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range out.Activities {
				if strings.Contains(aws.ToString(a.Cause), "to balance instances in zones") {
					t.Errorf("a rebalance after the deploy: %s: %s", aws.ToString(a.Description), aws.ToString(a.Cause))
				}
			}
		})
	}
}

// serialPolicy sets the project's serial_mode and serial_batch_size.
func serialPolicy(t *testing.T, config, mode string, batch int) {
	t.Helper()
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	policy := "[environments.staging.policy]\n"
	doc := strings.Replace(string(data), policy, fmt.Sprintf("%sserial_mode = %q\nserial_batch_size = %d\n", policy, mode, batch), 1)
	if doc == string(data) {
		t.Fatal("the project's policy table moved; update serialPolicy")
	}
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func zoneCounts(g astypes.AutoScalingGroup) map[string]int {
	count := map[string]int{}
	for _, inst := range g.Instances {
		count[aws.ToString(inst.AvailabilityZone)]++
	}
	return count
}

// spread is how many instances the fullest of zones holds above the
// emptiest.
func spread(count map[string]int, zones []string) int {
	lo, hi := count[zones[0]], count[zones[0]]
	for _, z := range zones {
		lo, hi = min(lo, count[z]), max(hi, count[z])
	}
	return hi - lo
}

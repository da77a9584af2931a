package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// TestFullDeployAfterSerial: a full deploy right after a serial one. The
// serial deploy's surged batches used to leave the group's two zones
// uneven, and once the deploy resumed AZRebalance the group launched an
// instance above its desired capacity while the full deploy was planned.
// Serial deploys now end zone-balanced (TestSerialDeployKeepsZonesBalanced),
// so that race is no longer played here: TestFullDeployWhileRebalancing
// (pkg/execute) unbalances the zones itself. This test keeps the sequence
// through the ferry command: the full deploy brings up a whole new set and
// ends with the group as it was: every instance InService, from the new
// launch source, serving, at the old sizes.
func TestFullDeployAfterSerial(t *testing.T) {
	for _, size := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d instances", size), func(t *testing.T) {
			// Boots of a second: the instance AZRebalance launches is
			// still booting when the full deploy starts.
			p := newProjectSim(t, size, awssim.Options{App: awssim.DemoApp, BootDelay: time.Second})
			slowerTimeouts(t, p.config)
			c := simenv.Connect(p.sim.URL)
			before := describeGroup(t, c)

			serial := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
			code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging", "--yes")
			if code != exitOK || !strings.Contains(stdout, "staging: succeeded "+serial[:12]+" (serial)") {
				t.Fatalf("serial deploy: exit %d\n%s\n%s", code, stdout, stderr)
			}
			full := p.push("Add the orders table", map[string]string{".ferry/schema-version": "2\n"})
			code, stdout, stderr = runFerry(t, "deploy", "-c", p.config, "staging", "--yes")
			if code != exitOK || !strings.Contains(stdout, "staging: succeeded "+full[:12]+" (full)") {
				t.Fatalf("full deploy after a serial one: exit %d\n%s\n%s", code, stdout, stderr)
			}

			// The old instances are on their way out; wait until they
			// have left, then look at what stays.
			var g astypes.AutoScalingGroup
			testutil.Eventually(t, 30*time.Second, "the old instances to leave", func() (bool, string) {
				g = describeGroup(t, c)
				for _, inst := range g.Instances {
					if inst.LifecycleState != astypes.LifecycleStateInService {
						return false, fmt.Sprintf("%s is %s", aws.ToString(inst.InstanceId), inst.LifecycleState)
					}
				}
				return true, ""
			})
			if aws.ToInt32(g.DesiredCapacity) != aws.ToInt32(before.DesiredCapacity) ||
				aws.ToInt32(g.MinSize) != aws.ToInt32(before.MinSize) || aws.ToInt32(g.MaxSize) != aws.ToInt32(before.MaxSize) {
				t.Errorf("sizes after: desired %d min %d max %d; want those before: %d %d %d",
					aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize),
					aws.ToInt32(before.DesiredCapacity), aws.ToInt32(before.MinSize), aws.ToInt32(before.MaxSize))
			}
			if len(g.Instances) != size {
				t.Errorf("%d instances after the full deploy; want %d", len(g.Instances), size)
			}
			want := aws.ToString(g.LaunchTemplate.Version)
			if want == aws.ToString(before.LaunchTemplate.Version) {
				t.Errorf("the group still uses launch template version %s", want)
			}
			var ids []string
			for _, inst := range g.Instances {
				ids = append(ids, aws.ToString(inst.InstanceId))
				if inst.LaunchTemplate == nil || aws.ToString(inst.LaunchTemplate.Version) != want {
					t.Errorf("instance %s runs launch template version %v; want the full deploy's %s", aws.ToString(inst.InstanceId), inst.LaunchTemplate, want)
				}
			}
			h, err := c.ELB.DescribeInstanceHealth(context.Background(), &elb.DescribeInstanceHealthInput{LoadBalancerName: aws.String("shop-staging")})
			if err != nil {
				t.Fatal(err)
			}
			serving := map[string]bool{}
			for _, s := range h.InstanceStates {
				serving[aws.ToString(s.InstanceId)] = aws.ToString(s.State) == "InService"
			}
			for _, id := range ids {
				if !serving[id] {
					t.Errorf("instance %s is not InService in the load balancer: %v", id, h.InstanceStates)
				}
			}
			code, stdout, _ = runFerry(t, "history", "-c", p.config, "staging")
			if code != exitOK || strings.Contains(stdout, "rolled-back") || !strings.Contains(stdout, full[:12]+"  full    succeeded") {
				t.Errorf("history: exit %d\n%s", code, stdout)
			}
		})
	}
}

func describeGroup(t *testing.T, c simenv.Clients) astypes.AutoScalingGroup {
	t.Helper()
	out, err := c.ASG.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{"shop-staging-web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		t.Fatalf("%d groups named shop-staging-web", len(out.AutoScalingGroups))
	}
	return out.AutoScalingGroups[0]
}

package awssim

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// BenchmarkMachines_GroupToHealthy measures, for a group of 1 and of 8
// machines launched at once behind a Classic ELB with the seed's check
// (HTTPS:443/healthcheck.html, Interval 5 s, HealthyThreshold 2, one AWS
// second a real one): the time from CreateAutoScalingGroup until every
// instance is running, and until every one is InService in the balancer.
// The first check comes at registration and the next Interval apart, so a
// passing instance is InService (HealthyThreshold-1) × Interval, 5 s, after
// it is running: that much of the second figure is the check itself.
//
//	go test -run '^$' -bench BenchmarkMachines -benchtime 1x ./internal/awssim/
func BenchmarkMachines_GroupToHealthy(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			for b.Loop() {
				running, healthy := groupToHealthy(b, n)
				b.ReportMetric(running.Seconds(), "s-to-running")
				b.ReportMetric(healthy.Seconds(), "s-to-healthy")
			}
		})
	}
}

func groupToHealthy(b *testing.B, n int) (running, healthy time.Duration) {
	e := newMachineEnv(b, machineOptions(b))
	base := e.baseImage()
	e.machineLB("web", "HTTPS:443/healthcheck.html")
	try(e.as.CreateLaunchConfiguration(e.ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("web-1"), ImageId: base.ImageId, InstanceType: aws.String("t3.micro"),
	})).must(b)
	start := time.Now()
	e.group("web", "web-1", int32(n), int32(n), int32(n), func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.AvailabilityZones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
		in.LoadBalancerNames = []string{"web"}
	})
	e.waitFor(fmt.Sprintf("%d instances running", n), 5*time.Minute, func() bool {
		out := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("instance-state-name"), Values: []string{"running"}}}})).must(b)
		count := 0
		for _, r := range out.Reservations {
			count += len(r.Instances)
		}
		return count == n
	})
	running = time.Since(start)
	e.waitFor(fmt.Sprintf("%d instances InService behind web", n), 5*time.Minute, func() bool {
		ids := e.inService("web")
		for _, id := range ids {
			if e.elbState("web", id) != elbInService {
				return false
			}
		}
		return len(ids) == n
	})
	return running, time.Since(start)
}

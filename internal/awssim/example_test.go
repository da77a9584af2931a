package awssim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
)

// A group of two instances behind a Classic ELB, reached through the real
// SDK clients, and a request through the balancer's listener.
func Example() {
	srv, err := awssim.Start(awssim.Options{
		Tick: 5 * time.Millisecond, Second: 10 * time.Millisecond, BootDelay: 50 * time.Millisecond,
		App: awssim.DemoApp,
	}, nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx := context.Background()
	cfg := srv.AWSConfig() // endpoint, region, static credentials
	elb := elasticloadbalancing.NewFromConfig(cfg)
	asg := autoscaling.NewFromConfig(cfg)

	_, _ = elb.CreateLoadBalancer(ctx, &elasticloadbalancing.CreateLoadBalancerInput{
		LoadBalancerName: aws.String("web"),
		Listeners:        []elbtypes.Listener{{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstancePort: aws.Int32(80)}},
	})
	_, _ = elb.ConfigureHealthCheck(ctx, &elasticloadbalancing.ConfigureHealthCheckInput{
		LoadBalancerName: aws.String("web"),
		HealthCheck: &elbtypes.HealthCheck{Target: aws.String("HTTP:80/healthcheck.html"),
			Interval: aws.Int32(5), Timeout: aws.Int32(2), HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(2)},
	})
	_, _ = asg.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("web-1"), ImageId: aws.String(awssim.DebianImage), InstanceType: aws.String("t3.micro"),
	})
	_, _ = asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("web"), LaunchConfigurationName: aws.String("web-1"),
		MinSize: aws.Int32(2), MaxSize: aws.Int32(4), AvailabilityZones: []string{"us-east-1a"},
		LoadBalancerNames: []string{"web"},
	})

	url, _ := srv.LoadBalancerURL("web")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				f := strings.Fields(string(body))
				fmt.Println("served by an instance of", f[1], "launched from", f[3])
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("DescribeAutoScalingGroups calls:", srv.Counts()["autoscaling:DescribeAutoScalingGroups"])
	// Output:
	// served by an instance of ami-0fe77a1b2c3d4e5f6 launched from web-1
	// DescribeAutoScalingGroups calls: 0
}

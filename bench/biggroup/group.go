package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
	"github.com/ferry-deploy/ferry/internal/simenv"
)

// region is the simulator's.
const region = simenv.Region

// drainSeconds is the classic balancer's connection draining timeout and
// the target group's deregistration delay, in AWS seconds: draining on,
// as it should be in production (Ferry warns when it is off), and shorter
// than policy.timeouts.drain.
const drainSeconds = 30

// makeGroup builds the environment as an operator would: the web group of
// n instances running first, behind a classic balancer (the seed's check,
// connection draining on) and a target group (HTTP /healthcheck.html,
// every 5 s, 2 passes), and waits until every instance serves in both.
func (w *world) makeGroup(ctx context.Context, first string) error {
	c := simenv.Connect(w.simURL)
	if err := simenv.Create(ctx, c, simenv.Spec{
		Project: project, Env: envName, LaunchTemplate: group, DeployedCommit: first, Now: time.Now().Add(-24 * time.Hour),
		Groups: []simenv.Group{{Name: group, Size: w.n, ClassicLB: balancer}},
	}); err != nil {
		return err
	}
	if _, err := c.ELB.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{
		LoadBalancerName: aws.String(balancer),
		LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{
			ConnectionDraining: &elbtypes.ConnectionDraining{Enabled: true, Timeout: aws.Int32(drainSeconds)},
		},
	}); err != nil {
		return fmt.Errorf("connection draining on %s: %w", balancer, err)
	}
	v2 := elbv2Client(w.simURL)
	tg, err := v2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(tgName), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80),
		VpcId: aws.String("vpc-0a000000000000000"), TargetType: elbv2types.TargetTypeEnumInstance,
		HealthCheckPath: aws.String("/healthcheck.html"), HealthCheckIntervalSeconds: aws.Int32(5),
		HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		return fmt.Errorf("create target group %s: %w", tgName, err)
	}
	if len(tg.TargetGroups) != 1 {
		return fmt.Errorf("create target group %s: %d answered", tgName, len(tg.TargetGroups))
	}
	w.tgARN = aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	// A target group's targets are checked only while a load balancer's
	// listener forwards to it (otherwise unused, Target.NotInUse).
	lb, err := v2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(tgName), Subnets: []string{"subnet-0a000000000000000", "subnet-0a000000000000010"},
	})
	if err != nil {
		return fmt.Errorf("create load balancer %s: %w", tgName, err)
	}
	if _, err := v2.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String(w.tgARN)}},
	}); err != nil {
		return fmt.Errorf("listener of %s: %w", tgName, err)
	}
	if _, err := v2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: aws.String(w.tgARN),
		Attributes:     []elbv2types.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(fmt.Sprint(drainSeconds))}},
	}); err != nil {
		return fmt.Errorf("deregistration delay of %s: %w", tgName, err)
	}
	if _, err := c.ASG.AttachLoadBalancerTargetGroups(ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{
		AutoScalingGroupName: aws.String(group), TargetGroupARNs: []string{w.tgARN},
	}); err != nil {
		return fmt.Errorf("attach %s to %s: %w", tgName, group, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return benchproc.WaitFor(wctx, 100*time.Millisecond, fmt.Sprintf("%d instances serving in both balancers", w.n), func() (bool, error) {
		n, err := serving(wctx, c, v2, w.tgARN)
		return n == w.n, err
	})
}

func elbv2Client(endpoint string) *elbv2.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: simenv.Credentials(),
		Retryer:     func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 5) },
	}
	return elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// serving counts the group's InService instances that are InService in
// the classic balancer and healthy in the target group.
func serving(ctx context.Context, c simenv.Clients, v2 *elbv2.Client, arn string) (int, error) {
	out, err := c.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return 0, err
	}
	if len(out.AutoScalingGroups) != 1 {
		return 0, errors.New("group " + group + " not found")
	}
	ok := map[string]int{}
	for _, i := range out.AutoScalingGroups[0].Instances {
		if i.LifecycleState == astypes.LifecycleStateInService {
			ok[aws.ToString(i.InstanceId)]++
		}
	}
	h, err := c.ELB.DescribeInstanceHealth(ctx, &elb.DescribeInstanceHealthInput{LoadBalancerName: aws.String(balancer)})
	if err != nil {
		return 0, err
	}
	for _, s := range h.InstanceStates {
		if aws.ToString(s.State) == "InService" {
			ok[aws.ToString(s.InstanceId)]++
		}
	}
	th, err := v2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return 0, err
	}
	for _, d := range th.TargetHealthDescriptions {
		if d.Target != nil && d.TargetHealth != nil && d.TargetHealth.State == elbv2types.TargetHealthStateEnumHealthy {
			ok[aws.ToString(d.Target.Id)]++
		}
	}
	n := 0
	for _, v := range ok {
		if v == 3 {
			n++
		}
	}
	return n, nil
}

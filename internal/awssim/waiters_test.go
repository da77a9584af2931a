package awssim

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

const (
	waitMin = 10 * time.Millisecond
	waitMax = 50 * time.Millisecond
	waitFor = 20 * time.Second
)

// The SDK's own waiters, which encode AWS's documented states and retryable
// errors (e.g. InstanceInService retries InvalidInstance), work against the
// simulator.
func TestWaiters_SDKWaitersSucceed(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.srv.SetEventualConsistency(100 * time.Millisecond)
	run := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t)
	id := *run.Instances[0].InstanceId
	if err := ec2.NewInstanceRunningWaiter(e.ec2, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = waitMin, waitMax }).
		Wait(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, waitFor); err != nil {
		t.Errorf("InstanceRunning: %v", err)
	}
	img := try(e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("img")})).must(t)
	if err := ec2.NewImageAvailableWaiter(e.ec2, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = waitMin, waitMax }).
		Wait(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*img.ImageId}}, waitFor); err != nil {
		t.Errorf("ImageAvailable: %v", err)
	}

	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.register("web", id)
	in := &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String("web"), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}}
	if err := elasticloadbalancing.NewInstanceInServiceWaiter(e.elb, func(o *elasticloadbalancing.InstanceInServiceWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	}).
		Wait(e.ctx, in, waitFor); err != nil {
		t.Errorf("InstanceInService: %v", err)
	}
	try(e.elb.DeregisterInstancesFromLoadBalancer(e.ctx, &elasticloadbalancing.DeregisterInstancesFromLoadBalancerInput{LoadBalancerName: aws.String("web"), Instances: in.Instances})).must(t)
	if err := elasticloadbalancing.NewInstanceDeregisteredWaiter(e.elb, func(o *elasticloadbalancing.InstanceDeregisteredWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	}).
		Wait(e.ctx, in, waitFor); err != nil {
		t.Errorf("InstanceDeregistered: %v", err)
	}

	arn := e.targetGroup("tg", "1")
	targets := []elbv2types.TargetDescription{{Id: aws.String(id)}}
	try(e.elbv2.RegisterTargets(e.ctx, &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets})).must(t)
	th := &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targets}
	if err := elasticloadbalancingv2.NewTargetInServiceWaiter(e.elbv2, func(o *elasticloadbalancingv2.TargetInServiceWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	}).
		Wait(e.ctx, th, waitFor); err != nil {
		t.Errorf("TargetInService: %v", err)
	}
	try(e.elbv2.DeregisterTargets(e.ctx, &elasticloadbalancingv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets})).must(t)
	if err := elasticloadbalancingv2.NewTargetDeregisteredWaiter(e.elbv2, func(o *elasticloadbalancingv2.TargetDeregisteredWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	}).
		Wait(e.ctx, th, waitFor); err != nil {
		t.Errorf("TargetDeregistered: %v", err)
	}

	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 2, 2, 2, nil)
	if err := autoscaling.NewGroupInServiceWaiter(e.as, func(o *autoscaling.GroupInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = waitMin, waitMax }).
		Wait(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web"}}, waitFor); err != nil {
		t.Errorf("GroupInService: %v", err)
	}
	try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})).must(t)
	if err := ec2.NewInstanceTerminatedWaiter(e.ec2, func(o *ec2.InstanceTerminatedWaiterOptions) { o.MinDelay, o.MaxDelay = waitMin, waitMax }).
		Wait(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, waitFor); err != nil {
		t.Errorf("InstanceTerminated: %v", err)
	}
}

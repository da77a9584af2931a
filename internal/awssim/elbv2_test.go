package awssim

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func (e *env) targetGroup(name string, deregDelay string) string {
	e.t.Helper()
	out := try(e.elbv2.CreateTargetGroup(e.ctx, &elasticloadbalancingv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String("vpc-0a000000000000000"),
		HealthCheckPath: aws.String("/healthcheck.html"), HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
		HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
	})).must(e.t)
	arn := *out.TargetGroups[0].TargetGroupArn
	try(e.elbv2.ModifyTargetGroupAttributes(e.ctx, &elasticloadbalancingv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: aws.String(arn), Attributes: []elbv2types.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(deregDelay)}},
	})).must(e.t)
	e.serve(arn)
	return arn
}

// serve puts a target group in use: an application load balancer of its
// own whose HTTP listener on port 80 forwards to it. Without one, AWS
// checks no target of the group (unused, Target.NotInUse).
func (e *env) serve(tgARN string) string {
	e.t.Helper()
	e.lbSeq++
	lb := try(e.elbv2.CreateLoadBalancer(e.ctx, &elasticloadbalancingv2.CreateLoadBalancerInput{
		Name: aws.String(fmt.Sprintf("lb-%d", e.lbSeq)), Subnets: []string{"subnet-0a000000000000000", "subnet-0a000000000000010"},
	})).must(e.t)
	lbARN := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	try(e.elbv2.CreateListener(e.ctx, &elasticloadbalancingv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lbARN), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}},
	})).must(e.t)
	return lbARN
}

func (e *env) targetHealth(arn, id string) elbv2types.TargetHealth {
	e.t.Helper()
	out := try(e.elbv2.DescribeTargetHealth(e.ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{
		TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})).must(e.t)
	return *out.TargetHealthDescriptions[0].TargetHealth
}

// AWS: API_TargetHealth, API_RegisterTargets, API_DeregisterTargets,
// load-balancer-target-groups (deregistration delay): a target is initial,
// then healthy after HealthyThresholdCount checks, unhealthy after
// UnhealthyThresholdCount failures, draining for the deregistration delay
// after DeregisterTargets, then unused (Target.NotRegistered).
func TestELBv2_TargetStates(t *testing.T) {
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	e := newEnv(t, opts)
	arn := e.targetGroup("web", "30")
	id := e.runOne()
	if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumUnused || th.Reason != elbv2types.TargetHealthReasonEnumNotRegistered {
		t.Errorf("before registration: %s %s", th.State, th.Reason)
	}
	try(e.elbv2.RegisterTargets(e.ctx, &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})).must(t)
	if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumInitial {
		t.Errorf("just registered: %s", th.State)
	}
	e.eventually("healthy", func() bool { return e.targetHealth(arn, id).State == elbv2types.TargetHealthStateEnumHealthy })
	if passed, _ := apps.counts(id); passed < 2 {
		t.Errorf("healthy after %d checks", passed)
	}
	apps.setFailing(id, true)
	e.eventually("unhealthy", func() bool { return e.targetHealth(arn, id).State == elbv2types.TargetHealthStateEnumUnhealthy })
	if th := e.targetHealth(arn, id); th.Reason != elbv2types.TargetHealthReasonEnumFailedHealthChecks {
		t.Errorf("unhealthy reason %s", th.Reason)
	}
	apps.setFailing(id, false)
	try(e.elbv2.DeregisterTargets(e.ctx, &elasticloadbalancingv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})).must(t)
	if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumDraining || th.Reason != elbv2types.TargetHealthReasonEnumDeregistrationInProgress {
		t.Errorf("after deregistration: %s %s", th.State, th.Reason)
	}
	e.eventually("drained", func() bool { return e.targetHealth(arn, id).State == elbv2types.TargetHealthStateEnumUnused })
	// Deregistering a target that is not registered succeeds.
	try(e.elbv2.DeregisterTargets(e.ctx, &elasticloadbalancingv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})).must(t)
}

// AWS: API_RegisterTargets: an instance that is not running is
// InvalidTarget.
func TestELBv2_RegisterInvalidTarget(t *testing.T) {
	e := newEnv(t, fastOptions())
	arn := e.targetGroup("web", "0")
	id := e.runOne()
	try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})).must(t)
	for _, target := range []string{id, "i-0000000000000dead"} {
		_, err := e.elbv2.RegisterTargets(e.ctx, &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(target)}}})
		var inv *elbv2types.InvalidTargetException
		if !errors.As(err, &inv) {
			t.Errorf("register %s: %v, want InvalidTarget", target, err)
		}
	}
	tgs := try(e.elbv2.DescribeTargetGroups(e.ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{Names: []string{"web"}})).must(t)
	if len(tgs.TargetGroups) != 1 || *tgs.TargetGroups[0].HealthCheckPath != "/healthcheck.html" || *tgs.TargetGroups[0].HealthyThresholdCount != 2 {
		t.Errorf("DescribeTargetGroups %+v", tgs.TargetGroups)
	}
}

// AWS: API_AttachLoadBalancerTargetGroups, API_DetachLoadBalancerTargetGroups,
// API_AttachLoadBalancers, API_DetachLoadBalancers: attaching registers the
// group's instances, detaching deregisters them (target groups drain).
func TestASG_AttachDetachBalancers(t *testing.T) {
	e := newEnv(t, fastOptions())
	arn := e.targetGroup("web", "1000")
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 2, 1, nil)
	id := e.waitInService("web", 1)[0]
	try(e.as.AttachLoadBalancerTargetGroups(e.ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{AutoScalingGroupName: aws.String("web"), TargetGroupARNs: []string{arn}})).must(t)
	try(e.as.AttachLoadBalancers(e.ctx, &autoscaling.AttachLoadBalancersInput{AutoScalingGroupName: aws.String("web"), LoadBalancerNames: []string{"web"}})).must(t)
	e.eventually("healthy in both", func() bool {
		return e.targetHealth(arn, id).State == elbv2types.TargetHealthStateEnumHealthy && e.elbState("web", id) == "InService"
	})
	g := e.describeGroup("web")
	if len(g.TargetGroupARNs) != 1 || len(g.LoadBalancerNames) != 1 {
		t.Errorf("group balancers %v %v", g.TargetGroupARNs, g.LoadBalancerNames)
	}
	try(e.as.DetachLoadBalancerTargetGroups(e.ctx, &autoscaling.DetachLoadBalancerTargetGroupsInput{AutoScalingGroupName: aws.String("web"), TargetGroupARNs: []string{arn}})).must(t)
	try(e.as.DetachLoadBalancers(e.ctx, &autoscaling.DetachLoadBalancersInput{AutoScalingGroupName: aws.String("web"), LoadBalancerNames: []string{"web"}})).must(t)
	if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumDraining {
		t.Errorf("target after detach: %s", th.State)
	}
	if s := e.elbState("web", id); s != "OutOfService" {
		t.Errorf("instance after detach: %s", s)
	}
	_, err := e.as.AttachLoadBalancers(e.ctx, &autoscaling.AttachLoadBalancersInput{AutoScalingGroupName: aws.String("web"), LoadBalancerNames: []string{"nope"}})
	if apiCode(err) != "ValidationError" {
		t.Errorf("attach unknown balancer: %v", err)
	}
}

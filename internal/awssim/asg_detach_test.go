package awssim

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// AWS: API_DetachInstances, ec2-auto-scaling-detach-attach-instances: the
// instances are deregistered from the group's classic balancers and target
// groups, are Detaching while the target group drains them, then leave the
// group still running; with ShouldDecrementDesiredCapacity desired drops
// by their number and nothing replaces them. EC2 TerminateInstances then
// ends them.
func TestASG_DetachInstancesDecrement(t *testing.T) {
	e := newEnv(t, fastOptions())
	arn := e.targetGroup("web", "20")
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 4, 3, func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.LoadBalancerNames = []string{"web"}
		in.TargetGroupARNs = []string{arn}
	})
	ids := e.waitInService("web", 3)
	e.eventually("healthy in both", func() bool {
		for _, id := range ids {
			if e.targetHealth(arn, id).State != elbv2types.TargetHealthStateEnumHealthy || e.elbState("web", id) != "InService" {
				return false
			}
		}
		return true
	})
	out := try(e.as.DetachInstances(e.ctx, &autoscaling.DetachInstancesInput{
		AutoScalingGroupName: aws.String("web"), InstanceIds: ids[:2], ShouldDecrementDesiredCapacity: aws.Bool(true),
	})).must(t)
	if len(out.Activities) != 2 || !strings.Contains(aws.ToString(out.Activities[0].Description), "Detaching EC2 instance: "+ids[0]) {
		t.Errorf("activities %v", describeActivities(out.Activities))
	}
	g := e.describeGroup("web")
	if d := aws.ToInt32(g.DesiredCapacity); d != 1 {
		t.Errorf("desired %d after detaching 2 of 3 with decrement", d)
	}
	for _, id := range ids[:2] {
		if s := e.instancesBy("web")[id].LifecycleState; s != astypes.LifecycleStateDetaching {
			t.Errorf("%s right after the call: %s, want Detaching", id, s)
		}
		if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumDraining {
			t.Errorf("%s in the target group: %s, want draining", id, th.State)
		}
		if s := e.elbState("web", id); s != "OutOfService" && s != "InvalidInstance" {
			t.Errorf("%s in the classic balancer: %s", id, s)
		}
	}
	e.eventually("detached", func() bool { return len(e.describeGroup("web").Instances) == 1 })
	for range 20 {
		e.srv.Step()
	}
	if now := e.inService("web"); len(now) != 1 || now[0] != ids[2] {
		t.Errorf("group after detach: %v, want only %s (no replacement)", now, ids[2])
	}
	for _, id := range ids[:2] {
		if s := e.instance(id).State.Name; s != ec2types.InstanceStateNameRunning {
			t.Errorf("%s after detach: %s, want running", id, s)
		}
	}
	try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:2]})).must(t)
	e.eventually("terminated", func() bool {
		return e.instance(ids[0]).State.Name == ec2types.InstanceStateNameTerminated &&
			e.instance(ids[1]).State.Name == ec2types.InstanceStateNameTerminated
	})
}

// AWS: API_DetachInstances: without decrement the group launches
// replacements; an instance that is not InService in the group, more than
// 20 ids, or a decrement below MinSize is a ValidationError, and nothing
// is detached.
func TestASG_DetachInstancesReplaceAndRefuse(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 2, 4, 2, nil)
	ids := e.waitInService("web", 2)
	detach := func(dec bool, ids ...string) error {
		_, err := e.as.DetachInstances(e.ctx, &autoscaling.DetachInstancesInput{
			AutoScalingGroupName: aws.String("web"), InstanceIds: ids, ShouldDecrementDesiredCapacity: aws.Bool(dec),
		})
		return err
	}
	if err := detach(true, ids[0]); apiCode(err) != "ValidationError" || !strings.Contains(apiMessage(err), "min size") {
		t.Errorf("below MinSize: %v", err)
	}
	if err := detach(false, ids[0], "i-0000000000000dead"); apiCode(err) != "ValidationError" || !strings.Contains(apiMessage(err), "not part of Auto Scaling group web") {
		t.Errorf("unknown instance: %v", err)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = ids[0]
	}
	if err := detach(false, many...); apiCode(err) != "ValidationError" {
		t.Errorf("21 ids: %v", err)
	}
	if g := e.describeGroup("web"); aws.ToInt32(g.DesiredCapacity) != 2 || len(e.inService("web")) != 2 {
		t.Fatalf("a refused call changed the group: desired %d, %v", aws.ToInt32(g.DesiredCapacity), e.inService("web"))
	}
	if err := detach(false, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := detach(false, ids[0]); apiCode(err) != "ValidationError" {
		t.Errorf("detaching a Detaching instance again: %v", err)
	}
	e.eventually("replacement", func() bool {
		now := e.inService("web")
		return len(now) == 2 && !contains(now, ids[0])
	})
	if d := aws.ToInt32(e.describeGroup("web").DesiredCapacity); d != 2 {
		t.Errorf("desired %d after detach without decrement", d)
	}
	if s := e.instance(ids[0]).State.Name; s != ec2types.InstanceStateNameRunning {
		t.Errorf("detached instance: %s, want running", s)
	}
}

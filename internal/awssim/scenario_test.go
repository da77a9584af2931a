package awssim

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// The full deployment of seed 000 (suspend AddToLoadBalancer, install the
// new launch configuration and double the group, register the new
// instances and resume, wait until they are InService, shrink with
// OldestLaunchConfiguration), done through the SDK while a client sends
// requests through the balancer: every request succeeds, and the new
// version serves at the end. A dress rehearsal of Ferry's full deploy.
func TestScenario_FullDeployUnderTraffic(t *testing.T) {
	e, url := trafficEnv(t, 5)
	l := startLoad(t, url)
	e.eventually("traffic flowing", func() bool { return l.served() > 10 })
	old := e.inService("web")

	asg := func(in autoscaling.UpdateAutoScalingGroupInput) {
		in.AutoScalingGroupName = aws.String("web")
		try(e.as.UpdateAutoScalingGroup(e.ctx, &in)).must(t)
	}
	try(e.as.SuspendProcesses(e.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"AddToLoadBalancer"}})).must(t)
	e.lc("lc-2", "ami-00000002")
	asg(autoscaling.UpdateAutoScalingGroupInput{LaunchConfigurationName: aws.String("lc-2"), MaxSize: aws.Int32(4), MinSize: aws.Int32(4), DesiredCapacity: aws.Int32(4)})
	all := e.waitInService("web", 4)
	var fresh []elbtypes.Instance
	for _, id := range all {
		if !contains(old, id) {
			if s := e.elbState("web", id); s != "InvalidInstance" {
				t.Errorf("new instance %s is %s in the balancer before registration", id, s)
			}
			fresh = append(fresh, elbtypes.Instance{InstanceId: aws.String(id)})
		}
	}
	try(e.elb.RegisterInstancesWithLoadBalancer(e.ctx, &elasticloadbalancing.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: aws.String("web"), Instances: fresh})).must(t)
	try(e.as.ResumeProcesses(e.ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"AddToLoadBalancer"}})).must(t)
	if err := elasticloadbalancing.NewInstanceInServiceWaiter(e.elb, func(o *elasticloadbalancing.InstanceInServiceWaiterOptions) {
		o.MinDelay, o.MaxDelay = waitMin, waitMax
	}).
		Wait(e.ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String("web"), Instances: fresh}, 20*time.Second); err != nil {
		t.Fatalf("new instances InService: %v", err)
	}
	asg(autoscaling.UpdateAutoScalingGroupInput{TerminationPolicies: []string{"OldestLaunchConfiguration"}, MinSize: aws.Int32(2), DesiredCapacity: aws.Int32(2)})
	left := e.waitInService("web", 2)
	for _, id := range left {
		if contains(old, id) {
			t.Errorf("old instance %s kept", id)
		}
	}
	for _, id := range old {
		if st := e.instanceHealth("web", id); *st.State != "OutOfService" {
			t.Errorf("old instance %s is %s", id, *st.State)
		}
	}
	asg(autoscaling.UpdateAutoScalingGroupInput{TerminationPolicies: []string{"Default"}})
	before := l.served()
	e.eventually("traffic after the deploy", func() bool { return l.served() > before+10 })
	ok, fail := l.finish()
	if fail != 0 {
		t.Errorf("%d of %d requests failed: %v", fail, ok+fail, l.errs)
	}
	g := e.describeGroup("web")
	if len(g.SuspendedProcesses) != 0 || *g.MinSize != 2 || *g.DesiredCapacity != 2 {
		t.Errorf("group left %+v", g)
	}
	t.Logf("%d requests during the deploy, none failed; calls: %v", ok, e.srv.Counts())
}

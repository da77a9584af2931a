package awssim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// runOne launches one instance and waits until it is running.
func (e *env) runOne() string {
	e.t.Helper()
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(e.t)
	id := *out.Instances[0].InstanceId
	e.eventually("running", func() bool { return e.instance(id).State.Name == ec2types.InstanceStateNameRunning })
	return id
}

func (e *env) register(lb string, ids ...string) {
	e.t.Helper()
	var is []elbtypes.Instance
	for _, id := range ids {
		is = append(is, elbtypes.Instance{InstanceId: aws.String(id)})
	}
	try(e.elb.RegisterInstancesWithLoadBalancer(e.ctx, &elasticloadbalancing.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: aws.String(lb), Instances: is})).must(e.t)
}

func (e *env) instanceHealth(lb, id string) elbtypes.InstanceState {
	e.t.Helper()
	out := try(e.elb.DescribeInstanceHealth(e.ctx, &elasticloadbalancing.DescribeInstanceHealthInput{
		LoadBalancerName: aws.String(lb), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}})).must(e.t)
	return out.InstanceStates[0]
}

// AWS: API_RegisterInstancesWithLoadBalancer, API_HealthCheck,
// API_InstanceState: a registered instance is OutOfService ("Instance
// registration is still in progress.") until it passes HealthyThreshold
// consecutive real HTTP checks of the target, and OutOfService again after
// UnhealthyThreshold consecutive failures.
func TestELB_HealthThresholds(t *testing.T) {
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	e := newEnv(t, opts)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 3, 2)
	id := e.runOne()
	e.register("web", id)
	st := e.instanceHealth("web", id)
	if *st.State != "OutOfService" || *st.ReasonCode != "ELB" || *st.Description != "Instance registration is still in progress." {
		t.Errorf("just registered: %s %s %q", *st.State, *st.ReasonCode, *st.Description)
	}
	e.eventually("InService", func() bool { return *e.instanceHealth("web", id).State == "InService" })
	if passed, _ := apps.counts(id); passed < 3 {
		t.Errorf("InService after %d passed checks, HealthyThreshold is 3", passed)
	}
	apps.setFailing(id, true)
	e.eventually("OutOfService", func() bool { return *e.instanceHealth("web", id).State == "OutOfService" })
	if _, failed := apps.counts(id); failed < 2 {
		t.Errorf("OutOfService after %d failed checks, UnhealthyThreshold is 2", failed)
	}
	if st := e.instanceHealth("web", id); *st.ReasonCode != "Instance" {
		t.Errorf("reason %s %q", *st.ReasonCode, *st.Description)
	}
	apps.setFailing(id, false)
	e.eventually("InService again", func() bool { return *e.instanceHealth("web", id).State == "InService" })
}

// AWS: API_DescribeInstanceHealth, seed 000: an instance the balancer has
// never known is InvalidInstance "Could not find EC2 instance …"; one it
// knew and no longer has is OutOfService, "Instance is not currently
// registered with the LoadBalancer."; an unknown balancer is
// LoadBalancerNotFound.
func TestELB_DescribeInstanceHealthInvalidInstance(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	id := e.runOne()
	_, err := e.elb.DescribeInstanceHealth(e.ctx, &elasticloadbalancing.DescribeInstanceHealthInput{
		LoadBalancerName: aws.String("web"), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}})
	var inv *elbtypes.InvalidEndPointException
	if !errors.As(err, &inv) || inv.ErrorCode() != "InvalidInstance" || !strings.HasPrefix(inv.ErrorMessage(), "Could not find EC2 instance "+id) {
		t.Errorf("never registered: %v", err)
	}
	e.register("web", id)
	try(e.elb.DeregisterInstancesFromLoadBalancer(e.ctx, &elasticloadbalancing.DeregisterInstancesFromLoadBalancerInput{
		LoadBalancerName: aws.String("web"), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}})).must(t)
	st := e.instanceHealth("web", id)
	if *st.State != "OutOfService" || *st.ReasonCode != "N/A" || *st.Description != "Instance is not currently registered with the LoadBalancer." {
		t.Errorf("deregistered: %s %s %q", *st.State, *st.ReasonCode, *st.Description)
	}
	_, err = e.elb.DescribeInstanceHealth(e.ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String("nope")})
	if apiCode(err) != "LoadBalancerNotFound" {
		t.Errorf("unknown balancer: %v", err)
	}
	lbs := try(e.elb.DescribeLoadBalancers(e.ctx, &elasticloadbalancing.DescribeLoadBalancersInput{LoadBalancerNames: []string{"web"}})).must(t)
	if hc := lbs.LoadBalancerDescriptions[0].HealthCheck; *hc.Target != "HTTP:80/healthcheck.html" || *hc.HealthyThreshold != 2 {
		t.Errorf("health check %+v", hc)
	}
}

// AWS: as-suspend-resume-processes (AddToLoadBalancer): instances launched
// while it is suspended are not registered, and resuming it does not
// register them ("you must register those instances manually").
func TestASG_AddToLoadBalancerSuspendedNeverRegisters(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 2, 1, func(in *autoscaling.CreateAutoScalingGroupInput) { in.LoadBalancerNames = []string{"web"} })
	first := e.waitInService("web", 1)[0]
	e.eventually("first instance InService in the balancer", func() bool { return e.elbState("web", first) == "InService" })

	try(e.as.SuspendProcesses(e.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"AddToLoadBalancer"}})).must(t)
	if err := e.setDesired("web", 2); err != nil {
		t.Fatal(err)
	}
	ids := e.waitInService("web", 2)
	second := ids[0]
	if second == first {
		second = ids[1]
	}
	if s := e.elbState("web", second); s != "InvalidInstance" {
		t.Errorf("launched while suspended: %s, want InvalidInstance (never registered)", s)
	}
	try(e.as.ResumeProcesses(e.ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"AddToLoadBalancer"}})).must(t)
	for range 20 {
		e.srv.Step()
	}
	if s := e.elbState("web", second); s != "InvalidInstance" {
		t.Errorf("after resume: %s, want still not registered", s)
	}
	e.register("web", second)
	e.eventually("registered by hand, InService", func() bool { return e.elbState("web", second) == "InService" })
}

// AWS: healthcheck (Auto Scaling "Health checks for instances"), API_CreateAutoScalingGroup
// (HealthCheckType ELB): after the grace period the group replaces an
// instance its balancer reports unhealthy; a group with EC2 health checks
// does not.
func TestASG_HealthCheckTypeELBReplacesUnhealthy(t *testing.T) {
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	e := newEnv(t, opts)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.lc("lc-1", "ami-00000001")
	e.group("elb", "lc-1", 1, 2, 1, func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.LoadBalancerNames, in.HealthCheckType, in.HealthCheckGracePeriod = []string{"web"}, aws.String("ELB"), aws.Int32(50)
	})
	e.group("ec2", "lc-1", 1, 2, 1, func(in *autoscaling.CreateAutoScalingGroupInput) { in.LoadBalancerNames = []string{"web"} })
	a := e.waitInService("elb", 1)[0]
	b := e.waitInService("ec2", 1)[0]
	e.eventually("both InService in the balancer", func() bool { return e.elbState("web", a) == "InService" && e.elbState("web", b) == "InService" })
	apps.setFailing(a, true)
	apps.setFailing(b, true)
	e.eventually("ELB-checked instance replaced", func() bool {
		ids := e.inService("elb")
		return len(ids) == 1 && ids[0] != a
	})
	if s := e.elbState("web", b); s != "OutOfService" {
		t.Fatalf("EC2-checked instance is %s in the balancer", s)
	}
	for range 20 {
		e.srv.Step()
	}
	if ids := e.inService("ec2"); len(ids) != 1 || ids[0] != b {
		t.Errorf("group with EC2 health checks replaced its instance: %v", ids)
	}
}

// AWS: health-check-grace-period: within the grace period the group does
// not act on the balancer's failing checks.
func TestASG_HealthCheckGracePeriodHonoured(t *testing.T) {
	opts := fastOptions()
	e := newEnv(t, opts)
	e.srv.SetNeverHealthyImage("ami-00000000000000bad", true)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.lc("lc-1", "ami-00000000000000bad")
	e.group("web", "lc-1", 1, 2, 1, func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.LoadBalancerNames, in.HealthCheckType, in.HealthCheckGracePeriod = []string{"web"}, aws.String("ELB"), aws.Int32(100000)
	})
	id := e.waitInService("web", 1)[0]
	e.eventually("balancer reports failed checks", func() bool {
		st := e.instanceHealth("web", id)
		return *st.State == "OutOfService" && *st.ReasonCode == "Instance"
	})
	for range 20 {
		e.srv.Step()
	}
	if ids := e.inService("web"); len(ids) != 1 || ids[0] != id {
		t.Errorf("replaced within the grace period: %v", ids)
	}
}

// AWS: understand-how-suspending-processes-affects-other-processes
// (ReplaceUnhealthy, HealthCheck, Launch): with ReplaceUnhealthy suspended
// an unhealthy instance stays and is replaced on resume; with Launch
// suspended it is terminated and nothing is launched until resume.
func TestASG_ReplaceUnhealthyAndLaunchSuspended(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 2, 1, nil)
	id := e.waitInService("web", 1)[0]
	suspend := func(p string) {
		try(e.as.SuspendProcesses(e.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{p}})).must(t)
	}
	resume := func(p string) {
		try(e.as.ResumeProcesses(e.ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{p}})).must(t)
	}
	suspend("ReplaceUnhealthy")
	try(e.as.SetInstanceHealth(e.ctx, &autoscaling.SetInstanceHealthInput{InstanceId: aws.String(id), HealthStatus: aws.String("Unhealthy")})).must(t)
	for range 20 {
		e.srv.Step()
	}
	inst, ok := e.instancesBy("web")[id]
	if !ok || *inst.HealthStatus != "Unhealthy" || inst.LifecycleState != "InService" {
		t.Fatalf("with ReplaceUnhealthy suspended: %+v", inst)
	}
	suspend("Launch")
	resume("ReplaceUnhealthy")
	e.eventually("unhealthy instance terminated", func() bool { _, ok := e.instancesBy("web")[id]; return !ok })
	for range 20 {
		e.srv.Step()
	}
	if n := len(e.describeGroup("web").Instances); n != 0 {
		t.Fatalf("launched %d while Launch was suspended", n)
	}
	resume("Launch")
	e.waitInService("web", 1)
}

// AWS: health-check-grace-period: without a grace period, a group with ELB
// health checks replaces a new instance the balancer still reports
// OutOfService because its registration is in progress.
func TestASG_NoGracePeriodReplacesInstancesStillRegistering(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.classicLB("web", "HTTP:80/healthcheck.html", 30, 10, 2) // 10 checks of 30 s to be InService
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 2, 1, func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.LoadBalancerNames, in.HealthCheckType = []string{"web"}, aws.String("ELB")
	})
	first := e.waitInService("web", 1)[0]
	e.eventually("instance replaced while registering", func() bool {
		_, still := e.instancesBy("web")[first]
		return !still
	})
}

// AWS: understand-how-suspending-processes-affects-other-processes
// (HealthCheck is suspended): failing balancer checks no longer mark
// instances unhealthy, but SetInstanceHealth still does.
func TestASG_HealthCheckSuspended(t *testing.T) {
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	e := newEnv(t, opts)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 2, 1, func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.LoadBalancerNames, in.HealthCheckType, in.HealthCheckGracePeriod = []string{"web"}, aws.String("ELB"), aws.Int32(50)
	})
	id := e.waitInService("web", 1)[0]
	e.eventually("InService in the balancer", func() bool { return e.elbState("web", id) == "InService" })
	try(e.as.SuspendProcesses(e.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"HealthCheck"}})).must(t)
	apps.setFailing(id, true)
	e.eventually("OutOfService in the balancer", func() bool { return e.elbState("web", id) == "OutOfService" })
	for range 30 {
		e.srv.Step()
	}
	if h := aws.ToString(e.instancesBy("web")[id].HealthStatus); h != "Healthy" {
		t.Fatalf("marked %s while HealthCheck was suspended", h)
	}
	try(e.as.SetInstanceHealth(e.ctx, &autoscaling.SetInstanceHealthInput{InstanceId: aws.String(id), HealthStatus: aws.String("Unhealthy"), ShouldRespectGracePeriod: aws.Bool(false)})).must(t)
	e.eventually("replaced after SetInstanceHealth", func() bool { _, ok := e.instancesBy("web")[id]; return !ok })
}

// AWS: elb-healthchecks, API_HealthCheck, target-group-health-checks
// ("After your target is registered, it must pass one health check to be
// considered healthy"): a newly registered instance gets its first check at
// registration, not an Interval later (AWS documents no wait before it),
// and the next ones Interval apart; it is InService after HealthyThreshold
// consecutive passes, so (HealthyThreshold-1) Intervals after registration.
// A target group's target likewise.
func TestELB_FirstCheckAtRegistration(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := fastOptions()
	opts.Clock = clock
	e := newEnv(t, opts)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 3, 2) // InService at the third pass
	arn := e.targetGroup("tg", "30")                        // Interval 5, healthy at the second pass
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t)
	id := aws.ToString(out.Instances[0].InstanceId)
	clock.Advance(opts.BootDelay)
	e.srv.Step()
	if s := e.instance(id).State.Name; s != ec2types.InstanceStateNameRunning {
		t.Fatalf("instance %s, want running", s)
	}

	e.register("web", id)
	try(e.elbv2.RegisterTargets(e.ctx, &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})).must(t)
	e.srv.Step() // at registration: the first pass
	interval := 5 * opts.Second
	clock.Advance(interval)
	e.srv.Step() // one Interval later: the second
	if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumHealthy {
		t.Errorf("target one Interval after registration: %s %s, want healthy (HealthyThresholdCount 2)", th.State, th.Reason)
	}
	if st := e.instanceHealth("web", id); aws.ToString(st.State) != "OutOfService" {
		t.Errorf("instance one Interval after registration: %s, want OutOfService (HealthyThreshold 3)", aws.ToString(st.State))
	}
	clock.Advance(interval - time.Millisecond)
	e.srv.Step()
	if st := e.instanceHealth("web", id); aws.ToString(st.State) != "OutOfService" {
		t.Errorf("instance before its third check: %s, want OutOfService", aws.ToString(st.State))
	}
	clock.Advance(time.Millisecond)
	e.srv.Step() // two Intervals after registration: the third
	if st := e.instanceHealth("web", id); aws.ToString(st.State) != "InService" {
		t.Errorf("instance after three checks: %s %q, want InService", aws.ToString(st.State), aws.ToString(st.Description))
	}
}

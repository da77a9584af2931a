package awssim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// load sends requests through a balancer's listener until stopped and
// counts every outcome.
type load struct {
	mu       sync.Mutex
	ok, fail int
	bodies   map[string]int // first word of each 200 body (the instance id)
	errs     []string
	stop     context.CancelFunc
	done     chan struct{}
}

func startLoad(t *testing.T, url string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{bodies: map[string]int{}, stop: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			resp, err := client.Get(url + "/")
			l.mu.Lock()
			if err != nil {
				l.fail++
				l.errs = append(l.errs, err.Error())
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					l.ok++
					l.bodies[strings.Fields(string(b))[0]]++
				} else {
					l.fail++
					l.errs = append(l.errs, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))))
				}
			}
			l.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() { l.finish() })
	return l
}

func (l *load) finish() (ok, fail int) {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.fail
}

func (l *load) served() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

// trafficEnv is a group of two instances running fakeApps behind a Classic
// ELB with connection draining, every instance InService.
func trafficEnv(t *testing.T, interval int32) (*env, string) {
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	e := newEnv(t, opts)
	e.classicLB("web", "HTTP:80/healthcheck.html", interval, 2, 2)
	try(e.elb.ModifyLoadBalancerAttributes(e.ctx, &elasticloadbalancing.ModifyLoadBalancerAttributesInput{
		LoadBalancerName:       aws.String("web"),
		LoadBalancerAttributes: &elbtypes.LoadBalancerAttributes{ConnectionDraining: &elbtypes.ConnectionDraining{Enabled: true, Timeout: aws.Int32(10)}},
	})).must(t)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 2, 4, 2, func(in *autoscaling.CreateAutoScalingGroupInput) {
		// The grace period must outlast HealthyThreshold checks, or the
		// group replaces instances still registering.
		in.LoadBalancerNames, in.HealthCheckType, in.HealthCheckGracePeriod = []string{"web"}, aws.String("ELB"), aws.Int32(5*interval)
	})
	for _, id := range e.waitInService("web", 2) {
		e.eventually("InService in the balancer", func() bool { return e.elbState("web", id) == "InService" })
	}
	url, ok := e.srv.LoadBalancerURL("web")
	if !ok {
		t.Fatal("no listener for balancer web")
	}
	return e, url
}

// AWS: as-instance-termination (deregistration before termination),
// config-conn-drain: replacing instances one at a time through the group,
// which deregisters each from the balancer and drains it before
// terminating it, loses no request sent through the balancer.
func TestTraffic_ReplacementThroughGroupLosesNoRequest(t *testing.T) {
	e, url := trafficEnv(t, 5)
	l := startLoad(t, url)
	e.eventually("traffic flowing", func() bool { return l.served() > 10 })
	e.lc("lc-2", "ami-00000002")
	try(e.as.UpdateAutoScalingGroup(e.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("web"), LaunchConfigurationName: aws.String("lc-2")})).must(t)
	for _, old := range e.inService("web") {
		try(e.as.TerminateInstanceInAutoScalingGroup(e.ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(old), ShouldDecrementDesiredCapacity: aws.Bool(false)})).must(t)
		e.eventually("replacement InService in the balancer", func() bool {
			n := 0
			for id, i := range e.instancesBy("web") {
				if aws.ToString(i.LaunchConfigurationName) == "lc-2" && e.elbState("web", id) == "InService" {
					n++
				}
			}
			_, oldStill := e.instancesBy("web")[old]
			return !oldStill && n >= 1
		})
	}
	e.waitInService("web", 2)
	for _, id := range e.inService("web") {
		e.eventually("new instance InService in the balancer", func() bool { return e.elbState("web", id) == "InService" })
		if *e.instance(id).ImageId != "ami-00000002" {
			t.Errorf("%s not replaced", id)
		}
	}
	before := l.served()
	e.eventually("traffic on the new instances", func() bool { return l.served() > before+10 })
	ok, fail := l.finish()
	if fail != 0 || ok == 0 {
		t.Errorf("%d requests ok, %d failed: %v", ok, fail, l.errs)
	}
	t.Logf("%d requests, none failed, served by %v", ok, l.bodies)
}

// A test of the test: killing a serving instance without deregistering it
// first (EC2 TerminateInstances) makes the balancer send requests to a dead
// instance until its health checks fail, and the client sees them fail.
func TestTraffic_KillWithoutDeregisterCountsFailures(t *testing.T) {
	e, url := trafficEnv(t, 5)
	l := startLoad(t, url)
	e.eventually("traffic flowing", func() bool { return l.served() > 10 })
	// Keep the dead instance in rotation while the test watches: the group
	// does not check health, and the balancer checks only every 300 AWS
	// seconds.
	try(e.as.SuspendProcesses(e.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"HealthCheck"}})).must(t)
	try(e.elb.ConfigureHealthCheck(e.ctx, &elasticloadbalancing.ConfigureHealthCheckInput{LoadBalancerName: aws.String("web"),
		HealthCheck: &elbtypes.HealthCheck{Target: aws.String("HTTP:80/healthcheck.html"), Interval: aws.Int32(300), Timeout: aws.Int32(5),
			HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(2)}})).must(t)
	victim := e.inService("web")[0]
	try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}})).must(t)
	e.eventually("requests failing", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.fail > 0
	})
	try(e.as.ResumeProcesses(e.ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"HealthCheck"}})).must(t)
	e.eventually("group replaced the killed instance", func() bool {
		ids := e.inService("web")
		return len(ids) == 2 && !contains(ids, victim)
	})
	ok, fail := l.finish()
	if fail == 0 {
		t.Fatalf("no failed request after killing a serving instance (%d ok)", ok)
	}
	for _, msg := range l.errs {
		if !strings.HasPrefix(msg, "502") {
			t.Errorf("unexpected failure %q", msg)
		}
	}
	t.Logf("%d ok, %d failed", ok, fail)
}

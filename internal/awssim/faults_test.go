package awssim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// AWS: ec2-api-throttling (RequestLimitExceeded), Auto Scaling CommonErrors
// (Throttling "Rate exceeded"): throttled calls carry the codes the SDK's
// retryer classifies as throttling, and are retried until they pass.
func TestFault_ThrottlingIsClassifiedAndRetried(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)
	e.srv.SetFault(Fault{Action: "DescribeAutoScalingGroups", ThrottleRate: 1})
	e.srv.SetFault(Fault{Action: "DescribeInstances", ThrottleRate: 1})
	_, err := e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if apiCode(err) != "Throttling" || apiMessage(err) != "Rate exceeded" || httpStatus(err) != 400 {
		t.Errorf("Auto Scaling: %v (status %d)", err, httpStatus(err))
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Errorf("SDK does not see %v as throttling", err)
	}
	_, err = e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{})
	if apiCode(err) != "RequestLimitExceeded" || httpStatus(err) != 503 {
		t.Errorf("EC2: %v (status %d)", err, httpStatus(err))
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Errorf("SDK does not see %v as throttling", err)
	}
	// Other actions are not throttled.
	try(e.as.DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{})).must(t)

	e.srv.SetFault(Fault{Action: "DescribeAutoScalingGroups", ThrottleRate: 0.5})
	e.connect(20)
	e.srv.ResetCounts()
	for range 20 {
		try(e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})).must(t)
	}
	if n := e.srv.Counts()["autoscaling:DescribeAutoScalingGroups"]; n <= 20 {
		t.Errorf("%d requests for 20 calls at a 50%% throttle rate: no retries?", n)
	}
}

// AWS: CommonErrors (InternalError / InternalFailure / ServiceUnavailable):
// 5xx answers are retryable for the SDK.
func TestFault_ServerErrorsAreRetryable(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)
	e.srv.SetFault(Fault{Action: "*", ErrorRate: 1})
	_, err := e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if httpStatus(err) != 500 || apiCode(err) != "InternalFailure" {
		t.Errorf("Auto Scaling: %v", err)
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		t.Errorf("SDK does not retry %v", err)
	}
	_, err = e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{})
	if httpStatus(err) != 500 || apiCode(err) != "InternalError" {
		t.Errorf("EC2: %v", err)
	}
	e.srv.ClearFaults()
	try(e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})).must(t)
}

// Added latency delays the answer (a client deadline shorter than it
// expires).
func TestFault_Latency(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)
	e.srv.SetFault(Fault{Action: "DescribeInstances", Latency: 10 * time.Second})
	ctx, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer cancel()
	_, err := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the deadline to expire first", err)
	}
	try(e.ec2.DescribeTags(e.ctx, &ec2.DescribeTagsInput{})).must(t)
}

// AWS: API_RunInstances / ec2-capacity errors (InsufficientInstanceCapacity),
// API_DescribeScalingActivities: a failed group launch is a Failed activity
// and is retried.
func TestFault_CapacityErrors(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)
	e.srv.SetCapacityErrors(1)
	_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if apiCode(err) != "InsufficientInstanceCapacity" {
		t.Errorf("RunInstances: %v", err)
	}
	e.srv.SetCapacityErrors(2)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 1, 1, nil)
	e.waitInService("web", 1)
	acts := try(e.as.DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web")})).must(t).Activities
	failed := 0
	for _, a := range acts {
		if a.StatusCode == astypes.ScalingActivityStatusCodeFailed && strings.Contains(aws.ToString(a.StatusMessage), "InsufficientInstanceCapacity") {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d failed launches recorded, want 2: %v", failed, describeActivities(acts))
	}
}

// AWS: ec2-api-throttling ("eventual consistency"), API_DescribeInstanceHealth:
// right after launch an instance may be unknown to DescribeInstances and to
// the balancer.
func TestFault_EventualConsistency(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.srv.SetEventualConsistency(500 * time.Millisecond)
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t)
	id := *out.Instances[0].InstanceId
	e.connect(1)
	_, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("DescribeInstances right after launch: %v", err)
	}
	if ids := e.instanceIDs(); len(ids) != 0 {
		t.Errorf("listed right after launch: %v", ids)
	}
	e.register("web", id)
	if s := e.elbState("web", id); s != "InvalidInstance" {
		t.Errorf("DescribeInstanceHealth right after launch: %s", s)
	}
	e.eventually("instance visible", func() bool {
		_, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		return err == nil
	})
	e.eventually("InService", func() bool { return e.elbState("web", id) == "InService" })
}

// Instances that never become healthy: in a balancer they stay
// OutOfService.
func TestFault_NeverHealthyInstance(t *testing.T) {
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	e := newEnv(t, opts)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	good, bad := e.runOne(), e.runOne()
	if !e.srv.SetInstanceNeverHealthy(bad, true) {
		t.Fatal("unknown instance")
	}
	e.register("web", good, bad)
	e.eventually("good instance InService", func() bool { return e.elbState("web", good) == "InService" })
	e.eventually("bad instance failed its checks", func() bool {
		st := e.instanceHealth("web", bad)
		return *st.State == "OutOfService" && *st.ReasonCode == "Instance"
	})
	if _, ok := e.srv.InstanceAddr(good); !ok {
		t.Errorf("good instance has no app")
	}
}

// The admin endpoints serve counters, balancer URLs and fault injection to
// other processes.
func TestAdmin_FaultsAndCounts(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	body := strings.NewReader(`{"action":"DescribeLoadBalancers","throttleRate":1}`)
	resp, err := http.Post(e.srv.URL+"/_awssim/faults", "application/json", body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST faults: %v %v", err, resp)
	}
	resp.Body.Close()
	_, err = e.elb.DescribeLoadBalancers(e.ctx, nil)
	if apiCode(err) != "Throttling" {
		t.Errorf("after POST /_awssim/faults: %v", err)
	}
	var counts map[string]int64
	resp, err = http.Get(e.srv.URL + "/_awssim/counts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil || counts["elb:DescribeLoadBalancers"] != 1 {
		t.Errorf("counts %v %v", counts, err)
	}
	var lbs map[string]string
	resp2, err := http.Get(e.srv.URL + "/_awssim/balancers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if err := json.NewDecoder(resp2.Body).Decode(&lbs); err != nil || !strings.HasPrefix(lbs["elb/web"], "http://127.0.0.1:") {
		t.Errorf("balancers %v %v", lbs, err)
	}
}

// A simulator in its own process (ferry sim) can be told that an image's
// instances never pass a health check: the way an end-to-end test breaks a
// release.
func TestAdmin_NeverHealthy(t *testing.T) {
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	e := newEnv(t, opts)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	post := func(body string) int {
		t.Helper()
		resp, err := http.Post(e.srv.URL+"/_awssim/never-healthy", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for body, want := range map[string]int{
		`{"image":"ami-12345678"}`:           200,
		`{"instance":"i-0000000000000000"}`:  404,
		`{}`:                                 400,
		`{"image":"ami-1","instance":"i-1"}`: 400,
		`not json`:                           400,
	} {
		if got := post(body); got != want {
			t.Errorf("POST never-healthy %s: %d, want %d", body, got, want)
		}
	}
	bad := e.runOne() // launched from ami-12345678
	post(`{"image":"ami-12345678","never":false}`)
	good := e.runOne()
	e.register("web", good, bad)
	e.eventually("good instance InService", func() bool { return e.elbState("web", good) == "InService" })
	e.eventually("bad instance failed its checks", func() bool {
		st := e.instanceHealth("web", bad)
		return *st.State == "OutOfService" && *st.ReasonCode == "Instance"
	})
}

// AWS: API_ResumeProcesses (ResourceContention, HTTP 500): a fault can
// answer any AWS error code, which the SDK maps to its typed error.
func TestFault_CustomErrorCode(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 0, 1, 0, nil)
	var f Fault
	if err := json.Unmarshal([]byte(`{"action":"ResumeProcesses","errorRate":1,"errorCode":"ResourceContention","errorStatus":500,"latency":"1ms"}`), &f); err != nil {
		t.Fatal(err)
	}
	if f.Latency != time.Millisecond {
		t.Errorf("latency %v", f.Latency)
	}
	e.srv.SetFault(f)
	_, err := e.as.ResumeProcesses(e.ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web")})
	var rc *astypes.ResourceContentionFault
	if !errors.As(err, &rc) || httpStatus(err) != 500 {
		t.Errorf("got %v, want typed ResourceContentionFault with status 500", err)
	}
}

// AWS: ec2-api-throttling, Auto Scaling quotas ("one bucket per account and
// Region for all its APIs"): a token bucket over a whole service lets Burst
// calls through, then throttles every action of the service until it
// refills at RatePerSecond on the simulator's clock.
func TestFault_ServiceTokenBucket(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := fastOptions()
	opts.Clock = clock
	e := newEnv(t, opts)
	e.connect(1)
	e.srv.SetFault(Fault{Action: "autoscaling:*", RatePerSecond: 1, Burst: 3})
	var codes []string
	for i := range 4 {
		var err error
		if i%2 == 0 {
			_, err = e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		} else {
			_, err = e.as.DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{})
		}
		codes = append(codes, apiCode(err))
	}
	if strings.Join(codes, ",") != ",,,Throttling" {
		t.Errorf("4 calls against a burst of 3: %q", codes)
	}
	try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{})).must(t) // another service
	clock.Advance(time.Second)
	try(e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})).must(t)
	if _, err := e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); apiCode(err) != "Throttling" {
		t.Errorf("second call after one refill: %v", err)
	}
}

// AWS: as-suspend-resume-processes ("administrative suspension"): a group
// that has failed every launch for long enough gets its Launch process
// suspended, and resuming it lets the group launch again.
func TestFault_AdministrativeSuspension(t *testing.T) {
	opts := fastOptions()
	opts.AdministrativeSuspension = 300 * time.Millisecond
	e := newEnv(t, opts)
	e.srv.SetCapacityErrors(1 << 30)
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 1, 1, 1, nil)
	e.eventually("administrative suspension of Launch", func() bool {
		for _, p := range e.describeGroup("web").SuspendedProcesses {
			if *p.ProcessName == "Launch" && strings.HasPrefix(*p.SuspensionReason, "Administrative") {
				return true
			}
		}
		return false
	})
	e.srv.SetCapacityErrors(0)
	for range 20 {
		e.srv.Step()
	}
	if n := len(e.describeGroup("web").Instances); n != 0 {
		t.Fatalf("launched %d while administratively suspended", n)
	}
	try(e.as.ResumeProcesses(e.ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web")})).must(t)
	e.waitInService("web", 1)
}

// GET /_awssim/calls lists the requests received after a time, with the
// group each names, so that another process can tell when a call came.
func TestAdmin_Calls(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.lc("lc-1", "ami-00000001")
	e.group("web", "lc-1", 0, 2, 0, nil)
	mark := time.Now()
	try(e.as.SuspendProcesses(e.ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"Launch"}})).must(t)
	e.describeGroup("web")
	get := func(query string) []Call {
		t.Helper()
		resp, err := http.Get(e.srv.URL + "/_awssim/calls" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var calls []Call
		if err := json.NewDecoder(resp.Body).Decode(&calls); err != nil {
			t.Fatal(err)
		}
		return calls
	}
	calls := get("?since=" + mark.Format(time.RFC3339Nano))
	var got []string
	for _, c := range calls {
		got = append(got, c.Action+"/"+c.Group)
		if c.Time.Before(mark) {
			t.Errorf("%s at %s, before since %s", c.Action, c.Time, mark)
		}
	}
	want := []string{"autoscaling:SuspendProcesses/web", "autoscaling:DescribeAutoScalingGroups/"}
	if !slices.Equal(got, want) {
		t.Errorf("calls since the mark %v, want %v", got, want)
	}
	if all := get(""); len(all) < 4 {
		t.Errorf("all calls: %d, want the group's creation too", len(all))
	}
}

package awssim

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// env is a simulator and the SDK clients pointed at it.
type env struct {
	t     testing.TB
	ctx   context.Context
	srv   *Server
	ec2   *ec2.Client
	as    *autoscaling.Client
	elb   *elasticloadbalancing.Client
	elbv2 *elasticloadbalancingv2.Client
	ssm   *ssm.Client
	lbSeq int // load balancers made by serve
}

// fastOptions makes one AWS second last 10ms and instances boot in 50ms.
func fastOptions() Options {
	return Options{
		Tick:           5 * time.Millisecond,
		Second:         10 * time.Millisecond,
		BootDelay:      50 * time.Millisecond,
		ShutdownDelay:  20 * time.Millisecond,
		ImageBuildTime: 50 * time.Millisecond,
		SaveInterval:   20 * time.Millisecond,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("AWSSIM_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testImages are the public images the tests launch from besides
// DebianImage: launching any other id is InvalidAMIID.NotFound (or
// .Malformed when it is no AMI id).
var testImages = []PublicImage{{ID: "ami-12345678"}, {ID: "ami-00000001"}, {ID: "ami-00000002"},
	{ID: "ami-0123456789abcdef0"}}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	opts.PublicImages = append(opts.PublicImages, testImages...)
	srv, err := Start(opts, testLogger(t))
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, srv: srv}
	e.connect(3)
	return e
}

// connect (re)creates the clients; maxAttempts 1 disables retries.
func (e *env) connect(maxAttempts int) {
	cfg := sdkConfig(e.srv.URL, maxAttempts)
	e.ec2 = ec2.NewFromConfig(cfg)
	e.as = autoscaling.NewFromConfig(cfg)
	e.elb = elasticloadbalancing.NewFromConfig(cfg)
	e.elbv2 = elasticloadbalancingv2.NewFromConfig(cfg)
	e.ssm = ssm.NewFromConfig(cfg)
}

func sdkConfig(url string, maxAttempts int) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSIMULATOR", "simulator-not-a-secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = 20 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// eventually polls cond every 10ms until it holds, failing the test after
// a bounded deadline.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// result holds a call's outcome: try(call(...)).must(t) fails the test on
// the call's error and returns its value.
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) must(t testing.TB) T {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v", r.err)
	}
	return r.v
}

// lc creates a launch configuration.
func (e *env) lc(name, ami string) {
	e.t.Helper()
	try(e.as.CreateLaunchConfiguration(e.ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String(name), ImageId: aws.String(ami), InstanceType: aws.String("t3.micro"),
	})).must(e.t)
}

// group creates a group from a launch configuration.
func (e *env) group(name, lc string, min, max, desired int32, mod func(*autoscaling.CreateAutoScalingGroupInput)) {
	e.t.Helper()
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name), LaunchConfigurationName: aws.String(lc),
		MinSize: aws.Int32(min), MaxSize: aws.Int32(max), DesiredCapacity: aws.Int32(desired),
		AvailabilityZones: []string{"us-east-1a"},
	}
	if mod != nil {
		mod(in)
	}
	try(e.as.CreateAutoScalingGroup(e.ctx, in)).must(e.t)
}

func (e *env) describeGroup(name string) astypes.AutoScalingGroup {
	e.t.Helper()
	out := try(e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})).must(e.t)
	if len(out.AutoScalingGroups) != 1 {
		e.t.Fatalf("group %s: got %d groups", name, len(out.AutoScalingGroups))
	}
	return out.AutoScalingGroups[0]
}

// inService returns the ids of the group's InService instances.
func (e *env) inService(name string) []string {
	var ids []string
	for _, i := range e.describeGroup(name).Instances {
		if i.LifecycleState == astypes.LifecycleStateInService {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	return ids
}

// waitInService waits until the group has exactly n instances, all InService.
func (e *env) waitInService(name string, n int) []string {
	e.t.Helper()
	var ids []string
	e.eventually(name+" to have "+itoa(n)+" InService instances", func() bool {
		g := e.describeGroup(name)
		ids = e.inService(name)
		return len(ids) == n && len(g.Instances) == n
	})
	return ids
}

func itoa(n int) string { return strconv.Itoa(n) }

// elbState returns an instance's state in a Classic ELB, or the error code.
func (e *env) elbState(lb, id string) string {
	out, err := e.elb.DescribeInstanceHealth(e.ctx, &elasticloadbalancing.DescribeInstanceHealthInput{
		LoadBalancerName: aws.String(lb), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}},
	})
	if err != nil {
		return apiCode(err)
	}
	return aws.ToString(out.InstanceStates[0].State)
}

// classicLB creates a Classic ELB with an HTTP health check.
func (e *env) classicLB(name, target string, interval, healthy, unhealthy int32) {
	e.t.Helper()
	try(e.elb.CreateLoadBalancer(e.ctx, &elasticloadbalancing.CreateLoadBalancerInput{
		LoadBalancerName:  aws.String(name),
		Listeners:         []elbtypes.Listener{{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstancePort: aws.Int32(80)}},
		AvailabilityZones: []string{"us-east-1a"},
	})).must(e.t)
	try(e.elb.ConfigureHealthCheck(e.ctx, &elasticloadbalancing.ConfigureHealthCheckInput{
		LoadBalancerName: aws.String(name),
		HealthCheck: &elbtypes.HealthCheck{Target: aws.String(target), Interval: aws.Int32(interval), Timeout: aws.Int32(2),
			HealthyThreshold: aws.Int32(healthy), UnhealthyThreshold: aws.Int32(unhealthy)},
	})).must(e.t)
}

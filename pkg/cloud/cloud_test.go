package cloud_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

const commit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// startSim runs a fast simulator with a staging environment: a web group of
// three behind a classic balancer, already running commit.
func startSim(t *testing.T) (*awssim.Server, context.Context) {
	t.Helper()
	srv := testutil.StartSim(t, awssim.Options{Second: 5 * time.Millisecond, BootDelay: 30 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c := simenv.Connect(srv.URL)
	if err := simenv.Create(ctx, c, simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-web",
		Groups:         []simenv.Group{{Name: "shop-staging-web", Size: 3, MaxSize: 4, ClassicLB: "shop-staging"}},
		DeployedCommit: commit, Now: time.Date(2026, 11, 2, 15, 4, 5, 0, time.UTC),
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(ctx, c, "shop-staging-web", 3); err != nil {
		t.Fatal(err)
	}
	return srv, ctx
}

func newClient(t *testing.T, ctx context.Context, endpoint string, maxAttempts int) *cloud.Client {
	t.Helper()
	c, err := cloud.New(ctx, cloud.Options{
		Region: simenv.Region, Endpoint: endpoint, Credentials: simenv.Credentials(),
		MaxAttempts: maxAttempts, MaxBackoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGroupReadsWholeState(t *testing.T) {
	srv, ctx := startSim(t)
	c := newClient(t, ctx, srv.URL, 3)

	g, err := c.Group(ctx, "shop-staging-web", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.MinSize != 3 || g.MaxSize != 4 || g.DesiredCapacity != 3 {
		t.Errorf("sizes min %d max %d desired %d, want 3/4/3", g.MinSize, g.MaxSize, g.DesiredCapacity)
	}
	if g.Tags["ferry:commit"] != commit {
		t.Errorf("tag ferry:commit = %q", g.Tags["ferry:commit"])
	}
	if g.LaunchTemplate == nil || g.LaunchTemplate.ID == "" || g.LaunchTemplate.Version != "1" {
		t.Errorf("launch template = %+v, want template version 1", g.LaunchTemplate)
	}
	if len(g.Instances) != 3 {
		t.Fatalf("%d instances, want 3", len(g.Instances))
	}
	seen := map[string]bool{}
	for _, inst := range g.Instances {
		if inst.LifecycleState != "InService" || inst.HealthStatus != "Healthy" {
			t.Errorf("%s: %s/%s", inst.ID, inst.LifecycleState, inst.HealthStatus)
		}
		if inst.PrivateIP == "" || seen[inst.PrivateIP] {
			t.Errorf("%s: private IP %q missing or shared", inst.ID, inst.PrivateIP)
		}
		seen[inst.PrivateIP] = true
		h, ok := inst.Balancers["shop-staging"]
		if !ok || !h.Healthy || h.State != "InService" || h.Kind != cloud.Classic {
			t.Errorf("%s in shop-staging: %+v (present %v)", inst.ID, h, ok)
		}
	}

	v, err := c.LaunchTemplateVersion(ctx, *g.LaunchTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if v.Number != 1 || v.Description != "shop-staging-"+commit[:12]+"-20261102T150405" {
		t.Errorf("launch template version %d %q", v.Number, v.Description)
	}
	// AWS: API_DescribeLaunchTemplateVersions, "$Latest" resolves to a number.
	latest, err := c.LaunchTemplateVersion(ctx, cloud.LaunchTemplateRef{Name: "shop-web", Version: "$Latest"})
	if err != nil || latest.Number != 1 {
		t.Errorf("$Latest: %+v, %v", latest, err)
	}
}

func TestNotFound(t *testing.T) {
	srv, ctx := startSim(t)
	c := newClient(t, ctx, srv.URL, 3)
	for name, call := range map[string]func() error{
		"group":    func() error { _, err := c.Group(ctx, "nope", nil, nil); return err },
		"balancer": func() error { _, err := c.BalancerHealth(ctx, []string{"nope"}, nil); return err },
		"template": func() error {
			_, err := c.LaunchTemplateVersion(ctx, cloud.LaunchTemplateRef{Name: "nope"})
			return err
		},
		"template version": func() error {
			_, err := c.LaunchTemplateVersion(ctx, cloud.LaunchTemplateRef{Name: "shop-web", Version: "9"})
			return err
		},
	} {
		if err := call(); !errors.Is(err, cloud.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}

// TestThrottlingIsRetried: AWS advises exponential backoff on "Rate
// exceeded" (ec2-api-throttling); the client retries within its bounds and
// reports a transient error beyond them.
// TestErrorWithoutACode: an error that is not AWS's answer (here a
// context that ended) is returned, not read as an empty answer. The agent
// crashed on it when a look at an environment was cut short by shutdown.
func TestErrorWithoutACode(t *testing.T) {
	srv, ctx := startSim(t)
	c := newClient(t, ctx, srv.URL, 1)
	g, err := c.Group(ctx, "shop-staging-web", nil, nil)
	if err != nil || g.LaunchTemplate == nil {
		t.Fatalf("group: %+v, %v", g, err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	v, err := c.LaunchTemplateVersion(ended, *g.LaunchTemplate)
	if v != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("LaunchTemplateVersion with an ended context = %+v, %v; want context.Canceled", v, err)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	srv, ctx := startSim(t)

	srv.SetFault(awssim.Fault{Action: "DescribeAutoScalingGroups", ThrottleRate: 0.5})
	c := newClient(t, ctx, srv.URL, 20)
	srv.ResetCounts()
	for range 3 {
		if _, err := c.Group(ctx, "shop-staging-web", nil, nil); err != nil {
			t.Fatalf("with retries, half the calls throttled: %v", err)
		}
	}
	if n := srv.Counts()["autoscaling:DescribeAutoScalingGroups"]; n <= 3 {
		t.Errorf("%d DescribeAutoScalingGroups requests for 3 reads at a 50%% throttle rate: no retry happened", n)
	}

	srv.SetFault(awssim.Fault{Action: "DescribeAutoScalingGroups", ThrottleRate: 1})
	_, err := newClient(t, ctx, srv.URL, 2).Group(ctx, "shop-staging-web", nil, nil)
	if err == nil || !cloud.IsTransient(err) || cloud.APIErrorCode(err) != "Throttling" {
		t.Errorf("always throttled: %v (transient %v, code %q), want a transient Throttling error", err, cloud.IsTransient(err), cloud.APIErrorCode(err))
	}
	if cloud.IsTransient(cloud.ErrNotFound) {
		t.Error("ErrNotFound must not be transient")
	}
}

// TestDraining reads a classic balancer's connection draining (off by
// default when created through the API, AWS: API_CreateLoadBalancer) and
// a target group's deregistration delay (300 s by default,
// AWS: load-balancer-target-groups#deregistration-delay).
func TestDraining(t *testing.T) {
	srv, ctx := startSim(t)
	c := newClient(t, ctx, srv.URL, 3)
	v2 := elbv2.NewFromConfig(srv.AWSConfig())
	tg, err := v2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("shop-staging-web"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80),
		VpcId: aws.String("vpc-0a000000000000000"), // the simulator's default VPC
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(tg.TargetGroups[0].TargetGroupArn)

	got, err := c.Draining(ctx, []string{"shop-staging"}, []string{arn})
	if err != nil {
		t.Fatal(err)
	}
	want := []cloud.Draining{
		// Disabled, with AWS's default timeout of 300 s standing by.
		{Balancer: "shop-staging", Kind: cloud.Classic, Timeout: 300 * time.Second},
		{Balancer: arn, Kind: cloud.TargetGroup, Enabled: true, Timeout: 300 * time.Second},
	}
	if !slices.Equal(got, want) {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}

	if _, err := v2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: aws.String(arn),
		Attributes:     []elbv2types.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("0")}},
	}); err != nil {
		t.Fatal(err)
	}
	got, err = c.Draining(ctx, nil, []string{arn})
	if err != nil || len(got) != 1 || got[0].Enabled || got[0].Timeout != 0 {
		t.Errorf("a delay of 0: %+v, %v; want draining off", got, err)
	}
	if _, err := c.Draining(ctx, []string{"nope"}, nil); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("a missing balancer: %v, want ErrNotFound", err)
	}
}

// TestNoAttemptLosesItsResponse: against a simulator that answers at
// once, every call's response is read whole on its first attempt. When
// the SDK closed the request body under net/http's write loop, an attempt
// in five or so failed reading the response ("use of closed network
// connection") and was retried after a backoff.
func TestNoAttemptLosesItsResponse(t *testing.T) {
	srv, ctx := startSim(t)
	c := newClient(t, ctx, srv.URL, 1)
	failed := 0
	for range 200 {
		if _, err := c.Group(ctx, "shop-staging-web", []string{"shop-staging"}, nil); err != nil {
			failed++
			if failed == 1 {
				t.Log(err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of 200 reads of the group failed on their only attempt", failed)
	}
}

// TestEndpointFromEnvironment: with no endpoint in Ferry's configuration,
// the SDK's AWS_ENDPOINT_URL is honoured (AWS: feature-ss-endpoints), and
// the configured endpoint wins over it.
func TestEndpointFromEnvironment(t *testing.T) {
	srv, ctx := startSim(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	c := newClient(t, ctx, "", 1)
	if _, err := c.Group(ctx, "shop-staging-web", nil, nil); err != nil {
		t.Fatalf("AWS_ENDPOINT_URL at the simulator, no aws.endpoint: %v", err)
	}

	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	c = newClient(t, ctx, srv.URL, 1)
	if _, err := c.Group(ctx, "shop-staging-web", nil, nil); err != nil {
		t.Fatalf("aws.endpoint at the simulator, AWS_ENDPOINT_URL elsewhere: %v", err)
	}
	c = newClient(t, ctx, "", 1)
	if _, err := c.Group(ctx, "shop-staging-web", nil, nil); err == nil {
		t.Fatal("AWS_ENDPOINT_URL at a closed port, no aws.endpoint: the call succeeded, so the variable was ignored")
	}
}

// TestPollIsNotRetried: a poll's call (cloud.Poll) that is throttled
// returns at once, transient, for the poller to ask again at its next
// tick. A call that changes something, made under throttling, is retried
// until it gets through.
func TestPollIsNotRetried(t *testing.T) {
	srv, ctx := startSim(t)
	c := newClient(t, ctx, srv.URL, 20)

	srv.SetFault(awssim.Fault{Action: "DescribeAutoScalingGroups", ThrottleRate: 1})
	srv.ResetCounts()
	_, err := c.Group(cloud.Poll(ctx), "shop-staging-web", nil, nil)
	if !cloud.IsTransient(err) || cloud.APIErrorCode(err) != "Throttling" {
		t.Errorf("a throttled poll: %v, want a transient Throttling error", err)
	}
	if n := srv.Counts()["autoscaling:DescribeAutoScalingGroups"]; n != 1 {
		t.Errorf("a throttled poll made %d requests, want 1", n)
	}

	// An endpoint that is gone: the error carries no AWS code, and is
	// transient all the same.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + l.Addr().String()
	l.Close()
	if _, err := newClient(t, ctx, gone, 20).Group(cloud.Poll(ctx), "shop-staging-web", nil, nil); !cloud.IsTransient(err) {
		t.Errorf("a poll of an endpoint that is gone: %v, want a transient error", err)
	}

	srv.SetFault(awssim.Fault{Action: "*", ThrottleRate: 0.5})
	for i := range 200 {
		if err := c.TagGroup(ctx, "shop-staging-web", map[string]string{"n": fmt.Sprint(i)}); err != nil {
			t.Fatalf("tag %d of 200, half the calls throttled: %v", i, err)
		}
	}
}

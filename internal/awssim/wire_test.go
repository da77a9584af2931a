package awssim

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// AWS: CommonErrors (EC2 API reference), API_Operations / CommonErrors of
// the Auto Scaling, ELB and ELBv2 references: each service's errors come
// back as the SDK's typed errors with AWS's codes and HTTP statuses.
func TestWire_ErrorsAreTypedPerService(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.connect(1)

	_, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000dead"}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("EC2 unknown instance: got %v, want InvalidInstanceID.NotFound", err)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("EC2 error status: %v", err)
	}

	_, err = e.as.SetDesiredCapacity(e.ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nope"), DesiredCapacity: aws.Int32(1)})
	if apiCode(err) != "ValidationError" {
		t.Errorf("Auto Scaling unknown group: got %v, want ValidationError", err)
	}

	_, err = e.elb.DescribeLoadBalancers(e.ctx, &elasticloadbalancing.DescribeLoadBalancersInput{LoadBalancerNames: []string{"nope"}})
	var nf *elbtypes.AccessPointNotFoundException
	if !errors.As(err, &nf) || nf.ErrorCode() != "LoadBalancerNotFound" {
		t.Errorf("ELB unknown balancer: got %v, want typed LoadBalancerNotFound", err)
	}

	_, err = e.elbv2.DescribeTargetHealth(e.ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1")})
	var tnf *elbv2types.TargetGroupNotFoundException
	if !errors.As(err, &tnf) {
		t.Errorf("ELBv2 unknown target group: got %v, want typed TargetGroupNotFoundException", err)
	}
}

// AWS: CommonErrors — an action the service does not have is InvalidAction.
func TestWire_UnknownActionIsInvalidAction(t *testing.T) {
	e := newEnv(t, fastOptions())
	resp, err := http.Post(e.srv.URL, "application/x-www-form-urlencoded", strings.NewReader("Action=FlyToTheMoon&Version=2011-01-01"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "<Code>InvalidAction</Code>") || !strings.Contains(string(b), "<ErrorResponse") {
		t.Errorf("got %d %s", resp.StatusCode, b)
	}
}

// AWS: API_ResponseMetadata — every response carries a request id.
func TestWire_RequestIDs(t *testing.T) {
	e := newEnv(t, fastOptions())
	out := try(e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})).must(t)
	id1, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if !ok || id1 == "" {
		t.Fatalf("no request id")
	}
	out2 := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{})).must(t)
	id2, ok := awsmiddleware.GetRequestIDMetadata(out2.ResultMetadata)
	if !ok || id2 == "" || id2 == id1 {
		t.Fatalf("request ids %q %q", id1, id2)
	}
}

// AWS: Query-Paginating (EC2 MaxResults/NextToken), API_DescribeAutoScalingGroups
// (MaxRecords/NextToken), API_DescribeLoadBalancers (PageSize/Marker): the
// SDK's paginators see every item exactly once.
func TestWire_Pagination(t *testing.T) {
	e := newEnv(t, fastOptions())
	try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(12), MaxCount: aws.Int32(12)})).must(t)
	seen := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeInstancesPaginator(e.ec2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out := try(p.NextPage(e.ctx)).must(t)
		pages++
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				if seen[*i.InstanceId] {
					t.Errorf("instance %s twice", *i.InstanceId)
				}
				seen[*i.InstanceId] = true
			}
		}
	}
	if len(seen) != 12 || pages != 3 {
		t.Errorf("EC2: %d instances in %d pages, want 12 in 3 (requests %v)", len(seen), pages, e.srv.Counts())
	}

	e.lc("lc", "ami-12345678")
	for _, n := range []string{"a", "b", "c"} {
		e.group(n, "lc", 0, 1, 0, nil)
	}
	groups := 0
	ap := autoscaling.NewDescribeAutoScalingGroupsPaginator(e.as, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(2)})
	for ap.HasMorePages() {
		groups += len(try(ap.NextPage(e.ctx)).must(t).AutoScalingGroups)
	}
	if groups != 3 {
		t.Errorf("Auto Scaling: %d groups, want 3", groups)
	}

	for _, n := range []string{"lb1", "lb2", "lb3"} {
		e.classicLB(n, "HTTP:80/", 5, 2, 2)
	}
	lbs := 0
	lp := elasticloadbalancing.NewDescribeLoadBalancersPaginator(e.elb, &elasticloadbalancing.DescribeLoadBalancersInput{PageSize: aws.Int32(2)})
	for lp.HasMorePages() {
		lbs += len(try(lp.NextPage(e.ctx)).must(t).LoadBalancerDescriptions)
	}
	if lbs != 3 {
		t.Errorf("ELB: %d balancers, want 3", lbs)
	}
}

// Every request is counted per action, failed ones included.
func TestWire_CountsPerAction(t *testing.T) {
	e := newEnv(t, fastOptions())
	for range 3 {
		try(e.as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})).must(t)
	}
	_, _ = e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000dead"}})
	c := e.srv.Counts()
	if c["autoscaling:DescribeAutoScalingGroups"] != 3 || c["ec2:DescribeInstances"] != 1 {
		t.Errorf("counts %v", c)
	}
	e.srv.ResetCounts()
	if len(e.srv.Counts()) != 0 {
		t.Errorf("counts not reset")
	}
}

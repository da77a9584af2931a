package cloud

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// BalancerKind tells a Classic Load Balancer from an ELBv2 target group.
type BalancerKind string

const (
	Classic     BalancerKind = "classic"
	TargetGroup BalancerKind = "target-group"
)

// BalancerHealth is an instance's state in one balancer.
type BalancerHealth struct {
	// Balancer is the classic balancer's name or the target group's ARN.
	Balancer   string
	Kind       BalancerKind
	InstanceID string
	// State is AWS's own word: InService/OutOfService/Unknown (classic),
	// initial/healthy/unhealthy/unused/draining/unavailable (ELBv2).
	State  string
	Reason string
	// Healthy is true when the balancer sends the instance traffic.
	Healthy bool
}

// BalancerHealth reads the state of every instance registered with each
// classic balancer and target group. An instance a balancer does not know
// is simply absent: asking for it by id would make the classic API answer
// InvalidInstance ("Could not find EC2 instance"), the error FabulAWS's
// operators were told to ignore; asking for all registered instances avoids
// it and costs one call per balancer.
func (c *Client) BalancerHealth(ctx context.Context, classic, targetGroups []string) ([]BalancerHealth, error) {
	var out []BalancerHealth
	for _, name := range classic {
		resp, err := c.elb.DescribeInstanceHealth(ctx, &elb.DescribeInstanceHealthInput{LoadBalancerName: aws.String(name)})
		if APIErrorCode(err) == "LoadBalancerNotFound" {
			return nil, notFound("load balancer", name)
		}
		if err != nil {
			return nil, fmt.Errorf("describe instance health in load balancer %q: %w", name, err)
		}
		for _, s := range resp.InstanceStates {
			state := aws.ToString(s.State)
			out = append(out, BalancerHealth{
				Balancer:   name,
				Kind:       Classic,
				InstanceID: aws.ToString(s.InstanceId),
				State:      state,
				Reason:     aws.ToString(s.Description),
				Healthy:    state == "InService",
			})
		}
	}
	for _, arn := range targetGroups {
		resp, err := c.elbv2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		if APIErrorCode(err) == "TargetGroupNotFound" {
			return nil, notFound("target group", arn)
		}
		if err != nil {
			return nil, fmt.Errorf("describe target health in %q: %w", arn, err)
		}
		for _, d := range resp.TargetHealthDescriptions {
			if d.Target == nil || d.TargetHealth == nil {
				continue
			}
			out = append(out, BalancerHealth{
				Balancer:   arn,
				Kind:       TargetGroup,
				InstanceID: aws.ToString(d.Target.Id),
				State:      string(d.TargetHealth.State),
				Reason:     string(d.TargetHealth.Reason),
				Healthy:    d.TargetHealth.State == elbv2types.TargetHealthStateEnumHealthy,
			})
		}
	}
	return out, nil
}

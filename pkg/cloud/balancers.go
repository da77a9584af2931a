package cloud

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/ferry-deploy/ferry/pkg/backoff"
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
		resp, err := c.classicHealth(ctx, name)
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

// consistencyRetries bounds how often classicHealth asks again while EC2
// does not know an instance the balancer lists; the waits double from
// firstRetry, about 6 s in all, a few times what AWS's eventual
// consistency takes.
const consistencyRetries = 5

// classicHealth lists the health of every instance registered with a
// classic balancer. Right after Auto Scaling launched and registered an
// instance, EC2 may not know it yet, and the balancer then answers the
// whole call InvalidInstance ("Could not find EC2 instance"): it is asked
// again after a moment, and if EC2 still does not know the instance the
// error is transient (IsTransient), for a poll to ask again later.
func (c *Client) classicHealth(ctx context.Context, name string) (*elb.DescribeInstanceHealthOutput, error) {
	b := backoff.Backoff{Base: firstRetry, Max: 4 * time.Second}
	for attempt := 1; ; attempt++ {
		resp, err := c.elb.DescribeInstanceHealth(ctx, &elb.DescribeInstanceHealthInput{LoadBalancerName: aws.String(name)})
		if APIErrorCode(err) != "InvalidInstance" {
			return resp, err
		}
		if attempt > consistencyRetries || isPoll(ctx) {
			return nil, transient{err}
		}
		c.log.Debug("EC2 does not know an instance the balancer lists yet; asking again", "load_balancer", name, "err", err)
		t := time.NewTimer(b.Delay(attempt, 0.5))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Draining is how a balancer treats requests in flight to an instance that
// leaves it: a classic balancer's connection draining, a target group's
// deregistration delay.
type Draining struct {
	// Balancer is the classic balancer's name or the target group's ARN.
	Balancer string
	Kind     BalancerKind
	// Enabled: requests in flight may finish, for up to Timeout. When
	// false, the balancer cuts them as the instance is deregistered.
	Enabled bool
	Timeout time.Duration
}

// Draining reads the draining settings of each classic balancer and
// target group, one call each.
func (c *Client) Draining(ctx context.Context, classic, targetGroups []string) ([]Draining, error) {
	var out []Draining
	for _, name := range classic {
		resp, err := c.elb.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(name)})
		if APIErrorCode(err) == "LoadBalancerNotFound" {
			return nil, notFound("load balancer", name)
		}
		if err != nil {
			return nil, fmt.Errorf("describe attributes of load balancer %q: %w", name, err)
		}
		d := Draining{Balancer: name, Kind: Classic}
		if a := resp.LoadBalancerAttributes; a != nil && a.ConnectionDraining != nil {
			d.Enabled = a.ConnectionDraining.Enabled
			d.Timeout = time.Duration(aws.ToInt32(a.ConnectionDraining.Timeout)) * time.Second
		}
		out = append(out, d)
	}
	for _, arn := range targetGroups {
		resp, err := c.elbv2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
		if APIErrorCode(err) == "TargetGroupNotFound" {
			return nil, notFound("target group", arn)
		}
		if err != nil {
			return nil, fmt.Errorf("describe attributes of target group %q: %w", arn, err)
		}
		// AWS's default delay is 300 s; an attribute list without it
		// means the default.
		d := Draining{Balancer: arn, Kind: TargetGroup, Enabled: true, Timeout: 300 * time.Second}
		for _, a := range resp.Attributes {
			if aws.ToString(a.Key) != "deregistration_delay.timeout_seconds" {
				continue
			}
			secs, err := strconv.Atoi(aws.ToString(a.Value))
			if err != nil {
				return nil, fmt.Errorf("target group %q: deregistration delay %q: %w", arn, aws.ToString(a.Value), err)
			}
			d.Enabled, d.Timeout = secs > 0, time.Duration(secs)*time.Second
		}
		out = append(out, d)
	}
	return out, nil
}

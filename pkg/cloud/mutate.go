package cloud

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// The Auto Scaling processes Ferry suspends, named as the API names them.
// A deploy suspends AddToLoadBalancer to keep new instances out of the
// balancers until the switch (full deploys), AZRebalance so that the group
// does not terminate instances to even out zones in the middle of a
// scale-out, and Launch while the group's launch source and capacity
// change, so that no instance starts from the old source; a rollback holds
// AZRebalance and Launch while it puts the group back.
const (
	ProcessAddToLoadBalancer = "AddToLoadBalancer"
	ProcessAZRebalance       = "AZRebalance"
	ProcessLaunch            = "Launch"
)

// ProcessDeprecated is a process AWS still accepts and describes, kept
// "only for backward compatibility", that does nothing and "can be
// ignored" (suspend-resume-considerations): older tools suspend it.
const ProcessDeprecated = "RemoveFromLoadBalancerLowPriority"

// AllProcesses returns every Auto Scaling process a group can suspend
// (AWS: as-suspend-resume-processes), in AWS's order.
func AllProcesses() []string {
	return []string{
		ProcessLaunch, "Terminate", ProcessAddToLoadBalancer, "AlarmNotification", ProcessAZRebalance,
		"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions",
	}
}

// SuspendProcesses suspends the named Auto Scaling processes of a group.
// An empty list is a no-op: AWS would read it as "all of them".
func (c *Client) SuspendProcesses(ctx context.Context, group string, processes []string) error {
	if len(processes) == 0 {
		return nil
	}
	_, err := c.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
		AutoScalingGroupName: aws.String(group), ScalingProcesses: processes,
	})
	if err != nil {
		return fmt.Errorf("suspend %v on %s: %w", processes, group, err)
	}
	return nil
}

// ResumeProcesses resumes the named processes. An empty list is a no-op.
func (c *Client) ResumeProcesses(ctx context.Context, group string, processes []string) error {
	if len(processes) == 0 {
		return nil
	}
	_, err := c.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{
		AutoScalingGroupName: aws.String(group), ScalingProcesses: processes,
	})
	if err != nil {
		return fmt.Errorf("resume %v on %s: %w", processes, group, err)
	}
	return nil
}

// GroupUpdate changes a group; nil fields stay as they are. Set exactly one
// of LaunchConfiguration and LaunchTemplate to change the launch source.
type GroupUpdate struct {
	MinSize, MaxSize, DesiredCapacity *int
	LaunchConfiguration               string
	LaunchTemplate                    *LaunchTemplateRef
	TerminationPolicies               []string
}

// UpdateGroup applies u in one UpdateAutoScalingGroup call, so a new launch
// source and a new capacity take effect together.
func (c *Client) UpdateGroup(ctx context.Context, group string, u GroupUpdate) error {
	in := &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group),
		MinSize:              int32p(u.MinSize),
		MaxSize:              int32p(u.MaxSize),
		DesiredCapacity:      int32p(u.DesiredCapacity),
		TerminationPolicies:  u.TerminationPolicies,
	}
	if u.LaunchConfiguration != "" {
		in.LaunchConfigurationName = aws.String(u.LaunchConfiguration)
	}
	if t := u.LaunchTemplate; t != nil {
		spec := &astypes.LaunchTemplateSpecification{Version: aws.String(t.Version)}
		if t.ID != "" {
			spec.LaunchTemplateId = aws.String(t.ID)
		} else {
			spec.LaunchTemplateName = aws.String(t.Name)
		}
		in.LaunchTemplate = spec
	}
	if _, err := c.asg.UpdateAutoScalingGroup(ctx, in); err != nil {
		return fmt.Errorf("update group %s: %w", group, err)
	}
	return nil
}

// TagGroup sets tags on a group (and, propagated, on instances it launches
// from now on).
func (c *Client) TagGroup(ctx context.Context, group string, tags map[string]string) error {
	var ts []astypes.Tag
	for k, v := range tags {
		ts = append(ts, astypes.Tag{
			Key: aws.String(k), Value: aws.String(v), PropagateAtLaunch: aws.Bool(true),
			ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group"),
		})
	}
	if _, err := c.asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: ts}); err != nil {
		return fmt.Errorf("tag group %s: %w", group, err)
	}
	return nil
}

// TerminateInstance asks the group to terminate one instance. With
// decrement the group's desired capacity drops by one (no replacement);
// AWS refuses that when desired already equals MinSize. Deploys use
// DetachInstances and TerminateInstances, 20 and 1000 ids a call; this is
// their fallback when the deploy's journal cannot record what it detaches.
func (c *Client) TerminateInstance(ctx context.Context, id string, decrement bool) error {
	_, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(decrement),
	})
	if err != nil {
		return fmt.Errorf("terminate %s: %w", id, err)
	}
	return nil
}

// The most ids one call takes: DetachInstances 20, TerminateInstances
// 1000 [API_DetachInstances, API_TerminateInstances].
const (
	MaxDetach    = 20
	MaxTerminate = 1000
)

// DetachInstances takes instances out of a group, MaxDetach a call. The
// group deregisters them from its classic balancers and target groups and
// lets them drain (they are Detaching meanwhile), then they leave it still
// running: the caller terminates them. With decrement the group's desired
// capacity drops by their number (AWS refuses that below MinSize);
// without, the group launches replacements at once. Each call detaches
// all of its ids or none; an error says how many calls had succeeded.
func (c *Client) DetachInstances(ctx context.Context, group string, ids []string, decrement bool) error {
	for chunk := range slices.Chunk(ids, MaxDetach) {
		_, err := c.asg.DetachInstances(ctx, &autoscaling.DetachInstancesInput{
			AutoScalingGroupName: aws.String(group), InstanceIds: chunk, ShouldDecrementDesiredCapacity: aws.Bool(decrement),
		})
		if err != nil {
			return fmt.Errorf("detach %v from %s: %w", chunk, group, err)
		}
	}
	return nil
}

// TerminateInstances terminates instances through EC2, MaxTerminate a
// call: for instances outside any group (detached ones), since a group's
// member terminated this way is not deregistered or drained first.
// Terminating an instance already shutting down or terminated succeeds;
// one EC2 no longer knows (terminated long ago) is skipped: AWS refuses
// the whole call for it, so that call's ids are retried one by one.
func (c *Client) TerminateInstances(ctx context.Context, ids []string) error {
	for chunk := range slices.Chunk(ids, MaxTerminate) {
		err := c.terminate(ctx, chunk)
		if APIErrorCode(err) == "InvalidInstanceID.NotFound" && len(chunk) > 1 {
			for _, id := range chunk {
				if err := c.terminate(ctx, []string{id}); err != nil && APIErrorCode(err) != "InvalidInstanceID.NotFound" {
					return err
				}
			}
			continue
		}
		if err != nil && APIErrorCode(err) != "InvalidInstanceID.NotFound" {
			return err
		}
	}
	return nil
}

func (c *Client) terminate(ctx context.Context, ids []string) error {
	if _, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		return fmt.Errorf("terminate %v: %w", ids, err)
	}
	return nil
}

// Register adds instances to classic balancers and target groups.
func (c *Client) Register(ctx context.Context, classic, targetGroups, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, name := range classic {
		if _, err := c.elb.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{
			LoadBalancerName: aws.String(name), Instances: elbInstances(ids),
		}); err != nil {
			return fmt.Errorf("register %v with %s: %w", ids, name, err)
		}
	}
	for _, arn := range targetGroups {
		if _, err := c.elbv2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(arn), Targets: targets(ids),
		}); err != nil {
			return fmt.Errorf("register %v with %s: %w", ids, arn, err)
		}
	}
	return nil
}

// Deregister removes instances from classic balancers and target groups.
// Instances a balancer does not know are not an error.
func (c *Client) Deregister(ctx context.Context, classic, targetGroups, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, name := range classic {
		_, err := c.elb.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{
			LoadBalancerName: aws.String(name), Instances: elbInstances(ids),
		})
		if err != nil && APIErrorCode(err) != "InvalidInstance" {
			return fmt.Errorf("deregister %v from %s: %w", ids, name, err)
		}
	}
	for _, arn := range targetGroups {
		if _, err := c.elbv2.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
			TargetGroupArn: aws.String(arn), Targets: targets(ids),
		}); err != nil {
			return fmt.Errorf("deregister %v from %s: %w", ids, arn, err)
		}
	}
	return nil
}

func elbInstances(ids []string) []elbtypes.Instance {
	out := make([]elbtypes.Instance, len(ids))
	for i, id := range ids {
		out[i] = elbtypes.Instance{InstanceId: aws.String(id)}
	}
	return out
}

func targets(ids []string) []elbv2types.TargetDescription {
	out := make([]elbv2types.TargetDescription, len(ids))
	for i, id := range ids {
		out[i] = elbv2types.TargetDescription{Id: aws.String(id)}
	}
	return out
}

func int32p(n *int) *int32 {
	if n == nil {
		return nil
	}
	return aws.Int32(int32(*n))
}

func versionString(n int64) string { return strconv.FormatInt(n, 10) }

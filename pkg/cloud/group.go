package cloud

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// LaunchTemplateRef names a launch template version.
type LaunchTemplateRef struct {
	ID      string
	Name    string
	Version string // a number, "$Latest" or "$Default"
}

// Group is an Auto Scaling group as Ferry needs to see it.
type Group struct {
	Name                string
	MinSize             int
	MaxSize             int
	DesiredCapacity     int
	LaunchConfiguration string             // set for launch-configuration groups
	LaunchTemplate      *LaunchTemplateRef // set for launch-template groups
	SuspendedProcesses  []string
	Zones               []string // the group's Availability Zones
	Tags                map[string]string
	TerminationPolicies []string
	HealthCheckType     string
	HealthCheckGrace    time.Duration
	LoadBalancerNames   []string
	TargetGroupARNs     []string
	Instances           []Instance
}

// Instance is one member of a group.
type Instance struct {
	ID                  string
	LifecycleState      string // Pending, InService, Terminating, ...
	HealthStatus        string // Healthy or Unhealthy
	AvailabilityZone    string
	LaunchConfiguration string
	LaunchTemplate      *LaunchTemplateRef
	PrivateIP           string
	LaunchTime          time.Time
	// Balancers holds the instance's state in each of the group's load
	// balancers and target groups, keyed by balancer name or target group
	// ARN. An instance a balancer does not know is absent from its map.
	Balancers map[string]BalancerHealth
}

// Suspended reports whether process is suspended on the group.
func (g *Group) Suspended(process string) bool {
	return slices.Contains(g.SuspendedProcesses, process)
}

// Group reads a group's whole state: its settings and instances from Auto
// Scaling, addresses from EC2, and every instance's health in every load
// balancer and target group attached to it or named in extraBalancers
// (classic names) and extraTargetGroups (ARNs). A missing group wraps
// ErrNotFound.
func (c *Client) Group(ctx context.Context, name string, extraBalancers, extraTargetGroups []string) (*Group, error) {
	out, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{name},
	})
	if err != nil {
		return nil, fmt.Errorf("describe Auto Scaling group %q: %w", name, err)
	}
	switch len(out.AutoScalingGroups) {
	case 0:
		return nil, notFound("Auto Scaling group", name)
	case 1:
	default:
		return nil, fmt.Errorf("describe Auto Scaling group %q: %d groups answered, want one", name, len(out.AutoScalingGroups))
	}
	g := groupFromAWS(out.AutoScalingGroups[0])

	if err := c.addAddresses(ctx, g); err != nil {
		return nil, err
	}
	balancers := union(g.LoadBalancerNames, extraBalancers)
	targetGroups := union(g.TargetGroupARNs, extraTargetGroups)
	health, err := c.BalancerHealth(ctx, balancers, targetGroups)
	if err != nil {
		return nil, err
	}
	for i := range g.Instances {
		inst := &g.Instances[i]
		inst.Balancers = map[string]BalancerHealth{}
		for _, h := range health {
			if h.InstanceID == inst.ID {
				inst.Balancers[h.Balancer] = h
			}
		}
	}
	return g, nil
}

func groupFromAWS(a astypes.AutoScalingGroup) *Group {
	g := &Group{
		Name:                aws.ToString(a.AutoScalingGroupName),
		MinSize:             int(aws.ToInt32(a.MinSize)),
		MaxSize:             int(aws.ToInt32(a.MaxSize)),
		DesiredCapacity:     int(aws.ToInt32(a.DesiredCapacity)),
		LaunchConfiguration: aws.ToString(a.LaunchConfigurationName),
		LaunchTemplate:      templateRef(a.LaunchTemplate),
		Tags:                map[string]string{},
		TerminationPolicies: a.TerminationPolicies,
		HealthCheckType:     aws.ToString(a.HealthCheckType),
		HealthCheckGrace:    time.Duration(aws.ToInt32(a.HealthCheckGracePeriod)) * time.Second,
		LoadBalancerNames:   a.LoadBalancerNames,
		TargetGroupARNs:     a.TargetGroupARNs,
		Zones:               a.AvailabilityZones,
	}
	for _, p := range a.SuspendedProcesses {
		g.SuspendedProcesses = append(g.SuspendedProcesses, aws.ToString(p.ProcessName))
	}
	slices.Sort(g.SuspendedProcesses)
	for _, t := range a.Tags {
		g.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for _, i := range a.Instances {
		g.Instances = append(g.Instances, Instance{
			ID:                  aws.ToString(i.InstanceId),
			LifecycleState:      string(i.LifecycleState),
			HealthStatus:        aws.ToString(i.HealthStatus),
			AvailabilityZone:    aws.ToString(i.AvailabilityZone),
			LaunchConfiguration: aws.ToString(i.LaunchConfigurationName),
			LaunchTemplate:      templateRef(i.LaunchTemplate),
		})
	}
	slices.SortFunc(g.Instances, func(a, b Instance) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return g
}

func templateRef(s *astypes.LaunchTemplateSpecification) *LaunchTemplateRef {
	if s == nil {
		return nil
	}
	return &LaunchTemplateRef{
		ID:      aws.ToString(s.LaunchTemplateId),
		Name:    aws.ToString(s.LaunchTemplateName),
		Version: aws.ToString(s.Version),
	}
}

// addAddresses fills each instance's private address and launch time from
// EC2. Right after launch EC2 may not know an instance yet (eventual
// consistency): it then keeps an empty address rather than failing.
func (c *Client) addAddresses(ctx context.Context, g *Group) error {
	if len(g.Instances) == 0 {
		return nil
	}
	ids := make([]string, len(g.Instances))
	for i, inst := range g.Instances {
		ids[i] = inst.ID
	}
	byID := map[string]*Instance{}
	for i := range g.Instances {
		byID[g.Instances[i].ID] = &g.Instances[i]
	}
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{InstanceIds: ids})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if APIErrorCode(err) == "InvalidInstanceID.NotFound" {
			c.log.Debug("EC2 does not know every instance of the group yet", "group", g.Name, "err", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("describe instances of group %q: %w", g.Name, err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				if inst := byID[aws.ToString(i.InstanceId)]; inst != nil {
					inst.PrivateIP = aws.ToString(i.PrivateIpAddress)
					inst.LaunchTime = aws.ToTime(i.LaunchTime)
				}
			}
		}
	}
	return nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

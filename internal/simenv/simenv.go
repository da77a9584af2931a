// Package simenv builds a simulated environment in internal/awssim the way
// an operator builds a real one in the AWS console before handing it to
// Ferry: a launch template or configuration, load balancers with the seed's
// health check (/healthcheck.html), and one Auto Scaling group per role,
// optionally marked as already running a commit. Tests and `ferry demo` use
// it; it talks to the simulator only through the aws-sdk-go-v2 clients.
package simenv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// Region and credentials the simulator accepts (it checks neither).
const (
	Region          = "us-east-1"
	AccessKeyID     = "AKIDSIMULATOR"
	SecretAccessKey = "simulator-secret" // not a secret: the simulator ignores it
	ImageID         = awssim.DebianImage // the stub simulator's public Debian image
)

// Credentials returns static credentials for the simulator.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

// Clients are SDK clients pointed at a simulator.
type Clients struct {
	ASG *autoscaling.Client
	EC2 *ec2.Client
	ELB *elb.Client
}

// Connect returns clients for the simulator at endpoint.
func Connect(endpoint string) Clients {
	cfg := aws.Config{
		Region:      Region,
		Credentials: Credentials(),
		Retryer:     func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 5) },
	}
	ep := aws.String(endpoint)
	return Clients{
		ASG: autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = ep }),
		EC2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = ep }),
		ELB: elb.NewFromConfig(cfg, func(o *elb.Options) { o.BaseEndpoint = ep }),
	}
}

// Group is one role's Auto Scaling group.
type Group struct {
	Name    string
	Size    int // min = desired
	MaxSize int // default Size
	// ClassicLB names a Classic Load Balancer to create and attach.
	ClassicLB string
	// HealthCheckType is "EC2" (default) or "ELB".
	HealthCheckType string
	// Zones is how many Availability Zones the group spans, from
	// us-east-1a on (default 2).
	Zones int
}

// Spec is an environment to build.
type Spec struct {
	Project, Env string
	// LaunchTemplate names the template to create; empty uses a launch
	// configuration instead.
	LaunchTemplate string
	Groups         []Group
	// DeployedCommit, when set, marks the groups as running that commit,
	// the way a previous Ferry deploy leaves them: tag ferry:commit and a
	// launch source named after the commit.
	DeployedCommit string
	// Now names the launch source.
	Now time.Time
	// ImageID, KeyName and UserData (base64) go into the launch source;
	// the default image is ImageID, which only the stub backend launches.
	ImageID, KeyName, UserData string
	// InstanceProfile, when set, goes into a launch template with IMDSv2
	// required, as Ferry's launch sources have it.
	InstanceProfile string
}

// Create builds the environment. It does not wait for instances.
func Create(ctx context.Context, c Clients, spec Spec) error {
	image := ImageID
	if spec.ImageID != "" {
		image = spec.ImageID
	}
	sourceName := "manual-initial"
	if spec.DeployedCommit != "" {
		id, err := commit.Parse(spec.DeployedCommit)
		if err != nil {
			return fmt.Errorf("simenv: DeployedCommit: %w", err)
		}
		sourceName = plan.LaunchSourceName(spec.Project, spec.Env, id, spec.Now)
	}
	var lt *astypes.LaunchTemplateSpecification
	var lcName *string
	if spec.LaunchTemplate != "" {
		out, err := c.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String(spec.LaunchTemplate),
			VersionDescription: aws.String(sourceName),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
				ImageId:            aws.String(image),
				InstanceType:       ec2types.InstanceTypeT3Small,
				KeyName:            optional(spec.KeyName),
				UserData:           optional(spec.UserData),
				IamInstanceProfile: instanceProfile(spec.InstanceProfile),
				MetadataOptions:    imdsV2(spec.InstanceProfile),
			},
		})
		if err != nil {
			return fmt.Errorf("create launch template %s: %w", spec.LaunchTemplate, err)
		}
		lt = &astypes.LaunchTemplateSpecification{
			LaunchTemplateId: out.LaunchTemplate.LaunchTemplateId,
			Version:          aws.String(fmt.Sprint(aws.ToInt64(out.LaunchTemplate.LatestVersionNumber))),
		}
	} else {
		lcName = aws.String(sourceName)
		if _, err := c.ASG.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
			LaunchConfigurationName: lcName,
			ImageId:                 aws.String(image),
			InstanceType:            aws.String("t3.small"),
			KeyName:                 optional(spec.KeyName),
			UserData:                optional(spec.UserData),
		}); err != nil {
			return fmt.Errorf("create launch configuration %s: %w", sourceName, err)
		}
	}
	for _, g := range spec.Groups {
		if err := createGroup(ctx, c, spec, g, lt, lcName); err != nil {
			return err
		}
	}
	return nil
}

func createGroup(ctx context.Context, c Clients, spec Spec, g Group, lt *astypes.LaunchTemplateSpecification, lcName *string) error {
	var lbs []string
	if g.ClassicLB != "" {
		if err := createClassicLB(ctx, c, g.ClassicLB); err != nil {
			return err
		}
		lbs = []string{g.ClassicLB}
	}
	maxSize := g.MaxSize
	if maxSize == 0 {
		maxSize = g.Size
	}
	tags := []astypes.Tag{
		{Key: aws.String("Name"), Value: aws.String(g.Name), PropagateAtLaunch: aws.Bool(true), ResourceId: aws.String(g.Name), ResourceType: aws.String("auto-scaling-group")},
		{Key: aws.String("environment"), Value: aws.String(spec.Env), PropagateAtLaunch: aws.Bool(true), ResourceId: aws.String(g.Name), ResourceType: aws.String("auto-scaling-group")},
	}
	if spec.DeployedCommit != "" {
		tags = append(tags, astypes.Tag{Key: aws.String(plan.TagCommit), Value: aws.String(spec.DeployedCommit), PropagateAtLaunch: aws.Bool(true), ResourceId: aws.String(g.Name), ResourceType: aws.String("auto-scaling-group")})
	}
	zones := []string{Region + "a", Region + "b", Region + "c", Region + "d"}
	if g.Zones > len(zones) {
		return fmt.Errorf("group %s: %d zones; the simulator's region has %d", g.Name, g.Zones, len(zones))
	}
	hc := g.HealthCheckType
	if hc == "" {
		hc = "EC2"
	}
	_, err := c.ASG.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName:    aws.String(g.Name),
		LaunchTemplate:          lt,
		LaunchConfigurationName: lcName,
		MinSize:                 aws.Int32(int32(g.Size)),
		MaxSize:                 aws.Int32(int32(maxSize)),
		DesiredCapacity:         aws.Int32(int32(g.Size)),
		AvailabilityZones:       zones[:max(g.Zones, 2)],
		LoadBalancerNames:       lbs,
		HealthCheckType:         aws.String(hc),
		Tags:                    tags,
	})
	if err != nil {
		return fmt.Errorf("create Auto Scaling group %s: %w", g.Name, err)
	}
	return nil
}

// createClassicLB creates a balancer listening on HTTP 80 with the seed's
// health check: /healthcheck.html, two passes to enter service.
func createClassicLB(ctx context.Context, c Clients, name string) error {
	if _, err := c.ELB.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		LoadBalancerName:  aws.String(name),
		Listeners:         []elbtypes.Listener{{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80)}},
		AvailabilityZones: []string{Region + "a", Region + "b"},
	}); err != nil {
		return fmt.Errorf("create load balancer %s: %w", name, err)
	}
	if _, err := c.ELB.ConfigureHealthCheck(ctx, &elb.ConfigureHealthCheckInput{
		LoadBalancerName: aws.String(name),
		HealthCheck: &elbtypes.HealthCheck{
			Target: aws.String("HTTP:80/healthcheck.html"), Interval: aws.Int32(5), Timeout: aws.Int32(2),
			HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(2),
		},
	}); err != nil {
		return fmt.Errorf("configure health check of %s: %w", name, err)
	}
	return nil
}

// WaitServing waits until the group has want InService instances, each
// InService in every classic balancer attached to it.
func WaitServing(ctx context.Context, c Clients, group string, want int) error {
	for {
		n, err := serving(ctx, c, group)
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s: %d of %d instances serving: %w", group, n, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func serving(ctx context.Context, c Clients, group string) (int, error) {
	out, err := c.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil {
		return 0, err
	}
	if len(out.AutoScalingGroups) != 1 {
		return 0, errors.New("group " + group + " not found")
	}
	g := out.AutoScalingGroups[0]
	inService := map[string]bool{}
	for _, i := range g.Instances {
		if i.LifecycleState == astypes.LifecycleStateInService {
			inService[aws.ToString(i.InstanceId)] = true
		}
	}
	for _, lb := range g.LoadBalancerNames {
		h, err := c.ELB.DescribeInstanceHealth(ctx, &elb.DescribeInstanceHealthInput{LoadBalancerName: aws.String(lb)})
		if err != nil {
			return 0, err
		}
		healthy := map[string]bool{}
		for _, s := range h.InstanceStates {
			if aws.ToString(s.State) == "InService" {
				healthy[aws.ToString(s.InstanceId)] = true
			}
		}
		for id := range inService {
			if !healthy[id] {
				delete(inService, id)
			}
		}
	}
	return len(inService), nil
}

func instanceProfile(name string) *ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest {
	if name == "" {
		return nil
	}
	return &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(name)}
}

func imdsV2(profile string) *ec2types.LaunchTemplateInstanceMetadataOptionsRequest {
	if profile == "" {
		return nil
	}
	return &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
		HttpPutResponseHopLimit: aws.Int32(1), HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled}
}

// optional is nil for "", as the SDK leaves unset fields out.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

package cloud

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// What `ferry env create` and `destroy` (pkg/envbuild) ask of AWS: security
// groups, a classic balancer, long-lived servers, launch templates and Auto
// Scaling groups, each made with its tags and found again by them.

// ErrInUse is wrapped by a delete AWS refuses because something still uses
// the resource (DependencyViolation, ResourceInUse): try again once it has
// gone.
var ErrInUse = errors.New("in use")

// SecurityGroup is an EC2 security group.
type SecurityGroup struct {
	ID, Name string
	Tags     map[string]string
}

// SecurityGroupsTagged lists the security groups carrying every tag.
func (c *Client) SecurityGroupsTagged(ctx context.Context, tags map[string]string) ([]SecurityGroup, error) {
	var out []SecurityGroup
	p := ec2.NewDescribeSecurityGroupsPaginator(c.ec2, &ec2.DescribeSecurityGroupsInput{Filters: tagFilters(tags)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe security groups tagged %v: %w", tags, err)
		}
		for _, g := range page.SecurityGroups {
			out = append(out, SecurityGroup{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName), Tags: ec2Tags(g.Tags)})
		}
	}
	return out, nil
}

// SecurityGroupNamed finds a security group by name; ErrNotFound if none.
func (c *Client) SecurityGroupNamed(ctx context.Context, name string) (SecurityGroup, error) {
	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{name}}}})
	if err != nil {
		return SecurityGroup{}, fmt.Errorf("describe security group %s: %w", name, err)
	}
	for _, g := range out.SecurityGroups {
		return SecurityGroup{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName), Tags: ec2Tags(g.Tags)}, nil
	}
	return SecurityGroup{}, notFound("security group", name)
}

// CreateSecurityGroup makes a security group, tagged, and returns its id.
func (c *Client) CreateSecurityGroup(ctx context.Context, name, description string, tags map[string]string) (string, error) {
	out, err := c.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(name), Description: aws.String(description),
		TagSpecifications: tagSpecs(tags, ec2types.ResourceTypeSecurityGroup)})
	if err != nil {
		return "", fmt.Errorf("create security group %s: %w", name, err)
	}
	return aws.ToString(out.GroupId), nil
}

// DeleteSecurityGroup deletes a security group; one already gone is no
// error, one an instance or balancer still uses wraps ErrInUse.
func (c *Client) DeleteSecurityGroup(ctx context.Context, id string) error {
	_, err := c.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
	switch APIErrorCode(err) {
	case "":
		return err
	case "InvalidGroup.NotFound":
		return nil
	case "DependencyViolation":
		return fmt.Errorf("delete security group %s: %w: %w", id, ErrInUse, err)
	}
	return fmt.Errorf("delete security group %s: %w", id, err)
}

// IngressRule lets TCP traffic to Port in from a CIDR or from the members
// of a security group (by id).
type IngressRule struct {
	Port        int32
	CIDR, Group string
}

// AuthorizeIngress adds the rules to a security group, one call each; a
// rule the group already has is no error, so that a re-run adds only the
// missing ones.
func (c *Client) AuthorizeIngress(ctx context.Context, groupID string, rules []IngressRule) error {
	for _, r := range rules {
		perm := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(r.Port), ToPort: aws.Int32(r.Port)}
		if r.CIDR != "" {
			perm.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(r.CIDR)}}
		} else {
			perm.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(r.Group)}}
		}
		_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: []ec2types.IpPermission{perm}})
		if err != nil && APIErrorCode(err) != "InvalidPermission.Duplicate" {
			return fmt.Errorf("security group %s: allow tcp %d from %s: %w", groupID, r.Port, r.CIDR+r.Group, err)
		}
	}
	return nil
}

// Listener is a classic balancer's listener.
type Listener struct {
	Protocol         string
	Port             int32
	InstanceProtocol string
	InstancePort     int32
	// Certificate is an HTTPS listener's SSLCertificateId (an ACM or IAM
	// certificate ARN).
	Certificate string
}

// HealthCheck is a classic balancer's health check; Target is
// "PROTOCOL:PORT[/PATH]".
type HealthCheck struct {
	Target                                string
	Interval, Timeout, Healthy, Unhealthy int32
}

// Balancer is a classic load balancer as env create makes it.
type Balancer struct {
	Name, DNSName  string
	Listeners      []Listener
	HealthCheck    HealthCheck
	Subnets, Zones []string
	SecurityGroups []string
	Tags           map[string]string
}

// ClassicBalancer describes one classic balancer with its tags;
// ErrNotFound if there is none of that name.
func (c *Client) ClassicBalancer(ctx context.Context, name string) (Balancer, error) {
	out, err := c.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if APIErrorCode(err) == "LoadBalancerNotFound" {
		return Balancer{}, notFound("load balancer", name)
	}
	if err != nil {
		return Balancer{}, fmt.Errorf("describe load balancer %s: %w", name, err)
	}
	if len(out.LoadBalancerDescriptions) == 0 {
		return Balancer{}, notFound("load balancer", name)
	}
	d := out.LoadBalancerDescriptions[0]
	b := Balancer{Name: name, DNSName: aws.ToString(d.DNSName), Subnets: d.Subnets, Zones: d.AvailabilityZones, SecurityGroups: d.SecurityGroups}
	for _, l := range d.ListenerDescriptions {
		if l.Listener != nil {
			b.Listeners = append(b.Listeners, Listener{Protocol: aws.ToString(l.Listener.Protocol), Port: l.Listener.LoadBalancerPort,
				InstanceProtocol: aws.ToString(l.Listener.InstanceProtocol), InstancePort: aws.ToInt32(l.Listener.InstancePort),
				Certificate: aws.ToString(l.Listener.SSLCertificateId)})
		}
	}
	if h := d.HealthCheck; h != nil {
		b.HealthCheck = HealthCheck{Target: aws.ToString(h.Target), Interval: aws.ToInt32(h.Interval), Timeout: aws.ToInt32(h.Timeout),
			Healthy: aws.ToInt32(h.HealthyThreshold), Unhealthy: aws.ToInt32(h.UnhealthyThreshold)}
	}
	tags, err := c.elb.DescribeTags(ctx, &elb.DescribeTagsInput{LoadBalancerNames: []string{name}})
	if err != nil {
		return Balancer{}, fmt.Errorf("describe tags of load balancer %s: %w", name, err)
	}
	b.Tags = map[string]string{}
	for _, td := range tags.TagDescriptions {
		for _, t := range td.Tags {
			b.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return b, nil
}

// CreateClassicBalancer makes a classic balancer with b's listeners,
// placement, security groups and tags, then sets its health check, and
// returns its DNS name. Run again on a balancer that exists with the same
// settings, CreateLoadBalancer returns it: only the health check is set
// again.
func (c *Client) CreateClassicBalancer(ctx context.Context, b Balancer) (string, error) {
	in := &elb.CreateLoadBalancerInput{LoadBalancerName: aws.String(b.Name), Subnets: b.Subnets, AvailabilityZones: b.Zones, SecurityGroups: b.SecurityGroups}
	for _, l := range b.Listeners {
		el := elbtypes.Listener{Protocol: aws.String(l.Protocol), LoadBalancerPort: l.Port,
			InstanceProtocol: aws.String(l.InstanceProtocol), InstancePort: aws.Int32(l.InstancePort)}
		if l.Certificate != "" {
			el.SSLCertificateId = aws.String(l.Certificate)
		}
		in.Listeners = append(in.Listeners, el)
	}
	for _, k := range slices.Sorted(maps.Keys(b.Tags)) {
		in.Tags = append(in.Tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(b.Tags[k])})
	}
	out, err := c.elb.CreateLoadBalancer(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create load balancer %s: %w", b.Name, err)
	}
	h := b.HealthCheck
	if _, err := c.elb.ConfigureHealthCheck(ctx, &elb.ConfigureHealthCheckInput{LoadBalancerName: aws.String(b.Name),
		HealthCheck: &elbtypes.HealthCheck{Target: aws.String(h.Target), Interval: aws.Int32(h.Interval), Timeout: aws.Int32(h.Timeout),
			HealthyThreshold: aws.Int32(h.Healthy), UnhealthyThreshold: aws.Int32(h.Unhealthy)}}); err != nil {
		return "", fmt.Errorf("health check of load balancer %s: %w", b.Name, err)
	}
	return aws.ToString(out.DNSName), nil
}

// DeleteClassicBalancer deletes a classic balancer (one already gone is no
// error: AWS says so too).
func (c *Client) DeleteClassicBalancer(ctx context.Context, name string) error {
	if _, err := c.elb.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerName: aws.String(name)}); err != nil {
		return fmt.Errorf("delete load balancer %s: %w", name, err)
	}
	return nil
}

// ServerSpec is a long-lived instance outside any group.
type ServerSpec struct {
	ImageID, InstanceType, KeyName, Subnet, IAMInstanceProfile string
	SecurityGroups                                             []string
	Tags                                                       map[string]string
	// ClientToken makes the launch idempotent: a retry with the same token
	// returns the instance the first call launched (ec2-api-idempotency).
	ClientToken string
	Metadata    *MetadataOptions
}

// RunServer launches one instance, tagged from its start, and returns its
// id.
func (c *Client) RunServer(ctx context.Context, s ServerSpec) (string, error) {
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(s.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType:      ec2types.InstanceType(s.InstanceType),
		SecurityGroupIds:  s.SecurityGroups,
		TagSpecifications: tagSpecs(s.Tags, ec2types.ResourceTypeInstance, ec2types.ResourceTypeVolume),
	}
	if s.ClientToken != "" {
		in.ClientToken = aws.String(s.ClientToken)
	}
	if s.Subnet != "" {
		in.SubnetId = aws.String(s.Subnet)
	}
	if s.KeyName != "" {
		in.KeyName = aws.String(s.KeyName)
	}
	if s.IAMInstanceProfile != "" {
		in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(s.IAMInstanceProfile)}
	}
	if m := s.Metadata; m != nil {
		in.MetadataOptions = &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensState(m.HTTPTokens),
			HttpPutResponseHopLimit: m.hopLimit(), HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled,
			InstanceMetadataTags: ec2types.InstanceMetadataTagsState(m.metadataTags(""))}
	}
	out, err := c.ec2.RunInstances(ctx, in)
	if err != nil {
		return "", fmt.Errorf("run server from %s: %w", s.ImageID, err)
	}
	if len(out.Instances) != 1 {
		return "", fmt.Errorf("run server from %s: %d instances launched", s.ImageID, len(out.Instances))
	}
	return aws.ToString(out.Instances[0].InstanceId), nil
}

// TemplateSpec is a launch template's first version.
type TemplateSpec struct {
	Name, ImageID, InstanceType, KeyName, IAMInstanceProfile string
	SecurityGroups                                           []string
	UserData                                                 string // base64
	Metadata                                                 *MetadataOptions
	// Description is the first version's description: a launch source
	// name (plan.LaunchSourceName), which names the commit it runs.
	Description string
	// Tags go on the template and, through it, on its instances and
	// their volumes.
	Tags map[string]string
}

// LaunchTemplate is a launch template by id and name.
type LaunchTemplate struct{ ID, Name string }

// CreateLaunchTemplate makes a launch template; its ClientToken is the
// template's name, so a retried call is not a second template.
func (c *Client) CreateLaunchTemplate(ctx context.Context, s TemplateSpec) (LaunchTemplate, error) {
	d := &ec2types.RequestLaunchTemplateData{
		ImageId: aws.String(s.ImageID), InstanceType: ec2types.InstanceType(s.InstanceType),
		SecurityGroupIds: s.SecurityGroups,
		TagSpecifications: func() []ec2types.LaunchTemplateTagSpecificationRequest {
			var out []ec2types.LaunchTemplateTagSpecificationRequest
			for _, ts := range tagSpecs(s.Tags, ec2types.ResourceTypeInstance, ec2types.ResourceTypeVolume) {
				out = append(out, ec2types.LaunchTemplateTagSpecificationRequest{ResourceType: ts.ResourceType, Tags: ts.Tags})
			}
			return out
		}(),
	}
	if s.KeyName != "" {
		d.KeyName = aws.String(s.KeyName)
	}
	if s.IAMInstanceProfile != "" {
		d.IamInstanceProfile = &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(s.IAMInstanceProfile)}
	}
	if s.UserData != "" {
		d.UserData = aws.String(s.UserData)
	}
	if m := s.Metadata; m != nil {
		d.MetadataOptions = &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensState(m.HTTPTokens),
			HttpPutResponseHopLimit: m.hopLimit(), HttpEndpoint: ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
			InstanceMetadataTags: ec2types.LaunchTemplateInstanceMetadataTagsState(m.metadataTags(""))}
	}
	out, err := c.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(s.Name), ClientToken: aws.String(s.Name), LaunchTemplateData: d,
		VersionDescription: optional(s.Description),
		TagSpecifications:  tagSpecs(s.Tags, ec2types.ResourceTypeLaunchTemplate)})
	if err != nil {
		return LaunchTemplate{}, fmt.Errorf("create launch template %s: %w", s.Name, err)
	}
	return LaunchTemplate{ID: aws.ToString(out.LaunchTemplate.LaunchTemplateId), Name: s.Name}, nil
}

// LaunchTemplatesTagged lists the launch templates carrying every tag.
func (c *Client) LaunchTemplatesTagged(ctx context.Context, tags map[string]string) ([]LaunchTemplate, error) {
	var out []LaunchTemplate
	p := ec2.NewDescribeLaunchTemplatesPaginator(c.ec2, &ec2.DescribeLaunchTemplatesInput{Filters: tagFilters(tags)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe launch templates tagged %v: %w", tags, err)
		}
		for _, t := range page.LaunchTemplates {
			out = append(out, LaunchTemplate{ID: aws.ToString(t.LaunchTemplateId), Name: aws.ToString(t.LaunchTemplateName)})
		}
	}
	return out, nil
}

// DeleteLaunchTemplate deletes a launch template and its versions; one
// already gone is no error.
func (c *Client) DeleteLaunchTemplate(ctx context.Context, id string) error {
	_, err := c.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)})
	if err != nil && !strings.HasPrefix(APIErrorCode(err), "InvalidLaunchTemplateId.NotFound") {
		return fmt.Errorf("delete launch template %s: %w", id, err)
	}
	return nil
}

// GroupSpec is an Auto Scaling group as env create makes it.
type GroupSpec struct {
	Name              string
	Template          LaunchTemplateRef
	Min, Max, Desired int32
	Subnets, Zones    []string
	ClassicBalancers  []string
	// HealthCheckGrace, with balancers, makes the group replace instances
	// the balancer finds unhealthy (HealthCheckType ELB) after it.
	HealthCheckGrace int32
	// Tags propagate to the group's instances.
	Tags map[string]string
}

// CreateGroup makes an Auto Scaling group.
func (c *Client) CreateGroup(ctx context.Context, s GroupSpec) error {
	lt := &asgtypes.LaunchTemplateSpecification{Version: aws.String(s.Template.Version)}
	if s.Template.ID != "" {
		lt.LaunchTemplateId = aws.String(s.Template.ID)
	} else {
		lt.LaunchTemplateName = aws.String(s.Template.Name)
	}
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(s.Name), LaunchTemplate: lt,
		MinSize: aws.Int32(s.Min), MaxSize: aws.Int32(s.Max), DesiredCapacity: aws.Int32(s.Desired),
		LoadBalancerNames: s.ClassicBalancers, AvailabilityZones: s.Zones,
	}
	if len(s.Subnets) > 0 {
		in.VPCZoneIdentifier = aws.String(strings.Join(s.Subnets, ","))
	}
	if len(s.ClassicBalancers) > 0 {
		in.HealthCheckType = aws.String("ELB")
		in.HealthCheckGracePeriod = aws.Int32(s.HealthCheckGrace)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		in.Tags = append(in.Tags, asgtypes.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k]), PropagateAtLaunch: aws.Bool(true),
			ResourceId: aws.String(s.Name), ResourceType: aws.String("auto-scaling-group")})
	}
	if _, err := c.asg.CreateAutoScalingGroup(ctx, in); err != nil {
		return fmt.Errorf("create group %s: %w", s.Name, err)
	}
	return nil
}

// GroupsTagged names the Auto Scaling groups carrying every tag.
func (c *Client) GroupsTagged(ctx context.Context, tags map[string]string) ([]string, error) {
	var fs []asgtypes.Filter
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		fs = append(fs, asgtypes.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}})
	}
	var out []string
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.asg, &autoscaling.DescribeAutoScalingGroupsInput{Filters: fs})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe groups tagged %v: %w", tags, err)
		}
		for _, g := range page.AutoScalingGroups {
			out = append(out, aws.ToString(g.AutoScalingGroupName))
		}
	}
	return out, nil
}

// DeleteGroup deletes an Auto Scaling group and terminates its instances
// (ForceDelete); AWS goes on deleting after the call returns, so callers
// wait until GroupsTagged no longer lists it. One already gone is no error.
func (c *Client) DeleteGroup(ctx context.Context, name string) error {
	_, err := c.asg.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(name), ForceDelete: aws.Bool(true)})
	switch {
	case err == nil:
		return nil
	case APIErrorCode(err) == "ValidationError" && strings.Contains(err.Error(), "not found"):
		return nil
	case APIErrorCode(err) == "ResourceInUse" || APIErrorCode(err) == "ScalingActivityInProgress":
		return fmt.Errorf("delete group %s: %w: %w", name, ErrInUse, err)
	}
	return fmt.Errorf("delete group %s: %w", name, err)
}

// Subnet is a subnet and its zone.
type Subnet struct{ ID, Zone string }

// DefaultSubnets lists the default VPC's default subnet of each zone.
func (c *Client) DefaultSubnets(ctx context.Context) ([]Subnet, error) {
	out, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}}})
	if err != nil {
		return nil, fmt.Errorf("describe default subnets: %w", err)
	}
	var subs []Subnet
	for _, s := range out.Subnets {
		subs = append(subs, Subnet{ID: aws.ToString(s.SubnetId), Zone: aws.ToString(s.AvailabilityZone)})
	}
	slices.SortFunc(subs, func(a, b Subnet) int { return strings.Compare(a.Zone, b.Zone) })
	return subs, nil
}

func ec2Tags(ts []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// optional is nil for "", as the SDK leaves an unset field out.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

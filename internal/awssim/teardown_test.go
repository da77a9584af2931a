package awssim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// AWS: API_DeleteSecurityGroup: "If you attempt to delete a security group
// that is associated with an instance ... the operation fails with
// DependencyViolation"; a missing group is InvalidGroup.NotFound. Once the
// instance has terminated the group can be deleted.
func TestEC2_DeleteSecurityGroupWaitsForItsInstances(t *testing.T) {
	e := newEnv(t, fastOptions())
	sg := try(e.ec2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("p-db-sg"), Description: aws.String("db")})).must(e.t)
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SecurityGroupIds: []string{*sg.GroupId}})).must(t)
	id := *out.Instances[0].InstanceId
	_, err := e.ec2.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId})
	if apiCode(err) != "DependencyViolation" {
		t.Fatalf("delete while an instance uses it: %v, want DependencyViolation", err)
	}
	try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})).must(t)
	e.eventually("terminated", func() bool { return e.instance(id).State.Name == ec2types.InstanceStateNameTerminated })
	try(e.ec2.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("p-db-sg")})).must(t)
	_, err = e.ec2.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId})
	if apiCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("delete again: %v, want InvalidGroup.NotFound", err)
	}
}

// AWS: API_DeleteLaunchTemplate: deletes a template and all its versions;
// a template that does not exist is InvalidLaunchTemplateName.NotFoundException
// (by name) or InvalidLaunchTemplateId.NotFound (by id).
func TestEC2_DeleteLaunchTemplate(t *testing.T) {
	e := newEnv(t, fastOptions())
	lt := try(e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("p-env"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12345678")}})).must(t)
	del := try(e.ec2.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String("p-env")})).must(t)
	if *del.LaunchTemplate.LaunchTemplateId != *lt.LaunchTemplate.LaunchTemplateId {
		t.Errorf("deleted %s, want %s", *del.LaunchTemplate.LaunchTemplateId, *lt.LaunchTemplate.LaunchTemplateId)
	}
	_, err := e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"p-env"}})
	if err == nil {
		t.Error("the template is still described")
	}
	_, err = e.ec2.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String("p-env")})
	if apiCode(err) != "InvalidLaunchTemplateName.NotFoundException" {
		t.Errorf("by name again: %v", err)
	}
	_, err = e.ec2.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId})
	if apiCode(err) != "InvalidLaunchTemplateId.NotFound" {
		t.Errorf("by id again: %v", err)
	}
}

// AWS: API_CreateLoadBalancer (Tags), API_AddTags, API_DescribeTags
// (classic): tags given at creation or added later are described per
// balancer; AddTags replaces a key's value; a missing balancer is
// LoadBalancerNotFound.
func TestELB_Tags(t *testing.T) {
	e := newEnv(t, fastOptions())
	try(e.elb.CreateLoadBalancer(e.ctx, &elasticloadbalancing.CreateLoadBalancerInput{
		LoadBalancerName:  aws.String("p-env"),
		AvailabilityZones: []string{"us-east-1a"},
		Listeners:         []elbtypes.Listener{{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstancePort: aws.Int32(80)}},
		Tags:              []elbtypes.Tag{{Key: aws.String("ferry:env"), Value: aws.String("testing")}},
	})).must(t)
	try(e.elb.AddTags(e.ctx, &elasticloadbalancing.AddTagsInput{LoadBalancerNames: []string{"p-env"},
		Tags: []elbtypes.Tag{{Key: aws.String("ferry:env"), Value: aws.String("staging")}, {Key: aws.String("ferry:role"), Value: aws.String("web")}}})).must(t)
	out := try(e.elb.DescribeTags(e.ctx, &elasticloadbalancing.DescribeTagsInput{LoadBalancerNames: []string{"p-env"}})).must(t)
	got := map[string]string{}
	for _, tg := range out.TagDescriptions[0].Tags {
		got[*tg.Key] = *tg.Value
	}
	if len(got) != 2 || got["ferry:env"] != "staging" || got["ferry:role"] != "web" {
		t.Errorf("tags %v", got)
	}
	_, err := e.elb.DescribeTags(e.ctx, &elasticloadbalancing.DescribeTagsInput{LoadBalancerNames: []string{"nope"}})
	if apiCode(err) != "LoadBalancerNotFound" {
		t.Errorf("missing balancer: %v", err)
	}
}

// AWS: API_AuthorizeSecurityGroupIngress, API_DescribeSecurityGroups: rules
// from a CIDR and from a group's members are described under ipPermissions;
// adding a rule the group has is InvalidPermission.Duplicate; a source group
// that does not exist is InvalidGroup.NotFound.
func TestEC2_SecurityGroupIngress(t *testing.T) {
	e := newEnv(t, fastOptions())
	web := try(e.ec2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("p-web-sg"), Description: aws.String("web")})).must(t)
	db := try(e.ec2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("p-db-sg"), Description: aws.String("db")})).must(t)
	try(e.ec2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: db.GroupId, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: web.GroupId}, {GroupId: db.GroupId}}},
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("172.31.0.0/16")}}},
	}})).must(t)
	_, err := e.ec2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: db.GroupId, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("172.31.0.0/16")}}}}})
	if apiCode(err) != "InvalidPermission.Duplicate" {
		t.Errorf("the same rule again: %v", err)
	}
	_, err = e.ec2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: db.GroupId, IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(6379), ToPort: aws.Int32(6379), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String("sg-0000000000000dead")}}}}})
	if apiCode(err) != "InvalidGroup.NotFound" {
		t.Errorf("from a missing group: %v", err)
	}
	out := try(e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*db.GroupId}})).must(t)
	perms := out.SecurityGroups[0].IpPermissions
	if len(perms) != 2 {
		t.Fatalf("%d permissions, want 2: %+v", len(perms), perms)
	}
	if p := perms[0]; *p.IpProtocol != "tcp" || *p.FromPort != 5432 || *p.ToPort != 5432 || len(p.UserIdGroupPairs) != 2 || *p.UserIdGroupPairs[0].GroupId != *web.GroupId {
		t.Errorf("postgres rule %+v", p)
	}
	if p := perms[1]; *p.FromPort != 22 || len(p.IpRanges) != 1 || *p.IpRanges[0].CidrIp != "172.31.0.0/16" {
		t.Errorf("ssh rule %+v", p)
	}
}

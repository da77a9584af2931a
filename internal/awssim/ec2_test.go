package awssim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func (e *env) instance(id string) ec2types.Instance {
	e.t.Helper()
	out := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})).must(e.t)
	return out.Reservations[0].Instances[0]
}

func (e *env) instanceIDs(filters ...ec2types.Filter) []string {
	e.t.Helper()
	var ids []string
	out := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: filters})).must(e.t)
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, *i.InstanceId)
		}
	}
	return ids
}

// AWS: ec2-instance-lifecycle, API_RunInstances, API_TerminateInstances:
// instances start pending, become running, and after TerminateInstances go
// shutting-down then terminated, each with a distinct private address.
func TestEC2_InstanceLifecycle(t *testing.T) {
	e := newEnv(t, fastOptions())
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-12345678"), InstanceType: ec2types.InstanceTypeT3Micro,
		MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
	})).must(t)
	if len(out.Instances) != 2 || out.Instances[0].State.Name != ec2types.InstanceStateNamePending {
		t.Fatalf("RunInstances: %+v", out.Instances)
	}
	a, b := *out.Instances[0].InstanceId, *out.Instances[1].InstanceId
	if *out.Instances[0].PrivateIpAddress == *out.Instances[1].PrivateIpAddress {
		t.Errorf("instances share address %s", *out.Instances[0].PrivateIpAddress)
	}
	e.eventually("running", func() bool { return e.instance(a).State.Name == ec2types.InstanceStateNameRunning })
	term := try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a}})).must(t)
	if term.TerminatingInstances[0].CurrentState.Name != ec2types.InstanceStateNameShuttingDown ||
		term.TerminatingInstances[0].PreviousState.Name != ec2types.InstanceStateNameRunning {
		t.Errorf("TerminateInstances states: %+v", term.TerminatingInstances[0])
	}
	e.eventually("terminated", func() bool { return e.instance(a).State.Name == ec2types.InstanceStateNameTerminated })
	if s := e.instance(b).State.Name; s == ec2types.InstanceStateNameTerminated {
		t.Errorf("other instance %s", s)
	}
}

// AWS: API_DescribeInstances (Filter: tag:<key>, tag-key,
// instance-state-name), API_CreateTags, API_DescribeTags.
func TestEC2_FiltersByTagAndState(t *testing.T) {
	e := newEnv(t, fastOptions())
	run := func(role string) string {
		out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{
			ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String("role"), Value: aws.String(role)}}}},
		})).must(t)
		return *out.Instances[0].InstanceId
	}
	web, worker := run("web"), run("worker")
	if got := e.instanceIDs(ec2types.Filter{Name: aws.String("tag:role"), Values: []string{"web"}}); len(got) != 1 || got[0] != web {
		t.Errorf("tag:role=web: %v", got)
	}
	if got := e.instanceIDs(ec2types.Filter{Name: aws.String("tag:role"), Values: []string{"w*"}}); len(got) != 2 {
		t.Errorf("tag:role=w*: %v", got)
	}
	try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{worker}})).must(t)
	if got := e.instanceIDs(ec2types.Filter{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}); len(got) != 1 || got[0] != web {
		t.Errorf("instance-state-name pending,running: %v", got)
	}
	try(e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{web}, Tags: []ec2types.Tag{{Key: aws.String("ferry:commit"), Value: aws.String("abc")}}})).must(t)
	tags := try(e.ec2.DescribeTags(e.ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("resource-id"), Values: []string{web}}, {Name: aws.String("key"), Values: []string{"ferry:commit"}},
	}})).must(t)
	if len(tags.Tags) != 1 || *tags.Tags[0].Value != "abc" || tags.Tags[0].ResourceType != ec2types.ResourceTypeInstance {
		t.Errorf("DescribeTags: %+v", tags.Tags)
	}
	_, err := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{"i-0000000000000dead"}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("CreateTags on unknown instance: %v", err)
	}
}

// AWS: API_CreateImage, API_DescribeImages, API_DeregisterImage: a new image
// is pending, then available; a deregistered image is gone and cannot
// launch instances.
func TestEC2_ImagePendingThenAvailable(t *testing.T) {
	e := newEnv(t, fastOptions())
	run := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t)
	img := try(e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("ferry_staging_web_1")})).must(t)
	state := func() ec2types.ImageState {
		out := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*img.ImageId}})).must(t)
		return out.Images[0].State
	}
	if s := state(); s != ec2types.ImageStatePending {
		t.Errorf("new image is %s, want pending", s)
	}
	_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: img.ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if apiCode(err) != "InvalidAMIID.Unavailable" {
		t.Errorf("launch from pending image: %v", err)
	}
	e.eventually("image available", func() bool { return state() == ec2types.ImageStateAvailable })
	_, err = e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("ferry_staging_web_1")})
	if apiCode(err) != "InvalidAMIName.Duplicate" {
		t.Errorf("duplicate name: %v", err)
	}
	byName := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{"ferry_staging_*"}}}})).must(t)
	if len(byName.Images) != 1 {
		t.Errorf("filter by name: %d images", len(byName.Images))
	}
	try(e.ec2.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId})).must(t)
	_, err = e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*img.ImageId}})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("describe deregistered: %v", err)
	}
	_, err = e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: img.ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("launch from deregistered image: %v", err)
	}
}

// AWS: API_CreateLaunchTemplate, API_CreateLaunchTemplateVersion,
// API_DescribeLaunchTemplateVersions, API_ModifyLaunchTemplate,
// API_LaunchTemplateSpecification: versions are numbered from 1, new
// versions do not change the default, $Latest and $Default resolve.
func TestEC2_LaunchTemplateVersions(t *testing.T) {
	e := newEnv(t, fastOptions())
	lt := try(e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("web"), VersionDescription: aws.String("ferry-staging-aaaaaaaaaaaa"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-00000001"), InstanceType: ec2types.InstanceTypeT3Micro},
	})).must(t).LaunchTemplate
	if *lt.DefaultVersionNumber != 1 || *lt.LatestVersionNumber != 1 {
		t.Fatalf("new template: %+v", lt)
	}
	v2 := try(e.ec2.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: lt.LaunchTemplateId, SourceVersion: aws.String("1"), VersionDescription: aws.String("ferry-staging-bbbbbbbbbbbb"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-00000002")},
	})).must(t).LaunchTemplateVersion
	if *v2.VersionNumber != 2 || *v2.DefaultVersion || *v2.LaunchTemplateData.ImageId != "ami-00000002" || v2.LaunchTemplateData.InstanceType != ec2types.InstanceTypeT3Micro {
		t.Errorf("version 2: %+v %+v", v2, v2.LaunchTemplateData)
	}
	resolve := func(v string) int64 {
		out := try(e.ec2.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Versions: []string{v}})).must(t)
		return *out.LaunchTemplateVersions[0].VersionNumber
	}
	if resolve("$Latest") != 2 || resolve("$Default") != 1 {
		t.Errorf("$Latest=%d $Default=%d", resolve("$Latest"), resolve("$Default"))
	}
	try(e.ec2.ModifyLaunchTemplate(e.ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplateId, DefaultVersion: aws.String("2")})).must(t)
	if resolve("$Default") != 2 {
		t.Errorf("default after ModifyLaunchTemplate: %d", resolve("$Default"))
	}
	d := try(e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"web"}})).must(t)
	if *d.LaunchTemplates[0].DefaultVersionNumber != 2 {
		t.Errorf("DescribeLaunchTemplates: %+v", d.LaunchTemplates[0])
	}
	_, err := e.ec2.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Versions: []string{"7"}})
	if apiCode(err) == "" {
		t.Errorf("unknown version: %v", err)
	}
	run := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web"), Version: aws.String("1")}})).must(t)
	if *run.Instances[0].ImageId != "ami-00000001" {
		t.Errorf("launched from version 1 with image %s", *run.Instances[0].ImageId)
	}
}

// AWS: API_DescribeSecurityGroups: the default VPC's default group exists;
// groups are found by name and id; an unknown one is InvalidGroup.NotFound.
func TestEC2_DescribeSecurityGroups(t *testing.T) {
	e := newEnv(t, fastOptions())
	sg := try(e.ec2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web servers")})).must(t)
	out := try(e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default", "web"}})).must(t)
	if len(out.SecurityGroups) != 2 {
		t.Fatalf("got %d groups", len(out.SecurityGroups))
	}
	byID := try(e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})).must(t)
	if *byID.SecurityGroups[0].GroupName != "web" || *byID.SecurityGroups[0].Description != "web servers" {
		t.Errorf("by id: %+v", byID.SecurityGroups[0])
	}
	_, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0000000000000dead"}})
	if apiCode(err) != "InvalidGroup.NotFound" {
		t.Errorf("unknown group: %v", err)
	}
}

// AWS: ec2-api-idempotency: RunInstances retried with the same ClientToken
// launches nothing more and answers the same reservation.
func TestEC2_RunInstancesClientTokenIsIdempotent(t *testing.T) {
	e := newEnv(t, fastOptions())
	in := &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2), ClientToken: aws.String("deploy-42")}
	a := try(e.ec2.RunInstances(e.ctx, in)).must(t)
	b := try(e.ec2.RunInstances(e.ctx, in)).must(t)
	if *a.ReservationId != *b.ReservationId || len(b.Instances) != 2 || *a.Instances[0].InstanceId != *b.Instances[0].InstanceId {
		t.Errorf("retry answered %s %d, first %s", *b.ReservationId, len(b.Instances), *a.ReservationId)
	}
	if n := len(e.instanceIDs()); n != 2 {
		t.Errorf("%d instances after a retried RunInstances", n)
	}
}

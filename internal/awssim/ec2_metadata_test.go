package awssim

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// An instance launched without MetadataOptions shows EC2's defaults
// (optional, enabled, hop limit 1, tags disabled); RunInstances' options,
// a launch template's and a launch configuration's are stored, shown and
// given to the instances launched from them, and the instance profile a
// launch names is on its instance. Bad values are InvalidParameterValue.
// AWS: API_InstanceMetadataOptionsRequest, API_InstanceMetadataOptionsResponse,
// API_LaunchTemplateInstanceMetadataOptionsRequest, API_RunInstances,
// API_CreateLaunchConfiguration.
func TestMetadataOptions(t *testing.T) {
	e := newEnv(t, fastOptions())
	run := func(in *ec2.RunInstancesInput) ec2types.Instance {
		t.Helper()
		in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
		if in.ImageId == nil && in.LaunchTemplate == nil {
			in.ImageId = aws.String("ami-12345678")
		}
		out := try(e.ec2.RunInstances(e.ctx, in)).must(t)
		desc := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{aws.ToString(out.Instances[0].InstanceId)}})).must(t)
		return desc.Reservations[0].Instances[0]
	}
	check := func(what string, got *ec2types.InstanceMetadataOptionsResponse, tokens ec2types.HttpTokensState, hops int32, tags ec2types.InstanceMetadataTagsState) {
		t.Helper()
		if got == nil {
			t.Fatalf("%s: no MetadataOptions", what)
		}
		if got.HttpTokens != tokens || aws.ToInt32(got.HttpPutResponseHopLimit) != hops || got.InstanceMetadataTags != tags ||
			got.HttpEndpoint != ec2types.InstanceMetadataEndpointStateEnabled || got.State != ec2types.InstanceMetadataOptionsStateApplied {
			t.Errorf("%s: MetadataOptions %+v, want tokens %s, hop limit %d, tags %s, endpoint enabled, applied", what, *got, tokens, hops, tags)
		}
	}

	plain := run(&ec2.RunInstancesInput{})
	check("defaults", plain.MetadataOptions, ec2types.HttpTokensStateOptional, 1, ec2types.InstanceMetadataTagsStateDisabled)
	if plain.IamInstanceProfile != nil {
		t.Errorf("instance without a profile has %+v", *plain.IamInstanceProfile)
	}

	set := run(&ec2.RunInstancesInput{
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(2),
			InstanceMetadataTags: ec2types.InstanceMetadataTagsStateEnabled},
		IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("web")},
	})
	check("RunInstances", set.MetadataOptions, ec2types.HttpTokensStateRequired, 2, ec2types.InstanceMetadataTagsStateEnabled)
	if p := set.IamInstanceProfile; p == nil || aws.ToString(p.Arn) != "arn:aws:iam::123456789012:instance-profile/web" || !strings.HasPrefix(aws.ToString(p.Id), "AIPA") {
		t.Errorf("IamInstanceProfile = %+v, want the ARN of profile web and an AIPA id", p)
	}

	_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpPutResponseHopLimit: aws.Int32(65)}})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("hop limit 65: %v, want InvalidParameterValue", err)
	}

	// A launch template's options, shown by DescribeLaunchTemplateVersions,
	// kept by a version made from it, overridden field by field by
	// RunInstances.
	lt := try(e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12345678"),
			MetadataOptions:    &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired, InstanceMetadataTags: ec2types.LaunchTemplateInstanceMetadataTagsStateEnabled},
			IamInstanceProfile: &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String("web")}}})).must(t)
	v2 := try(e.ec2.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId,
		SourceVersion: aws.String("1"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceTypeT3Micro}})).must(t)
	if o := v2.LaunchTemplateVersion.LaunchTemplateData.MetadataOptions; o == nil || o.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired ||
		o.InstanceMetadataTags != ec2types.LaunchTemplateInstanceMetadataTagsStateEnabled {
		t.Errorf("version 2's MetadataOptions = %+v, want version 1's", o)
	}
	if p := v2.LaunchTemplateVersion.LaunchTemplateData.IamInstanceProfile; p == nil || aws.ToString(p.Name) != "web" {
		t.Errorf("version 2's IamInstanceProfile = %+v, want web", p)
	}
	fromLT := run(&ec2.RunInstancesInput{LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web"), Version: aws.String("$Latest")},
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpPutResponseHopLimit: aws.Int32(3)}})
	check("launch template + RunInstances", fromLT.MetadataOptions, ec2types.HttpTokensStateRequired, 3, ec2types.InstanceMetadataTagsStateEnabled)
	if fromLT.IamInstanceProfile == nil {
		t.Error("an instance of the template has no instance profile")
	}

	// A launch configuration's, and its group's instances.
	try(e.as.CreateLaunchConfiguration(e.ctx, &autoscaling.CreateLaunchConfigurationInput{LaunchConfigurationName: aws.String("lc"),
		ImageId: aws.String("ami-12345678"), InstanceType: aws.String("t3.micro"), IamInstanceProfile: aws.String("worker"),
		MetadataOptions: &astypes.InstanceMetadataOptions{HttpTokens: astypes.InstanceMetadataHttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(2)}})).must(t)
	lcs := try(e.as.DescribeLaunchConfigurations(e.ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{"lc"}})).must(t)
	if o := lcs.LaunchConfigurations[0].MetadataOptions; o == nil || o.HttpTokens != astypes.InstanceMetadataHttpTokensStateRequired || aws.ToInt32(o.HttpPutResponseHopLimit) != 2 {
		t.Errorf("launch configuration's MetadataOptions = %+v", o)
	}
	if p := aws.ToString(lcs.LaunchConfigurations[0].IamInstanceProfile); p != "worker" {
		t.Errorf("launch configuration's IamInstanceProfile = %q, want worker", p)
	}
	try(e.as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"),
		LaunchConfigurationName: aws.String("lc"), MinSize: aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
		AvailabilityZones: []string{"us-east-1a"}})).must(t)
	var inGroup ec2types.Instance
	e.eventually("the group's instance", func() bool {
		out := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:aws:autoscaling:groupName"), Values: []string{"g"}}}})).must(t)
		if len(out.Reservations) == 0 {
			return false
		}
		inGroup = out.Reservations[0].Instances[0]
		return true
	})
	check("launch configuration", inGroup.MetadataOptions, ec2types.HttpTokensStateRequired, 2, ec2types.InstanceMetadataTagsStateDisabled)
	if p := inGroup.IamInstanceProfile; p == nil || !strings.HasSuffix(aws.ToString(p.Arn), ":instance-profile/worker") {
		t.Errorf("group instance's IamInstanceProfile = %+v, want worker", p)
	}
}

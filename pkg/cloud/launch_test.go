package cloud_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// A launch source Ferry makes with Metadata set requires IMDSv2 tokens
// with the hop limit given, whatever its source allowed, and keeps the
// source's instance tags in the metadata; without Metadata the source's
// options are copied.
func TestLaunchSourcesRequireIMDSv2(t *testing.T) {
	srv := testutil.StartSim(t, awssim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sdk := simenv.Connect(srv.URL)
	if _, err := sdk.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("shop-web"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			ImageId: aws.String(simenv.ImageID), InstanceType: ec2types.InstanceTypeT3Micro,
			MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
				HttpTokens: ec2types.LaunchTemplateHttpTokensStateOptional, HttpPutResponseHopLimit: aws.Int32(3),
				InstanceMetadataTags: ec2types.LaunchTemplateInstanceMetadataTagsStateEnabled,
			},
		},
	}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ctx, srv.URL, 3)
	src := cloud.LaunchTemplateRef{Name: "shop-web", Version: "$Latest"}
	ref, err := c.CreateLaunchTemplateVersion(ctx, src, "v2", cloud.LaunchOverrides{Metadata: &cloud.MetadataOptions{HTTPTokens: "required", HopLimit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.LaunchTemplateVersion(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if v.HTTPTokens != "required" || v.HopLimit != 1 || v.MetadataTags != "enabled" || v.ImageID != simenv.ImageID {
		t.Fatalf("new version: %+v", v)
	}
	ref, err = c.CreateLaunchTemplateVersion(ctx, src, "v3", cloud.LaunchOverrides{InstanceType: "t3.small"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err = c.LaunchTemplateVersion(ctx, ref); err != nil || v.HTTPTokens != "required" || v.InstanceType != "t3.small" {
		t.Fatalf("copied version: %+v %v", v, err)
	}

	if _, err := sdk.ASG.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("shop-web-1"), ImageId: aws.String(simenv.ImageID), InstanceType: aws.String("t3.micro"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateLaunchConfiguration(ctx, "shop-web-1", "shop-web-2", cloud.LaunchOverrides{Metadata: &cloud.MetadataOptions{HTTPTokens: "required", HopLimit: 1}}); err != nil {
		t.Fatal(err)
	}
	out, err := sdk.ASG.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{"shop-web-2"}})
	if err != nil || len(out.LaunchConfigurations) != 1 {
		t.Fatal(err)
	}
	m := out.LaunchConfigurations[0].MetadataOptions
	if m == nil || m.HttpTokens != "required" || aws.ToInt32(m.HttpPutResponseHopLimit) != 1 {
		t.Fatalf("launch configuration metadata options: %+v", m)
	}
}

// InstanceTags puts the instances' tags in their metadata
// (InstanceMetadataTags enabled [work-with-tags-in-IMDS]) on a launch
// template Ferry makes and on a version it adds to one that had them off;
// without it a new version keeps what its source had.
func TestLaunchTemplatesPutInstanceTagsInMetadata(t *testing.T) {
	srv := testutil.StartSim(t, awssim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(t, ctx, srv.URL, 3)
	tags := func(ref cloud.LaunchTemplateRef) string {
		t.Helper()
		v, err := c.LaunchTemplateVersion(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return v.MetadataTags
	}
	on := &cloud.MetadataOptions{HTTPTokens: "required", HopLimit: 1, InstanceTags: true}
	lt, err := c.CreateLaunchTemplate(ctx, cloud.TemplateSpec{Name: "env-web", ImageID: simenv.ImageID, InstanceType: "t3.micro", Metadata: on})
	if err != nil {
		t.Fatal(err)
	}
	if got := tags(cloud.LaunchTemplateRef{ID: lt.ID, Version: "1"}); got != "enabled" {
		t.Errorf("a template made with InstanceTags: InstanceMetadataTags %q, want enabled", got)
	}
	off, err := c.CreateLaunchTemplate(ctx, cloud.TemplateSpec{Name: "other-web", ImageID: simenv.ImageID, InstanceType: "t3.micro",
		Metadata: &cloud.MetadataOptions{HTTPTokens: "required", HopLimit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	src := cloud.LaunchTemplateRef{ID: off.ID, Version: "1"}
	if got := tags(src); got != "" {
		t.Errorf("a template made without InstanceTags: InstanceMetadataTags %q, want EC2's default (unset)", got)
	}
	kept, err := c.CreateLaunchTemplateVersion(ctx, src, "kept", cloud.LaunchOverrides{Metadata: &cloud.MetadataOptions{HTTPTokens: "required", HopLimit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tags(kept); got != "" {
		t.Errorf("a version without InstanceTags: InstanceMetadataTags %q, want its source's (unset)", got)
	}
	turned, err := c.CreateLaunchTemplateVersion(ctx, src, "turned on", cloud.LaunchOverrides{Metadata: on})
	if err != nil {
		t.Fatal(err)
	}
	if got := tags(turned); got != "enabled" {
		t.Errorf("a version with InstanceTags over a source without: InstanceMetadataTags %q, want enabled", got)
	}
}

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

package envbuild_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/simenv"
)

// checkRoleTags: each group's instances learn their role from their own
// metadata at boot (one image holds every group's roles: docs/roles.md),
// so each group carries ferry:role=<its server type> propagated at launch,
// and its launch template puts the instances' tags in their metadata
// (InstanceMetadataTags enabled [work-with-tags-in-IMDS]), IMDSv2 only
// with hop limit 1.
func checkRoleTags(t *testing.T, sdk simenv.Clients, groups []astypes.AutoScalingGroup) {
	t.Helper()
	if len(groups) != 2 {
		t.Fatalf("%d groups, want web and worker", len(groups))
	}
	for _, g := range groups {
		typ := strings.TrimPrefix(aws.ToString(g.AutoScalingGroupName), "myproject-testing-")
		role := false
		for _, tg := range g.Tags {
			if aws.ToString(tg.Key) == "ferry:role" {
				role = aws.ToString(tg.Value) == typ && aws.ToBool(tg.PropagateAtLaunch)
			}
		}
		if !role {
			t.Errorf("group %s: no ferry:role=%s propagated at launch: %+v", aws.ToString(g.AutoScalingGroupName), typ, g.Tags)
		}
		v, err := sdk.EC2.DescribeLaunchTemplateVersions(context.Background(), &ec2.DescribeLaunchTemplateVersionsInput{
			LaunchTemplateId: g.LaunchTemplate.LaunchTemplateId, Versions: []string{"$Default"}})
		if err != nil {
			t.Fatal(err)
		}
		m := v.LaunchTemplateVersions[0].LaunchTemplateData.MetadataOptions
		if m == nil || m.InstanceMetadataTags != ec2types.LaunchTemplateInstanceMetadataTagsStateEnabled || m.HttpTokens != ec2types.LaunchTemplateHttpTokensStateRequired ||
			aws.ToInt32(m.HttpPutResponseHopLimit) != 1 {
			t.Errorf("group %s's launch template: metadata options %s, want tags in the metadata, IMDSv2 only, hop limit 1", aws.ToString(g.AutoScalingGroupName), metadataOptions(m))
		}
	}
}

// metadataOptions shows a launch template's metadata options.
func metadataOptions(m *ec2types.LaunchTemplateInstanceMetadataOptions) string {
	if m == nil {
		return "none"
	}
	return fmt.Sprintf("tokens %q, hop limit %d, tags %q", m.HttpTokens, aws.ToInt32(m.HttpPutResponseHopLimit), m.InstanceMetadataTags)
}

package awssim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AWS: errors-overview (InvalidInstanceID.Malformed, InvalidAMIID.Malformed,
// InvalidGroupId.Malformed, InvalidLaunchTemplateId.Malformed,
// InvalidSnapshotID.Malformed, InvalidSubnetID.Malformed,
// InvalidVpcID.Malformed: client errors, HTTP 400), resource-ids (an id is
// its type's prefix and 8 or 17 hexadecimal digits): an id that is not of
// its type's form is Malformed, where a well-formed one EC2 does not know
// is NotFound, in every call that takes one. CreateTags and DeleteTags,
// which take any type's ids, answer InvalidID ("The ID '…' is not valid",
// as users quote EC2's answer to CreateTags).
func TestConformance_MalformedIDs(t *testing.T) {
	e := newEnv(t, fastOptions())
	running := e.runOne()

	type call func(id string) error
	for _, tc := range []struct {
		name      string
		bad       []string // not of the type's form
		malformed string
		good      string // well-formed, unknown
		notFound  string
		call      call
	}{
		{"DescribeInstances", []string{"i-123", "i-000dead", "i-0000000000000DEAD", "i-0000000000000000", "web-1"}, "InvalidInstanceID.Malformed",
			"i-0000000000000dead", "InvalidInstanceID.NotFound", func(id string) error {
				_, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
				return err
			}},
		{"DescribeInstanceStatus", []string{"i-123"}, "InvalidInstanceID.Malformed", "i-0000dead", "InvalidInstanceID.NotFound", func(id string) error {
			_, err := e.ec2.DescribeInstanceStatus(e.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}})
			return err
		}},
		{"TerminateInstances", []string{"i-123"}, "InvalidInstanceID.Malformed", "i-0000dead", "InvalidInstanceID.NotFound", func(id string) error {
			_, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
			return err
		}},
		{"CreateImage", []string{"i-123"}, "InvalidInstanceID.Malformed", "i-0000dead", "InvalidInstanceID.NotFound", func(id string) error {
			_, err := e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("img")})
			return err
		}},
		{"GetConsoleOutput", []string{"i-123"}, "InvalidInstanceID.Malformed", "i-0000dead", "InvalidInstanceID.NotFound", func(id string) error {
			_, err := e.ec2.GetConsoleOutput(e.ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
			return err
		}},
		{"DescribeInstanceAttribute", []string{"i-123"}, "InvalidInstanceID.Malformed", "i-0000dead", "InvalidInstanceID.NotFound", func(id string) error {
			_, err := e.ec2.DescribeInstanceAttribute(e.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: ec2types.InstanceAttributeNameInstanceType})
			return err
		}},
		{"ModifyInstanceMetadataOptions", []string{"i-123"}, "InvalidInstanceID.Malformed", "i-0000dead", "InvalidInstanceID.NotFound", func(id string) error {
			_, err := e.ec2.ModifyInstanceMetadataOptions(e.ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpTokens: ec2types.HttpTokensStateRequired})
			return err
		}},
		// boto/boto3#1505: RunInstances of a 16-digit id, InvalidAMIID.Malformed.
		{"RunInstances image", []string{"ami-xyz", "ami-0ebf472962bc6715", "ami-0123456789ABCDEF0"}, "InvalidAMIID.Malformed", "ami-0000dead", "InvalidAMIID.NotFound", func(id string) error {
			_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(id), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			return err
		}},
		{"DescribeImages", []string{"ami-xyz"}, "InvalidAMIID.Malformed", "ami-0000000000000dead", "InvalidAMIID.NotFound", func(id string) error {
			_, err := e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
			return err
		}},
		{"DeregisterImage", []string{"ami-xyz"}, "InvalidAMIID.Malformed", "ami-0000000000000dead", "InvalidAMIID.NotFound", func(id string) error {
			_, err := e.ec2.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
			return err
		}},
		{"RunInstances security group", []string{"sg-1"}, "InvalidGroupId.Malformed", "sg-0000dead", "InvalidGroup.NotFound", func(id string) error {
			_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), SecurityGroupIds: []string{id}, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			return err
		}},
		{"DescribeSecurityGroups", []string{"sg-1", "web"}, "InvalidGroupId.Malformed", "sg-0000dead", "InvalidGroup.NotFound", func(id string) error {
			_, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
			return err
		}},
		{"DeleteSecurityGroup", []string{"sg-1"}, "InvalidGroupId.Malformed", "sg-0000dead", "InvalidGroup.NotFound", func(id string) error {
			_, err := e.ec2.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
			return err
		}},
		{"AuthorizeSecurityGroupIngress", []string{"sg-1"}, "InvalidGroupId.Malformed", "sg-0000dead", "InvalidGroup.NotFound", func(id string) error {
			_, err := e.ec2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: []ec2types.IpPermission{
				{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
			return err
		}},
		{"RunInstances launch template", []string{"lt-bogus"}, "InvalidLaunchTemplateId.Malformed", "lt-0000dead", "InvalidLaunchTemplateId.NotFound", func(id string) error {
			_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id)}, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			return err
		}},
		{"DescribeLaunchTemplates", []string{"lt-bogus"}, "InvalidLaunchTemplateId.Malformed", "lt-0000dead", "InvalidLaunchTemplateId.NotFound", func(id string) error {
			_, err := e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{id}})
			return err
		}},
		{"DescribeLaunchTemplateVersions", []string{"lt-bogus"}, "InvalidLaunchTemplateId.Malformed", "lt-0000dead", "InvalidLaunchTemplateId.NotFound", func(id string) error {
			_, err := e.ec2.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id)})
			return err
		}},
		{"DeleteLaunchTemplate", []string{"lt-bogus"}, "InvalidLaunchTemplateId.Malformed", "lt-0000dead", "InvalidLaunchTemplateId.NotFound", func(id string) error {
			_, err := e.ec2.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)})
			return err
		}},
		{"DescribeSnapshots", []string{"snap-1"}, "InvalidSnapshotID.Malformed", "snap-0000dead", "InvalidSnapshot.NotFound", func(id string) error {
			_, err := e.ec2.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
			return err
		}},
		{"DeleteSnapshot", []string{"snap-1"}, "InvalidSnapshotID.Malformed", "snap-0000dead", "InvalidSnapshot.NotFound", func(id string) error {
			_, err := e.ec2.DeleteSnapshot(e.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
			return err
		}},
		{"DescribeSubnets", []string{"subnet-1"}, "InvalidSubnetID.Malformed", "subnet-0000dead", "InvalidSubnetID.NotFound", func(id string) error {
			_, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}})
			return err
		}},
		{"DescribeVpcs", []string{"vpc-1"}, "InvalidVpcID.Malformed", "vpc-0000dead", "InvalidVpcID.NotFound", func(id string) error {
			_, err := e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
			return err
		}},
		{"CreateTags", []string{"i-123", "ami-xyz", "i-eCHmOTcEW0OZ9KbNe", "nothing"}, "InvalidID", "i-0000dead", "InvalidInstanceID.NotFound", func(id string) error {
			_, err := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		}},
		{"DeleteTags", []string{"sg-1"}, "InvalidID", "sg-0000dead", "InvalidGroup.NotFound", func(id string) error {
			_, err := e.ec2.DeleteTags(e.ctx, &ec2.DeleteTagsInput{Resources: []string{id}})
			return err
		}},
	} {
		for _, id := range tc.bad {
			err := tc.call(id)
			if apiCode(err) != tc.malformed || httpStatus(err) != http.StatusBadRequest || !strings.Contains(apiMessage(err), id) {
				t.Errorf("%s %q: %v (status %d), want %s naming the id, 400", tc.name, id, err, httpStatus(err), tc.malformed)
			}
		}
		if err := tc.call(tc.good); apiCode(err) != tc.notFound {
			t.Errorf("%s %q: %v, want %s", tc.name, tc.good, err, tc.notFound)
		}
	}

	// The messages, as EC2's users quote them.
	_, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-123"}})
	if got := apiMessage(err); got != `Invalid id: "i-123"` {
		t.Errorf("DescribeInstances i-123: message %q", got)
	}
	_, err = e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-xyz"}})
	if got := apiMessage(err); got != `Invalid id: "ami-xyz" (expecting "ami-...")` {
		t.Errorf("DescribeImages ami-xyz: message %q", got)
	}

	// Form comes before existence: a malformed id beside an unknown one is
	// Malformed, and beside a running instance it terminates nothing.
	_, err = e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000dead", "i-123"}})
	if apiCode(err) != "InvalidInstanceID.Malformed" {
		t.Errorf("DescribeInstances of an unknown and a malformed id: %v", err)
	}
	_, err = e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{running, "i-123"}})
	if apiCode(err) != "InvalidInstanceID.Malformed" {
		t.Errorf("TerminateInstances of a running and a malformed id: %v", err)
	}
	if st := e.instance(running).State.Name; st != ec2types.InstanceStateNameRunning {
		t.Errorf("after a refused TerminateInstances the instance is %s", st)
	}
}

// AWS: resource-ids: every id the simulator makes is of EC2's form (17
// digits), so that it passes the checks above: instances, reservations,
// images and their snapshots and volumes, security groups, launch
// templates, key pairs, the default VPC and its subnets, DebianImage.
func TestConformance_GeneratedIDsAreWellFormed(t *testing.T) {
	e := newEnv(t, fastOptions())
	run := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(DebianImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t)
	img := try(e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("ids")})).must(t)
	sg := try(e.ec2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})).must(t)
	lt := try(e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(DebianImage)}})).must(t)
	kp := try(e.ec2.CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("deploy"), KeyType: ec2types.KeyTypeEd25519})).must(t)
	snaps := try(e.ec2.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})).must(t).Snapshots
	vpcs := try(e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{})).must(t).Vpcs
	subnets := try(e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{})).must(t).Subnets
	if len(snaps) != 1 || len(vpcs) != 1 || len(subnets) == 0 {
		t.Fatalf("%d snapshots, %d VPCs, %d subnets", len(snaps), len(vpcs), len(subnets))
	}
	for _, c := range []struct {
		kind idKind
		id   *string
	}{
		{instanceIDs, run.Instances[0].InstanceId}, {idKind{prefix: "r"}, run.ReservationId},
		{imageIDs, img.ImageId}, {imageIDs, aws.String(DebianImage)},
		{snapshotIDs, snaps[0].SnapshotId}, {idKind{prefix: "vol"}, snaps[0].VolumeId},
		{groupIDs, sg.GroupId}, {templateIDs, lt.LaunchTemplate.LaunchTemplateId},
		{idKind{prefix: "key"}, kp.KeyPairId}, {vpcIDs, vpcs[0].VpcId}, {subnetIDs, subnets[0].SubnetId},
	} {
		if id := aws.ToString(c.id); !c.kind.wellFormed(id) || len(id) != len(c.kind.prefix)+18 {
			t.Errorf("%q is no 17-digit %s- id", id, c.kind.prefix)
		}
	}
}

// A public image the simulator is given must have an id EC2 could give it:
// one that is not would only fail every launch as malformed.
func TestPublicImagesMustBeWellFormed(t *testing.T) {
	if _, err := New(Options{PublicImages: []PublicImage{{ID: "ami-1"}}}, nil); err == nil || !strings.Contains(err.Error(), `"ami-1"`) {
		t.Errorf("New with public image ami-1: %v, want an error naming it", err)
	}
}

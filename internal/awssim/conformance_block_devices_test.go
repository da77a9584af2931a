package awssim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AWS: API_Instance (BlockDeviceMappings, RootDeviceName),
// API_InstanceBlockDeviceMapping, API_EbsInstanceBlockDevice: an EBS-backed
// instance lists its root volume on the root device, attached, with its
// attach time and DeleteOnTermination as its image's mapping has it; an
// image made of it snapshots that volume (API_CreateImage: "Amazon EC2
// creates a snapshot of each EBS volume attached to the instance"); a
// terminated instance's volume is gone with it. A pending one lists none
// yet, as EC2 may answer right after a launch (aws/aws-sdk-php#2804,
// hashicorp/packer#9480).
func TestConformance_InstanceBlockDeviceMappings(t *testing.T) {
	e := newEnv(t, fastOptions())
	launched := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t).Instances[0]
	if launched.State.Name != ec2types.InstanceStateNamePending || len(launched.BlockDeviceMappings) != 0 {
		t.Errorf("RunInstances' answer: %s with mappings %+v", launched.State.Name, launched.BlockDeviceMappings)
	}
	id := aws.ToString(launched.InstanceId)
	e.eventually("running", func() bool { return e.instance(id).State.Name == ec2types.InstanceStateNameRunning })
	inst := e.instance(id)
	if aws.ToString(inst.RootDeviceName) != "/dev/xvda" || inst.RootDeviceType != ec2types.DeviceTypeEbs || len(inst.BlockDeviceMappings) != 1 {
		t.Fatalf("root device %q (%s), mappings %+v", aws.ToString(inst.RootDeviceName), inst.RootDeviceType, inst.BlockDeviceMappings)
	}
	m := inst.BlockDeviceMappings[0]
	vol := aws.ToString(m.Ebs.VolumeId)
	if aws.ToString(m.DeviceName) != "/dev/xvda" || !(idKind{prefix: "vol"}).wellFormed(vol) || m.Ebs.Status != ec2types.AttachmentStatusAttached ||
		!aws.ToBool(m.Ebs.DeleteOnTermination) || !aws.ToTime(m.Ebs.AttachTime).Equal(aws.ToTime(inst.LaunchTime)) {
		t.Errorf("root volume mapping: %s on %s, %s, attached %v (launched %v), delete on termination %v",
			vol, aws.ToString(m.DeviceName), m.Ebs.Status, aws.ToTime(m.Ebs.AttachTime), aws.ToTime(inst.LaunchTime), aws.ToBool(m.Ebs.DeleteOnTermination))
	}
	if other := e.instance(e.runOne()).BlockDeviceMappings; len(other) != 1 || aws.ToString(other[0].Ebs.VolumeId) == vol {
		t.Errorf("a second instance's mappings %+v share volume %s", other, vol)
	}

	img := try(e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: aws.String(id), Name: aws.String("of-" + id)})).must(t)
	snaps := try(e.ec2.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{Filters: []ec2types.Filter{{Name: aws.String("volume-id"), Values: []string{vol}}}})).must(t).Snapshots
	if len(snaps) != 1 {
		t.Fatalf("snapshots of volume %s: %+v", vol, snaps)
	}
	imgs := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}})).must(t).Images
	if len(imgs) != 1 || len(imgs[0].BlockDeviceMappings) != 1 || aws.ToString(imgs[0].BlockDeviceMappings[0].Ebs.SnapshotId) != aws.ToString(snaps[0].SnapshotId) {
		t.Errorf("image %s's mappings %+v, want snapshot %s", aws.ToString(img.ImageId), imgs, aws.ToString(snaps[0].SnapshotId))
	}

	try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})).must(t)
	e.eventually("terminated", func() bool { return e.instance(id).State.Name == ec2types.InstanceStateNameTerminated })
	if got := e.instance(id).BlockDeviceMappings; len(got) != 0 {
		t.Errorf("a terminated instance's mappings: %+v", got)
	}
}

package awssim

import (
	"encoding/base64"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// RunInstances boots a Debian machine at the instance's private address
// in its zone's default subnet; its key pair logs in as admin with the
// real OpenSSH client, which trusts only the host keys GetConsoleOutput
// shows; its user data runs at first boot as root; an unknown image is
// InvalidAMIID.NotFound, an unknown key InvalidKeyPair.NotFound.
// CreateImage captures a file written on the instance, with a snapshot
// DescribeSnapshots sees, and an instance of the new image has it. Terminate powers the machine off and leaves no
// mount or process; DeregisterImage and DeleteSnapshot free the layer.
// AWS: API_RunInstances, API_CreateImage, API_DeleteSnapshot, default-vpc.
func TestMachines_InstancesAndImages(t *testing.T) {
	opts := machineOptions(t)
	e := newMachineEnv(t, opts)
	base := e.baseImage()
	if base.State != ec2types.ImageStateAvailable || len(base.BlockDeviceMappings) != 1 || base.BlockDeviceMappings[0].Ebs.SnapshotId == nil {
		t.Fatalf("base image %+v: want available with a root snapshot", base)
	}

	_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("RunInstances of an unknown image: %v, want InvalidAMIID.NotFound", err)
	}

	key := e.newKey("deploy")
	_, err = e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: base.ImageId, KeyName: aws.String("nobody"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if apiCode(err) != "InvalidKeyPair.NotFound" {
		t.Errorf("RunInstances with an unknown key: %v, want InvalidKeyPair.NotFound", err)
	}

	userData := "#!/bin/sh\necho user data ran as $(id -un) > /var/www/html/user-data.txt\n"
	first := e.runMachine(&ec2.RunInstancesInput{ImageId: base.ImageId, InstanceType: ec2types.InstanceTypeT3Micro, KeyName: aws.String("deploy"),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	if aws.ToString(first.KeyName) != "deploy" {
		t.Errorf("KeyName = %q, want deploy", aws.ToString(first.KeyName))
	}
	firstIP := netip.MustParseAddr(aws.ToString(first.PrivateIpAddress))
	if !netip.MustParsePrefix("172.31.0.0/20").Contains(firstIP) {
		t.Errorf("private address %s is not in us-east-1a's default subnet 172.31.0.0/20", firstIP)
	}
	// Its address is one of its subnet's [API_DescribeSubnets]: 4096 less
	// the five AWS reserves, less this one.
	sub := try(e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1a"}}}})).must(t)
	if len(sub.Subnets) != 1 || aws.ToString(sub.Subnets[0].CidrBlock) != "172.31.0.0/20" || aws.ToInt32(sub.Subnets[0].AvailableIpAddressCount) != 4090 {
		t.Errorf("us-east-1a's subnet with one instance: %+v, want 172.31.0.0/20 with 4090 free", sub.Subnets)
	}
	if code, body := e.get("http://" + firstIP.String() + "/user-data.txt"); code != 200 || body != "user data ran as root\n" {
		t.Errorf("user data's file: %d %q", code, body)
	}
	if code, body := e.get("https://" + firstIP.String() + "/healthcheck.html"); code != 200 || body != "ok\n" {
		t.Errorf("nginx over TLS: %d %q", code, body)
	}

	if out := e.mustSSH(first, key, "hostname; id -un; sudo -n cat /var/www/html/user-data.txt"); out != "ip-"+dashes(firstIP.String())+"\nadmin\nuser data ran as root\n" {
		t.Errorf("ssh on the first instance: %q", out)
	}
	e.mustSSH(first, key, "echo made on the first instance | sudo tee /etc/ferry-image-test >/dev/null && sync")

	// CreateImage: pending, then available with a completed snapshot.
	img := try(e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: first.InstanceId, Name: aws.String("made-by-the-test"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{{Key: aws.String("made-by"), Value: aws.String("test")}}}}})).must(t)
	iw := ec2.NewImageAvailableWaiter(e.ec2, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	imgs, err := iw.WaitForOutput(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}, 5*time.Minute)
	if err != nil {
		t.Fatalf("image %s not available: %v", aws.ToString(img.ImageId), err)
	}
	snapID := aws.ToString(imgs.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
	snaps := try(e.ec2.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag:made-by"), Values: []string{"test"}}}})).must(t)
	if len(snaps.Snapshots) != 1 || aws.ToString(snaps.Snapshots[0].SnapshotId) != snapID || snaps.Snapshots[0].State != ec2types.SnapshotStateCompleted {
		t.Errorf("snapshots tagged made-by=test: %+v, want %s completed", snaps.Snapshots, snapID)
	}
	_, err = e.ec2.DeleteSnapshot(e.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snapID)})
	if apiCode(err) != "InvalidSnapshot.InUse" {
		t.Errorf("DeleteSnapshot of a registered image's snapshot: %v, want InvalidSnapshot.InUse", err)
	}

	// An instance of the new image, in another zone, has the file
	// without running any user data.
	second := e.runMachine(&ec2.RunInstancesInput{ImageId: img.ImageId, KeyName: aws.String("deploy"), Placement: &ec2types.Placement{AvailabilityZone: aws.String("us-east-1b")}})
	secondIP := netip.MustParseAddr(aws.ToString(second.PrivateIpAddress))
	if !netip.MustParsePrefix("172.31.16.0/20").Contains(secondIP) {
		t.Errorf("private address %s is not in us-east-1b's default subnet 172.31.16.0/20", secondIP)
	}
	if code, body := e.get("http://" + secondIP.String() + "/user-data.txt"); code != 200 || body != "user data ran as root\n" {
		t.Errorf("the image's file on the second instance: %d %q", code, body)
	}
	if out := e.mustSSH(second, key, "cat /etc/ferry-image-test; hostname"); out != "made on the first instance\nip-"+dashes(secondIP.String())+"\n" {
		t.Errorf("ssh on the second instance: %q", out)
	}
	// The namespace routes between the zones' subnets, as the VPC does.
	if out := e.mustSSH(first, key, "curl -sS http://"+secondIP.String()+"/healthcheck.html"); out != "ok\n" {
		t.Errorf("from 1a to 1b: %q", out)
	}

	// Terminate: shutting-down, then terminated once powered off.
	ids := []string{aws.ToString(first.InstanceId), aws.ToString(second.InstanceId)}
	term := try(e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})).must(t)
	for _, c := range term.TerminatingInstances {
		if c.CurrentState.Name != ec2types.InstanceStateNameShuttingDown {
			t.Errorf("%s after TerminateInstances: %s, want shutting-down", aws.ToString(c.InstanceId), c.CurrentState.Name)
		}
	}
	tw := ec2.NewInstanceTerminatedWaiter(e.ec2, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	})
	if err := tw.Wait(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 2*time.Minute); err != nil {
		t.Fatalf("not terminated: %v", err)
	}
	for _, id := range ids {
		if left := leftovers(t, opts.MachineStateDir, id); len(left) > 0 {
			t.Errorf("terminated %s left:\n%v", id, left)
		}
	}

	// Deregistered and its snapshot deleted, the image's layer goes.
	layerDir := e.imageLayerDir(aws.ToString(img.ImageId))
	if _, err := os.Stat(layerDir); err != nil {
		t.Fatalf("the image's layer: %v", err)
	}
	try(e.ec2.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId})).must(t)
	try(e.ec2.DeleteSnapshot(e.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snapID)})).must(t)
	e.waitFor("the image's layer to be deleted", time.Minute, func() bool {
		_, err := os.Stat(layerDir)
		return os.IsNotExist(err)
	})
	_, err = e.ec2.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}})
	if apiCode(err) != "InvalidSnapshot.NotFound" {
		t.Errorf("DescribeSnapshots of a deleted snapshot: %v, want InvalidSnapshot.NotFound", err)
	}

	// A machine that cannot boot (its image's layer went from the cache
	// behind the simulator's back) is a failed launch for its group.
	e.srv.mu.Lock()
	e.srv.st.Images["ami-0b000000000000000"] = &image{ID: "ami-0b000000000000000", Name: "layer-gone", State: "available", Layer: "no-such-layer", Tags: map[string]string{}}
	e.srv.mu.Unlock()
	e.lc("broken", "ami-0b000000000000000")
	e.group("broken", "broken", 1, 1, 1, nil)
	e.waitFor("a failed launch activity", time.Minute, func() bool {
		out := try(e.as.DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("broken")})).must(t)
		for _, a := range out.Activities {
			if a.StatusCode == astypes.ScalingActivityStatusCodeFailed && strings.HasPrefix(aws.ToString(a.StatusMessage), "Server.InternalError") {
				return true
			}
		}
		return false
	})
}

func dashes(ip string) string { return strings.ReplaceAll(ip, ".", "-") }

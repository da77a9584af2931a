package awssim

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

// A group of three machines behind a Classic ELB with the seed's
// HTTPS:443/healthcheck.html check becomes InService, serves through the
// balancer's listener, and replaces the instance whose nginx is stopped
// (HealthCheckType ELB: the balancer's failing checks make it Unhealthy,
// ReplaceUnhealthy terminates it, then launches). Closing the simulator
// powers every machine off and removes their mounts and the namespace.
// AWS: as-add-elb-healthcheck, replace-unhealthy-instance, elb-healthchecks.
func TestMachines_GroupBehindClassicELB(t *testing.T) {
	opts := machineOptions(t)
	opts.Second = 100 * time.Millisecond
	e := newMachineEnv(t, opts)
	base := e.baseImage()
	key := e.newKey("deploy")
	e.machineLB("web", "HTTPS:443/healthcheck.html")
	try(e.as.CreateLaunchConfiguration(e.ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("web-1"), ImageId: base.ImageId, InstanceType: aws.String("t3.micro"), KeyName: aws.String("deploy"),
	})).must(t)
	start := time.Now()
	e.group("web", "web-1", 3, 3, 3, func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.AvailabilityZones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
		in.LoadBalancerNames = []string{"web"}
		in.HealthCheckType = aws.String("ELB")
		in.HealthCheckGracePeriod = aws.Int32(60)
	})
	inService := func() []string {
		var ids []string
		for _, id := range e.inService("web") {
			if e.elbState("web", id) == elbInService {
				ids = append(ids, id)
			}
		}
		return ids
	}
	var ids []string
	e.waitFor("three instances InService in the group and behind web", 5*time.Minute, func() bool {
		ids = inService()
		return len(ids) == 3
	})
	t.Logf("3 instances InService behind web %v after CreateAutoScalingGroup", time.Since(start).Round(100*time.Millisecond))
	url, _ := e.srv.LoadBalancerURL("web")
	for range 6 {
		if code, body := fetch(t, url+"/healthcheck.html"); code != 200 || body != "ok\n" {
			t.Errorf("GET through web: %d %q", code, body)
		}
	}

	// Stop nginx on one instance, as an operator would by mistake.
	victim := ids[0]
	desc := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{victim}})).must(t)
	e.mustSSH(desc.Reservations[0].Instances[0], key, "sudo systemctl stop nginx")
	e.waitFor(victim+" replaced by a healthy instance", 5*time.Minute, func() bool {
		ids = inService()
		return len(ids) == 3 && !slices.Contains(ids, victim)
	})
	tw := ec2.NewInstanceTerminatedWaiter(e.ec2, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	})
	if err := tw.Wait(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{victim}}, 2*time.Minute); err != nil {
		t.Errorf("%s not terminated: %v", victim, err)
	}
	if left := leftovers(t, opts.MachineStateDir, victim); len(left) > 0 {
		t.Errorf("the replaced %s left:\n%v", victim, left)
	}

	// Close: every machine off, nothing of them left but the images.
	netns := e.srv.MachineNetwork().Name()
	if err := e.srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, id := range ids {
		if left := leftovers(t, opts.MachineStateDir, id); len(left) > 0 {
			t.Errorf("%s left after Close:\n%v", id, left)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/netns", netns)); !os.IsNotExist(err) {
		t.Errorf("namespace %s left after Close: %v", netns, err)
	}
	if entries, _ := os.ReadDir(opts.MachineStateDir); len(entries) > 0 {
		t.Errorf("state left after Close: %v", entries)
	}
	var recipe string
	for _, tag := range base.Tags {
		if aws.ToString(tag.Key) == RecipeTag {
			recipe = aws.ToString(tag.Value)
		}
	}
	if _, err := os.Stat(filepath.Join(machines.DefaultCacheDir, "layers", "base-bookworm-"+recipe[:16])); err != nil {
		t.Errorf("the base image left the cache: %v", err)
	}
}

package awssim

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// With StackImage the account has a second AMI beside the base, tagged
// StackImageTag, whose machines have every role's programs and run none
// of their services; without it there is no such AMI.
func TestMachines_StackImage(t *testing.T) {
	opts := machineOptions(t)
	opts.StackImage = true
	e := newMachineEnv(t, opts)
	base := e.baseImage()
	out := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + StackImageTag), Values: []string{"bookworm"}}},
	})).must(t)
	if len(out.Images) != 1 {
		t.Fatalf("stack images: %d, want 1", len(out.Images))
	}
	stack := out.Images[0]
	if aws.ToString(stack.ImageId) == aws.ToString(base.ImageId) || !strings.Contains(aws.ToString(stack.Name), "-stack-") {
		t.Errorf("stack image %s %q: want an AMI of its own, named …-stack-…", aws.ToString(stack.ImageId), aws.ToString(stack.Name))
	}

	key := e.newKey("deploy")
	inst := e.runMachine(&ec2.RunInstancesInput{ImageId: stack.ImageId, KeyName: aws.String("deploy")})
	got := e.mustSSH(inst, key, "PATH=$PATH:/usr/sbin; command -v psql pgbouncer redis-server rabbitmqctl nginx gunicorn stunnel4 | wc -l; "+
		"for s in nginx postgresql redis-server rabbitmq-server pgbouncer; do echo $s $(systemctl is-active $s); done")
	for _, want := range []string{"7\n", "nginx inactive", "postgresql inactive", "redis-server inactive", "rabbitmq-server inactive", "pgbouncer inactive"} {
		if !strings.Contains(got, want) {
			t.Errorf("on a stack machine: want %q in\n%s", want, got)
		}
	}
}

// Without StackImage only the base AMI is registered.
func TestMachines_NoStackImageUnlessAsked(t *testing.T) {
	e := newMachineEnv(t, machineOptions(t))
	out := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{StackImageTag}}},
	})).must(t)
	if len(out.Images) != 0 {
		t.Errorf("stack images without StackImage: %d, want none", len(out.Images))
	}
}

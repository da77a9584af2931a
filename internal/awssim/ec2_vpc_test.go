package awssim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AWS: API_DescribeVpcs, API_DescribeSubnets, default-vpc,
// vpc-sizing-ipv4: the account's default VPC is 172.31.0.0/16 with a
// default /20 subnet in each zone; a subnet's free address count is its
// size less the five addresses AWS reserves (and those its instances hold:
// TestMachines_InstancesAndImages); filters narrow the lists; unknown ids are InvalidVpcID.NotFound and
// InvalidSubnetID.NotFound.
func TestEC2_DescribeVpcsAndSubnets(t *testing.T) {
	opts := fastOptions()
	e := newEnv(t, opts)

	vpcs := try(e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{})).must(t).Vpcs
	if len(vpcs) != 1 || aws.ToString(vpcs[0].CidrBlock) != "172.31.0.0/16" || !aws.ToBool(vpcs[0].IsDefault) ||
		vpcs[0].State != ec2types.VpcStateAvailable || aws.ToString(vpcs[0].OwnerId) == "" {
		t.Fatalf("DescribeVpcs = %+v, want the default VPC 172.31.0.0/16", vpcs)
	}
	vpcID := aws.ToString(vpcs[0].VpcId)
	byDefault := try(e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})).must(t)
	if len(byDefault.Vpcs) != 1 || aws.ToString(byDefault.Vpcs[0].VpcId) != vpcID {
		t.Errorf("is-default=true: %+v", byDefault.Vpcs)
	}
	if none := try(e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"false"}}}})).must(t); len(none.Vpcs) != 0 {
		t.Errorf("is-default=false: %+v, want none", none.Vpcs)
	}
	if _, err := e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0123456789abcdef0"}}); apiCode(err) != "InvalidVpcID.NotFound" {
		t.Errorf("unknown VPC: %v, want InvalidVpcID.NotFound", err)
	}

	subnets := try(e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})).must(t).Subnets
	want := map[string]string{"us-east-1a": "172.31.0.0/20", "us-east-1b": "172.31.16.0/20", "us-east-1c": "172.31.32.0/20"}
	if len(subnets) != len(want) {
		t.Fatalf("DescribeSubnets = %d subnets, want one per zone %v", len(subnets), want)
	}
	byZone := map[string]ec2types.Subnet{}
	for _, sn := range subnets {
		az := aws.ToString(sn.AvailabilityZone)
		byZone[az] = sn
		if aws.ToString(sn.CidrBlock) != want[az] || !aws.ToBool(sn.DefaultForAz) || aws.ToString(sn.VpcId) != vpcID ||
			sn.State != ec2types.SubnetStateAvailable || aws.ToInt32(sn.AvailableIpAddressCount) != 4091 {
			t.Errorf("subnet %+v, want %s, default for %s, 4091 free", sn, want[az], az)
		}
	}

	a := byZone["us-east-1a"]
	got := try(e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{aws.ToString(a.SubnetId)}})).must(t).Subnets
	if len(got) != 1 || aws.ToString(got[0].AvailabilityZone) != "us-east-1a" {
		t.Fatalf("SubnetIds [%s]: %+v", aws.ToString(a.SubnetId), got)
	}
	byAZ := try(e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: aws.String("availability-zone"), Values: []string{"us-east-1b"}},
		{Name: aws.String("default-for-az"), Values: []string{"true"}}}})).must(t).Subnets
	if len(byAZ) != 1 || aws.ToString(byAZ[0].CidrBlock) != "172.31.16.0/20" {
		t.Errorf("availability-zone=us-east-1b: %+v", byAZ)
	}
	if _, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0123456789abcdef0"}}); apiCode(err) != "InvalidSubnetID.NotFound" {
		t.Errorf("unknown subnet: %v, want InvalidSubnetID.NotFound", err)
	}
}

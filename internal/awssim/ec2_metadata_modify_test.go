package awssim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AWS: API_ModifyInstanceMetadataOptions, API_InstanceMetadataOptionsRequest,
// API_InstanceMetadataOptionsResponse: the options given replace the
// instance's and the others stay; the answer is pending, DescribeInstances
// then shows them applied; a value EC2 does not take is
// InvalidParameterValue, an unknown instance InvalidInstanceID.NotFound.
// (That the metadata service then refuses IMDSv1: TestMachines_MetadataService.)
func TestEC2_ModifyInstanceMetadataOptions(t *testing.T) {
	e := newEnv(t, fastOptions())
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{InstanceMetadataTags: ec2types.InstanceMetadataTagsStateEnabled}})).must(t)
	id := out.Instances[0].InstanceId

	mod := try(e.ec2.ModifyInstanceMetadataOptions(e.ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: id,
		HttpTokens: ec2types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(2)})).must(t)
	if aws.ToString(mod.InstanceId) != aws.ToString(id) || mod.InstanceMetadataOptions == nil ||
		mod.InstanceMetadataOptions.State != ec2types.InstanceMetadataOptionsStatePending || mod.InstanceMetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired {
		t.Errorf("ModifyInstanceMetadataOptions answered %+v", mod.InstanceMetadataOptions)
	}
	o := e.instance(aws.ToString(id)).MetadataOptions
	if o == nil || o.State != ec2types.InstanceMetadataOptionsStateApplied || o.HttpTokens != ec2types.HttpTokensStateRequired ||
		aws.ToInt32(o.HttpPutResponseHopLimit) != 2 || o.InstanceMetadataTags != ec2types.InstanceMetadataTagsStateEnabled ||
		o.HttpEndpoint != ec2types.InstanceMetadataEndpointStateEnabled {
		t.Errorf("DescribeInstances MetadataOptions after the change = %+v, want required, hop limit 2, tags still enabled, applied", o)
	}

	_, err := e.ec2.ModifyInstanceMetadataOptions(e.ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: id, HttpPutResponseHopLimit: aws.Int32(65)})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("hop limit 65: %v, want InvalidParameterValue", err)
	}
	_, err = e.ec2.ModifyInstanceMetadataOptions(e.ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0123456789abcdef0"), HttpTokens: ec2types.HttpTokensStateOptional})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown instance: %v, want InvalidInstanceID.NotFound", err)
	}
}

package simenv

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// What an operator does for instances that are real servers (the
// simulator's machine backend): find the image, make a key pair, read an
// instance's console for its SSH host keys.

// ImageTagged returns the id of an image of the account (owner self)
// carrying the tag key, such as the simulator's base image.
func ImageTagged(ctx context.Context, c Clients, tagKey string) (string, error) {
	out, err := c.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{tagKey}}}})
	if err != nil {
		return "", fmt.Errorf("describe images tagged %s: %w", tagKey, err)
	}
	if len(out.Images) == 0 {
		return "", fmt.Errorf("no image tagged %s", tagKey)
	}
	return aws.ToString(out.Images[0].ImageId), nil
}

// CreateKeyPair makes an ed25519 key pair and returns its private key
// (OpenSSH format), which EC2 hands out only this once [API_CreateKeyPair].
func CreateKeyPair(ctx context.Context, c Clients, name string) ([]byte, error) {
	kp, err := c.EC2.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name), KeyType: ec2types.KeyTypeEd25519})
	if err != nil {
		return nil, fmt.Errorf("create key pair %s: %w", name, err)
	}
	return []byte(aws.ToString(kp.KeyMaterial)), nil
}

// ConsoleOutput returns an instance's console output, decoded
// [API_GetConsoleOutput].
func ConsoleOutput(ctx context.Context, c Clients, instanceID string) ([]byte, error) {
	out, err := c.EC2.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(instanceID), Latest: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("console of %s: %w", instanceID, err)
	}
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
	if err != nil {
		return nil, fmt.Errorf("console of %s: %w", instanceID, err)
	}
	return b, nil
}

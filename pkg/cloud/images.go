package cloud

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// What a bake (pkg/bake) asks of EC2: one builder instance outside any
// group, and the images made from it.

// BuilderSpec is the instance a bake launches.
type BuilderSpec struct {
	ImageID            string
	InstanceType       string
	KeyName            string
	SecurityGroups     []string
	IAMInstanceProfile string
	// Tags go on the instance at launch (TagSpecifications): a builder
	// is findable by them from the moment it exists.
	Tags map[string]string
}

// Machine is an EC2 instance as a bake sees it.
type Machine struct {
	ID        string
	State     string // pending, running, shutting-down, terminated, ...
	PrivateIP string
	Tags      map[string]string
}

// Image is an AMI as Ferry sees it.
type Image struct {
	ID          string
	Name        string
	State       string // pending, available, failed, deregistered
	StateReason string
	Created     time.Time
	Tags        map[string]string
	// Snapshots are the EBS snapshots of its block devices.
	Snapshots []string
}

// RunBuilder launches one instance and returns its id.
func (c *Client) RunBuilder(ctx context.Context, s BuilderSpec) (string, error) {
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(s.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType:      ec2types.InstanceType(s.InstanceType),
		SecurityGroupIds:  s.SecurityGroups,
		TagSpecifications: tagSpecs(s.Tags, ec2types.ResourceTypeInstance),
		// IMDSv2 only: the builder runs the user's build hook.
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired},
	}
	if s.KeyName != "" {
		in.KeyName = aws.String(s.KeyName)
	}
	if s.IAMInstanceProfile != "" {
		in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(s.IAMInstanceProfile)}
	}
	out, err := c.ec2.RunInstances(ctx, in)
	if err != nil {
		return "", fmt.Errorf("run builder from %s: %w", s.ImageID, err)
	}
	if len(out.Instances) != 1 {
		return "", fmt.Errorf("run builder from %s: %d instances launched", s.ImageID, len(out.Instances))
	}
	return aws.ToString(out.Instances[0].InstanceId), nil
}

// Machine describes one instance; one EC2 does not know is ErrNotFound.
func (c *Client) Machine(ctx context.Context, id string) (Machine, error) {
	out, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if APIErrorCode(err) == "InvalidInstanceID.NotFound" {
		return Machine{}, notFound("instance", id)
	}
	if err != nil {
		return Machine{}, fmt.Errorf("describe %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			return machine(i), nil
		}
	}
	return Machine{}, notFound("instance", id)
}

// MachinesTagged lists the instances, not terminated, carrying every tag.
func (c *Client) MachinesTagged(ctx context.Context, tags map[string]string) ([]Machine, error) {
	filters := tagFilters(tags)
	filters = append(filters, ec2types.Filter{Name: aws.String("instance-state-name"),
		Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}})
	var out []Machine
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe instances tagged %v: %w", tags, err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				out = append(out, machine(i))
			}
		}
	}
	return out, nil
}

func machine(i ec2types.Instance) Machine {
	m := Machine{ID: aws.ToString(i.InstanceId), PrivateIP: aws.ToString(i.PrivateIpAddress), Tags: ec2Tags(i.Tags)}
	if i.State != nil {
		m.State = string(i.State.Name)
	}
	return m
}

// ConsoleOutput returns an instance's console output, decoded.
func (c *Client) ConsoleOutput(ctx context.Context, id string) ([]byte, error) {
	out, err := c.ec2.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id), Latest: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("console of %s: %w", id, err)
	}
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
	if err != nil {
		return nil, fmt.Errorf("console of %s: %w", id, err)
	}
	return b, nil
}

// CreateImage makes an image of a running instance without rebooting it
// (the bake stops what must not be captured itself) and tags the image
// and its snapshots at creation.
func (c *Client) CreateImage(ctx context.Context, instance, name, description string, tags map[string]string) (string, error) {
	out, err := c.ec2.CreateImage(ctx, &ec2.CreateImageInput{
		InstanceId: aws.String(instance), Name: aws.String(name), Description: aws.String(description),
		NoReboot:          aws.Bool(true),
		TagSpecifications: tagSpecs(tags, ec2types.ResourceTypeImage, ec2types.ResourceTypeSnapshot),
	})
	if err != nil {
		return "", fmt.Errorf("create image %s of %s: %w", name, instance, err)
	}
	return aws.ToString(out.ImageId), nil
}

// Image describes one image of the account; one EC2 does not know (or
// deregistered) is ErrNotFound.
func (c *Client) Image(ctx context.Context, id string) (Image, error) {
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if code := APIErrorCode(err); code == "InvalidAMIID.NotFound" || code == "InvalidAMIID.Unavailable" {
		return Image{}, notFound("image", id)
	}
	if err != nil {
		return Image{}, fmt.Errorf("describe image %s: %w", id, err)
	}
	if len(out.Images) == 0 {
		return Image{}, notFound("image", id)
	}
	return image(out.Images[0]), nil
}

// ImagesTagged lists the account's own images carrying every tag, newest
// first.
func (c *Client) ImagesTagged(ctx context.Context, tags map[string]string) ([]Image, error) {
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: tagFilters(tags)})
	if err != nil {
		return nil, fmt.Errorf("describe images tagged %v: %w", tags, err)
	}
	imgs := make([]Image, 0, len(out.Images))
	for _, i := range out.Images {
		imgs = append(imgs, image(i))
	}
	slices.SortFunc(imgs, func(a, b Image) int { return b.Created.Compare(a.Created) })
	return imgs, nil
}

// ResolveImage finds an image by id (ami-…) or by name; a name several
// images share is refused rather than guessed.
func (c *Client) ResolveImage(ctx context.Context, idOrName string) (Image, error) {
	if strings.HasPrefix(idOrName, "ami-") {
		return c.Image(ctx, idOrName)
	}
	out, err := c.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{idOrName}}},
	})
	if err != nil {
		return Image{}, fmt.Errorf("describe image named %s: %w", idOrName, err)
	}
	switch len(out.Images) {
	case 0:
		return Image{}, notFound("image named", idOrName)
	case 1:
		return image(out.Images[0]), nil
	}
	return Image{}, fmt.Errorf("%d images are named %q: name the one to use by its id", len(out.Images), idOrName)
}

func image(i ec2types.Image) Image {
	img := Image{
		ID: aws.ToString(i.ImageId), Name: aws.ToString(i.Name), State: string(i.State),
		Tags: map[string]string{},
	}
	if i.StateReason != nil {
		img.StateReason = aws.ToString(i.StateReason.Message)
	}
	if t, err := time.Parse(time.RFC3339, aws.ToString(i.CreationDate)); err == nil {
		img.Created = t
	}
	for _, t := range i.Tags {
		img.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	for _, bd := range i.BlockDeviceMappings {
		if bd.Ebs != nil && aws.ToString(bd.Ebs.SnapshotId) != "" {
			img.Snapshots = append(img.Snapshots, aws.ToString(bd.Ebs.SnapshotId))
		}
	}
	return img
}

// DeleteImage deregisters an image and deletes its snapshots, which AWS
// keeps (and bills) otherwise. An image already gone is not an error, and
// neither is a snapshot already gone.
func (c *Client) DeleteImage(ctx context.Context, id string) error {
	img, err := c.Image(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return c.deleteSnapshotsOf(ctx, id)
	}
	if err != nil {
		return err
	}
	if _, err := c.ec2.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil &&
		APIErrorCode(err) != "InvalidAMIID.NotFound" && APIErrorCode(err) != "InvalidAMIID.Unavailable" {
		return fmt.Errorf("deregister %s: %w", id, err)
	}
	for _, snap := range img.Snapshots {
		if err := c.deleteSnapshot(ctx, snap); err != nil {
			return err
		}
	}
	return nil
}

// deleteSnapshotsOf deletes the snapshots CreateImage made for an image no
// longer registered (found by their description, "Created by
// CreateImage(i-…) for ami-…", as AWS writes it).
func (c *Client) deleteSnapshotsOf(ctx context.Context, imageID string) error {
	out, err := c.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"},
		Filters:  []ec2types.Filter{{Name: aws.String("description"), Values: []string{"*for " + imageID + "*"}}},
	})
	if err != nil {
		return fmt.Errorf("snapshots of %s: %w", imageID, err)
	}
	for _, s := range out.Snapshots {
		if err := c.deleteSnapshot(ctx, aws.ToString(s.SnapshotId)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) deleteSnapshot(ctx context.Context, id string) error {
	_, err := c.ec2.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	if err != nil && APIErrorCode(err) != "InvalidSnapshot.NotFound" {
		return fmt.Errorf("delete snapshot %s: %w", id, err)
	}
	return nil
}

// TagResources adds tags to EC2 resources (instances, images, snapshots).
func (c *Client) TagResources(ctx context.Context, ids []string, tags map[string]string) error {
	var ts []ec2types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	if _, err := c.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: ts}); err != nil {
		return fmt.Errorf("tag %v: %w", ids, err)
	}
	return nil
}

func tagSpecs(tags map[string]string, kinds ...ec2types.ResourceType) []ec2types.TagSpecification {
	if len(tags) == 0 {
		return nil
	}
	var ts []ec2types.Tag
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	var out []ec2types.TagSpecification
	for _, kind := range kinds {
		out = append(out, ec2types.TagSpecification{ResourceType: kind, Tags: ts})
	}
	return out
}

func tagFilters(tags map[string]string) []ec2types.Filter {
	var fs []ec2types.Filter
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		fs = append(fs, ec2types.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}})
	}
	return fs
}

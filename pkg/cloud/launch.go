package cloud

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// LaunchTemplateVersion is one version of a launch template.
type LaunchTemplateVersion struct {
	TemplateID   string
	TemplateName string
	Number       int64
	Description  string
	Default      bool
	ImageID      string
	InstanceType string
}

// LaunchTemplateVersion reads the version ref names, resolving "$Latest" and
// "$Default" to the numbered version AWS would launch. A missing template
// or version wraps ErrNotFound.
func (c *Client) LaunchTemplateVersion(ctx context.Context, ref LaunchTemplateRef) (*LaunchTemplateVersion, error) {
	in := &ec2.DescribeLaunchTemplateVersionsInput{}
	if ref.ID != "" {
		in.LaunchTemplateId = aws.String(ref.ID)
	} else {
		in.LaunchTemplateName = aws.String(ref.Name)
	}
	version := ref.Version
	if version == "" {
		version = "$Default"
	}
	in.Versions = []string{version}
	out, err := c.ec2.DescribeLaunchTemplateVersions(ctx, in)
	switch code := APIErrorCode(err); code {
	case "":
	case "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
		"InvalidLaunchTemplateId.VersionNotFound", "InvalidLaunchTemplateId.Malformed":
		return nil, fmt.Errorf("launch template %s version %s: %w (%s)", templateLabel(ref), version, ErrNotFound, code)
	default:
		return nil, fmt.Errorf("describe launch template %s version %s: %w", templateLabel(ref), version, err)
	}
	if len(out.LaunchTemplateVersions) == 0 {
		return nil, fmt.Errorf("launch template %s version %s: %w", templateLabel(ref), version, ErrNotFound)
	}
	v := out.LaunchTemplateVersions[0]
	res := &LaunchTemplateVersion{
		TemplateID:   aws.ToString(v.LaunchTemplateId),
		TemplateName: aws.ToString(v.LaunchTemplateName),
		Number:       aws.ToInt64(v.VersionNumber),
		Description:  aws.ToString(v.VersionDescription),
		Default:      aws.ToBool(v.DefaultVersion),
	}
	if d := v.LaunchTemplateData; d != nil {
		res.ImageID = aws.ToString(d.ImageId)
		res.InstanceType = string(d.InstanceType)
	}
	return res, nil
}

func templateLabel(ref LaunchTemplateRef) string {
	if ref.Name != "" {
		return fmt.Sprintf("%q", ref.Name)
	}
	return ref.ID
}

package cloud

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
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
	// HTTPTokens, HopLimit and MetadataTags are its instance metadata
	// options; empty (zero) when the version leaves EC2's default.
	HTTPTokens   string
	HopLimit     int32
	MetadataTags string
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
	if err != nil {
		// Not every error is AWS's answer: a connection that failed or a
		// context that ended has no error code. A malformed id
		// (InvalidLaunchTemplateId.Malformed) is no missing template: it
		// can never name one, and callers must not take it for one that
		// is gone (or not visible yet) and go on.
		switch code := APIErrorCode(err); code {
		case "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
			"InvalidLaunchTemplateId.VersionNotFound":
			return nil, fmt.Errorf("launch template %s version %s: %w (%s)", templateLabel(ref), version, ErrNotFound, code)
		default:
			return nil, fmt.Errorf("describe launch template %s version %s: %w", templateLabel(ref), version, err)
		}
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
		if m := d.MetadataOptions; m != nil {
			res.HTTPTokens = string(m.HttpTokens)
			res.HopLimit = aws.ToInt32(m.HttpPutResponseHopLimit)
			res.MetadataTags = string(m.InstanceMetadataTags)
		}
	}
	return res, nil
}

func templateLabel(ref LaunchTemplateRef) string {
	if ref.Name != "" {
		return fmt.Sprintf("%q", ref.Name)
	}
	return ref.ID
}

// LaunchOverrides replace fields of the launch source a new one is copied
// from; empty fields are copied unchanged.
type LaunchOverrides struct {
	ImageID            string
	InstanceType       string
	SecurityGroups     []string
	KeyName            string
	IAMInstanceProfile string
	UserData           string // base64-encoded, as the APIs take it
	// Metadata, when set, replaces the instance metadata options' tokens
	// and hop limit (the service stays enabled; instance tags in the
	// metadata are kept as the source had them unless InstanceTags turns
	// them on; launch configurations have no such option).
	Metadata *MetadataOptions
}

// MetadataOptions are the instance metadata service settings Ferry sets on
// the launch sources it makes [instance-metadata-v2-how-it-works].
type MetadataOptions struct {
	// HTTPTokens is "required" (IMDSv2 only) or "optional".
	HTTPTokens string
	// HopLimit is HttpPutResponseHopLimit, 1-64.
	HopLimit int32
	// InstanceTags puts the instance's tags in its metadata
	// (InstanceMetadataTags=enabled, tags/instance/KEY
	// [work-with-tags-in-IMDS]): an image baked for several roles reads
	// its instance's ferry:role there at boot. False leaves what the
	// source had (a new launch template: EC2's default, disabled). Every
	// tag key of the instance must then be letters, digits and + - = . ,
	// _ : @ only, or the launch fails.
	InstanceTags bool
}

// hopLimit is HttpPutResponseHopLimit, absent (EC2's default) when unset.
func (m *MetadataOptions) hopLimit() *int32 {
	if m.HopLimit <= 0 {
		return nil
	}
	return aws.Int32(m.HopLimit)
}

// metadataTags is InstanceMetadataTags for m over what a source had.
func (m *MetadataOptions) metadataTags(src string) string {
	if m != nil && m.InstanceTags {
		return string(ec2types.LaunchTemplateInstanceMetadataTagsStateEnabled)
	}
	return src
}

// CreateLaunchTemplateVersion adds a version to the template of from,
// copied from from's version with overrides applied, described as desc.
// It returns the new version, numbered.
func (c *Client) CreateLaunchTemplateVersion(ctx context.Context, from LaunchTemplateRef, desc string, o LaunchOverrides) (LaunchTemplateRef, error) {
	src, err := c.LaunchTemplateVersion(ctx, from)
	if err != nil {
		return LaunchTemplateRef{}, err
	}
	data := &ec2types.RequestLaunchTemplateData{}
	if o.ImageID != "" {
		data.ImageId = aws.String(o.ImageID)
	}
	if o.InstanceType != "" {
		data.InstanceType = ec2types.InstanceType(o.InstanceType)
	}
	if len(o.SecurityGroups) > 0 {
		data.SecurityGroupIds = o.SecurityGroups
	}
	if o.KeyName != "" {
		data.KeyName = aws.String(o.KeyName)
	}
	if o.IAMInstanceProfile != "" {
		data.IamInstanceProfile = &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(o.IAMInstanceProfile)}
	}
	if o.UserData != "" {
		data.UserData = aws.String(o.UserData)
	}
	if m := o.Metadata; m != nil {
		// Given, MetadataOptions replaces the source's whole block: keep
		// what Ferry does not set.
		data.MetadataOptions = &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
			HttpTokens:              ec2types.LaunchTemplateHttpTokensState(m.HTTPTokens),
			HttpPutResponseHopLimit: aws.Int32(m.HopLimit),
			InstanceMetadataTags:    ec2types.LaunchTemplateInstanceMetadataTagsState(m.metadataTags(src.MetadataTags)),
		}
	}
	out, err := c.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   aws.String(src.TemplateID),
		SourceVersion:      aws.String(versionString(src.Number)),
		VersionDescription: aws.String(desc),
		LaunchTemplateData: data,
	})
	if err != nil {
		return LaunchTemplateRef{}, fmt.Errorf("create launch template version %q: %w", desc, err)
	}
	v := out.LaunchTemplateVersion
	return LaunchTemplateRef{
		ID:      aws.ToString(v.LaunchTemplateId),
		Name:    aws.ToString(v.LaunchTemplateName),
		Version: versionString(aws.ToInt64(v.VersionNumber)),
	}, nil
}

// FindLaunchTemplateVersion returns the version of template whose
// description is desc (a launch source prepared ahead of time).
func (c *Client) FindLaunchTemplateVersion(ctx context.Context, template LaunchTemplateRef, desc string) (LaunchTemplateRef, error) {
	in := &ec2.DescribeLaunchTemplateVersionsInput{}
	if template.ID != "" {
		in.LaunchTemplateId = aws.String(template.ID)
	} else {
		in.LaunchTemplateName = aws.String(template.Name)
	}
	p := ec2.NewDescribeLaunchTemplateVersionsPaginator(c.ec2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return LaunchTemplateRef{}, fmt.Errorf("list versions of launch template %s: %w", templateLabel(template), err)
		}
		for _, v := range page.LaunchTemplateVersions {
			if aws.ToString(v.VersionDescription) == desc {
				return LaunchTemplateRef{ID: aws.ToString(v.LaunchTemplateId), Name: aws.ToString(v.LaunchTemplateName),
					Version: versionString(aws.ToInt64(v.VersionNumber))}, nil
			}
		}
	}
	return LaunchTemplateRef{}, fmt.Errorf("launch template %s version described %q: %w", templateLabel(template), desc, ErrNotFound)
}

// CreateLaunchConfiguration creates name as a copy of the launch
// configuration from, with overrides applied. Launch configurations cannot
// be changed, only replaced.
func (c *Client) CreateLaunchConfiguration(ctx context.Context, from, name string, o LaunchOverrides) error {
	out, err := c.asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{from}})
	if err != nil {
		return fmt.Errorf("describe launch configuration %s: %w", from, err)
	}
	if len(out.LaunchConfigurations) == 0 {
		return notFound("launch configuration", from)
	}
	src := out.LaunchConfigurations[0]
	in := &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String(name),
		ImageId:                 src.ImageId,
		InstanceType:            src.InstanceType,
		SecurityGroups:          src.SecurityGroups,
		KeyName:                 src.KeyName,
		IamInstanceProfile:      src.IamInstanceProfile,
		UserData:                src.UserData,
		BlockDeviceMappings:     src.BlockDeviceMappings,
		MetadataOptions:         src.MetadataOptions,
	}
	if o.ImageID != "" {
		in.ImageId = aws.String(o.ImageID)
	}
	if o.InstanceType != "" {
		in.InstanceType = aws.String(o.InstanceType)
	}
	if len(o.SecurityGroups) > 0 {
		in.SecurityGroups = o.SecurityGroups
	}
	if o.KeyName != "" {
		in.KeyName = aws.String(o.KeyName)
	}
	if o.IAMInstanceProfile != "" {
		in.IamInstanceProfile = aws.String(o.IAMInstanceProfile)
	}
	if o.UserData != "" {
		in.UserData = aws.String(o.UserData)
	}
	if m := o.Metadata; m != nil {
		in.MetadataOptions = &astypes.InstanceMetadataOptions{
			HttpEndpoint:            astypes.InstanceMetadataEndpointStateEnabled,
			HttpTokens:              astypes.InstanceMetadataHttpTokensState(m.HTTPTokens),
			HttpPutResponseHopLimit: aws.Int32(m.HopLimit),
		}
	}
	if _, err := c.asg.CreateLaunchConfiguration(ctx, in); err != nil {
		return fmt.Errorf("create launch configuration %s: %w", name, err)
	}
	return nil
}

// LaunchConfigurationExists reports whether a launch configuration exists.
func (c *Client) LaunchConfigurationExists(ctx context.Context, name string) (bool, error) {
	out, err := c.asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{name}})
	if err != nil {
		return false, fmt.Errorf("describe launch configuration %s: %w", name, err)
	}
	return len(out.LaunchConfigurations) > 0, nil
}

// LaunchConfiguration is what ferry describe shows of a launch
// configuration.
type LaunchConfiguration struct {
	Name         string
	ImageID      string
	InstanceType string
}

// LaunchConfiguration reads a launch configuration; ErrNotFound when
// there is none of that name.
func (c *Client) LaunchConfiguration(ctx context.Context, name string) (*LaunchConfiguration, error) {
	out, err := c.asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{name}})
	if err != nil {
		return nil, fmt.Errorf("describe launch configuration %s: %w", name, err)
	}
	if len(out.LaunchConfigurations) == 0 {
		return nil, notFound("launch configuration", name)
	}
	lc := out.LaunchConfigurations[0]
	return &LaunchConfiguration{Name: name, ImageID: aws.ToString(lc.ImageId), InstanceType: aws.ToString(lc.InstanceType)}, nil
}

package awssim

import (
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AWS: Using_Tags ("You can tag public or shared resources, but the tags
// you assign are available only to your AWS account and not to the other
// accounts sharing the resource"), API_CreateTags, API_DeleteTags,
// API_DescribeImages, API_DescribeTags: the account tags a public image it
// does not own (DebianImage, Debian's account's); DescribeImages and
// DescribeTags show the tags, tag filters find the image, DeleteTags
// removes them, and the tags are the account's state, kept across a
// restart.
func TestConformance_TagsOnPublicImage(t *testing.T) {
	opts := fastOptions()
	opts.StateFile = filepath.Join(t.TempDir(), "account.json")
	srv, err := Start(opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), srv: srv}
	e.connect(3)
	try(e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{DebianImage},
		Tags: []ec2types.Tag{{Key: aws.String("ferry:base-image"), Value: aws.String("bookworm")}, {Key: aws.String("team"), Value: aws.String("web")}}})).must(t)

	tagged := func() map[string]string {
		t.Helper()
		out := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:ferry:base-image"), Values: []string{"bookworm"}}}})).must(t)
		if len(out.Images) != 1 || aws.ToString(out.Images[0].ImageId) != DebianImage || aws.ToString(out.Images[0].OwnerId) != DebianImageOwner {
			t.Fatalf("images tagged ferry:base-image=bookworm: %+v", out.Images)
		}
		tags := map[string]string{}
		for _, tag := range out.Images[0].Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		return tags
	}
	if got := tagged(); len(got) != 2 || got["team"] != "web" {
		t.Errorf("DescribeImages tags: %v", got)
	}
	dt := try(e.ec2.DescribeTags(e.ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{DebianImage}}}})).must(t)
	if len(dt.Tags) != 2 || dt.Tags[0].ResourceType != ec2types.ResourceTypeImage {
		t.Errorf("DescribeTags of %s: %+v", DebianImage, dt.Tags)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2, err := Start(opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv2.Close() })
	e.srv = srv2
	e.connect(3)
	if got := tagged(); len(got) != 2 {
		t.Errorf("tags after a restart: %v", got)
	}
	try(e.ec2.DeleteTags(e.ctx, &ec2.DeleteTagsInput{Resources: []string{DebianImage}, Tags: []ec2types.Tag{{Key: aws.String("team")}}})).must(t)
	if got := tagged(); len(got) != 1 || got["ferry:base-image"] != "bookworm" {
		t.Errorf("tags after DeleteTags team: %v", got)
	}
}

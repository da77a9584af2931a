package awssim

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ferry-deploy/ferry/internal/awssim/imds"
)

// TestConformance_InstanceTagsInMetadata: an Auto Scaling group's
// instance launched from a launch template with InstanceMetadataTags
// enabled reads its tags, those its group propagates at launch included,
// from the metadata service: tags/instance lists the keys and
// tags/instance/KEY is the value; a tag added while it runs shows at
// once. Without the option tags/ is not there. With it on, a tag key that
// cannot be a path segment (a space, a "/", "_index") fails the launch,
// the Auto Scaling group's launch too, and CreateTags on such an
// instance. AWS: work-with-tags-in-IMDS ("View tags for your EC2
// instances using instance metadata"), API_LaunchTemplateInstanceMetadataOptionsRequest,
// API_Tag (Auto Scaling, PropagateAtLaunch).
func TestConformance_InstanceTagsInMetadata(t *testing.T) {
	e := newEnv(t, fastOptions())
	template := func(name string, tags ec2types.LaunchTemplateInstanceMetadataTagsState) {
		t.Helper()
		try(e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(name),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12345678"), InstanceType: ec2types.InstanceTypeT3Micro,
				MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: ec2types.LaunchTemplateHttpTokensStateRequired,
					InstanceMetadataTags: tags}}})).must(t)
	}
	group := func(name, tpl string, tags map[string]bool) {
		t.Helper()
		in := &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(name),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(tpl), Version: aws.String("$Default")},
			MinSize:        aws.Int32(1), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1), AvailabilityZones: []string{"us-east-1a"}}
		for k, propagate := range tags {
			in.Tags = append(in.Tags, astypes.Tag{Key: aws.String(k), Value: aws.String("v-" + strings.ReplaceAll(k, " ", "-")),
				PropagateAtLaunch: aws.Bool(propagate), ResourceId: aws.String(name), ResourceType: aws.String("auto-scaling-group")})
		}
		try(e.as.CreateAutoScalingGroup(e.ctx, in)).must(t)
	}
	instanceOf := func(g string) ec2types.Instance {
		t.Helper()
		var inst ec2types.Instance
		e.eventually("an instance of "+g, func() bool {
			out := try(e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
				{Name: aws.String("tag:aws:autoscaling:groupName"), Values: []string{g}},
				{Name: aws.String("instance-state-name"), Values: []string{"running"}}}})).must(t)
			if len(out.Reservations) == 0 {
				return false
			}
			inst = out.Reservations[0].Instances[0]
			return true
		})
		return inst
	}

	// The metadata service as the simulator's machines reach it, over
	// HTTP; a client is an instance by the address it comes from, as on
	// a machine's bridge.
	h, err := imds.New(imds.Config{Instances: metadataInstances{e.srv.Sim}, Credentials: e.srv.keys, Now: e.srv.now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnContext = h.ConnContext
	ts.Start()
	t.Cleanup(ts.Close)
	from := func(ip string) *sdkimds.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return sdkimds.New(sdkimds.Options{Endpoint: ts.URL, EnableFallback: aws.FalseTernary,
			HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}})
	}
	get := func(c *sdkimds.Client, path string) (string, error) {
		out, err := c.GetMetadata(context.Background(), &sdkimds.GetMetadataInput{Path: path})
		if err != nil {
			return "", err
		}
		defer out.Content.Close()
		b, err := io.ReadAll(out.Content)
		return string(b), err
	}

	template("worker", ec2types.LaunchTemplateInstanceMetadataTagsStateEnabled)
	group("myproject-testing-worker", "worker", map[string]bool{"ferry:role": true, "ferry:env": true, "group-only": false})
	worker := instanceOf("myproject-testing-worker")
	if o := worker.MetadataOptions; o == nil || o.InstanceMetadataTags != ec2types.InstanceMetadataTagsStateEnabled {
		t.Fatalf("the group's instance: MetadataOptions %+v, want InstanceMetadataTags enabled from its template", o)
	}
	c := from(aws.ToString(worker.PrivateIpAddress))
	if got, err := get(c, "tags/instance/ferry:role"); err != nil || got != "v-ferry:role" {
		t.Errorf("tags/instance/ferry:role = %q, %v; want the group's tag, propagated at launch", got, err)
	}
	if got, err := get(c, "tags/instance"); err != nil || !strings.Contains("\n"+got+"\n", "\nferry:env\nferry:role\n") || strings.Contains(got, "group-only") {
		t.Errorf("tags/instance = %q, %v; want the keys, one a line, not the tag the group does not propagate", got, err)
	}
	if got, err := get(c, "tags/instance/aws:autoscaling:groupName"); err != nil || got != "myproject-testing-worker" {
		t.Errorf("tags/instance/aws:autoscaling:groupName = %q, %v", got, err)
	}
	if _, err := get(c, "tags/instance/group-only"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a tag the instance lacks: %v, want 404", err)
	}
	// Updated while it runs [work-with-tags-in-IMDS].
	try(e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(worker.InstanceId)},
		Tags: []ec2types.Tag{{Key: aws.String("ferry:commit"), Value: aws.String("abc123")}}})).must(t)
	if got, err := get(c, "tags/instance/ferry:commit"); err != nil || got != "abc123" {
		t.Errorf("a tag added while the instance runs: %q, %v", got, err)
	}
	_, err = e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(worker.InstanceId)},
		Tags: []ec2types.Tag{{Key: aws.String("Patch Group"), Value: aws.String("a")}}})
	if apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "'Patch Group' is not a valid tag key") {
		t.Errorf("a key with a space on an instance whose tags are in its metadata: %v, want InvalidParameterValue", err)
	}

	// Off (EC2's default): no tags/ at all.
	template("web", "")
	group("myproject-testing-web", "web", map[string]bool{"ferry:role": true})
	web := instanceOf("myproject-testing-web")
	if _, err := get(from(aws.ToString(web.PrivateIpAddress)), "tags/instance"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("tags/instance with InstanceMetadataTags disabled: %v, want 404", err)
	}
	if _, err := e.ec2.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(web.InstanceId)},
		Tags: []ec2types.Tag{{Key: aws.String("Patch Group"), Value: aws.String("a")}}}); err != nil {
		t.Errorf("a key with a space where tags are not in the metadata: %v", err)
	}
	// Turning them on with such a key fails [work-with-tags-in-IMDS].
	_, err = e.ec2.ModifyInstanceMetadataOptions(e.ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: web.InstanceId,
		InstanceMetadataTags: ec2types.InstanceMetadataTagsStateEnabled})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("tags on in the metadata of an instance tagged 'Patch Group': %v, want InvalidParameterValue", err)
	}

	// A launch with a key that cannot be a path there fails.
	for _, key := range []string{"Patch Group", "k8s.io/cluster", "_index", ".."} {
		_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{InstanceMetadataTags: ec2types.InstanceMetadataTagsStateEnabled},
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String("x")}}}}})
		if apiCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "'"+key+"' is not a valid tag key") {
			t.Errorf("RunInstances with tag key %q and tags in the metadata: %v, want InvalidParameterValue", key, err)
		}
	}
	group("bad", "worker", map[string]bool{"Patch Group": true})
	e.eventually("the group's failed launch", func() bool {
		out := try(e.as.DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("bad")})).must(t)
		for _, a := range out.Activities {
			if strings.Contains(aws.ToString(a.StatusMessage)+aws.ToString(a.Description), "'Patch Group' is not a valid tag key") {
				return true
			}
		}
		return false
	})
}

package awssim

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// The divergences a run of the AWS CLI and boto3 found (clients_test.go),
// each checked here through aws-sdk-go-v2 against the page it follows.

// AWS: API_Instance (AmiLaunchIndex: "The AMI launch index, which can be
// used to find this instance in the launch group"): the instances of one
// RunInstances are numbered from 0.
func TestConformance_AmiLaunchIndex(t *testing.T) {
	e := newEnv(t, fastOptions())
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(3), MaxCount: aws.Int32(3),
	})).must(t)
	for i, inst := range out.Instances {
		if got := aws.ToInt32(inst.AmiLaunchIndex); got != int32(i) {
			t.Errorf("RunInstances: instance %d has AmiLaunchIndex %d", i, got)
		}
		if got := aws.ToInt32(e.instance(*inst.InstanceId).AmiLaunchIndex); got != int32(i) {
			t.Errorf("DescribeInstances: instance %d has AmiLaunchIndex %d", i, got)
		}
	}
}

// AWS: API_DescribeInstanceStatus ("By default, only running instances are
// described, unless you specifically indicate to return the status of all
// instances"), API_InstanceStatusSummary (ok | impaired |
// insufficient-data | not-applicable | initializing), and the SDK's
// InstanceStatusOk waiter built on it.
func TestConformance_DescribeInstanceStatus(t *testing.T) {
	opts := fastOptions()
	opts.BootDelay = time.Hour // stays pending
	e := newEnv(t, opts)
	pending := *try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t).Instances[0].InstanceId

	out := try(e.ec2.DescribeInstanceStatus(e.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{pending}})).must(t)
	if len(out.InstanceStatuses) != 0 {
		t.Errorf("a pending instance without IncludeAllInstances: %+v", out.InstanceStatuses)
	}
	out = try(e.ec2.DescribeInstanceStatus(e.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{pending}, IncludeAllInstances: aws.Bool(true)})).must(t)
	if len(out.InstanceStatuses) != 1 || out.InstanceStatuses[0].InstanceState.Name != ec2types.InstanceStateNamePending ||
		out.InstanceStatuses[0].InstanceStatus.Status != ec2types.SummaryStatusNotApplicable {
		t.Errorf("a pending instance with IncludeAllInstances: %+v", out.InstanceStatuses)
	}
	_, err := e.ec2.DescribeInstanceStatus(e.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{"i-0000000000000dead"}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("an unknown id: %v", err)
	}
	_, err = e.ec2.DescribeInstanceStatus(e.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{pending}, MaxResults: aws.Int32(5)})
	if apiCode(err) != "InvalidParameterCombination" {
		t.Errorf("ids with MaxResults: %v", err)
	}

	e2 := newEnv(t, fastOptions())
	id := *try(e2.ec2.RunInstances(e2.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t).Instances[0].InstanceId
	if err := ec2.NewInstanceStatusOkWaiter(e2.ec2, func(o *ec2.InstanceStatusOkWaiterOptions) { o.MinDelay, o.MaxDelay = waitMin, waitMax }).
		Wait(e2.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}}, waitFor); err != nil {
		t.Fatalf("InstanceStatusOk: %v", err)
	}
	st := try(e2.ec2.DescribeInstanceStatus(e2.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}})).must(t).InstanceStatuses[0]
	if st.SystemStatus.Status != ec2types.SummaryStatusOk || len(st.InstanceStatus.Details) != 1 ||
		st.InstanceStatus.Details[0].Name != ec2types.StatusNameReachability || st.InstanceStatus.Details[0].Status != ec2types.StatusTypePassed {
		t.Errorf("a running instance: %+v", st)
	}
}

// AWS: API_DescribeAvailabilityZones: the region's zones, available, with
// their zone ids; an unknown ZoneName is InvalidParameterValue.
func TestConformance_DescribeAvailabilityZones(t *testing.T) {
	e := newEnv(t, fastOptions())
	out := try(e.ec2.DescribeAvailabilityZones(e.ctx, &ec2.DescribeAvailabilityZonesInput{})).must(t)
	var names []string
	for _, z := range out.AvailabilityZones {
		names = append(names, aws.ToString(z.ZoneName))
		if z.State != ec2types.AvailabilityZoneStateAvailable || aws.ToString(z.RegionName) != "us-east-1" {
			t.Errorf("zone %+v", z)
		}
	}
	if len(names) != 3 || names[0] != "us-east-1a" || aws.ToString(out.AvailabilityZones[0].ZoneId) != "use1-az1" {
		t.Errorf("zones %v", names)
	}
	one := try(e.ec2.DescribeAvailabilityZones(e.ctx, &ec2.DescribeAvailabilityZonesInput{
		Filters: []ec2types.Filter{{Name: aws.String("zone-name"), Values: []string{"us-east-1b"}}}})).must(t)
	if len(one.AvailabilityZones) != 1 || aws.ToString(one.AvailabilityZones[0].ZoneName) != "us-east-1b" {
		t.Errorf("zone-name filter: %+v", one.AvailabilityZones)
	}
	if _, err := e.ec2.DescribeAvailabilityZones(e.ctx, &ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{"us-east-1z"}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("an unknown zone: %v", err)
	}
}

// AWS: API_DescribeTags (Auto Scaling): the groups' tags, filtered by
// auto-scaling-group, key, value, propagate-at-launch, paginated by
// MaxRecords/NextToken (what boto3's describe_tags paginator follows).
func TestConformance_AutoScalingDescribeTags(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.lc("lc", "ami-12345678")
	for _, g := range []string{"api", "web"} {
		e.group(g, "lc", 0, 1, 0, func(in *autoscaling.CreateAutoScalingGroupInput) {
			in.Tags = []astypes.Tag{
				{Key: aws.String("env"), Value: aws.String("staging"), PropagateAtLaunch: aws.Bool(true)},
				{Key: aws.String("role"), Value: aws.String(g)},
			}
		})
	}
	var got []string
	p := autoscaling.NewDescribeTagsPaginator(e.as, &autoscaling.DescribeTagsInput{MaxRecords: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		out := try(p.NextPage(e.ctx)).must(t)
		pages++
		for _, td := range out.Tags {
			got = append(got, aws.ToString(td.ResourceId)+":"+aws.ToString(td.Key)+"="+aws.ToString(td.Value))
			if aws.ToString(td.ResourceType) != "auto-scaling-group" {
				t.Errorf("ResourceType %q", aws.ToString(td.ResourceType))
			}
		}
	}
	want := "[api:env=staging api:role=api web:env=staging web:role=web]"
	if pages != 4 || fmt.Sprint(got) != want {
		t.Errorf("paginated over %d pages: %v, want %s", pages, got, want)
	}
	out := try(e.as.DescribeTags(e.ctx, &autoscaling.DescribeTagsInput{Filters: []astypes.Filter{
		{Name: aws.String("auto-scaling-group"), Values: []string{"web"}},
		{Name: aws.String("propagate-at-launch"), Values: []string{"true"}},
	}})).must(t)
	if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "env" || !aws.ToBool(out.Tags[0].PropagateAtLaunch) {
		t.Errorf("filtered: %+v", out.Tags)
	}
	if _, err := e.as.DescribeTags(e.ctx, &autoscaling.DescribeTagsInput{Filters: []astypes.Filter{{Name: aws.String("color"), Values: []string{"x"}}}}); apiCode(err) != "ValidationError" {
		t.Errorf("an unknown filter: %v", err)
	}
}

// AWS: API_CreateTargetGroup ("This operation is idempotent ... If you
// attempt to create multiple target groups with the same settings, each
// call succeeds"; DuplicateTargetGroupName "A target group with the
// specified name already exists").
func TestConformance_CreateTargetGroupDuplicateName(t *testing.T) {
	e := newEnv(t, fastOptions())
	in := &elasticloadbalancingv2.CreateTargetGroupInput{Name: aws.String("web"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(defaultVPCID)}
	first := try(e.elbv2.CreateTargetGroup(e.ctx, in)).must(t)
	again := try(e.elbv2.CreateTargetGroup(e.ctx, in)).must(t)
	if *first.TargetGroups[0].TargetGroupArn != *again.TargetGroups[0].TargetGroupArn {
		t.Errorf("the same settings made another group")
	}
	in.Port = aws.Int32(8080)
	_, err := e.elbv2.CreateTargetGroup(e.ctx, in)
	var dup *elbv2types.DuplicateTargetGroupNameException
	if !errors.As(err, &dup) {
		t.Errorf("the same name on another port: %v", err)
	}
}

// AWS: API_TargetHealth (unused, Target.NotInUse: "Target group is not
// configured to receive traffic from the load balancer"),
// API_CreateLoadBalancer, API_CreateListener, API_DescribeListeners,
// API_DeleteListener, API_DeleteLoadBalancer, API_DeleteTargetGroup
// (ResourceInUse while a listener forwards to it): a target group's
// targets are health checked only while a load balancer's listener
// forwards to it.
func TestConformance_LoadBalancersPutTargetGroupsInUse(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := fastOptions()
	opts.Clock, opts.BootDelay = clock, -1
	e := newEnv(t, opts)
	// checks moves the clock over three health check intervals, a pass
	// each, as many as would make a checked target healthy.
	checks := func() {
		for range 3 {
			clock.Advance(5 * opts.Second)
			e.srv.Step()
		}
	}
	tg := try(e.elbv2.CreateTargetGroup(e.ctx, &elasticloadbalancingv2.CreateTargetGroupInput{
		Name: aws.String("web"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(defaultVPCID),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2),
	})).must(t)
	arn := *tg.TargetGroups[0].TargetGroupArn
	id := e.runOne()
	e.srv.Step()
	if s := e.instance(id).State.Name; s != ec2types.InstanceStateNameRunning {
		t.Fatalf("instance %s", s)
	}
	try(e.elbv2.RegisterTargets(e.ctx, &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})).must(t)
	checks()
	if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumUnused || th.Reason != elbv2types.TargetHealthReasonEnumNotInUse {
		t.Errorf("in no load balancer: %s %s", th.State, th.Reason)
	}

	// An application load balancer needs subnets in two zones.
	_, err := e.elbv2.CreateLoadBalancer(e.ctx, &elasticloadbalancingv2.CreateLoadBalancerInput{Name: aws.String("web"), Subnets: []string{"subnet-0a000000000000000"}})
	if apiCode(err) != "ValidationError" {
		t.Errorf("one subnet: %v", err)
	}
	lbARN := e.serve(arn)
	checks()
	if th := e.targetHealth(arn, id); th.State != elbv2types.TargetHealthStateEnumHealthy {
		t.Errorf("behind a listener: %s %s", th.State, th.Reason)
	}
	d := try(e.elbv2.DescribeTargetGroups(e.ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(lbARN)})).must(t)
	if len(d.TargetGroups) != 1 || len(d.TargetGroups[0].LoadBalancerArns) != 1 || d.TargetGroups[0].LoadBalancerArns[0] != lbARN {
		t.Errorf("DescribeTargetGroups by load balancer: %+v", d.TargetGroups)
	}
	lbs := try(e.elbv2.DescribeLoadBalancers(e.ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{Names: []string{"lb-1"}})).must(t)
	if len(lbs.LoadBalancers) != 1 || lbs.LoadBalancers[0].State.Code != elbv2types.LoadBalancerStateEnumActive ||
		lbs.LoadBalancers[0].Type != elbv2types.LoadBalancerTypeEnumApplication || len(lbs.LoadBalancers[0].AvailabilityZones) != 2 {
		t.Errorf("DescribeLoadBalancers: %+v", lbs.LoadBalancers)
	}
	if _, err := e.elbv2.DeleteTargetGroup(e.ctx, &elasticloadbalancingv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)}); apiCode(err) != "ResourceInUse" {
		t.Errorf("DeleteTargetGroup in use: %v", err)
	}
	ls := try(e.elbv2.DescribeListeners(e.ctx, &elasticloadbalancingv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})).must(t)
	if len(ls.Listeners) != 1 || aws.ToInt32(ls.Listeners[0].Port) != 80 || aws.ToString(ls.Listeners[0].DefaultActions[0].TargetGroupArn) != arn {
		t.Fatalf("DescribeListeners: %+v", ls.Listeners)
	}
	other := *try(e.elbv2.CreateTargetGroup(e.ctx, &elasticloadbalancingv2.CreateTargetGroupInput{
		Name: aws.String("other"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(defaultVPCID),
	})).must(t).TargetGroups[0].TargetGroupArn
	_, err = e.elbv2.CreateListener(e.ctx, &elasticloadbalancingv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lbARN), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String(other)}},
	})
	var dupL *elbv2types.DuplicateListenerException
	if !errors.As(err, &dupL) {
		t.Errorf("a second listener on port 80: %v", err)
	}
	try(e.elbv2.DeleteListener(e.ctx, &elasticloadbalancingv2.DeleteListenerInput{ListenerArn: ls.Listeners[0].ListenerArn})).must(t)
	if th := e.targetHealth(arn, id); th.Reason != elbv2types.TargetHealthReasonEnumNotInUse {
		t.Errorf("after its listener was deleted: %s %s", th.State, th.Reason)
	}
	if _, err := e.elbv2.DeleteListener(e.ctx, &elasticloadbalancingv2.DeleteListenerInput{ListenerArn: ls.Listeners[0].ListenerArn}); apiCode(err) != "ListenerNotFound" {
		t.Errorf("DeleteListener twice: %v", err)
	}
	try(e.elbv2.DeleteLoadBalancer(e.ctx, &elasticloadbalancingv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lbARN)})).must(t)
	if _, err := e.elbv2.DescribeLoadBalancers(e.ctx, &elasticloadbalancingv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}}); apiCode(err) != "LoadBalancerNotFound" {
		t.Errorf("a deleted load balancer: %v", err)
	}
	try(e.elbv2.DeleteTargetGroup(e.ctx, &elasticloadbalancingv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)})).must(t)
}

// AWS: API_RunInstances (InvalidAMIID.NotFound, "The specified AMI doesn't
// exist"), API_DescribeImages ("If you don't specify ... Owners, the
// results include all images for which you have launch permissions,
// regardless of ownership"), API_CreateLaunchConfiguration: an image that
// is neither the account's nor public cannot be launched; the public
// Debian image is found by owner and name as an operator finds it. Nor
// can an instance with a key pair that does not exist.
func TestConformance_UnknownImage(t *testing.T) {
	e := newEnv(t, fastOptions())
	_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0000000000000dead"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2)})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("RunInstances of an unknown image: %v", err)
	}
	if ids := e.instanceIDs(); len(ids) != 0 {
		t.Errorf("instances launched: %v", ids)
	}
	_, err = e.as.CreateLaunchConfiguration(e.ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("lc"), ImageId: aws.String("ami-0000000000000dead"), InstanceType: aws.String("t3.micro")})
	if apiCode(err) != "ValidationError" {
		t.Errorf("CreateLaunchConfiguration of an unknown image: %v", err)
	}
	_, err = e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0000000000000dead"}})
	if apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("DescribeImages of an unknown image: %v", err)
	}

	out := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{DebianImageOwner},
		Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{"debian-12-amd64-*"}}}})).must(t)
	if len(out.Images) != 1 || aws.ToString(out.Images[0].ImageId) != DebianImage || !aws.ToBool(out.Images[0].Public) ||
		aws.ToString(out.Images[0].OwnerId) != DebianImageOwner || out.Images[0].State != ec2types.ImageStateAvailable {
		t.Fatalf("Debian's image: %+v", out.Images)
	}
	if own := try(e.ec2.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})).must(t); len(own.Images) != 0 {
		t.Errorf("the account's own images: %+v", own.Images)
	}
	try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(DebianImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).must(t)

	// AWS: API_RunInstances, errors-overview (InvalidKeyPair.NotFound "The
	// specified key pair name does not exist").
	_, err = e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(DebianImage), KeyName: aws.String("nobody"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if apiCode(err) != "InvalidKeyPair.NotFound" {
		t.Errorf("RunInstances with an unknown key pair: %v", err)
	}
}

// AWS: API_DescribeScalingProcessTypes: the nine processes
// SuspendProcesses takes (as-suspend-resume-processes).
func TestConformance_DescribeScalingProcessTypes(t *testing.T) {
	e := newEnv(t, fastOptions())
	out := try(e.as.DescribeScalingProcessTypes(e.ctx, &autoscaling.DescribeScalingProcessTypesInput{})).must(t)
	var got []string
	for _, p := range out.Processes {
		got = append(got, aws.ToString(p.ProcessName))
	}
	slices.Sort(got)
	want := []string{"AZRebalance", "AddToLoadBalancer", "AlarmNotification", "HealthCheck", "InstanceRefresh",
		"Launch", "ReplaceUnhealthy", "ScheduledActions", "Terminate"}
	if !slices.Equal(got, want) {
		t.Errorf("processes %v, want %v", got, want)
	}
}

// AWS: API_DescribeRegions, API_DeleteTags (EC2: "If you specify a tag key
// with a value, the tag is deleted only if its value matches"),
// API_DescribeInstanceAttribute, API_RevokeSecurityGroupIngress
// (UnknownIpPermissions), API_DescribeLoadBalancerTargetGroups,
// API_DescribeTerminationPolicyTypes, API_AddTags / API_DescribeTags /
// API_RemoveTags (ELBv2), API_ModifyTargetGroup: calls an operator makes
// by hand that the CLI and boto3 sessions found missing.
func TestConformance_OperatorCalls(t *testing.T) {
	e := newEnv(t, fastOptions())
	if r := try(e.ec2.DescribeRegions(e.ctx, &ec2.DescribeRegionsInput{})).must(t); len(r.Regions) != 1 || aws.ToString(r.Regions[0].RegionName) != "us-east-1" {
		t.Errorf("regions %+v", r.Regions)
	}
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(DebianImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String("IyEvYmluL3NoCg=="), TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}}})).must(t)
	id := *out.Instances[0].InstanceId
	try(e.ec2.DeleteTags(e.ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String("a"), Value: aws.String("other")}, {Key: aws.String("b")}}})).must(t)
	if tags := e.instance(id).Tags; len(tags) != 1 || aws.ToString(tags[0].Key) != "a" {
		t.Errorf("after DeleteTags: %+v", tags)
	}
	ud := try(e.ec2.DescribeInstanceAttribute(e.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: ec2types.InstanceAttributeNameUserData})).must(t)
	if aws.ToString(ud.UserData.Value) != "IyEvYmluL3NoCg==" {
		t.Errorf("userData %+v", ud.UserData)
	}
	sg := try(e.ec2.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})).must(t).GroupId
	perm := []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}
	try(e.ec2.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg, IpPermissions: perm})).must(t)
	if r := try(e.ec2.RevokeSecurityGroupIngress(e.ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sg, IpPermissions: perm})).must(t); len(r.UnknownIpPermissions) != 0 {
		t.Errorf("revoking a rule the group has: unknown %+v", r.UnknownIpPermissions)
	}
	if r := try(e.ec2.RevokeSecurityGroupIngress(e.ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sg, IpPermissions: perm})).must(t); len(r.UnknownIpPermissions) != 1 {
		t.Errorf("revoking it again: unknown %+v", r.UnknownIpPermissions)
	}

	tg := e.targetGroup("web", "0")
	e.lc("lc", DebianImage)
	e.group("web", "lc", 0, 1, 0, func(in *autoscaling.CreateAutoScalingGroupInput) { in.TargetGroupARNs = []string{tg} })
	ltg := try(e.as.DescribeLoadBalancerTargetGroups(e.ctx, &autoscaling.DescribeLoadBalancerTargetGroupsInput{AutoScalingGroupName: aws.String("web")})).must(t)
	if len(ltg.LoadBalancerTargetGroups) != 1 || aws.ToString(ltg.LoadBalancerTargetGroups[0].LoadBalancerTargetGroupARN) != tg {
		t.Errorf("the group's target groups: %+v", ltg.LoadBalancerTargetGroups)
	}
	if tp := try(e.as.DescribeTerminationPolicyTypes(e.ctx, &autoscaling.DescribeTerminationPolicyTypesInput{})).must(t); !slices.Contains(tp.TerminationPolicyTypes, "OldestLaunchTemplate") {
		t.Errorf("termination policy types %v", tp.TerminationPolicyTypes)
	}
	try(e.elbv2.AddTags(e.ctx, &elasticloadbalancingv2.AddTagsInput{ResourceArns: []string{tg}, Tags: []elbv2types.Tag{{Key: aws.String("env"), Value: aws.String("qa")}}})).must(t)
	td := try(e.elbv2.DescribeTags(e.ctx, &elasticloadbalancingv2.DescribeTagsInput{ResourceArns: []string{tg}})).must(t)
	if len(td.TagDescriptions) != 1 || len(td.TagDescriptions[0].Tags) != 1 || aws.ToString(td.TagDescriptions[0].Tags[0].Value) != "qa" {
		t.Errorf("target group tags %+v", td.TagDescriptions)
	}
	try(e.elbv2.RemoveTags(e.ctx, &elasticloadbalancingv2.RemoveTagsInput{ResourceArns: []string{tg}, TagKeys: []string{"env"}})).must(t)
	if td := try(e.elbv2.DescribeTags(e.ctx, &elasticloadbalancingv2.DescribeTagsInput{ResourceArns: []string{tg}})).must(t); len(td.TagDescriptions[0].Tags) != 0 {
		t.Errorf("after RemoveTags %+v", td.TagDescriptions)
	}
	m := try(e.elbv2.ModifyTargetGroup(e.ctx, &elasticloadbalancingv2.ModifyTargetGroupInput{TargetGroupArn: aws.String(tg), HealthCheckPath: aws.String("/up"), HealthyThresholdCount: aws.Int32(3)})).must(t)
	if g := m.TargetGroups[0]; aws.ToString(g.HealthCheckPath) != "/up" || aws.ToInt32(g.HealthyThresholdCount) != 3 || aws.ToInt32(g.HealthCheckIntervalSeconds) != 5 {
		t.Errorf("modified target group %+v", g)
	}
	if _, err := e.elbv2.ModifyTargetGroup(e.ctx, &elasticloadbalancingv2.ModifyTargetGroupInput{TargetGroupArn: aws.String(tg), HealthCheckTimeoutSeconds: aws.Int32(10)}); apiCode(err) != "ValidationError" {
		t.Errorf("a timeout longer than the interval: %v", err)
	}
}

// AWS: CommonParameters (DryRun: "If you have the required permissions,
// the error response is DryRunOperation"): a dry run changes nothing.
// API_Instance (SubnetId, VpcId) and API_DescribeInstances (filters
// vpc-id, subnet-id, key-name, tag-value; an unknown filter name is
// InvalidParameterValue, not an empty answer).
func TestConformance_DryRunAndInstanceNetwork(t *testing.T) {
	e := newEnv(t, fastOptions())
	_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(DebianImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), DryRun: aws.Bool(true)})
	if apiCode(err) != "DryRunOperation" {
		t.Errorf("RunInstances DryRun: %v", err)
	}
	if ids := e.instanceIDs(); len(ids) != 0 {
		t.Fatalf("a dry run launched %v", ids)
	}
	out := try(e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(DebianImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		Placement: &ec2types.Placement{AvailabilityZone: aws.String("us-east-1b")}})).must(t)
	id := *out.Instances[0].InstanceId
	if _, err := e.ec2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}, DryRun: aws.Bool(true)}); apiCode(err) != "DryRunOperation" {
		t.Errorf("TerminateInstances DryRun: %v", err)
	}
	inst := e.instance(id)
	if inst.State.Name == ec2types.InstanceStateNameShuttingDown {
		t.Errorf("a dry run terminated the instance")
	}
	if aws.ToString(inst.VpcId) != defaultVPCID || aws.ToString(inst.SubnetId) != "subnet-0a000000000000010" {
		t.Errorf("network of an instance in us-east-1b: %s %s", aws.ToString(inst.VpcId), aws.ToString(inst.SubnetId))
	}
	for name, want := range map[string]int{"vpc-id": 1, "subnet-id": 1} {
		vals := map[string]string{"vpc-id": defaultVPCID, "subnet-id": "subnet-0a000000000000010"}
		if got := e.instanceIDs(ec2types.Filter{Name: aws.String(name), Values: []string{vals[name]}}); len(got) != want {
			t.Errorf("filter %s: %v", name, got)
		}
	}
	if _, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("an unknown filter: %v", err)
	}
}

// AWS: API_CreateAutoScalingGroup (VPCZoneIdentifier: the group's zones are
// its subnets'; an unknown subnet is a ValidationError), API_CreateTargetGroup
// (Name: "only alphanumeric characters or hyphens ... must not begin or
// end with a hyphen"; VpcId "required if the target type is instance").
func TestConformance_SubnetsAndTargetGroupNames(t *testing.T) {
	e := newEnv(t, fastOptions())
	e.lc("lc", DebianImage)
	e.group("web", "lc", 0, 2, 0, func(in *autoscaling.CreateAutoScalingGroupInput) {
		in.AvailabilityZones = nil
		in.VPCZoneIdentifier = aws.String("subnet-0a000000000000010,subnet-0a000000000000020")
	})
	if azs := e.describeGroup("web").AvailabilityZones; !slices.Equal(azs, []string{"us-east-1b", "us-east-1c"}) {
		t.Errorf("zones of the subnets: %v", azs)
	}
	_, err := e.as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("bad"),
		LaunchConfigurationName: aws.String("lc"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), VPCZoneIdentifier: aws.String("subnet-nope")})
	if apiCode(err) != "ValidationError" {
		t.Errorf("an unknown subnet: %v", err)
	}
	for name, in := range map[string]*elasticloadbalancingv2.CreateTargetGroupInput{
		"a bad name":   {Name: aws.String("bad_name"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(defaultVPCID)},
		"no VPC":       {Name: aws.String("novpc"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80)},
		"another VPC":  {Name: aws.String("othervpc"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String("vpc-0123456789abcdef0")},
		"a hyphen end": {Name: aws.String("web-"), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(defaultVPCID)},
	} {
		if _, err := e.elbv2.CreateTargetGroup(e.ctx, in); apiCode(err) != "ValidationError" {
			t.Errorf("CreateTargetGroup with %s: %v", name, err)
		}
	}
}

// AWS: instance-type-names (family, generation and size: nano, micro,
// small, medium, large, xlarge, Nxlarge, metal), API_RunInstances
// (InvalidParameterValue for a type EC2 does not have).
func TestConformance_InstanceTypeNames(t *testing.T) {
	e := newEnv(t, fastOptions())
	for typ, ok := range map[string]bool{"t3.micro": true, "m6i.24xlarge": true, "c7gn.metal": true, "u-6tb1.metal": true, "t3.mirco": false, "t9.huge": false, "large": false} {
		_, err := e.ec2.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(DebianImage), InstanceType: ec2types.InstanceType(typ), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		if ok && err != nil || !ok && apiCode(err) != "InvalidParameterValue" {
			t.Errorf("RunInstances of %s: %v", typ, err)
		}
	}
}

// AWS: API_DescribeLaunchTemplates, API_DescribeLaunchTemplateVersions
// (MaxResults: "This value can be between 1 and 200", where most EC2
// listings take 5 to 1000): the CLI's --page-size 1 and boto3's PageSize
// of 1 page through a template's versions one at a time; 201 is refused.
func TestConformance_LaunchTemplatePageSizes(t *testing.T) {
	e := newEnv(t, fastOptions())
	for _, name := range []string{"api", "web"} {
		try(e.ec2.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(name),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(DebianImage)}})).must(t)
	}
	for range 2 {
		try(e.ec2.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateName: aws.String("web"),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceTypeT3Small}})).must(t)
	}
	var versions []int64
	pages := 0
	vp := ec2.NewDescribeLaunchTemplateVersionsPaginator(e.ec2, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), MaxResults: aws.Int32(1)})
	for vp.HasMorePages() {
		out := try(vp.NextPage(e.ctx)).must(t)
		pages++
		for _, v := range out.LaunchTemplateVersions {
			versions = append(versions, aws.ToInt64(v.VersionNumber))
		}
	}
	if pages != 3 || fmt.Sprint(versions) != "[1 2 3]" {
		t.Errorf("versions a page of 1 at a time: %v over %d pages, want [1 2 3] over 3", versions, pages)
	}
	var names []string
	tp := ec2.NewDescribeLaunchTemplatesPaginator(e.ec2, &ec2.DescribeLaunchTemplatesInput{MaxResults: aws.Int32(1)})
	for tp.HasMorePages() {
		for _, lt := range try(tp.NextPage(e.ctx)).must(t).LaunchTemplates {
			names = append(names, aws.ToString(lt.LaunchTemplateName))
		}
	}
	if fmt.Sprint(names) != "[api web]" {
		t.Errorf("templates a page of 1 at a time: %v", names)
	}
	if _, err := e.ec2.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), MaxResults: aws.Int32(201)}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("DescribeLaunchTemplateVersions MaxResults 201: %v", err)
	}
	if _, err := e.ec2.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{MaxResults: aws.Int32(201)}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("DescribeLaunchTemplates MaxResults 201: %v", err)
	}
	// Other listings keep EC2's usual 5 to 1000.
	if _, err := e.ec2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1)}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("DescribeInstances MaxResults 1: %v", err)
	}
}

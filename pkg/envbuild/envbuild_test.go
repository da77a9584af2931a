package envbuild_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/envbuild"
	"github.com/ferry-deploy/ferry/pkg/provision"
)

const doc = `
[project]
name = "myproject"
[project.git]
url = "file:///srv/git/myproject.git"

[environments.testing]
branch = "testing"
aws.region = "us-east-1"
groups.web = "myproject-testing-web"
groups.worker = "myproject-testing-worker"
ssh.user = "admin"
launch.image_id = "ami-0fe77a1b2c3d4e5f6"
launch.key_name = "myproject"

[environments.testing.create]
ssh_from = ["10.1.0.0/16"]

[environments.testing.create.servers.web]
instance_type = "c6i.xlarge"
count = 2
max = 4
[environments.testing.create.servers.worker]
instance_type = "t3.small"
[environments.testing.create.servers.cache]
instance_type = "t3.medium"
[environments.testing.create.servers.db-primary]
instance_type = "m6i.large"
[environments.testing.create.servers.db-replica]
instance_type = "m6i.large"
`

// recorder stands in for pkg/provision on the fast backend, whose
// instances run no SSH server: it keeps what it was asked to do.
type recorder struct {
	mu      sync.Mutex
	addr    envbuild.Addresses
	servers []provision.Server
	dir     string
}

func (r *recorder) Provision(_ context.Context, s provision.Server) provision.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.servers = append(r.servers, s)
	return provision.Report{Server: s, Log: filepath.Join(r.dir, string(s.Roles[0])+"-"+s.Instance+".log")}
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	srv   *awssim.Server
	sdk   simenv.Clients
	env   *config.Environment
	b     *envbuild.Builder
	rec   *recorder
	out   *bytes.Buffer
	state string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	srv := testutil.StartSim(t, awssim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cfg, err := config.Parse("/etc/ferry/ferry.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	env := cfg.Environments["testing"]
	spec, err := envbuild.Plan(cfg.Project.Name, env)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials(), MaxAttempts: 2, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, srv: srv, sdk: simenv.Connect(srv.URL), env: env, out: &bytes.Buffer{}, state: t.TempDir()}
	// The key pair launch.key_name names exists, as RunInstances needs.
	if _, err := f.sdk.EC2.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("myproject"), KeyType: ec2types.KeyTypeEd25519}); err != nil {
		t.Fatal(err)
	}
	f.rec = &recorder{dir: filepath.Join(f.state, "logs")}
	f.b = &envbuild.Builder{
		Cloud: c, Spec: spec, StateDir: f.state, Progress: f.out, Poll: 5 * time.Millisecond, Timeout: 30 * time.Second,
		NewProvisioner: func(a envbuild.Addresses, deployID string) (envbuild.Provisioner, error) {
			if !strings.HasPrefix(deployID, "create-") {
				t.Errorf("deploy id %q", deployID)
			}
			f.rec.addr = a
			return f.rec, nil
		},
	}
	return f
}

// live lists the instances not terminated.
func (f *fixture) live() []ec2types.Instance {
	f.t.Helper()
	out, err := f.sdk.EC2.DescribeInstances(f.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-state-name"),
		Values: []string{"pending", "running", "shutting-down", "stopping", "stopped"}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	var is []ec2types.Instance
	for _, r := range out.Reservations {
		is = append(is, r.Instances...)
	}
	return is
}

func tagsOf(ts []ec2types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[*t.Key] = *t.Value
	}
	return m
}

// count tallies every kind of resource the account holds.
func (f *fixture) count() map[string]int {
	f.t.Helper()
	n := map[string]int{}
	sgs, err := f.sdk.EC2.DescribeSecurityGroups(f.ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, g := range sgs.SecurityGroups {
		if *g.GroupName != "default" {
			n["security group"]++
		}
	}
	lbs, err := f.sdk.ELB.DescribeLoadBalancers(f.ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	n["load balancer"] = len(lbs.LoadBalancerDescriptions)
	lts, err := f.sdk.EC2.DescribeLaunchTemplates(f.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	n["launch template"] = len(lts.LaunchTemplates)
	gs, err := f.sdk.ASG.DescribeAutoScalingGroups(f.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	n["group"] = len(gs.AutoScalingGroups)
	for _, i := range f.live() {
		if tagsOf(i.Tags)["aws:autoscaling:groupName"] == "" {
			n["server"]++
		}
	}
	return n
}

var whole = map[string]int{"security group": 6, "load balancer": 1, "launch template": 2, "group": 2, "server": 3}

func TestCreateMakesTheSeedsEnvironment(t *testing.T) {
	f := setup(t)
	res, err := f.b.Create(f.ctx)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, f.out)
	}
	t.Logf("progress:\n%s", f.out)
	if got := f.count(); !mapsEqual(got, whole) {
		t.Fatalf("account holds %v, want %v", got, whole)
	}
	if res.CreatedCount() != 14 {
		t.Errorf("created %d resources, want 14: %+v", res.CreatedCount(), res.Resources)
	}

	// Security groups: the seed's names, tagged with their role.
	sgs, _ := f.sdk.EC2.DescribeSecurityGroups(f.ctx, &ec2.DescribeSecurityGroupsInput{})
	sgName := map[string]string{}
	for _, g := range sgs.SecurityGroups {
		sgName[*g.GroupId] = *g.GroupName
		if *g.GroupName == "default" {
			continue
		}
		tags := tagsOf(g.Tags)
		if tags["ferry:env"] != "testing" || tags["ferry:project"] != "myproject" || tags["ferry:role"] == "" {
			t.Errorf("security group %s tags %v", *g.GroupName, tags)
		}
	}
	for _, want := range []string{"myproject-sg", "myproject-web-sg", "myproject-worker-sg", "myproject-cache-sg", "myproject-queue-sg", "myproject-db-sg"} {
		if !slices.Contains(slices.Collect(mapsValues(sgName)), want) {
			t.Errorf("no security group %s", want)
		}
	}
	// Their rules: what each server type's services need, nothing more.
	rules := map[string][]string{}
	for _, g := range sgs.SecurityGroups {
		for _, p := range g.IpPermissions {
			for _, r := range p.IpRanges {
				rules[*g.GroupName] = append(rules[*g.GroupName], fmt.Sprintf("%d<%s", *p.FromPort, *r.CidrIp))
			}
			for _, r := range p.UserIdGroupPairs {
				rules[*g.GroupName] = append(rules[*g.GroupName], fmt.Sprintf("%d<%s", *p.FromPort, sgName[*r.GroupId]))
			}
		}
	}
	for name, want := range map[string]string{
		"myproject-sg":        "22<10.1.0.0/16 22<myproject-sg",
		"myproject-web-sg":    "443<0.0.0.0/0 80<0.0.0.0/0",
		"myproject-db-sg":     "5432<myproject-db-sg 5432<myproject-web-sg 5432<myproject-worker-sg",
		"myproject-cache-sg":  "6379<myproject-web-sg 6379<myproject-worker-sg",
		"myproject-queue-sg":  "5672<myproject-web-sg 5672<myproject-worker-sg",
		"myproject-worker-sg": "",
	} {
		got := rules[name]
		slices.Sort(got)
		if strings.Join(got, " ") != want {
			t.Errorf("%s lets in %v, want %s", name, got, want)
		}
	}

	// The balancer: the seed's listeners and health check, tagged.
	lbs, _ := f.sdk.ELB.DescribeLoadBalancers(f.ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{"myproject-testing"}})
	lb := lbs.LoadBalancerDescriptions[0]
	var ls []string
	for _, l := range lb.ListenerDescriptions {
		ls = append(ls, fmt.Sprintf("%s:%d>%s:%d", *l.Listener.Protocol, l.Listener.LoadBalancerPort, *l.Listener.InstanceProtocol, *l.Listener.InstancePort))
	}
	if strings.Join(ls, " ") != "HTTP:80>HTTP:80 HTTPS:443>HTTPS:443" {
		t.Errorf("listeners %v", ls)
	}
	if *lb.HealthCheck.Target != "HTTPS:443/healthcheck.html" {
		t.Errorf("health check %s", *lb.HealthCheck.Target)
	}
	lbTags, _ := f.sdk.ELB.DescribeTags(f.ctx, &elb.DescribeTagsInput{LoadBalancerNames: []string{"myproject-testing"}})
	if got := len(lbTags.TagDescriptions[0].Tags); got != 3 {
		t.Errorf("balancer has %d tags, want ferry:project, ferry:env, ferry:role", got)
	}
	if res.BalancerDNS == "" || res.BalancerDNS != *lb.DNSName {
		t.Errorf("balancer address %q, want %q", res.BalancerDNS, *lb.DNSName)
	}

	// The long-lived servers: sized, tagged, in their security groups.
	want := map[string]struct {
		typ string
		sgs []string
	}{
		"cache":      {"t3.medium", []string{"myproject-cache-sg", "myproject-queue-sg", "myproject-sg"}},
		"db-primary": {"m6i.large", []string{"myproject-db-sg", "myproject-sg"}},
		"db-replica": {"m6i.large", []string{"myproject-db-sg", "myproject-sg"}},
	}
	for _, i := range f.live() {
		tags := tagsOf(i.Tags)
		if tags["aws:autoscaling:groupName"] != "" {
			continue
		}
		w, ok := want[tags["ferry:role"]]
		if !ok || tags["ferry:env"] != "testing" || tags["ferry:project"] != "myproject" || tags["Name"] != "myproject-testing-"+tags["ferry:role"] {
			t.Errorf("server %s tags %v", *i.InstanceId, tags)
			continue
		}
		var sgs []string
		for _, g := range i.SecurityGroups {
			sgs = append(sgs, sgName[*g.GroupId])
		}
		slices.Sort(sgs)
		if string(i.InstanceType) != w.typ || !slices.Equal(sgs, w.sgs) || *i.ImageId != simenv.ImageID || aws.ToString(i.KeyName) != "myproject" {
			t.Errorf("server %s: %s %v %s %s", tags["ferry:role"], i.InstanceType, sgs, *i.ImageId, aws.ToString(i.KeyName))
		}
		if i.MetadataOptions == nil || i.MetadataOptions.HttpTokens != ec2types.HttpTokensStateRequired || aws.ToInt32(i.MetadataOptions.HttpPutResponseHopLimit) != 1 {
			t.Errorf("server %s does not require IMDSv2 with hop limit 1", tags["ferry:role"])
		}
	}

	// The groups: sized from the config, from their templates, the web
	// group behind the balancer.
	gs, _ := f.sdk.ASG.DescribeAutoScalingGroups(f.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	for _, g := range gs.AutoScalingGroups {
		tags := map[string]string{}
		for _, tg := range g.Tags {
			tags[*tg.Key] = *tg.Value
		}
		switch *g.AutoScalingGroupName {
		case "myproject-testing-web":
			if *g.MinSize != 2 || *g.MaxSize != 4 || *g.DesiredCapacity != 2 || !slices.Equal(g.LoadBalancerNames, []string{"myproject-testing"}) || *g.HealthCheckType != "ELB" {
				t.Errorf("web group %d-%d/%d %v %s", *g.MinSize, *g.MaxSize, *g.DesiredCapacity, g.LoadBalancerNames, *g.HealthCheckType)
			}
			// Longer than the balancer takes at least to pass a new
			// instance (10 checks 30 s apart).
			if grace := aws.ToInt32(g.HealthCheckGracePeriod); grace != 600 {
				t.Errorf("web group's health check grace period %d s, want 600", grace)
			}
			if *g.LaunchTemplate.LaunchTemplateName != "myproject-testing-web" {
				t.Errorf("web group's template %s", *g.LaunchTemplate.LaunchTemplateName)
			}
		case "myproject-testing-worker":
			if *g.MinSize != 1 || *g.MaxSize != 1 || len(g.LoadBalancerNames) != 0 {
				t.Errorf("worker group %d-%d %v", *g.MinSize, *g.MaxSize, g.LoadBalancerNames)
			}
		}
		if tags["ferry:role"] != strings.TrimPrefix(*g.AutoScalingGroupName, "myproject-testing-") || tags["ferry:env"] != "testing" {
			t.Errorf("group %s tags %v", *g.AutoScalingGroupName, tags)
		}
	}
	lt, err := f.sdk.EC2.DescribeLaunchTemplateVersions(f.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("myproject-testing-worker")})
	if err != nil {
		t.Fatal(err)
	}
	if d := lt.LaunchTemplateVersions[0].LaunchTemplateData; d.InstanceType != "t3.small" || *d.ImageId != simenv.ImageID || len(d.SecurityGroupIds) != 2 {
		t.Errorf("worker template: %s %s %v", d.InstanceType, *d.ImageId, d.SecurityGroupIds)
	}
	checkRoleTags(t, f.sdk, gs.AutoScalingGroups)

	// Every long-lived server provisioned once, by its roles, with the
	// others' addresses.
	var roles []string
	for _, s := range f.rec.servers {
		var rs []string
		for _, r := range s.Roles {
			rs = append(rs, string(r))
		}
		roles = append(roles, strings.Join(rs, "+"))
		if s.SSH == "" || s.SSH != s.Address {
			t.Errorf("server %s reached at %q, address %q", s.Instance, s.SSH, s.Address)
		}
	}
	slices.Sort(roles)
	if strings.Join(roles, " ") != "cache+queue db-primary db-replica" {
		t.Errorf("provisioned %v", roles)
	}
	if f.rec.addr.Cache == "" || f.rec.addr.DBPrimary == "" || f.rec.addr.DBReplica == "" {
		t.Errorf("addresses %+v", f.rec.addr)
	}
	for _, s := range res.Servers {
		if s.ID == "" || s.Address == "" || s.Log == "" {
			t.Errorf("summary of %s: %+v", s.Type, s)
		}
	}

	// Run again: nothing new, the same servers.
	before := f.live()
	res, err = f.b.Create(f.ctx)
	if err == nil || !errors.Is(err, envbuild.ErrEarlierEnvironment) {
		t.Fatalf("create of a created environment: %v, want it refused", err)
	}
	if res.CreatedCount() != 0 || len(f.live()) != len(before) {
		t.Errorf("a refused create made %d resources", res.CreatedCount())
	}

	// Destroy: nothing of it is left.
	gone, err := f.b.Destroy(f.ctx)
	if err != nil {
		t.Fatalf("destroy: %v\n%s", err, f.out)
	}
	if got := f.count(); !mapsEqual(got, map[string]int{}) {
		t.Errorf("after destroy the account holds %v", got)
	}
	if len(gone) < 14 {
		t.Errorf("destroy says it removed %d resources", len(gone))
	}
	if _, err := os.Stat(filepath.Join(f.state, "envs", "testing", "create.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal left: %v", err)
	}
	// And it can be made again.
	if _, err := f.b.Create(f.ctx); err != nil {
		t.Fatalf("create after destroy: %v", err)
	}
}

// A create that fails midway (the groups cannot be made) leaves what it
// made; run again it finishes, launching no second server.
func TestCreateResumesAfterAFailure(t *testing.T) {
	f := setup(t)
	f.srv.SetFault(awssim.Fault{Action: "CreateAutoScalingGroup", ErrorRate: 1, ErrorCode: "LimitExceeded"})
	res, err := f.b.Create(f.ctx)
	if err == nil || !strings.Contains(err.Error(), "LimitExceeded") {
		t.Fatalf("create with groups failing: %v", err)
	}
	half := f.count()
	if half["server"] != 3 || half["group"] != 0 || half["launch template"] != 1 {
		t.Fatalf("after the failure the account holds %v", half)
	}
	if len(f.rec.servers) != 0 {
		t.Errorf("provisioned before the environment was whole")
	}
	servers := map[string]bool{}
	for _, i := range f.live() {
		servers[*i.InstanceId] = true
	}
	f.srv.ClearFaults()
	res, err = f.b.Create(f.ctx)
	if err != nil {
		t.Fatalf("create again: %v\n%s", err, f.out)
	}
	if got := f.count(); !mapsEqual(got, whole) {
		t.Fatalf("account holds %v, want %v", got, whole)
	}
	if res.CreatedCount() != 3 { // the worker's template and the two groups
		t.Errorf("the second run made %d resources: %+v", res.CreatedCount(), res.Resources)
	}
	for _, s := range res.Servers {
		if !servers[s.ID] {
			t.Errorf("server %s (%s) is new", s.ID, s.Type)
		}
	}
	if !strings.Contains(f.out.String(), "taking up the create of testing") {
		t.Errorf("progress does not say it resumed:\n%s", f.out)
	}
}

// Instances of an earlier environment of that name (tagged, running)
// refuse a create before it makes anything.
func TestCreateRefusesWhileAnEarlierEnvironmentRuns(t *testing.T) {
	f := setup(t)
	_, err := f.sdk.EC2.RunInstances(f.ctx, &ec2.RunInstancesInput{ImageId: aws.String(simenv.ImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{
			{Key: aws.String("ferry:project"), Value: aws.String("myproject")}, {Key: aws.String("ferry:env"), Value: aws.String("testing")},
			{Key: aws.String("ferry:role"), Value: aws.String("db-primary")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	f.b.Secrets = func(context.Context) ([]string, error) {
		t.Error("a refused create put the secrets in SSM")
		return nil, nil
	}
	_, err = f.b.Create(f.ctx)
	if !errors.Is(err, envbuild.ErrEarlierEnvironment) || !strings.Contains(err.Error(), "ferry env destroy testing") {
		t.Fatalf("create: %v, want a refusal naming the way out", err)
	}
	if got := f.count(); !mapsEqual(got, map[string]int{"server": 1}) {
		t.Errorf("a refused create left %v", got)
	}
	if _, err := os.Stat(filepath.Join(f.state, "envs", "testing", "create.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused create wrote its journal: %v", err)
	}
}

// A security group of a seed's name that another environment owns stops
// the create with an error naming it.
func TestCreateRefusesAnotherEnvironmentsGroup(t *testing.T) {
	f := setup(t)
	if _, err := f.sdk.EC2.CreateSecurityGroup(f.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("myproject-web-sg"), Description: aws.String("by hand")}); err != nil {
		t.Fatal(err)
	}
	_, err := f.b.Create(f.ctx)
	if err == nil || !strings.Contains(err.Error(), "myproject-web-sg") || !strings.Contains(err.Error(), "not environment testing's") {
		t.Fatalf("create: %v", err)
	}
	if got := f.count(); got["server"] != 0 || got["load balancer"] != 0 {
		t.Errorf("made %v", got)
	}
}

func mapsEqual(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func mapsValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// The groups' first commit, as a baked image's instances carry it.
const firstCommit = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c"

// migrations records what Builder.Migrate was asked, failing the first
// fail calls.
type migrations struct {
	mu    sync.Mutex
	calls []envbuild.FirstRelease
	fail  int
	// provisioned is how many servers were provisioned at each call.
	provisioned []int
}

func (m *migrations) hook(f *fixture) func(context.Context, envbuild.FirstRelease) error {
	return func(_ context.Context, r envbuild.FirstRelease) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.calls = append(m.calls, r)
		f.rec.mu.Lock()
		m.provisioned = append(m.provisioned, len(f.rec.servers))
		f.rec.mu.Unlock()
		if len(m.calls) <= m.fail {
			return errors.New("migrate: connection refused")
		}
		return nil
	}
}

// baked makes the groups start from an image of firstCommit, as
// launch.image = "bake" does.
func (f *fixture) baked() {
	for i := range f.b.Spec.Groups {
		f.b.Spec.Groups[i].ImageID = ""
	}
	f.b.GroupImage = func(context.Context) (string, string, error) { return simenv.ImageID, firstCommit, nil }
}

// groupInstances are the running instances of group name, by id.
func (f *fixture) groupInstances(name string) map[string]string {
	ips := map[string]string{}
	for _, i := range f.live() {
		if tagsOf(i.Tags)["aws:autoscaling:groupName"] == name {
			ips[*i.InstanceId] = aws.ToString(i.PrivateIpAddress)
		}
	}
	return ips
}

// A create runs the first commit's migrations once, after the databases
// are provisioned, on an instance of the worker group; a create whose
// migrations failed runs them when taken up again, and only then finishes.
func TestCreateRunsTheFirstCommitsMigrationsOnce(t *testing.T) {
	f := setup(t)
	f.baked()
	m := &migrations{fail: 1}
	f.b.Migrate = m.hook(f)
	_, err := f.b.Create(f.ctx)
	if err == nil || !strings.Contains(err.Error(), "first commit's migrations") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("create with failing migrations: %v", err)
	}
	if _, err := f.b.Create(f.ctx); err != nil {
		t.Fatalf("create again: %v\n%s", err, f.out)
	}
	if len(m.calls) != 2 {
		t.Fatalf("migrations run %d times, want 2 (a failure, then once): %+v", len(m.calls), m.calls)
	}
	workers := f.groupInstances("myproject-testing-worker")
	for i, r := range m.calls {
		if r.Group != "myproject-testing-worker" || r.Type != "worker" || workers[r.Instance] == "" || r.Address != workers[r.Instance] ||
			r.SSH != r.Address || r.Commit != firstCommit || !strings.HasPrefix(r.DeployID, "create-") {
			t.Errorf("migrations %d: %+v, want on a worker instance (%v) for %s", i, r, workers, firstCommit)
		}
		if m.provisioned[i] < 3 {
			t.Errorf("migrations %d ran with %d of the 3 servers provisioned", i, m.provisioned[i])
		}
	}
	if !strings.Contains(f.out.String(), "running 3f2a1b4c5d6e's migrations on ") {
		t.Errorf("progress does not say where the migrations ran:\n%s", f.out)
	}
	// Finished: another create is refused and runs nothing.
	if _, err := f.b.Create(f.ctx); !errors.Is(err, envbuild.ErrEarlierEnvironment) || len(m.calls) != 2 {
		t.Errorf("create of a created environment: %v, %d migrations", err, len(m.calls))
	}
}

// Where the migrations run: without a worker group on the web group's
// instance; with an image whose commit Ferry does not know (image_id),
// nowhere (the first deploy runs them); with --no-provision, not yet.
func TestCreateMigrationsWhere(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(f *fixture)
		wantGroup string
	}{
		{"no worker group", func(f *fixture) {
			f.baked()
			f.b.Spec.Groups = slices.DeleteFunc(f.b.Spec.Groups, func(g envbuild.Group) bool { return g.Type == "worker" })
		}, "myproject-testing-web"},
		{"image of the config's", func(*fixture) {}, ""},
		{"not provisioned", func(f *fixture) { f.baked(); f.b.SkipProvision = true }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			tc.setup(f)
			m := &migrations{}
			f.b.Migrate = m.hook(f)
			if _, err := f.b.Create(f.ctx); err != nil {
				t.Fatalf("create: %v\n%s", err, f.out)
			}
			switch {
			case tc.wantGroup == "" && len(m.calls) != 0:
				t.Errorf("migrations ran: %+v", m.calls)
			case tc.wantGroup != "" && (len(m.calls) != 1 || m.calls[0].Group != tc.wantGroup || f.groupInstances(tc.wantGroup)[m.calls[0].Instance] == ""):
				t.Errorf("migrations %+v, want once on an instance of %s", m.calls, tc.wantGroup)
			}
			if tc.name == "image of the config's" && !strings.Contains(f.out.String(), "its migrations run at the first deploy") {
				t.Errorf("progress does not say the first deploy migrates:\n%s", f.out)
			}
		})
	}
}

// A create taken up after a failure, with a secret changed meanwhile, hands
// the secrets to the groups' running servers (which fetched the old value
// at boot) once the long-lived servers are provisioned again; a hand-over
// that fails is tried again by the next run, even when that run changes
// nothing; a first run, and a run that changes nothing, hand nothing over.
func TestResumedCreateHandsChangedSecretsToRunningServers(t *testing.T) {
	f := setup(t)
	var written []string
	f.b.Secrets = func(context.Context) ([]string, error) { return written, nil }
	var delivered []int // how many provisions the recorder had seen at each hand-over
	var deliverErr error
	f.b.DeliverSecrets = func(context.Context) error {
		f.rec.mu.Lock()
		delivered = append(delivered, len(f.rec.servers))
		f.rec.mu.Unlock()
		return deliverErr
	}

	// The first run puts every secret in SSM before it makes anything,
	// and stops before provisioning.
	written, f.b.SkipProvision = []string{"API_TOKEN", "DB_PASSWORD"}, true
	if _, err := f.b.Create(f.ctx); err != nil {
		t.Fatalf("first run: %v\n%s", err, f.out)
	}
	if len(delivered) != 0 {
		t.Fatalf("the first run handed secrets over %d times, with nothing started before it", len(delivered))
	}

	// API_TOKEN changed: the groups' instances the first run started
	// hold the old value. The hand-over fails: the create does not finish.
	written, f.b.SkipProvision, deliverErr = []string{"API_TOKEN"}, false, errors.New("ssh: connection refused")
	_, err := f.b.Create(f.ctx)
	if err == nil || !strings.Contains(err.Error(), "handing the changed secrets") || !strings.Contains(err.Error(), "create again") {
		t.Fatalf("second run: %v, want the hand-over's failure", err)
	}
	if !slices.Equal(delivered, []int{3}) {
		t.Fatalf("hand-overs after %v provisions, want one, after the three servers' provisioning", delivered)
	}

	// Nothing changes now, but the servers still hold the old value.
	written, deliverErr = nil, nil
	if _, err := f.b.Create(f.ctx); err != nil {
		t.Fatalf("third run: %v\n%s", err, f.out)
	}
	if !slices.Equal(delivered, []int{3, 6}) {
		t.Fatalf("hand-overs after %v provisions, want a second one after the third run's provisioning", delivered)
	}
	if !strings.Contains(f.out.String(), "secrets changed since servers of this create started") {
		t.Errorf("progress does not say why it hands the secrets over:\n%s", f.out)
	}
	j, err := os.ReadFile(filepath.Join(f.state, "envs", "testing", "create.json"))
	if err != nil || strings.Contains(string(j), "secrets_stale") || !strings.Contains(string(j), "finished") {
		t.Errorf("journal after the create finished: %s %v", j, err)
	}
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

const envConfig = `[project]
name = "myproject"
state_dir = %q

[project.git]
url = %q

[environments.testing]
branch = "testing"
protected = %v
aws.region = "us-east-1"
aws.endpoint = %q
groups.web = "myproject-testing-web"
groups.worker = "myproject-testing-worker"
ssh.user = "admin"
launch.image_id = "ami-0fe77a1b2c3d4e5f6"

[environments.testing.policy]
poll_interval = "20ms"

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

// envWorld is a simulator process and a config whose testing environment
// env create builds.
type envWorld struct {
	*project
	sdk   simenv.Clients
	ctx   context.Context
	write func(protected bool)
}

func newEnvWorld(t *testing.T) *envWorld {
	t.Helper()
	bin := ferryBinary(t)
	sim := startSim(t, bin)
	remote := filepath.Join(t.TempDir(), "myproject.git")
	testutil.InitBareRepo(t, remote)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	p := &project{t: t, bin: bin, sim: sim, remote: remote, config: filepath.Join(t.TempDir(), "ferry.toml"), stateDir: t.TempDir()}
	w := &envWorld{project: p, sdk: simenv.Connect(sim.URL), ctx: ctx}
	w.write = func(protected bool) {
		doc := fmt.Sprintf(envConfig, p.stateDir, "file://"+remote, protected, sim.URL)
		if err := os.WriteFile(p.config, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w.write(false)
	return w
}

// holdings tallies what the account holds of each kind.
func (w *envWorld) holdings() map[string]int {
	t := w.t
	t.Helper()
	n := map[string]int{}
	sgs, err := w.sdk.EC2.DescribeSecurityGroups(w.ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range sgs.SecurityGroups {
		if *g.GroupName != "default" {
			n["security group"]++
		}
	}
	lbs, err := w.sdk.ELB.DescribeLoadBalancers(w.ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lbs.LoadBalancerDescriptions) > 0 {
		n["load balancer"] = len(lbs.LoadBalancerDescriptions)
	}
	lts, err := w.sdk.EC2.DescribeLaunchTemplates(w.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lts.LaunchTemplates) > 0 {
		n["launch template"] = len(lts.LaunchTemplates)
	}
	gs, err := w.sdk.ASG.DescribeAutoScalingGroups(w.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.AutoScalingGroups) > 0 {
		n["group"] = len(gs.AutoScalingGroups)
	}
	out, err := w.sdk.EC2.DescribeInstances(w.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-state-name"),
		Values: []string{"pending", "running", "shutting-down", "stopping", "stopped"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			grouped := false
			for _, tg := range i.Tags {
				grouped = grouped || *tg.Key == "aws:autoscaling:groupName"
			}
			if !grouped {
				n["server"]++
			}
		}
	}
	return n
}

func (w *envWorld) fault(path, body string) {
	w.t.Helper()
	resp, err := http.Post(w.sim.URL+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("%s: %s", path, resp.Status)
	}
}

var wholeEnv = map[string]int{"security group": 6, "load balancer": 1, "launch template": 2, "group": 2, "server": 3}

func sameHoldings(a, b map[string]int) bool {
	return fmt.Sprint(a) == fmt.Sprint(b) // fmt sorts map keys
}

// TestEnvCreateAndDestroy runs ferry env create and destroy as processes
// against the simulator as a process: a create that fails midway is
// finished by the next, a second create makes nothing, an environment
// created elsewhere is refused, a protected one is destroyed only when the
// command names it, and destroy leaves nothing.
func TestEnvCreateAndDestroy(t *testing.T) {
	w := newEnvWorld(t)
	ctx := w.ctx

	// Wrong command lines change nothing.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"env", "create", "-c", w.config}, "takes one argument"},
		{[]string{"env", "create", "-c", w.config, "nowhere"}, `no environment "nowhere"`},
		{[]string{"env", "destroy", "-c", w.config, "testing", "--yes-destroy"}, "--yes-destroy-ENV"},
		{[]string{"env", "destroy", "-c", w.config, "testing", "--yes-destroy-staging"}, "does not name"},
	} {
		code, _, stderr := w.ferry(ctx, tc.args...)
		if code != 64 || !strings.Contains(stderr, tc.want) {
			t.Errorf("ferry %s: exit %d, stderr %q; want 64 saying %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	if got := w.holdings(); len(got) != 0 {
		t.Fatalf("wrong command lines made %v", got)
	}

	// The groups cannot be made: create fails after the servers.
	w.fault("/_awssim/faults", `{"action":"CreateAutoScalingGroup","errorRate":1,"errorCode":"LimitExceeded"}`)
	code, stdout, stderr := w.ferry(ctx, "env", "create", "--no-provision", "-c", w.config, "testing")
	if code != 1 || !strings.Contains(stderr, "LimitExceeded") {
		t.Fatalf("create with failing groups: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := w.holdings(); got["server"] != 3 || got["group"] != 0 {
		t.Fatalf("after the failure the account holds %v", got)
	}
	w.fault("/_awssim/faults/clear", "")

	// Run again: it finishes, making only what is missing.
	code, stdout, stderr = w.ferry(ctx, "env", "create", "--no-provision", "-c", w.config, "testing")
	if code != 0 {
		t.Fatalf("create again: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := w.holdings(); !sameHoldings(got, wholeEnv) {
		t.Fatalf("account holds %v, want %v", got, wholeEnv)
	}
	if !strings.Contains(stdout, "environment testing: 3 made, 11 already there") || !strings.Contains(stderr, "taking up the create of testing") {
		t.Errorf("second create's output:\n%s\n%s", stdout, stderr)
	}
	for _, s := range []string{"myproject-testing-cache", "cache+queue", "myproject-testing-db-primary", "myproject-testing-db-replica", "not provisioned"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("the summary does not name %q:\n%s", s, stdout)
		}
	}

	// And again: nothing new.
	code, stdout, stderr = w.ferry(ctx, "env", "create", "--no-provision", "-c", w.config, "testing")
	if code != 0 || !strings.Contains(stdout, "0 made, 14 already there") {
		t.Fatalf("third create: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// A create that does not know these servers (its state elsewhere) is
	// refused, making nothing.
	if err := os.RemoveAll(filepath.Join(w.stateDir, "envs")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = w.ferry(ctx, "env", "create", "--no-provision", "-c", w.config, "testing")
	if code != 1 || !strings.Contains(stderr, "an earlier environment of that name still runs") || !strings.Contains(stderr, "ferry env destroy testing") {
		t.Fatalf("create over running servers: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := w.holdings(); !sameHoldings(got, wholeEnv) {
		t.Fatalf("a refused create changed the account: %v", got)
	}

	// Protected: refused unless named.
	w.write(true)
	code, _, stderr = w.ferry(ctx, "env", "destroy", "-c", w.config, "testing")
	if code != 1 || !strings.Contains(stderr, "--yes-destroy-testing") {
		t.Fatalf("destroy of a protected environment: exit %d\n%s", code, stderr)
	}
	if got := w.holdings(); !sameHoldings(got, wholeEnv) {
		t.Fatalf("a refused destroy changed the account: %v", got)
	}
	code, stdout, stderr = w.ferry(ctx, "env", "destroy", "-c", w.config, "testing", "--yes-destroy-testing")
	if code != 0 {
		t.Fatalf("destroy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := w.holdings(); len(got) != 0 {
		t.Fatalf("after destroy the account holds %v\n%s", got, stderr)
	}
	if !strings.Contains(stderr, "waiting for instances to terminate") {
		t.Errorf("destroy showed no progress while it waited:\n%s", stderr)
	}
	// Again: nothing left to remove.
	code, stdout, _ = w.ferry(ctx, "env", "destroy", "-c", w.config, "testing", "--yes-destroy-testing")
	if code != 0 || !strings.Contains(stdout, "0 removed") {
		t.Errorf("second destroy: exit %d\n%s", code, stdout)
	}
}

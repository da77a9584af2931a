package awssim

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// machineLB creates a Classic ELB with the seed's listeners (HTTP:80 →
// HTTP:80, HTTPS:443 → HTTPS:443) and health check target.
func (e *env) machineLB(name, target string) {
	e.t.Helper()
	try(e.elb.CreateLoadBalancer(e.ctx, &elasticloadbalancing.CreateLoadBalancerInput{
		LoadBalancerName: aws.String(name),
		Listeners: []elbtypes.Listener{
			{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstanceProtocol: aws.String("HTTP"), InstancePort: aws.Int32(80)},
			{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstanceProtocol: aws.String("HTTPS"), InstancePort: aws.Int32(443),
				SSLCertificateId: aws.String("arn:aws:iam::123456789012:server-certificate/simulated")},
		},
		AvailabilityZones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
	})).must(e.t)
	try(e.elb.ConfigureHealthCheck(e.ctx, &elasticloadbalancing.ConfigureHealthCheckInput{
		LoadBalancerName: aws.String(name),
		HealthCheck: &elbtypes.HealthCheck{Target: aws.String(target), Interval: aws.Int32(5), Timeout: aws.Int32(2),
			HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(2)},
	})).must(e.t)
}

// fetch GETs a balancer's URL from the host (its HTTPS listeners present
// the simulator's self-signed certificate).
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true, //nolint:gosec // the simulator's own certificate
	}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Balancers speak to the machines' real servers: a Classic ELB's
// HTTPS:443/healthcheck.html check is a TLS request that accepts the
// instance's self-signed certificate, as ELB does; its HTTP and HTTPS
// listeners forward to ports 80 and 443 (TLS to the instance). Target
// groups check their protocol, port, path and matcher.
// AWS: elb-healthchecks, elb-listener-config, API_CreateTargetGroup.
func TestMachines_Balancers(t *testing.T) {
	opts := machineOptions(t)
	opts.Second = 100 * time.Millisecond
	e := newMachineEnv(t, opts)
	base := e.baseImage()
	userData := "#!/bin/sh\nhostname > /var/www/html/whoami.txt\n"
	inst := e.runMachine(&ec2.RunInstancesInput{ImageId: base.ImageId,
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	id := aws.ToString(inst.InstanceId)
	want := "ip-" + dashes(aws.ToString(inst.PrivateIpAddress)) + "\n"

	e.machineLB("web", "HTTPS:443/healthcheck.html")
	try(e.elb.RegisterInstancesWithLoadBalancer(e.ctx, &elasticloadbalancing.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String("web"), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}})).must(t)
	e.waitFor(id+" InService behind web", time.Minute, func() bool { return e.elbState("web", id) == elbInService })
	httpURL, _ := e.srv.LoadBalancerURL("web")
	httpsURL, ok := e.srv.LoadBalancerListenerURL("web", 443)
	if !ok {
		t.Fatal("no listener for web's HTTPS:443")
	}
	for _, u := range []string{httpURL, httpsURL} {
		if code, body := fetch(t, u+"/whoami.txt"); code != 200 || body != want {
			t.Errorf("GET %s/whoami.txt through the balancer: %d %q, want %q", u, code, body, want)
		}
	}

	// A check of a path nginx does not have fails; a TCP check of a port
	// nothing listens on fails too.
	e.machineLB("missing-path", "HTTP:80/no-such-page.html")
	e.machineLB("closed-port", "TCP:8080")
	for _, lb := range []string{"missing-path", "closed-port"} {
		try(e.elb.RegisterInstancesWithLoadBalancer(e.ctx, &elasticloadbalancing.RegisterInstancesWithLoadBalancerInput{
			LoadBalancerName: aws.String(lb), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}})).must(t)
	}
	e.machineLB("ssh-port", "TCP:22")
	try(e.elb.RegisterInstancesWithLoadBalancer(e.ctx, &elasticloadbalancing.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String("ssh-port"), Instances: []elbtypes.Instance{{InstanceId: aws.String(id)}}})).must(t)
	e.waitFor("TCP:22 InService", time.Minute, func() bool { return e.elbState("ssh-port", id) == elbInService })
	for _, lb := range []string{"missing-path", "closed-port"} {
		e.waitFor(lb+" to fail its checks", time.Minute, func() bool {
			out := try(e.elb.DescribeInstanceHealth(e.ctx, &elasticloadbalancing.DescribeInstanceHealthInput{LoadBalancerName: aws.String(lb)})).must(t)
			return aws.ToString(out.InstanceStates[0].Description) == elbFailedChecks
		})
	}

	// Target groups: HTTPS on 443 with a matcher, and a matcher nginx's
	// answer does not satisfy.
	tg := func(name, proto string, port int32, matcher string) string {
		out := try(e.elbv2.CreateTargetGroup(e.ctx, &elasticloadbalancingv2.CreateTargetGroupInput{
			Name: aws.String(name), Protocol: elbv2types.ProtocolEnum(proto), Port: aws.Int32(port), VpcId: aws.String(defaultVPCID),
			HealthCheckPath: aws.String("/healthcheck.html"), HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
			HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2), Matcher: &elbv2types.Matcher{HttpCode: aws.String(matcher)},
		})).must(t)
		arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
		try(e.elbv2.RegisterTargets(e.ctx, &elasticloadbalancingv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn),
			Targets: []elbv2types.TargetDescription{{Id: aws.String(id)}}})).must(t)
		e.serve(arn)
		return arn
	}
	healthy, redirect := tg("web-https", "HTTPS", 443, "200"), tg("web-wants-301", "HTTP", 80, "301")
	state := func(arn string) elbv2types.TargetHealthStateEnum {
		out := try(e.elbv2.DescribeTargetHealth(e.ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})).must(t)
		return out.TargetHealthDescriptions[0].TargetHealth.State
	}
	e.waitFor("the HTTPS target healthy", time.Minute, func() bool { return state(healthy) == elbv2types.TargetHealthStateEnumHealthy })
	e.waitFor("the 301 target unhealthy", time.Minute, func() bool { return state(redirect) == elbv2types.TargetHealthStateEnumUnhealthy })
	tgURL, _ := e.srv.TargetGroupURL(healthy)
	if code, body := fetch(t, tgURL+"/whoami.txt"); code != 200 || body != want {
		t.Errorf("GET through the HTTPS target group: %d %q, want %q", code, body, want)
	}

	// Without a state file, Close deletes the layers of the images made
	// here: no account will know them again.
	img := try(e.ec2.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: inst.InstanceId, Name: aws.String("gone-at-close")})).must(t)
	layerDir := e.imageLayerDir(aws.ToString(img.ImageId))
	e.waitFor("the image's layer", time.Minute, func() bool {
		_, err := os.Stat(layerDir)
		return err == nil
	})
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(layerDir); !os.IsNotExist(err) {
		t.Errorf("the layer of an image made without a state file outlived Close: %v", err)
	}
}

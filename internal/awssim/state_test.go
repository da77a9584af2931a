package awssim

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// With a state file, the simulated account survives the simulator's
// restart: groups, their instances and balancer registrations are back, the
// instances' apps serve again behind a new balancer listener, and the
// control loop carries on without reusing ids or addresses.
func TestState_SurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "account.json")
	apps := newFakeApps()
	opts := fastOptions()
	opts.App = apps.app
	opts.StateFile = path

	srv, err := Start(opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), srv: srv}
	e.connect(3)
	e.classicLB("web", "HTTP:80/healthcheck.html", 5, 2, 2)
	e.lc("lc-1", DebianImage)
	e.group("web", "lc-1", 1, 3, 2, func(in *autoscaling.CreateAutoScalingGroupInput) { in.LoadBalancerNames = []string{"web"} })
	before := e.waitInService("web", 2)
	for _, id := range before {
		e.eventually("InService in the balancer", func() bool { return e.elbState("web", id) == "InService" })
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !json.Valid(b) {
		t.Fatalf("state file: %v", err)
	}
	if left, _ := filepath.Glob(path + ".tmp*"); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	srv2, err := Start(opts, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv2.Close() })
	e.srv = srv2
	e.connect(3)
	after := e.inService("web")
	if strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("instances before %v, after restart %v", before, after)
	}
	for _, id := range after {
		e.eventually("InService in the balancer after restart", func() bool { return e.elbState("web", id) == "InService" })
	}
	url, ok := srv2.LoadBalancerURL("web")
	if !ok {
		t.Fatal("no balancer listener after restart")
	}
	e.eventually("traffic served after restart", func() bool {
		resp, err := http.Get(url + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && contains(before, strings.Fields(string(body))[0])
	})
	if err := e.setDesired("web", 3); err != nil {
		t.Fatal(err)
	}
	ids := e.waitInService("web", 3)
	ips := map[string]bool{}
	for _, id := range ids {
		ips[*e.instance(id).PrivateIpAddress] = true
	}
	if len(ips) != 3 {
		t.Errorf("addresses reused after restart: %v", ips)
	}
}

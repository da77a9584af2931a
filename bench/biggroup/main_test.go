package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

func TestParseLog(t *testing.T) {
	log := `{"time":"2026-11-30T11:34:06.597Z","level":"INFO","msg":"step","n":6,"name":"replace-batch"}
{"time":"2026-11-30T11:34:07.348Z","level":"INFO","msg":"waiting","for":"x","progress":"healthy 0/4","elapsed":0,"timeout":600000000000}
{"time":"2026-11-30T11:34:08.250Z","level":"INFO","msg":"done waiting","for":"x","progress":"healthy 4/4","elapsed":904000000}
{"time":"2026-11-30T11:34:08.563Z","level":"WARN","msg":"aws-sdk-go-v2: failed to discard remaining HTTP response body, this may affect connection reuse: read tcp: use of closed network connection"}
{"time":"2026-11-30T11:34:08.965Z","level":"INFO","msg":"done waiting","for":"y","progress":"0 left","elapsed":705000000}
not JSON
`
	total, n, fails, err := parseLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if total != 1609*time.Millisecond || n != 2 || fails != 1 {
		t.Fatalf("parseLog = %s, %d waits, %d body-read failures; want 1.609s, 2, 1", total, n, fails)
	}
}

func TestClassify(t *testing.T) {
	changes, describes, looks := classify(map[string]int{
		"autoscaling:DescribeAutoScalingGroups": 10, "ec2:DescribeInstances": 10, "elb:DescribeInstanceHealth": 10,
		"autoscaling:TerminateInstanceInAutoScalingGroup": 4, "autoscaling:UpdateAutoScalingGroup": 3, "ec2:CreateLaunchTemplateVersion": 1,
	})
	if changes != 8 || describes != 30 || looks != 10 {
		t.Fatalf("classify = %d changes, %d describes, %d looks; want 8, 30, 10", changes, describes, looks)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-ferry", "/bin/true", "-sizes", "4, 50,200", "-methods", "serial"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.sizes) != 3 || o.sizes[2] != 200 || len(o.methods) != 1 || o.methods[0] != methodSerial || o.sim != "/bin/true" || o.batch != 20 {
		t.Fatalf("options = %+v", o)
	}
	for _, bad := range [][]string{
		{"-sizes", "4"},                        // no -ferry
		{"-ferry", "x", "-sizes", "0"},         // no instances
		{"-ferry", "x", "-methods", "rolling"}, // unknown method
		{"-ferry", "x", "-batch", "0"},         // no batch
		{"-ferry", "x", "extra"},               // arguments
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// TestSmoke runs the benchmark end to end on a group of two instances,
// both methods, against the ferry binary built from this checkout. It
// checks only what does not depend on timing: both deploys succeed and
// the simulator counted their calls. It never looks at a time or a size.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ferry and runs two deploys")
	}
	for _, tool := range []string{"go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	build := exec.Command("go", "build", "-o", bin, "./cmd/agent")
	build.Dir = filepath.Join("..", "..")
	build.Env = testutil.GoBuildEnv()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/agent: %v\n%s", err, out)
	}
	o, err := parseFlags([]string{"-ferry", bin, "-sizes", "2", "-batch", "1", "-second", "10ms", "-boot-delay", "50ms", "-poll", "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, m := range o.methods {
		r, err := runOne(ctx, o, 2, m)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if r.Outcome != "succeeded" || r.Exit != 0 {
			t.Errorf("%s: outcome %q, exit %d", m, r.Outcome, r.Exit)
		}
		if r.Calls["autoscaling:UpdateAutoScalingGroup"] == 0 || r.Looks == 0 || r.Changes == 0 {
			t.Errorf("%s: calls not counted: %v", m, r.Calls)
		}
	}
}

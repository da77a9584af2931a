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

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%.0f of 1..100 ms = %s, want %s", c.p, got, c.want)
		}
	}
	if got := percentile(ds[:5], 99); got != 100*time.Millisecond {
		t.Errorf("p99 of 5 samples = %s, want the largest", got)
	}
}

func TestMutating(t *testing.T) {
	for action, want := range map[string]bool{
		"ec2:CreateLaunchTemplateVersion": true, "autoscaling:SuspendProcesses": true, "autoscaling:DetachInstances": true,
		"autoscaling:DescribeAutoScalingGroups": false, "ec2:DescribeInstances": false, "ssm:GetParameter": false, "": false,
	} {
		if got := mutating(action); got != want {
			t.Errorf("mutating(%q) = %v, want %v", action, got, want)
		}
	}
}

func TestParseLog(t *testing.T) {
	log := `{"time":"2026-11-30T13:00:00.100Z","level":"INFO","msg":"step","n":1}
{"time":"2026-11-30T13:00:01.000Z","level":"INFO","msg":"webhook accepted; polling now"}
{"time":"2026-11-30T13:00:01.020Z","level":"INFO","msg":"new target","env":"staging","commit":"aaaa"}
not JSON
{"time":"2026-11-30T13:00:01.100Z","level":"INFO","msg":"step","n":1}
{"time":"2026-11-30T13:00:01.200Z","level":"INFO","msg":"step","n":2}
`
	next, seen, step, err := parseLog(strings.NewReader(log), 10, "aaaa")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(10 + len(log)); next != want {
		t.Errorf("next offset %d, want %d", next, want)
	}
	if seen.Format("15:04:05.000") != "13:00:01.020" || step.Format("15:04:05.000") != "13:00:01.100" {
		t.Errorf("seen %s, step %s; want 13:00:01.020 and the first step after it, 13:00:01.100", seen, step)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-ferry", "/bin/true", "-modes", "webhook, poll-1s", "-pushes", "3", "-seed", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.modes) != 2 || o.modes[1] != modePoll1s || o.pushes != 3 || o.sim != "/bin/true" || o.seed != 7 {
		t.Fatalf("options = %+v", o)
	}
	if o.goal(modeWebhook) != time.Second || o.goal(modePoll1s) != 2*time.Second || o.goal(modePollDefault) != 61*time.Second {
		t.Errorf("goals %s %s %s", o.goal(modeWebhook), o.goal(modePoll1s), o.goal(modePollDefault))
	}
	for _, bad := range [][]string{
		{"-modes", "webhook"},                   // no -ferry
		{"-ferry", "x", "-modes", "poll-5s"},    // unknown mode
		{"-ferry", "x", "-pushes", "0"},         // no pushes
		{"-ferry", "x", "-default-pushes", "0"}, // no pushes
		{"-ferry", "x", "extra"},                // arguments
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// TestSmoke runs the benchmark end to end, two pushes with the webhook
// and two polled every second, against the ferry binary built from this
// checkout. It checks only what does not depend on timing: every push
// led to a deploy whose first change the simulator received, and the
// agent's log showed it seeing the commit. It never looks at a time.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ferry and runs four deploys")
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
	o, err := parseFlags([]string{"-ferry", bin, "-modes", "webhook,poll-1s", "-pushes", "2"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, m := range o.modes {
		r, err := runMode(ctx, o, m, 1)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if len(r.Samples) != 2 {
			t.Fatalf("%s: %d samples, want 2", m, len(r.Samples))
		}
		for i, s := range r.Samples {
			if !mutating(s.Action) || s.Call <= 0 || s.Seen <= 0 || s.Step < s.Seen || s.Deploy < s.Call {
				t.Errorf("%s push %d: %+v; want a change after the agent saw the commit and its first step", m, i+1, s)
			}
		}
	}
}

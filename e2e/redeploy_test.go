package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/plan"
)

// TestRedeploy runs ferry deploy --redeploy and ferry redeploy as
// processes: the deployed commit goes again onto new instances (serial),
// and a changed [launch] setting shows in ferry status as drift until a
// redeploy applies it.
func TestRedeploy(t *testing.T) {
	p, first := newProject(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ids := func() []string {
		t.Helper()
		g, err := p.cloud.Group(ctx, group, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.Tags[plan.TagCommit] != first {
			t.Errorf("tag %s = %s, want the same commit %s", plan.TagCommit, g.Tags[plan.TagCommit], first)
		}
		var out []string
		for _, i := range g.Instances {
			out = append(out, i.ID)
		}
		return out
	}
	before := ids()

	code, stdout, stderr := p.ferry(ctx, "plan", "-c", p.config, "staging")
	if code != 0 {
		t.Fatalf("plan of the deployed commit: exit %d, want 0 (nothing to do)\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = p.ferry(ctx, "deploy", "-c", p.config, "staging", "--redeploy", "--yes")
	if code != 0 || !strings.Contains(stdout, "redeploy") || !strings.Contains(stdout, "succeeded") || !strings.Contains(stdout, "(serial)") {
		t.Fatalf("deploy --redeploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	after := ids()
	for _, id := range after {
		if slices.Contains(before, id) {
			t.Errorf("instance %s survived a redeploy (before %v, after %v)", id, before, after)
		}
	}

	// A [launch] setting changes: status says so, the plan alone does not
	// deploy, a redeploy applies it.
	doc, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(string(doc), "ssh.user = \"deploy\"\n", "ssh.user = \"deploy\"\nlaunch.instance_type = \"m5.large\"\n", 1))
	if err := os.WriteFile(p.config, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stdout, _ = p.ferry(ctx, "status", "-c", p.config, "staging")
	if !strings.Contains(stdout, group+`: launch.instance_type is "m5.large"`) || !strings.Contains(stdout, "ferry redeploy staging") {
		t.Errorf("status after a [launch] change shows no drift:\n%s", stdout)
	}
	// So do plan (nothing to deploy, but not as configured) and describe.
	code, stdout, _ = p.ferry(ctx, "plan", "-c", p.config, "staging")
	if code != 0 || !strings.Contains(stdout, "No changes") || !strings.Contains(stdout, `[launch] drift: `+group+`: launch.instance_type is "m5.large"`) ||
		!strings.Contains(stdout, "ferry redeploy staging applies it") {
		t.Errorf("plan after a [launch] change: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = p.ferry(ctx, "describe", "-c", p.config, "staging")
	if code != 0 || !strings.Contains(stdout, `drift  `+group+`: launch.instance_type is "m5.large"`) {
		t.Errorf("describe after a [launch] change: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = p.ferry(ctx, "describe", "-c", p.config, "staging", "--json")
	if code != 0 || !strings.Contains(stdout, `"launch_drift": [`) {
		t.Errorf("describe --json after a [launch] change: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr = p.ferry(ctx, "redeploy", "-c", p.config, "staging", "--yes")
	if code != 0 || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("redeploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, command := range []string{"status", "plan", "describe"} {
		_, stdout, _ = p.ferry(ctx, command, "-c", p.config, "staging")
		if strings.Contains(stdout, "drift") {
			t.Errorf("%s: drift left after the redeploy:\n%s", command, stdout)
		}
	}
	if code, _, stderr := p.ferry(ctx, "redeploy", "-c", p.config, "staging", "--method", "sideways"); code != 64 {
		t.Errorf("redeploy --method sideways: exit %d, want 64\n%s", code, stderr)
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/simenv"
)

// TestPlanExampleStaging runs `ferry plan` on examples/environments/
// staging.toml as shipped, pointed at the simulator and a local remote in
// place of AWS and GitHub, with the groups and balancer it names built in
// the simulated account.
func TestPlanExampleStaging(t *testing.T) {
	p := newProject(t, 1) // a remote and a simulator; its own config is not used
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := simenv.Connect(p.sim.URL)
	if err := simenv.Create(ctx, c, simenv.Spec{
		Project: "myproject", Env: "staging", LaunchTemplate: "myproject-staging-web",
		Groups: []simenv.Group{
			{Name: "myproject-staging-web", Size: 2, ClassicLB: "myproject-staging"},
			{Name: "myproject-staging-worker", Size: 1},
		},
		DeployedCommit: p.first, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(ctx, c, "myproject-staging-web", 2); err != nil {
		t.Fatal(err)
	}
	next := p.push("Fix a typo", map[string]string{"app.py": "2\n"})

	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "environments", "staging.toml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	// The instance key is checked before plan writes anything; the
	// example's lives on the deploy machine.
	key := filepath.Join(t.TempDir(), "instance_key")
	if err := os.WriteFile(key, []byte("not read by plan\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ re, with string }{
		{`(?m)^key_file = "/etc/ferry/instance_key"$`, `key_file = "` + key + `"`},
		{`(?m)^url = .*$`, `url = "file://` + p.remote + `"`},
		{`(?m)^state_dir = .*$`, `state_dir = "` + t.TempDir() + `"`},
		{`(?m)^\[project\.git\.ssh\]\n(.*\n){2}`, ""},
		{`(?m)^region = "us-east-1"$`, `region = "us-east-1"` + "\nendpoint = \"" + p.sim.URL + `"`},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(doc) {
			t.Fatalf("examples/environments/staging.toml no longer matches %s", r.re)
		}
		doc = re.ReplaceAllString(doc, r.with)
	}
	cfg := filepath.Join(t.TempDir(), "staging.toml")
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runFerry(t, "plan", "-c", cfg, "staging")
	if code != exitChanges {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitChanges, stdout, stderr)
	}
	for _, want := range []string{
		"Ferry will deploy staging to " + next[:12],
		"Method: serial",
		"web     myproject-staging-web: desired 2 -> 3 during -> 2 after",
		"worker  myproject-staging-worker: desired 1 -> 2 during -> 1 after",
		"worker-deploy hosts=one instance of myproject-staging-worker",
		"post-deploy on=cache (10.0.2.10)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
}

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// TestBakeKilledOnMachines: `ferry bake` killed with SIGKILL while its
// builder runs the build hook leaves the builder running and the journal
// at build; the next `ferry bake` (the hook fixed) terminates that builder
// first, bakes the commit's image with a builder of its own, and leaves
// no other image of the environment, no builder running, and a journal
// that says baked.
func TestBakeKilledOnMachines(t *testing.T) {
	bin := ferryBinary(t)
	sim := machinetest.Start(t, machinetest.Options{KeyName: "bake", Timeout: 10 * time.Minute, Tools: []string{"tar", "git"}})
	ctx := sim.Ctx
	work := testutil.NewGitRepo(t)
	sha := work.Commit("site", map[string]string{"index.html": "<h1>shop</h1>\n"})
	remote := filepath.Join(t.TempDir(), "shop.git")
	testutil.InitBareRepo(t, remote)
	work.Git("remote", "add", "origin", remote)
	work.Git("push", "-q", "origin", "main:staging")
	state := t.TempDir()
	config := filepath.Join(t.TempDir(), "ferry.toml")
	bakeWith := func(build string) *exec.Cmd {
		doc := fmt.Sprintf(`[project]
name = "shop"
state_dir = %q
[project.git]
url = %q
[environments.staging]
branch = "staging"
aws.region = "us-east-1"
aws.endpoint = %q
groups.web = "shop-staging-web"
load_balancers.classic = ["shop-staging"]
ssh.user = "admin"
ssh.key_file = %q
launch.image = "bake"
launch.base_image = %q
launch.key_name = %q
policy.poll_interval = "200ms"
[environments.staging.hooks.web]
build = %s
`, state, "file://"+remote, sim.Srv.URL, sim.KeyFile, sim.Image, sim.KeyName, build)
		if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		// In the machines' network namespace, where the builders are; the
		// simulator's URL answers there too.
		cmd := sim.Net.Command(ctx, bin, "bake", "-c", config, "staging")
		cmd.Env = append(childEnv(), "HOME="+t.TempDir())
		return cmd
	}
	journal := bake.Store{Dir: state}
	c := sim.Cloud()

	// A build that waits until the agent is gone.
	var out testutil.Buffer
	first := bakeWith(`["echo building", "while true; do sleep 1; done"]`)
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var builder string
	testutil.Eventually(t, 5*time.Minute, "the bake at its build hook", func() (bool, string) {
		rec, err := journal.Load("staging")
		if err != nil || rec == nil {
			return false, fmt.Sprint(rec, err, out.String())
		}
		builder = rec.Builder
		return rec.Phase == bake.PhaseBuild, fmt.Sprintf("%+v\n%s", rec, out.String())
	})
	// Its log has the hook's first line once it runs; then the kill.
	testutil.Eventually(t, time.Minute, "the hook running", func() (bool, string) {
		rec, _ := journal.Load("staging")
		b, _ := os.ReadFile(rec.Log)
		return strings.Contains(string(b), "building"), string(b)
	})
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := first.Wait(); !errors.As(err, &ee) {
		t.Fatalf("ferry bake after SIGKILL: %v", err)
	}
	if m, err := c.Machine(ctx, builder); err != nil || m.State != "running" {
		t.Fatalf("the killed bake's builder %s: %+v %v, want it still running", builder, m, err)
	}
	if rec, err := journal.Load("staging"); err != nil || rec.Finished || rec.Phase != bake.PhaseBuild {
		t.Fatalf("journal after the kill: %+v %v, want it unfinished at build", rec, err)
	}

	// The next bake, the hook fixed.
	start := time.Now()
	second := bakeWith(`["echo built > BUILT"]`)
	got, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("ferry bake after the kill: %v\n%s", err, got)
	}
	t.Logf("the bake after the kill, the killed one's builder removed first, in %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(string(got), "an interrupted bake is cleaned up") {
		t.Errorf("the bake does not say it cleaned up after the killed one:\n%s", got)
	}
	if m, err := c.Machine(ctx, builder); err != nil || (m.State != "shutting-down" && m.State != "terminated") {
		t.Errorf("the killed bake's builder %s: %+v %v, want it terminated", builder, m, err)
	}
	ms, err := c.MachinesTagged(ctx, map[string]string{plan.TagEnv: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.State == "running" || m.State == "pending" {
			t.Errorf("builder %s left %s", m.ID, m.State)
		}
	}
	imgs, err := c.ImagesTagged(ctx, map[string]string{plan.TagEnv: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Tags[plan.TagCommit] != sha {
		t.Errorf("images of the environment: %+v, want the commit's alone", imgs)
	}
	rec, err := journal.Load("staging")
	if err != nil || !rec.Finished || rec.Outcome != bake.OutcomeBaked || !rec.CleanedUp || rec.Builder == builder || rec.Commit != commit.MustParse(sha) {
		t.Errorf("journal after the second bake: %+v %v, want it baked by a builder of its own", rec, err)
	}
}

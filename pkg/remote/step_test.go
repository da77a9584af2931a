package remote_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// TestRunStepFromPlan drives the path the executor takes: resolve the
// commands, plan a hook, run the step.
func TestRunStepFromPlan(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{Hosts: []string{"127.0.0.1", "127.0.0.2"}})
	f := newFixture(t, srv)
	const sha = "716084f7bf3dcdd1a2b3c4d5e6f708192a3b4c5d"
	cmds, err := roles.Resolve(map[string]map[string][]string{
		"worker": {"deploy": {"echo migrate {{.ShortCommit}} in {{.Env}}", "echo collectstatic"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := roles.NewVars("staging", commit.MustParse(sha))
	if err != nil {
		t.Fatal(err)
	}
	workers := []roles.Instance{
		{ID: "i-w2", Role: roles.Worker, Addr: srv.Hosts[1], Commit: sha},
		{ID: "i-w1", Role: roles.Worker, Addr: srv.Hosts[0]},
	}
	steps, err := roles.PlanHook(roles.Deploy, cmds, workers, v)
	if err != nil || len(steps) != 1 {
		t.Fatalf("PlanHook = %+v, %v", steps, err)
	}
	results := f.runner(t).RunStep(context.Background(), steps[0], 0, nil)
	if err := remote.Failed(results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Host.Instance != "i-w2" {
		t.Fatalf("results %+v, want the deploy step on i-w2 only", results)
	}
	log := f.serverLog(t, results[0].Host)
	for _, want := range []string{"=== worker deploy 1/2 as", "out| migrate 716084f7bf3d in staging", "=== worker deploy 2/2 as", "out| collectstatic"} {
		if !strings.Contains(log, want) {
			t.Errorf("worker log lacks %q:\n%s", want, log)
		}
	}
	if !strings.Contains(f.log.String(), "i-w2") {
		t.Errorf("agent log does not say which worker runs the step:\n%s", f.log)
	}
}

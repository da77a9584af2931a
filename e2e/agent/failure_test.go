package agent

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// brokenImage is an image whose instances never pass a health check (the
// simulator is told so through POST /_awssim/never-healthy).
const brokenImage = "ami-0badc0ffee0000000"

// A commit whose instances never become healthy rolls back: the note reads
// rolled-back, the environment runs the previous commit again, and the
// agent does not try the commit again, not even after a restart, until
// a new commit arrives. The config launches from an image the simulator
// fails every health check of, which is what a release that cannot boot
// looks like to the balancer.
func TestBrokenCommitRollsBackOnce(t *testing.T) {
	w := newWorld(t, staging())
	w.admin("/_awssim/never-healthy", `{"image":"`+brokenImage+`"}`)
	state := stateDir(t)
	config := w.writeConfig(t.TempDir()+"/ferry.toml", settings{stateDir: state, imageID: brokenImage})
	a := w.startAgent("ferry run", config)
	a.waitState(deployTimeout, "staging", w.first, "idle")

	bad := w.push("Break the health check", map[string]string{"app.py": "raise SystemExit(1)\n"}, "main:staging")
	got := w.waitOutcome(deployTimeout, bad, "staging", "rolled-back")
	if want := []string{"serial started", "serial rolled-back"}; !slices.Equal(got, want) {
		t.Errorf("staging outcomes on the broken commit: %q, want %q", got, want)
	}
	testutil.Eventually(t, deployTimeout, "the previous commit to be restored", func() (bool, string) { return w.settled(staging(), w.first) })
	a.waitState(deployTimeout, "staging", bad, "blocked")
	if !strings.Contains(a.metrics(), `ferry_deploys_total{env="staging",method="serial",outcome="rolled-back"} 1`) {
		t.Errorf("/metrics does not count the rollback:\n%s", a.metrics())
	}

	// ferry status tells a person what happened and what to do.
	out, err := exec.Command(ferryBinary(t), "status", "-c", config, "staging").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "ferry retry staging") {
		t.Errorf("ferry status with a blocked commit: %v (want exit status 1 and a hint to retry)\n%s", err, out)
	}

	// A restarted agent remembers the commit is blocked.
	a.signal(syscall.SIGTERM)
	if code := a.exitCode(time.Minute); code != 0 {
		t.Fatalf("ferry run exited %d after SIGTERM, want 0", code)
	}
	a = w.startAgent("ferry run (restarted)", config)
	a.waitState(deployTimeout, "staging", bad, "blocked")
	a.waitPolled()
	if got := w.outcomes(bad, "staging"); len(got) != 2 {
		t.Errorf("the broken commit was tried again: %q", got)
	}

	// ferry retry has the agent try it once more.
	ferryCLI(t, "retry", "-c", config, "staging")
	testutil.Eventually(t, deployTimeout, "the retried commit to roll back again", func() (bool, string) {
		got := w.outcomes(bad, "staging")
		return len(got) == 4 && got[3] == "serial rolled-back", fmt.Sprint(got)
	})
	a.waitState(deployTimeout, "staging", bad, "blocked")
}

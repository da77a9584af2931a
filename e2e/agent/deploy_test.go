package agent

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// deployTimeout bounds one deploy in these tests: the simulator runs an
// AWS second in 10 ms, so a deploy takes seconds; the margin is for -race
// on a small CI machine.
const deployTimeout = 2 * time.Minute

// A push to the staging branch deploys staging (serially: the schema did
// not change), and the commit's note says it succeeded.
func TestPushToStagingDeploys(t *testing.T) {
	w := newWorld(t, staging())
	config := w.writeConfig(t.TempDir()+"/ferry.toml", settings{stateDir: stateDir(t)})
	a := w.startAgent("ferry run", config)
	a.waitState(deployTimeout, "staging", w.first, "idle")

	c := w.push("Speed up the cart", map[string]string{"app.py": "print('shop 2')\n"}, "main:staging")
	got := w.waitOutcome(deployTimeout, c, "staging", "succeeded")
	if want := []string{"serial started", "serial succeeded"}; !slices.Equal(got, want) {
		t.Errorf("staging outcomes on %.12s: %q, want %q", c, got, want)
	}
	testutil.Eventually(t, deployTimeout, "staging to run the pushed commit", func() (bool, string) { return w.settled(staging(), c) })
	a.waitState(deployTimeout, "staging", c, "idle")

	// ferry pause holds the environment; ferry resume, another process,
	// lets the running agent deploy it. (That it acts at once rather than
	// at its recheck is shown in cmd/agent with an hour-long recheck; here
	// the bound is generous, for a loaded CI machine.)
	ferryCLI(t, "pause", "-c", config, "staging", "--reason", "load test")
	paused := w.push("Tune the cache", map[string]string{"app.py": "print('shop 3')\n"}, "main:staging")
	a.waitState(deployTimeout, "staging", paused, "paused")
	ferryCLI(t, "resume", "-c", config, "staging")
	w.waitOutcome(deployTimeout, paused, "staging", "succeeded")
}

// ferryCLI runs one ferry command to completion and fails the test unless
// it exits 0.
func ferryCLI(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(ferryBinary(t), args...)
	cmd.Env = childEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ferry %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// A release tag deploys production. Tags that are not semver releases do
// not, whether or not they match the environment's pattern (v*), and
// neither do pushes to main.
func TestReleaseTagDeploysProduction(t *testing.T) {
	w := newWorld(t, staging(), production())
	a := w.startAgent("ferry run", w.writeConfig(t.TempDir()+"/ferry.toml", settings{stateDir: stateDir(t)}))
	a.waitState(deployTimeout, "production", "", "idle")

	candidate := w.push("Try the new checkout", map[string]string{"app.py": "print('shop rc')\n"}, "main")
	w.tag("release-candidate", candidate)
	w.tag("v-next", candidate)
	a.waitPolled()
	if state, target, detail := a.envState("production"); state != "idle" || target != "" {
		t.Errorf("production after non-release tags: %s at %.12s (%s); want idle with no target", state, target, detail)
	}
	if got := w.outcomes(candidate, "production"); len(got) > 0 {
		t.Errorf("production deployed %.12s, tagged only release-candidate and v-next: %q", candidate, got)
	}

	release := w.push("Release 1.0.0", map[string]string{"app.py": "print('shop 1.0.0')\n"}, "main")
	w.tag("v1.0.0", release)
	got := w.waitOutcome(deployTimeout, release, "production", "succeeded")
	if want := []string{"serial started", "serial succeeded"}; !slices.Equal(got, want) {
		t.Errorf("production outcomes on v1.0.0: %q, want %q", got, want)
	}
	testutil.Eventually(t, deployTimeout, "production to run v1.0.0", func() (bool, string) { return w.settled(production(), release) })
	if got := deployedCommit(w.group(staging().webGroup())); got != w.first {
		t.Errorf("staging runs %.12s after a release tag; want %.12s (its branch did not move)", got, w.first)
	}
}

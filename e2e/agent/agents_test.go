package agent

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Two agents on the same config (each with its own state dir, as on two
// bastion hosts) deploy every commit exactly once between them: one
// started and one succeeded record per commit, and their deploy counters
// add up to the number of commits.
func TestTwoAgentsDeployEachCommitOnce(t *testing.T) {
	w := newWorld(t, staging())
	agents := []*agent{
		w.startAgent("ferry run (1)", w.writeConfig(t.TempDir()+"/ferry.toml", settings{stateDir: stateDir(t)})),
		w.startAgent("ferry run (2)", w.writeConfig(t.TempDir()+"/ferry.toml", settings{stateDir: stateDir(t)})),
	}
	for _, a := range agents {
		a.waitState(deployTimeout, "staging", w.first, "idle")
	}

	var commits []string
	for i := range 3 {
		c := w.push(fmt.Sprintf("Change %d", i+1), map[string]string{"app.py": fmt.Sprintf("print('shop %d')\n", i+2)}, "main:staging")
		w.waitOutcome(deployTimeout, c, "staging", "succeeded")
		commits = append(commits, c)
	}
	for _, a := range agents {
		a.waitPolled()
	}
	for _, c := range append([]string{w.first}, commits...) {
		got := w.outcomes(c, "staging")
		if c == w.first {
			if len(got) > 0 {
				t.Errorf("the commit staging already ran was deployed: %q", got)
			}
			continue
		}
		if len(got) != 2 || got[0] != "serial started" || got[1] != "serial succeeded" {
			t.Errorf("staging outcomes on %.12s: %q, want one started and one succeeded", c, got)
		}
	}
	// The lock was what kept them apart: each saw the other's lease at
	// least once (both poll every 100 ms, a deploy takes seconds).
	contended := 0
	for _, a := range agents {
		for _, l := range a.out.logLines() {
			if l.str("msg") == "environment" && l.str("state") == "waiting" && strings.HasPrefix(l.str("detail"), "lock for staging held by") {
				contended++
			}
		}
	}
	if contended == 0 {
		t.Errorf("neither agent ever found the other holding the lock: the test did not exercise it")
	}
	succeeded := regexp.MustCompile(`(?m)^ferry_deploys_total\{env="staging",method="serial",outcome="succeeded"\} (\d+)$`)
	total := 0
	for _, a := range agents {
		if m := succeeded.FindStringSubmatch(a.metrics()); m != nil {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	if total != len(commits) {
		t.Errorf("the agents counted %d successful deploys between them, want %d", total, len(commits))
	}
}

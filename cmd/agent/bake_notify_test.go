package main

import (
	"os"
	"strings"
	"testing"
)

// TestBakeAndPrepareFailuresNotified: ferry bake and ferry prepare whose
// bake fails (the builder never shows SSH host keys: the fast backend runs
// no sshd) tell the [[notify]] targets bake-failed, with the commit and the
// phase, before they exit 1; the agent is not needed for it.
func TestBakeAndPrepareFailuresNotified(t *testing.T) {
	for _, command := range []string{"bake", "prepare"} {
		t.Run(command, func(t *testing.T) {
			p, events := bakeAheadProject(t, "300ms")
			code, stdout, stderr := runFerry(t, command, "-c", p.config, "staging", "--commit", p.first)
			if code != exitFailure || stdout != "" || !strings.Contains(stderr, "bake-failed") {
				t.Fatalf("%s: exit %d, want %d and the bake's failure\n%s\n%s", command, code, exitFailure, stdout, stderr)
			}
			data, err := os.ReadFile(events)
			if err != nil {
				t.Fatalf("no notification: %v", err)
			}
			if n := strings.Count(string(data), `"event":"bake-failed"`); n != 1 || !strings.Contains(string(data), p.first) ||
				!strings.Contains(string(data), "boot") || !strings.Contains(string(data), `"environment":"staging"`) {
				t.Errorf("notified:\n%s\nwant one bake-failed event of %s naming the phase", data, p.first)
			}
		})
	}
}

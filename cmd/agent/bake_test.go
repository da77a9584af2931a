package main

import (
	"strings"
	"testing"
)

// TestBakeNeedsBakeMode: ferry bake of an environment that does not bake
// images is a mistake in the command line, said as such, with the keys to
// set; nothing is launched.
func TestBakeNeedsBakeMode(t *testing.T) {
	p := newProject(t, 1)
	before := groupState(t, p.sim.URL, "shop-staging-web")
	code, stdout, stderr := runFerry(t, "bake", "-c", p.config, "staging")
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, `launch.image = "bake"`) {
		t.Fatalf("bake: exit %d, want %d and the setting named\n%s\n%s", code, exitUsage, stdout, stderr)
	}
	if got := groupState(t, p.sim.URL, "shop-staging-web"); got != before {
		t.Errorf("a refused bake changed the group:\n got %s\nwant %s", got, before)
	}
}

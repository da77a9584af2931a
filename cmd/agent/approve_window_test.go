package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestApprovedDeployWaitsForItsWindow: approval lets a deploy start
// within the deploy windows, not at once: approved while a deny window is
// open, it waits for the window (the state says so) and the group is not
// touched.
func TestApprovedDeployWaitsForItsWindow(t *testing.T) {
	p := newProject(t, 1)
	doc, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(doc), "[environments.staging.policy]\n", "[environments.staging.policy]\napprove = [\"full\"]\n", 1)
	s += `
[[environments.staging.windows]]
cron = "* * * * *"
duration = "2m"
time_zone = "UTC"
mode = "deny"
`
	if err := os.WriteFile(p.config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	before := groupState(t, p.sim.URL, "shop-staging-web")
	a := startAgent(t, p, 50*time.Millisecond)
	full := p.push("Add the orders table", map[string]string{".ferry/schema-version": "2\n"})
	p.waitState(a, "awaiting-approval", full)
	code, stdout, stderr := runFerry(t, "approve", "-c", p.config, "staging", full[:12])
	if code != exitOK || !strings.Contains(stdout, "within the deploy windows") {
		t.Fatalf("approve: exit %d\n%s\n%s", code, stdout, stderr)
	}
	p.waitState(a, "waiting", full)
	if st := p.envState(a); !strings.Contains(st.Detail, "window") {
		t.Errorf("the approved deploy waits, but the state says %q, not the window", st.Detail)
	}
	p.waitRechecks(a, 3) // looked at again, approved and still in the window
	if st := p.envState(a); st.State != "waiting" {
		t.Errorf("state %+v; want still waiting for the window", st)
	}
	if got := groupState(t, p.sim.URL, "shop-staging-web"); got != before {
		t.Errorf("the group changed while the deny window was open:\n got %s\nwant %s", got, before)
	}
}

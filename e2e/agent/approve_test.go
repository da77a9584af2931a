package agent

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/status"
)

// ferryRun runs one ferry command to completion and returns its exit code
// and output.
func ferryRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(ferryBinary(t), args...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	default:
		t.Fatalf("ferry %s: %v\n%s", strings.Join(args, " "), err, out)
		return 0, ""
	}
}

// With policy.approve = ["full"], a full deploy waits for ferry approve:
// the agent records it awaiting (note, notification, ferry status), a newer
// commit supersedes it, approve lets the agent deploy it (who approved is
// in the note), reject blocks it. A serial deploy asks nobody.
func TestFullDeployAwaitsApproval(t *testing.T) {
	w := newWorld(t, staging())
	dir := t.TempDir()
	config := w.writeConfig(filepath.Join(dir, "ferry.toml"), settings{stateDir: stateDir(t), approve: []string{"full"}})
	events := filepath.Join(dir, "events.jsonl")
	f, err := os.OpenFile(config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(`
[[notify]]
kind = "exec"
command = ["sh", "-c", "cat >> \"$0\"", "` + events + `"]
events = ["awaiting-approval", "succeeded"]
`)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	a := w.startAgent("ferry run", config)
	a.waitState(deployTimeout, "staging", w.first, "idle")

	// A schema bump: full, so it waits.
	first := w.push("Add the orders table", map[string]string{".ferry/schema-version": "2\n"}, "main:staging")
	a.waitState(deployTimeout, "staging", first, "awaiting-approval")
	w.waitOutcome(deployTimeout, first, "staging", status.AwaitingApproval)
	code, out := ferryRun(t, "status", "-c", config, "staging")
	if !strings.Contains(out, "awaiting approval") || !strings.Contains(out, "full deploy of staging to "+first[:12]) {
		t.Errorf("ferry status (exit %d) does not show the deploy awaiting approval:\n%s", code, out)
	}
	if g := deployedCommit(w.group(staging().webGroup())); g != w.first {
		t.Fatalf("deployed %s while awaiting approval", g)
	}
	// A commit that is not the one awaiting is refused.
	if code, out := ferryRun(t, "approve", "-c", config, "staging", w.first[:12]); code != 1 || !strings.Contains(out, "not awaiting approval") {
		t.Errorf("approve of another commit: exit %d\n%s", code, out)
	}

	// A newer commit supersedes it.
	second := w.push("Add the invoices table", map[string]string{".ferry/schema-version": "3\n"}, "main:staging")
	a.waitState(deployTimeout, "staging", second, "awaiting-approval")
	w.waitOutcome(deployTimeout, first, "staging", status.Superseded)
	if code, out := ferryRun(t, "approve", "-c", config, "staging", first[:12]); code != 1 {
		t.Errorf("approve of the superseded commit: exit %d\n%s", code, out)
	}

	// Approved: deployed, and the note says by whom.
	if code, out := ferryRun(t, "approve", "-c", config, "staging", second[:12]); code != 0 || !strings.Contains(out, "approved by") {
		t.Fatalf("approve: exit %d\n%s", code, out)
	}
	got := w.waitOutcome(deployTimeout, second, "staging", status.Succeeded)
	if want := []string{"full awaiting-approval", "full approved", "full started", "full succeeded"}; !slices.Equal(got, want) {
		t.Errorf("outcomes on %.12s: %q, want %q", second, got, want)
	}
	for _, r := range w.records(second) {
		if r.Outcome == status.Approved && !strings.Contains(r.By, "@") {
			t.Errorf("the approval's note names nobody: %+v", r)
		}
	}
	a.waitState(deployTimeout, "staging", second, "idle")

	// A serial deploy is not asked about.
	serial := w.push("Speed up the cart", map[string]string{"app.py": "print('shop 2')\n"}, "main:staging")
	if got := w.waitOutcome(deployTimeout, serial, "staging", status.Succeeded); !slices.Equal(got, []string{"serial started", "serial succeeded"}) {
		t.Errorf("serial outcomes: %q", got)
	}

	// Rejected: blocked, never deployed.
	third := w.push("Drop the legacy table", map[string]string{".ferry/schema-version": "4\n"}, "main:staging")
	a.waitState(deployTimeout, "staging", third, "awaiting-approval")
	if code, out := ferryRun(t, "reject", "-c", config, "staging", third, "--reason", "not during the sale"); code != 0 {
		t.Fatalf("reject: exit %d\n%s", code, out)
	}
	a.waitState(deployTimeout, "staging", third, "blocked")
	w.waitOutcome(deployTimeout, third, "staging", status.Rejected)
	if g := deployedCommit(w.group(staging().webGroup())); g != serial {
		t.Errorf("deployed %s after the rejection, want %s", g, serial)
	}

	testutil.Eventually(t, deployTimeout, "the awaiting-approval notifications", func() (bool, string) {
		data, _ := os.ReadFile(events)
		var kinds []string
		dec := json.NewDecoder(strings.NewReader(string(data)))
		for {
			var ev struct{ Event, Commit string }
			if dec.Decode(&ev) != nil {
				break
			}
			kinds = append(kinds, ev.Event+" "+ev.Commit[:7])
		}
		want := []string{"awaiting-approval " + first[:7], "awaiting-approval " + second[:7], "succeeded " + second[:7],
			"succeeded " + serial[:7], "awaiting-approval " + third[:7]}
		return slices.Equal(kinds, want), strings.Join(kinds, ", ")
	})
}

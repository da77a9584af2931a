package main

import (
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/lock"
)

func TestDeployCommand(t *testing.T) {
	p := newProject(t, 2)
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})

	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitOK {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"Method: serial", "staging: succeeded " + next[:12] + " (serial)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// The outcome is a note on the commit, readable with git itself.
	out, err := testutil.GitCommand("", "--git-dir", p.remote, "notes", "--ref=ferry", "show", next).CombinedOutput()
	if err != nil {
		t.Fatalf("git notes show: %v\n%s", err, out)
	}
	note := string(out)
	if strings.Count(note, "ferry deploy:") != 2 || !strings.Contains(note, "succeeded") || !strings.Contains(note, "started") {
		t.Errorf("note should hold the started and succeeded records:\n%s", note)
	}
	if strings.Contains(note, "SECRET") || strings.Contains(note, os.Getenv("AWS_SECRET_ACCESS_KEY")) {
		t.Errorf("a secret reached the note:\n%s", note)
	}
	code, stdout, _ = runFerry(t, "plan", "-c", p.config, "staging")
	if code != exitOK || !strings.Contains(stdout, "No changes") {
		t.Errorf("after the deploy, plan: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runFerry(t, "history", "-c", p.config, "staging")
	if code != exitOK || !strings.Contains(stdout, next[:12]+"  serial  succeeded") {
		t.Errorf("history: exit %d\n%s", code, stdout)
	}
	// The lock was released: a second deploy takes it again.
	code, stdout, stderr = runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitOK || !strings.Contains(stdout, "No changes") {
		t.Errorf("second deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestDeployNeedsConfirmation(t *testing.T) {
	p := newProject(t, 1)
	data, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.config, []byte(strings.Replace(string(data), "poll_interval = \"20ms\"", "confirm = true\npoll_interval = \"20ms\"", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p.push("Change", map[string]string{"app.py": "2\n"})
	code, _, stderr := runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(stderr, "requires confirmation and there is no terminal to ask: pass --yes") {
		t.Fatalf("deploy without a terminal: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging", "--yes")
	if code != exitOK || !strings.Contains(stdout, "succeeded") {
		t.Fatalf("deploy --yes: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestDeployRespectsWindows: a deny window that is open now refuses a
// deploy by hand, changing nothing, until --ignore-window says otherwise.
func TestDeployRespectsWindows(t *testing.T) {
	p := newProject(t, 1)
	data, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	// Every minute opens a two-minute deny window: always denied.
	denied := string(data) + `
[[environments.staging.windows]]
cron = "* * * * *"
duration = "2m"
time_zone = "UTC"
mode = "deny"
`
	if err := os.WriteFile(p.config, []byte(denied), 0o600); err != nil {
		t.Fatal(err)
	}
	next := p.push("Change", map[string]string{"app.py": "2\n"})
	before := groupState(t, p.sim.URL, "shop-staging-web")

	code, stdout, stderr := runFerry(t, "plan", "-c", p.config, "staging")
	if code != exitChanges || !strings.Contains(stdout, "staging is inside the deny window") || !strings.Contains(stdout, "--ignore-window") {
		t.Errorf("plan in a deny window: exit %d, want 2 and a warning about the window\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(stderr, "inside the deny window") || !strings.Contains(stderr, "--ignore-window") {
		t.Fatalf("deploy in a deny window: exit %d, want 1 naming the window and the flag\n%s\n%s", code, stdout, stderr)
	}
	if got := groupState(t, p.sim.URL, "shop-staging-web"); got != before {
		t.Errorf("a refused deploy changed the group:\n got %s\nwant %s", got, before)
	}
	code, stdout, stderr = runFerry(t, "deploy", "-c", p.config, "staging", "--ignore-window")
	if code != exitOK || !strings.Contains(stdout, "staging: succeeded "+next[:12]) {
		t.Errorf("deploy --ignore-window: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestLeaseOfAKilledDeploy: a lease left by a process of this host that no
// longer runs is shown as such by ferry status, and ferry deploy takes it
// over at once instead of waiting for it to expire.
func TestLeaseOfAKilledDeploy(t *testing.T) {
	p := newProject(t, 1)
	next := p.push("Change", map[string]string{"app.py": "2\n"})
	cfg, err := config.Load(p.config)
	if err != nil {
		t.Fatal(err)
	}
	m, err := agent.OpenMirror(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	holder := agent.ProcessHolder(gone.Process.Pid)
	if !strings.Contains(holder, " boot ") {
		t.Skipf("this system does not name its boot or pid namespace: %s", holder)
	}
	locker := &lock.Locker{Remote: m, Holder: holder, TTL: time.Hour}
	if _, err := locker.Acquire(t.Context(), "staging"); err != nil {
		t.Fatal(err)
	}

	_, stdout, _ := runFerry(t, "status", "-c", p.config, "staging")
	if !strings.Contains(stdout, "held by "+holder) || !strings.Contains(stdout, "has exited") {
		t.Errorf("status of a dead holder's lock:\n%s", stdout)
	}
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitOK || !strings.Contains(stdout, "staging: succeeded "+next[:12]) {
		t.Errorf("deploy with a dead holder's lock an hour from expiring: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// addSecrets gives staging a secrets file with two values and a
// secrets_changed hook that runs nothing (no SSH here).
func (p *project) addSecrets() {
	p.t.Helper()
	file := filepath.Join(filepath.Dir(p.config), "staging.env")
	if err := os.WriteFile(file, []byte("DB_PASSWORD=pw-lock-7f3e2a\nAPI_TOKEN=tok-lock-19bd\n"), 0o600); err != nil {
		p.t.Fatal(err)
	}
	cfg, err := os.ReadFile(p.config)
	if err != nil {
		p.t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "upgrade_page_off = []\n", "upgrade_page_off = []\nsecrets_changed = []\n", 1))
	cfg = append(cfg, "[environments.staging.secrets]\nfile = \"staging.env\"\n"...)
	if err := os.WriteFile(p.config, cfg, 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// TestSecretsPushTakesTheLock: a push while another holder (a deploy, a
// push) has the environment's lock fails and writes nothing; once the lock
// is free the push runs, and releases it when done.
func TestSecretsPushTakesTheLock(t *testing.T) {
	p := newProject(t, 1)
	p.addSecrets()
	cfg, err := config.Load(p.config)
	if err != nil {
		t.Fatal(err)
	}
	m, err := agent.OpenMirror(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Another process of this machine holds it: alive, and an hour from
	// expiring (runFerry runs ferry in this process, whose own lease it
	// would take over).
	holder := exec.Command("sleep", "600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	other := &lock.Locker{Remote: m, Holder: agent.ProcessHolder(holder.Process.Pid), TTL: time.Hour}
	lease, err := other.Acquire(t.Context(), "staging")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runFerry(t, "secrets", "push", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(stdout+stderr, "held") {
		t.Fatalf("push under another's lock: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, out, _ := runFerry(t, "secrets", "diff", "-c", p.config, "staging"); code != exitFailure || !strings.Contains(out, "new: API_TOKEN, DB_PASSWORD") {
		t.Fatalf("the refused push wrote something: diff exit %d\n%s", code, out)
	}
	if err := other.Release(t.Context(), lease); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runFerry(t, "secrets", "push", "-c", p.config, "staging")
	if code != exitOK || !strings.Contains(stdout, "wrote API_TOKEN (version 1), DB_PASSWORD (version 1)") {
		t.Fatalf("push with the lock free: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Released: another holder takes it at once.
	if _, err := other.Acquire(t.Context(), "staging"); err != nil {
		t.Fatalf("the push left the lock held: %v", err)
	}
}

// TestPlanJSONNamesSecrets: ferry plan --json carries the names of the
// secrets a push would write, never their values.
func TestPlanJSONNamesSecrets(t *testing.T) {
	p := newProject(t, 1)
	p.addSecrets()
	p.push("Change", map[string]string{"app.py": "2\n"})
	code, stdout, stderr := runFerry(t, "plan", "--json", "-c", p.config, "staging")
	if code != exitChanges {
		t.Fatalf("plan --json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var pl plan.Plan
	if err := json.Unmarshal([]byte(stdout), &pl); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if pl.Secrets == nil || !slices.Equal(pl.Secrets.Differ, []string{"API_TOKEN", "DB_PASSWORD"}) || pl.Secrets.Path != "/shop/staging/" || pl.Secrets.Error != "" {
		t.Fatalf("plan's secrets = %+v\n%s", pl.Secrets, stdout)
	}
	if strings.Contains(stdout, "pw-lock") || strings.Contains(stdout, "tok-lock") {
		t.Error("the JSON plan holds a secret's value")
	}
	if code, _, _ := runFerry(t, "secrets", "push", "-c", p.config, "staging"); code != exitOK {
		t.Fatal("push failed")
	}
	_, stdout, _ = runFerry(t, "plan", "--json", "-c", p.config, "staging")
	pl = plan.Plan{}
	if err := json.Unmarshal([]byte(stdout), &pl); err != nil {
		t.Fatal(err)
	}
	if pl.Secrets == nil || len(pl.Secrets.Differ) != 0 || pl.Secrets.Unchanged != 2 {
		t.Errorf("after the push, the plan's secrets = %+v", pl.Secrets)
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPlanCommand(t *testing.T) {
	p := newProject(t, 2)

	code, stdout, stderr := runFerry(t, "plan", "-c", p.config, "staging")
	if code != exitOK || !strings.Contains(stdout, "No changes. staging already runs "+p.first[:12]) {
		t.Fatalf("plan with nothing new: exit %d\n%s\n%s", code, stdout, stderr)
	}

	serial := p.push("Fix a typo", map[string]string{"app.py": "2\n"})
	code, stdout, stderr = runFerry(t, "plan", "-c", p.config, "staging")
	if code != exitChanges {
		t.Fatalf("exit %d, want %d (a deploy is planned)\n%s\n%s", code, exitChanges, stdout, stderr)
	}
	for _, want := range []string{"Ferry will deploy staging to " + serial[:12] + " (refs/heads/staging), replacing " + p.first[:12], "Method: serial", "replace-batch"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}

	full := p.push("Add orders", map[string]string{".ferry/schema-version": "2\n"})
	code, stdout, _ = runFerry(t, "plan", "-c", p.config, "staging", "--json")
	var js struct {
		SchemaVersion int    `json:"schema_version"`
		Method        string `json:"method"`
		Target        struct{ Commit string }
		Steps         []struct {
			Name      string   `json:"name"`
			Count     int      `json:"count"`
			Timeout   string   `json:"timeout"`
			Instances []string `json:"instances"`
			NoReturn  bool     `json:"no_return"`
			Params    any      `json:"params"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil || code != exitChanges {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, stdout)
	}
	if js.SchemaVersion != 2 || js.Method != "full" || js.Target.Commit != full {
		t.Errorf("JSON plan %+v, want schema 2, full, target %s", js, full)
	}
	// Schema 2: each step's values typed (docs/plan-schema.md), the point
	// of no return marked by the plan.
	for _, s := range js.Steps {
		bad := s.Params != nil
		switch s.Name {
		case "wait-in-service":
			bad = bad || s.Count != 2 || s.Timeout == "" || s.NoReturn
		case "terminate-old":
			bad = bad || len(s.Instances) != 2 || s.Timeout == "" || !s.NoReturn
		default:
			bad = bad || s.NoReturn
		}
		if bad {
			t.Errorf("JSON step %+v", s)
		}
	}

	code, stdout, stderr = runFerry(t, "plan", "-c", p.config, "staging", "--commit", serial, "--method", "serial")
	if code != exitChanges || !strings.Contains(stdout, "Ferry will deploy staging to "+serial[:12]+" (no ref)") || !strings.Contains(stdout, "Method: serial") {
		t.Errorf("--commit of the code-only commit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runFerry(t, "plan", "-c", p.config, "staging", "--method", "serial")
	if code != exitFailure || !strings.Contains(stderr, "--method serial was asked for, but this change needs a full deploy") {
		t.Errorf("serial asked for a schema change: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runFerry(t, "plan", "-c", p.config, "production")
	if code != exitUsage || !strings.Contains(stderr, `no environment "production"`) {
		t.Errorf("unknown environment: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runFerry(t, "plan", "-c", p.config, "staging", "--commit", "abc123")
	if code != exitUsage || !strings.Contains(stderr, "full 40-hex-digit") {
		t.Errorf("short --commit: exit %d\n%s", code, stderr)
	}
}

package main

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecretsCommands: push writes new and changed secrets only, diff says
// by name what a push would write, list shows names and versions; nothing
// printed holds a value.
func TestSecretsCommands(t *testing.T) {
	p := newProject(t, 1)
	code, _, stderr := runFerry(t, "secrets", "push", "-c", p.config, "staging")
	if code != exitUsage || !strings.Contains(stderr, "has no secrets") {
		t.Fatalf("push without a secrets table: exit %d\n%s", code, stderr)
	}

	file := filepath.Join(filepath.Dir(p.config), "staging.env")
	write := func(db string) {
		if err := os.WriteFile(file, []byte("DB_PASSWORD="+db+"\nAPI_TOKEN=tok-93c1d0aa\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("pw-first-1a2b3c")
	cfg, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	// No SSH here: the web servers' secrets_changed hook runs nothing.
	cfg = []byte(strings.Replace(string(cfg), "upgrade_page_off = []\n", "upgrade_page_off = []\nsecrets_changed = []\n", 1))
	cfg = append(cfg, "[environments.staging.secrets]\nfile = \"staging.env\"\n"...)
	if err := os.WriteFile(p.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	var printed strings.Builder
	run := func(args ...string) (int, string) {
		t.Helper()
		code, stdout, stderr := runFerry(t, append([]string{"secrets"}, append(args, "-c", p.config, "staging")...)...)
		printed.WriteString(stdout + stderr)
		return code, stdout + stderr
	}
	if code, out := run("diff"); code != exitFailure || !strings.Contains(out, "new: API_TOKEN, DB_PASSWORD") {
		t.Fatalf("diff before the first push: exit %d\n%s", code, out)
	}
	// ferry plan names them too.
	code, out, errOut := runFerry(t, "plan", "-c", p.config, "staging")
	printed.WriteString(out + errOut)
	if !strings.Contains(out, "Secrets: API_TOKEN, DB_PASSWORD differ from SSM (/shop/staging/); a deploy does not push them: ferry secrets push staging") {
		t.Fatalf("plan (exit %d) does not name the secrets to push:\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runFerry(t, "status", "-c", p.config, "staging"); !regexp.MustCompile(`secrets +never pushed from this host \(ferry secrets push staging\)`).MatchString(out) {
		t.Errorf("status before any push (exit %d) does not say secrets were never pushed:\n%s", code, out)
	}
	if code, out := run("push"); code != exitOK || !strings.Contains(out, "wrote API_TOKEN (version 1), DB_PASSWORD (version 1) under /shop/staging/") {
		t.Fatalf("push: exit %d\n%s", code, out)
	}
	if code, out := run("push"); code != exitOK || !strings.Contains(out, "no secret changed") {
		t.Fatalf("push again: exit %d\n%s", code, out)
	}
	if code, out, _ := runFerry(t, "status", "-c", p.config, "staging"); !regexp.MustCompile(`secrets +last pushed 20\S+, up to date at 20`).MatchString(out) {
		t.Errorf("status after a push that changed nothing (exit %d):\n%s", code, out)
	}
	write("pw-second-4d5e6f")
	if code, out := run("diff"); code != exitFailure || !strings.Contains(out, "changed: DB_PASSWORD") || !strings.Contains(out, "unchanged: API_TOKEN") {
		t.Fatalf("diff after a change: exit %d\n%s", code, out)
	}
	if code, out := run("push", "--json"); code != exitOK || !strings.Contains(out, `"written": [`) || !strings.Contains(out, `"DB_PASSWORD": 2`) {
		t.Fatalf("push --json: exit %d\n%s", code, out)
	}
	if code, out := run("diff"); code != exitOK || !strings.Contains(out, "SSM has every secret") {
		t.Fatalf("diff after the push: exit %d\n%s", code, out)
	}
	if _, out, _ := runFerry(t, "plan", "-c", p.config, "staging"); !strings.Contains(out, "Secrets: SSM has the sources' 2 under /shop/staging/") {
		t.Fatalf("plan after the push:\n%s", out)
	}
	code, out = run("list")
	if code != exitOK || !strings.Contains(out, "/shop/staging/DB_PASSWORD") || !strings.Contains(out, "last pushed from here") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "/shop/staging/DB_PASSWORD") && !strings.Contains(line, " 2 ") {
			t.Errorf("DB_PASSWORD should be at version 2: %q", line)
		}
	}
	if code, out, _ := runFerry(t, "status", "-c", p.config, "staging"); !regexp.MustCompile(`secrets +last pushed 20\S+\n`).MatchString(out) {
		t.Errorf("status (exit %d) does not say when secrets were pushed:\n%s", code, out)
	}
	for _, v := range []string{"pw-first", "pw-second", "tok-93c1"} {
		if strings.Contains(printed.String(), v) {
			t.Errorf("ferry secrets printed a value (%s…)", v)
		}
	}
	// Bad input is named by file and line, without the value.
	if err := os.WriteFile(file, []byte("DB_PASSWORD=pw-third-xyz\nnot a line pw-third-xyz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := run("push"); code != exitFailure || !strings.Contains(out, "staging.env:2: expected NAME=value") || strings.Contains(out, "pw-third") {
		t.Fatalf("malformed file: exit %d\n%s", code, out)
	}
}

// With policy.push_secrets, a deploy pushes the secrets first; one whose
// secrets cannot be read does not start.
func TestDeployPushesSecretsFirst(t *testing.T) {
	p := newProject(t, 1)
	file := filepath.Join(filepath.Dir(p.config), "staging.env")
	if err := os.WriteFile(file, []byte("DB_PASSWORD=pw-deploy-5e6f7a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(cfg), "upgrade_page_off = []\n", "upgrade_page_off = []\nsecrets_changed = []\n", 1)
	doc = strings.Replace(doc, "[environments.staging.policy]\n", "[environments.staging.policy]\npush_secrets = true\n", 1)
	doc += "[environments.staging.secrets]\nfile = \"staging.env\"\n"
	if err := os.WriteFile(p.config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})

	// The file is readable by all: the config is refused at its key, so
	// no push, and no deploy.
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging")
	if code != exitFailure || !strings.Contains(stderr, "environments.staging.secrets.file") || !strings.Contains(stderr, "permissions 0644") {
		t.Fatalf("deploy with a world-readable secrets file: exit %d\n%s\n%s", code, stdout, stderr)
	}

	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runFerry(t, "plan", "-c", p.config, "staging"); code != exitChanges {
		t.Fatalf("after the refused deploy, plan: exit %d\n%s", code, out)
	}
	code, stdout, stderr = runFerry(t, "deploy", "-c", p.config, "staging", "--log-level", "debug")
	if code != exitOK || !strings.Contains(stdout, "staging: succeeded "+next[:12]) {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, out, _ := runFerry(t, "secrets", "diff", "-c", p.config, "staging"); code != exitOK || !strings.Contains(out, "unchanged: DB_PASSWORD") {
		t.Fatalf("after the deploy, secrets diff: exit %d\n%s", code, out)
	}
	if strings.Contains(stdout+stderr, "pw-deploy") {
		t.Fatal("the deploy printed a secret value")
	}

	// Every artifact the deploy left, each with a canary it is known to
	// hold (so that one not read fails): its debug log, every file of the
	// state directory (journal, records, the mirror), every object and ref
	// of the git remote (notes, lock refs), the simulator's calls.
	artifacts := map[string][2]string{"the deploy's debug log": {stdout + stderr, "level=DEBUG"}}
	err = filepath.WalkDir(p.stateDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		artifacts[path] = [2]string{string(b), ""}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var state strings.Builder
	for _, a := range artifacts {
		state.WriteString(a[0])
	}
	artifacts["the state directory"] = [2]string{state.String(), "DB_PASSWORD"}
	objects, err := execGit(p.remote, "cat-file", "--batch-all-objects", "--batch", "--unordered")
	if err != nil {
		t.Fatal(err)
	}
	artifacts["the git remote's objects"] = [2]string{objects, "ferry: staging"}
	refs, err := execGit(p.remote, "for-each-ref")
	if err != nil {
		t.Fatal(err)
	}
	artifacts["the git remote's refs"] = [2]string{refs, "refs/notes/ferry"}
	resp, err := http.Get(p.sim.URL + "/_awssim/calls")
	if err != nil {
		t.Fatal(err)
	}
	artifacts["the simulator's calls"] = [2]string{readAll(t, resp), "ssm:PutParameter"}
	resp.Body.Close()
	for name, a := range artifacts {
		if !strings.Contains(a[0], a[1]) {
			t.Errorf("%s does not hold %q: not read?", name, a[1])
		}
		if strings.Contains(a[0], "pw-deploy") {
			t.Errorf("%s holds the secret value", name)
		}
	}
}

// Package systemd_test checks the unit file Ferry ships with
// systemd's own tools.
package systemd_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

const shippedExec = "/usr/local/bin/ferry"

// unitForTest writes the shipped unit with ExecStart pointing at an
// executable that exists here, since verify checks it.
func unitForTest(t *testing.T, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile("ferry.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(data), shippedExec, self)
	if edit != nil {
		unit = edit(unit)
	}
	path := filepath.Join(t.TempDir(), "ferry.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// verify runs systemd-analyze verify and returns what it printed: systemd
// exits 0 for many problems (an unparsable value is "ignored"), so any
// output about the unit counts as a failure.
func verify(t *testing.T, tool, path string) (string, error) {
	t.Helper()
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestUnitVerifies(t *testing.T) {
	tool := testutil.RequireTool(t, "systemd-analyze")
	out, err := verify(t, tool, unitForTest(t, nil))
	if err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestVerifyCatchesMistakes shows the check above can fail.
func TestVerifyCatchesMistakes(t *testing.T) {
	tool := testutil.RequireTool(t, "systemd-analyze")
	for name, edit := range map[string]func(string) string{
		"bad restart value": func(u string) string { return strings.Replace(u, "Restart=on-failure", "Restart=sometimes", 1) },
		"missing binary": func(u string) string {
			return regexp.MustCompile(`ExecStart=\S+`).ReplaceAllString(u, "ExecStart=/nonexistent/ferry")
		},
	} {
		out, err := verify(t, tool, unitForTest(t, edit))
		if err == nil && out == "" {
			t.Errorf("%s: verify reported nothing", name)
		}
	}
}

func TestUnitSettings(t *testing.T) {
	data, err := os.ReadFile("ferry.service")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			got[k] = append(got[k], v)
		}
	}
	for key, want := range map[string]string{
		"ExecStart":       shippedExec + " run -c /etc/ferry/ferry.toml",
		"User":            "ferry",
		"StateDirectory":  "ferry",
		"Restart":         "on-failure",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
	} {
		if len(got[key]) != 1 || got[key][0] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
}

// TestUnitExposure keeps the sandboxing from eroding: systemd's own score,
// 0 (locked down) to 10 (exposed).
func TestUnitExposure(t *testing.T) {
	tool := testutil.RequireTool(t, "systemd-analyze")
	out, err := exec.Command(tool, "security", "--offline=true", "--no-pager", unitForTest(t, nil)).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	if score > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0 (see systemd-analyze security)", score)
	}
}

// The instances' boot unit that fetches the secrets verifies too, and runs
// the fetch before the app's services.
func TestSecretsUnitVerifies(t *testing.T) {
	tool := testutil.RequireTool(t, "systemd-analyze")
	data, err := os.ReadFile("ferry-secrets.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{"ExecStart=" + shippedExec + " secrets fetch --path ${FERRY_SECRETS_PATH} --out /etc/app/secrets.env", "Before=gunicorn.service celery.service", "Type=oneshot"} {
		if !strings.Contains(unit, want) {
			t.Errorf("ferry-secrets.service lacks %q", want)
		}
	}
	// systemd merges a section given twice, so verify passes over one;
	// a reader of the file would not.
	for _, section := range []string{"[Unit]", "[Service]", "[Install]"} {
		if n := strings.Count("\n"+unit, "\n"+section+"\n"); n != 1 {
			t.Errorf("ferry-secrets.service has %d %s sections, want 1", n, section)
		}
	}
	path := filepath.Join(t.TempDir(), "ferry-secrets.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, shippedExec, self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(t, tool, path); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

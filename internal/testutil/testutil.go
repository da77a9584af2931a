// Package testutil holds helpers shared by Ferry's tests.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireTool returns the path of the named executable. When it is missing
// the test is skipped on a developer's machine but fails under CI=true:
// CI installs every tool the tests need (.ci/run), so a missing one there
// is a broken CI setup, not a reason to pass silently.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required and CI=true: install it in scripts/install-test-deps.sh (%v)", name, err)
		return ""
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

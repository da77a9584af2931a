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

// RequireRoot skips the test unless it runs as root, and fails it under
// CI=true, where the tests run as root (.ci/run): tests that make
// namespaces, mounts and containers need it.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test needs root and CI=true: run .ci/run as root")
	}
	t.Skip("needs root")
}

// GoBuildEnv is the environment for a test's `go build` of the ferry
// command: pure Go (CGO_ENABLED=0), so the binary is static and runs on
// the simulator's machines, whose glibc may be older than the host's. It is
// also the one build configuration scripts/test.sh vets with: every
// configuration compiles all the dependencies again (aws-sdk-go-v2's ec2
// package alone takes over a minute on two cores), so a cold CI run
// compiles them once for the tests' builds rather than once per build.
// -race needs cgo and so stays a configuration of its own.
func GoBuildEnv() []string {
	return append(os.Environ(), "CGO_ENABLED=0")
}

package gittest

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// CheckDeps fails the test if pkg (an import path) depends, directly or
// not, on any import path that starts with one of the forbidden prefixes.
// It asks the go command, so it sees what the build sees.
func CheckDeps(t testing.TB, pkg string, forbidden ...string) {
	t.Helper()
	testutil.RequireTool(t, "go")
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("%s depends on %s, which it must not", pkg, dep)
			}
		}
	}
}

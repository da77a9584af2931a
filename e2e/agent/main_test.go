// Package agent holds the end-to-end tests of the agent (`ferry run`):
// the built ferry binary runs as its own processes, against the AWS
// simulator as its own process (`ferry sim`) and a real git daemon that the
// tests push to with the git CLI, as a person would. See docs/e2e.md.
package agent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// build is the one ferry binary every test of this run starts: built once,
// on first use, into a directory TestMain removes.
var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// ferryBinary returns the path of the ferry binary, building it on first
// use. Under -race the binary is built with the race detector too, and a
// child that reports a data race fails its test (see proc).
func ferryBinary(t *testing.T) string {
	t.Helper()
	goTool := testutil.RequireTool(t, "go")
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-e2e-")
		if err != nil {
			build.err = err
			return
		}
		build.dir = dir
		path := filepath.Join(dir, "ferry")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/ferry-deploy/ferry/cmd/agent")
		out, err := exec.Command(goTool, args...).CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go %v: %v\n%s", args, err, out)
			return
		}
		build.path = path
	})
	if build.err != nil {
		t.Fatalf("build ferry: %v", build.err)
	}
	return build.path
}

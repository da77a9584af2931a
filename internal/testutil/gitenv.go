package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitEnv is the environment tests run the git CLI with, so that no test
// depends on, or can touch, anything outside its own directories:
//   - no GIT_ variable of the process (a GIT_DIR or GIT_WORK_TREE inherited
//     from a hook or `git rebase -x` would point every command, `git init
//     --bare` included, at the enclosing repository);
//   - no user or system git configuration;
//   - discovery stopped below the test's working directory (its package
//     directory in the source tree): a git command run without a directory
//     of its own finds no repository rather than Ferry's own checkout;
//   - the C locale and UTC, so messages and dates read the same everywhere.
func GitEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") ||
			strings.HasPrefix(kv, "LANGUAGE=") || strings.HasPrefix(kv, "TZ=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
		"TZ=UTC",
	)
	if wd, err := os.Getwd(); err == nil {
		// git never climbs into a ceiling directory, but does look in the
		// working directory itself: the ceiling is its parent.
		env = append(env, "GIT_CEILING_DIRECTORIES="+filepath.Dir(wd))
	}
	return env
}

// GitCommand is exec.Command for the git CLI run in dir with GitEnv.
func GitCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = GitEnv()
	return cmd
}

// InitBareRepo creates an empty bare repository at path.
func InitBareRepo(t testing.TB, path string) {
	t.Helper()
	RequireTool(t, "git")
	if out, err := GitCommand("", "init", "-q", "--bare", path).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare %s: %v\n%s", path, err, out)
	}
}

package benchproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StartSim runs `ferry sim` (bin) on a free loopback port with the extra
// flags args, its output appended to logPath, and returns it with its URL
// once it listens.
func StartSim(ctx context.Context, env []string, logPath, bin string, args ...string) (*Proc, string, error) {
	p, err := Start("ferry sim", env, logPath, bin, append([]string{"sim", "--listen", "127.0.0.1:0"}, args...)...)
	if err != nil {
		return nil, "", err
	}
	const prefix = "AWS simulator listening on "
	var url string
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = WaitFor(wctx, 50*time.Millisecond, "ferry sim", func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("ferry sim exited: %v (see %s)", p.Err(), logPath)
		}
		b, err := os.ReadFile(logPath)
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if u, ok := strings.CutPrefix(line, prefix); ok {
				url = strings.TrimSpace(u)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, url, nil
}

// ServeGit serves the bare repository bare with a stock git daemon on a
// free loopback port (its defaults, plus receive-pack: Ferry pushes its
// locks and notes), its output appended to logPath, and returns it with
// the repository's git:// URL once it answers. It runs git-daemon itself,
// not the `git daemon` wrapper, so that its pid is the process that waits
// for the git processes serving each connection (their CPU time is its
// cutime+cstime).
func ServeGit(ctx context.Context, env []string, logPath, bare string) (*Proc, string, error) {
	port, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	execPath, err := Git(ctx, env, "", "--exec-path")
	if err != nil {
		return nil, "", err
	}
	root := filepath.Dir(bare)
	p, err := Start("git daemon", env, logPath, filepath.Join(execPath, "git-daemon"),
		"--export-all", "--enable=receive-pack", "--listen=127.0.0.1", "--port="+strconv.Itoa(port), "--base-path="+root, root)
	if err != nil {
		return nil, "", err
	}
	url := fmt.Sprintf("git://127.0.0.1:%d/%s", port, filepath.Base(bare))
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = WaitFor(wctx, 100*time.Millisecond, "git daemon", func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("git daemon exited: %v (see %s)", p.Err(), logPath)
		}
		_, err := Git(ctx, env, "", "ls-remote", url)
		return err == nil, nil
	})
	if err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, url, nil
}

// FerryVersion asks a ferry binary for its version.
func FerryVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", bin, err)
	}
	return strings.TrimSpace(string(out)), nil
}

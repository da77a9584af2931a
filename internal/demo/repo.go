package demo

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// initRepo creates the bare remote and a working clone holding the example
// shop, pushes it to staging and returns its commit.
func (d *demo) initRepo() (string, error) {
	return d.initRepoWith("The shop, version 1", map[string]string{
		"index.html":                 "<h1>Shop</h1>\n",
		"healthcheck.html":           "OK\n",
		".ferry/schema-version":      "1\n",
		"app.py":                     "print('shop')\n",
		"migrations/0001_initial.py": "# create table products\n",
	}, "staging")
}

// initRepoWith creates the bare remote and a working clone, commits files
// as the first commit, pushes it to branch and returns it.
func (d *demo) initRepoWith(message string, files map[string]string, branch string) (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", errNoGit
	}
	initBare := exec.Command("git", "init", "-q", "--bare", "-b", "main", d.remote)
	initBare.Env = gitEnv()
	if out, err := initBare.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git init --bare: %v\n%s", err, out)
	}
	if err := os.MkdirAll(d.work, 0o755); err != nil {
		return "", err
	}
	if err := d.git("init", "-q", "-b", "main"); err != nil {
		return "", err
	}
	if err := d.git("remote", "add", "origin", d.remote); err != nil {
		return "", err
	}
	c, err := d.commit(message, files)
	if err != nil {
		return "", err
	}
	return c, d.push("HEAD:" + branch)
}

// gitEnv is the environment the demo runs git with: the process's own
// without its GIT_ variables, since a GIT_DIR or GIT_WORK_TREE inherited
// from a hook or script would make every command act on that repository
// instead of the demo's.
func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return env
}

// git runs git in the working clone as the demo's user.
func (d *demo) git(args ...string) error {
	_, err := d.gitOut(args...)
	return err
}

func (d *demo) gitOut(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = d.work
	cmd.Env = append(gitEnv(), "GIT_AUTHOR_NAME=Demo Developer", "GIT_AUTHOR_EMAIL=dev@shop.example",
		"GIT_COMMITTER_NAME=Demo Developer", "GIT_COMMITTER_EMAIL=dev@shop.example", "GIT_CONFIG_NOSYSTEM=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// commit writes files and commits them, returning the commit.
func (d *demo) commit(message string, files map[string]string) (string, error) {
	for path, content := range files {
		full := filepath.Join(d.work, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	if err := d.git("add", "-A"); err != nil {
		return "", err
	}
	if err := d.git("commit", "-q", "-m", message); err != nil {
		return "", err
	}
	c, err := d.gitOut("rev-parse", "HEAD")
	if err == nil {
		d.say("    git commit -m %q → %s", message, short(c))
	}
	return c, err
}

func (d *demo) push(refspec string) error {
	d.say("    git push origin %s", refspec)
	return d.git("push", "-q", "origin", refspec)
}

// agentMirror opens the project's mirror for the agent.
func agentMirror(cfg *config.Config, log *slog.Logger) (*watch.Mirror, error) {
	return watch.OpenMirror(watch.MirrorOptions{
		Dir: filepath.Join(cfg.Project.StateDir, "mirror"), URL: cfg.Project.Git.URL, Logger: log,
	})
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/status/forge"
)

// EnvView is what the agent knows of one environment, for its page: its
// state, the commit it deployed or found deployed, and the progress of
// the deploy running (or of the last one since the agent started).
type EnvView struct {
	EnvState
	Deployed commit.ID
	// Deploy is nil until the agent runs a deploy of the environment.
	Deploy *execute.Progress
	// Drift lists the [launch] settings the launch sources lack, as the
	// agent last saw them in sync; ferry redeploy applies them.
	Drift []string
}

// Views returns every environment's view, sorted by name; an environment
// the agent has not looked at yet is "starting".
func (a *Agent) Views() []EnvView {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []EnvView
	for _, name := range envNames(a.opts.Config) {
		v := EnvView{EnvState: a.states[name], Deployed: a.deployed[name], Drift: a.drift[name]}
		if v.Env == "" {
			v.EnvState = EnvState{Env: name, State: "starting"}
		}
		if p, ok := a.progress[name]; ok {
			v.Deploy = &p
		}
		out = append(out, v)
	}
	return out
}

// Changed returns a channel closed at the next change of any view: a
// state, a deployed commit or a deploy's progress. Readers wait on it and
// ask again, so a page follows the agent's own state without polling it.
func (a *Agent) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// changedLocked wakes the readers of Changed; a.mu is held.
func (a *Agent) changedLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// setProgress records the progress of env's running deploy.
func (a *Agent) setProgress(p execute.Progress) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.progress[p.Env] = p
	a.changedLocked()
}

// CommitInfo is a commit as people read it.
type CommitInfo struct {
	ID      commit.ID
	Subject string
	Author  string
	// URL is the commit's page on the environment's first forge, if any.
	URL string
}

// Commit describes c, as the mirror has it, for environment env.
func (a *Agent) Commit(env string, c commit.ID) (CommitInfo, error) {
	info := CommitInfo{ID: c}
	if e := a.opts.Config.Environments[env]; e != nil && len(e.Status.Forges) > 0 {
		info.URL = forge.CommitURL(e.Status.Forges[0], c)
	}
	err := a.opts.Mirror.WithRepository(func(r *git.Repository) error {
		co, err := r.CommitObject(hash(c))
		if err != nil {
			return fmt.Errorf("commit %s: %w", c.Short(), err)
		}
		info.Subject, _, _ = strings.Cut(strings.TrimSpace(co.Message), "\n")
		info.Author = co.Author.Name
		return nil
	})
	return info, err
}

// History returns env's finished deploys recorded in the notes on the
// commits up to its current target, newest first, at most limit.
func (a *Agent) History(ctx context.Context, env string, limit int) ([]PastDeploy, error) {
	t, ok := a.watcher.Current(env)
	if !ok {
		return nil, nil
	}
	return history(ctx, a.opts.Mirror, a.opts.Config.Project.Git.NotesRef, env, t.Commit, limit)
}

// Logs lists env's deploys that have per-server logs, newest first, and
// for each the log files, by name.
func (a *Agent) Logs(env string) ([]DeployLogs, error) {
	dir := filepath.Join(remote.LogRoot(a.opts.Config.Project.StateDir), env)
	if _, ok := a.opts.Config.Environments[env]; !ok {
		return nil, fmt.Errorf("no environment %q", env)
	}
	deploys, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []DeployLogs
	for _, d := range deploys {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			return nil, err
		}
		dl := DeployLogs{DeployID: d.Name()}
		for _, f := range files {
			if f.Type().IsRegular() && strings.HasSuffix(f.Name(), ".log") {
				dl.Files = append(dl.Files, f.Name())
			}
		}
		out = append(out, dl)
	}
	// Deploy IDs start with the environment and a UTC stamp: their order
	// is the deploys' order.
	slices.SortFunc(out, func(x, y DeployLogs) int { return strings.Compare(y.DeployID, x.DeployID) })
	return out, nil
}

// DeployLogs are one deploy's per-server log files.
type DeployLogs struct {
	DeployID string
	Files    []string
}

// Log reads one per-server log file of a deploy of env. The log files hold
// no secret: pkg/remote masks the values it hands commands.
func (a *Agent) Log(env, deployID, file string) ([]byte, error) {
	if _, ok := a.opts.Config.Environments[env]; !ok {
		return nil, fmt.Errorf("no environment %q", env)
	}
	for _, part := range []string{deployID, file} {
		if part == "" || part != filepath.Base(part) || strings.HasPrefix(part, ".") {
			return nil, fmt.Errorf("%q names no log", part)
		}
	}
	if !strings.HasSuffix(file, ".log") {
		return nil, fmt.Errorf("%q names no log", file)
	}
	return os.ReadFile(filepath.Join(remote.LogRoot(a.opts.Config.Project.StateDir), env, deployID, file))
}

// Shown is the state as the page names it: idle, deploying, blocked,
// paused, awaiting approval, outside window, waiting (a lease, a
// recovery, AWS unreachable) or starting.
func (s EnvState) Shown() string {
	switch {
	case s.State == "waiting" && strings.HasPrefix(s.Detail, windowDetail):
		return "outside window"
	case s.State == StateAwaitingApproval:
		return "awaiting approval"
	}
	return s.State
}

// StateAwaitingApproval is the state of an environment whose deploy
// awaits a person's approval (policy.approve).
const StateAwaitingApproval = "awaiting-approval"

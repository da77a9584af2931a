package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// controlEnv returns the environment a control file is about
// ("paused-staging.json" → "staging"), or false for any other file (the
// temporary files of atomic writes start with a dot).
func controlEnv(name string) (string, bool) {
	for _, kind := range []string{"paused", "blocked", "asg", "approval"} {
		if env, ok := strings.CutPrefix(name, kind+"-"); ok {
			if env, ok = strings.CutSuffix(env, ".json"); ok && env != "" {
				return env, true
			}
		}
	}
	return "", false
}

// watchControl starts watching the control directory, so that ferry
// pause, resume and retry wake an environment's worker at once rather
// than at the next recheck. It returns nil, having said why, when the
// directory cannot be watched (no inotify, too many watches): the recheck
// still picks changes up, later. The watch is set up before any worker
// runs, so no change made after Run started can slip by.
func (a *Agent) watchControl() *fsnotify.Watcher {
	w, err := openControlWatch(a.control.Dir)
	if err != nil {
		a.log.Warn("cannot watch the control directory; pause, resume and retry take effect at the next recheck",
			"dir", a.control.Dir, "err", err, "recheck", a.opts.Recheck)
		return nil
	}
	return w
}

func openControlWatch(dir string) (*fsnotify.Watcher, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(dir); err != nil {
		_ = w.Close()
		return nil, err
	}
	return w, nil
}

// forwardControl wakes the worker of the environment each control file
// event names, until ctx ends.
func (a *Agent) forwardControl(ctx context.Context, w *fsnotify.Watcher, wake map[string]chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			base := filepath.Base(ev.Name)
			if env, ok := controlEnv(base); ok {
				a.log.Debug("control file changed", "env", env, "op", ev.Op.String())
				if strings.HasPrefix(base, "asg-") && ev.Has(fsnotify.Create|fsnotify.Write) {
					a.auditScaling(env)
				}
				poke(wake[env])
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			a.log.Warn("watching the control directory", "err", err)
		}
	}
}

// auditScaling writes a person's change of env's Auto Scaling processes
// (ferry asg suspend / resume) to the agent's log: the audit line, with no
// git note, since no commit is deployed by it.
func (a *Agent) auditScaling(env string) {
	s, err := a.control.ScalingState(env)
	if err != nil || s == nil {
		return
	}
	a.log.Info("audit: Auto Scaling processes "+s.Action+"ed by a person", "env", env, "by", s.By, "at", s.At,
		"processes", strings.Join(s.Processes, ","), "groups", strings.Join(s.Groups, ","))
}

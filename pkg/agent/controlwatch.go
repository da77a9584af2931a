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
	for _, kind := range []string{"paused", "blocked"} {
		if env, ok := strings.CutPrefix(name, kind+"-"); ok {
			if env, ok = strings.CutSuffix(env, ".json"); ok && env != "" {
				return env, true
			}
		}
	}
	return "", false
}

// watchControl wakes an environment's worker as soon as ferry pause,
// resume or retry changes its control files, rather than at the next
// recheck. When the directory cannot be watched (no inotify, too many
// watches), the recheck still picks the change up, later.
func (a *Agent) watchControl(ctx context.Context, wake map[string]chan struct{}) {
	log := a.log.With("dir", a.control.Dir)
	if err := os.MkdirAll(a.control.Dir, 0o750); err != nil {
		log.Warn("cannot watch the control directory; pause, resume and retry take effect at the next recheck", "err", err, "recheck", a.opts.Recheck)
		return
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(a.control.Dir)
		if err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		log.Warn("cannot watch the control directory; pause, resume and retry take effect at the next recheck", "err", err, "recheck", a.opts.Recheck)
		return
	}
	defer w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if env, ok := controlEnv(filepath.Base(ev.Name)); ok {
				log.Debug("control file changed", "env", env, "op", ev.Op.String())
				poke(wake[env])
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			log.Warn("watching the control directory", "err", err)
		}
	}
}

package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/status/forge"
)

// StatusSetter sets a commit status on a forge: a forge.Queue (never
// waits, for the agent) or a forge.Reporter (waits, bounded, for ferry
// deploy).
type StatusSetter interface {
	Set(ctx context.Context, st forge.Status) error
}

// Reporters builds one reporter per forge the environment reports to.
func Reporters(env *config.Environment, userAgent string, log *slog.Logger) ([]*forge.Reporter, error) {
	var out []*forge.Reporter
	for _, f := range env.Status.Forges {
		r, err := forge.New(f, forge.Options{Logger: log, UserAgent: userAgent})
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", env.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// WithStatuses makes the deployer set a commit status on each forge when
// a deploy starts and ends.
func (d *Deployer) WithStatuses(s []StatusSetter) *Deployer {
	d.statuses = s
	return d
}

// setStatus reports to every forge. A forge that is down or refuses never
// fails a deploy: the outcome is in the notes; the failure is logged.
func (d *Deployer) setStatus(ctx context.Context, st forge.Status) {
	for _, s := range d.statuses {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		if err := s.Set(sctx, st); err != nil {
			d.log.Error("could not set the commit status", "commit", st.Commit, "state", st.State, "err", err)
		}
		cancel()
	}
}

// finalStatus maps a deploy's outcome to a commit status.
func finalStatus(r execute.Report, ref string) (forge.Status, bool) {
	st := forge.Status{Commit: r.Commit, Ref: ref, DeployID: r.DeployID}
	switch r.Outcome {
	case execute.Succeeded:
		st.State, st.Description = forge.StateSuccess, fmt.Sprintf("Deployed to %s (%s) in %s", r.Environment, r.Method, r.Finished.Sub(r.Started).Round(time.Second))
	case execute.RolledBack:
		st.State, st.Description = forge.StateFailure, fmt.Sprintf("Rolled back in %s: %s", r.Environment, r.Reason)
	case execute.Failed:
		st.State, st.Description = forge.StateFailure, fmt.Sprintf("Failed in %s: %s", r.Environment, r.Reason)
	default:
		return st, false
	}
	return st, true
}

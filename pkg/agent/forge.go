package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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

// queues deliver commit statuses to the forges without ever holding a
// deploy up: the agent's and ferry deploy's are built here alike.
type queues struct {
	qs     []*forge.Queue
	cancel context.CancelFunc
	done   sync.WaitGroup
	log    *slog.Logger
}

// startQueues starts a queue per reporter; they run until flush.
func startQueues(ctx context.Context, reporters []*forge.Reporter, log *slog.Logger) *queues {
	ctx, cancel := context.WithCancel(ctx)
	q := &queues{cancel: cancel, log: log}
	for _, r := range reporters {
		fq := forge.NewQueue(r, forge.QueueOptions{Logger: log})
		q.qs = append(q.qs, fq)
		q.done.Go(func() { _ = fq.Run(ctx) })
	}
	return q
}

func (q *queues) setters() []StatusSetter {
	out := make([]StatusSetter, 0, len(q.qs))
	for _, fq := range q.qs {
		out = append(out, fq)
	}
	return out
}

// flush waits up to wait for the forges to take what is queued, then stops
// the queues. The agent, which stops with its context, passes 0.
func (q *queues) flush(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for _, fq := range q.qs {
		for fq.Len() > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if n := fq.Len(); n > 0 && wait > 0 {
			q.log.Warn("commit statuses not delivered: the forge did not answer in time (the notes have the outcome)", "waiting", n)
		}
	}
	q.cancel()
	q.done.Wait()
}

package execute

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// progressEvery is how often an unchanged wait says it is still waiting.
const progressEvery = 30 * time.Second

// waitFor polls check until it reports done, the limit passes or ctx ends.
// It logs progress whenever it changes (and every progressEvery), so an
// operator watching sees movement. Transient AWS errors (throttling beyond
// the SDK's retries) are logged and polled through; others end the wait.
func (e *Executor) waitFor(ctx context.Context, what string, limit time.Duration, check func(context.Context) (bool, string, error)) error {
	poll := e.Poll
	if poll <= 0 {
		poll = e.Env.Policy.PollInterval.Std()
	}
	start := e.now()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	var last string
	var lastLog time.Time
	// A poll's calls are not retried by the AWS client (cloud.Poll): a
	// throttled one is tried again at the next tick, below.
	pollCtx := cloud.Poll(ctx)
	for {
		done, progress, err := check(pollCtx)
		if err == nil {
			e.waiting(Wait{For: what, Progress: progress, Started: start, Limit: limit})
		}
		switch {
		case err != nil && cloud.IsTransient(err):
			e.log().Warn("AWS is throttling or failing; still waiting", "waiting_for", what, "err", err)
		case err != nil:
			return fmt.Errorf("waiting for %s: %w", what, err)
		case done:
			e.log().Info("done waiting", "for", what, "progress", progress, "elapsed", e.now().Sub(start).Round(time.Millisecond))
			return nil
		case progress != last || e.now().Sub(lastLog) >= progressEvery:
			e.log().Info("waiting", "for", what, "progress", progress, "elapsed", e.now().Sub(start).Round(time.Second), "timeout", limit)
			last, lastLog = progress, e.now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("timed out after %s waiting for %s (%s)", limit, what, last)
		case <-ticker.C:
		}
	}
}

package forge

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/ferry-deploy/ferry/pkg/backoff"
)

// sleep waits for d or until ctx is done, whichever comes first, and
// returns ctx's error in the second case. (Tests that wait run in
// testing/synctest bubbles, where the wait takes no real time.)
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryDelay is the forges' backoff between tries: backoff.Backoff with
// equal jitter, or with the jitter a test gives.
type retryDelay struct {
	backoff.Backoff
	// jitter spreads a delay so that agents retrying together don't hit
	// the forge together; nil means equal jitter, [d/2, d).
	jitter func(time.Duration) time.Duration
}

func (b retryDelay) delay(attempt int) time.Duration {
	d := b.Step(attempt)
	if b.jitter != nil {
		return b.jitter(d)
	}
	return backoff.Jitter(d, rand.Float64())
}

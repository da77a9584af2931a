package forge

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/ferry-deploy/ferry/pkg/backoff"
)

// Clock is the time the package reads and waits on; tests replace it so
// that no test sleeps for real.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx's error in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
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

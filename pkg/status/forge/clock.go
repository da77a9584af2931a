package forge

import (
	"context"
	"math/rand/v2"
	"time"
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

// backoff is an exponential backoff: base, 2·base, 4·base ... up to max.
type backoff struct {
	base, max time.Duration
	// jitter spreads a delay so that agents retrying together don't hit
	// the forge together; nil means "equal jitter", [d/2, d).
	jitter func(time.Duration) time.Duration
}

func (b backoff) delay(attempt int) time.Duration {
	d := b.base
	for i := 1; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if b.jitter != nil {
		return b.jitter(d)
	}
	return equalJitter(d)
}

func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

package watch

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Clock is the time the watcher waits on; tests pass a fake one so no test
// sleeps to wait on a schedule.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Schedule says when the next poll is due after t. cron.Schedule satisfies
// it.
type Schedule interface {
	Next(t time.Time) time.Time
}

// Every polls at a fixed interval.
func Every(d time.Duration) Schedule { return every(d) }

type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// CronSchedule parses a standard five-field cron spec ("*/5 * * * *") or a
// descriptor ("@hourly", "@every 90s").
func CronSchedule(spec string) (Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("cron schedule %q: %w: %w", spec, err, ErrPermanent)
	}
	return s, nil
}

// Backoff spaces retries after failures: the delay doubles from Base up to
// Max, and is jittered to between half and all of that, so agents that lost
// the same remote do not return to it in step.
type Backoff struct {
	Base, Max time.Duration
}

// Delay is the wait after the given number of consecutive failures (>= 1);
// r in [0,1) is the jitter draw.
func (b Backoff) Delay(failures int, r float64) time.Duration {
	if failures < 1 {
		failures = 1
	}
	d := b.Base
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}

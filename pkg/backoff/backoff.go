// Package backoff spaces retries after failures: the wait doubles from a
// base up to a maximum and is jittered, so that agents that lost the same
// remote or forge do not return to it in step. It is the one backoff of
// the watcher, the agent's rechecks and the forge reporters.
package backoff

import "time"

// Backoff doubles from Base up to Max.
type Backoff struct {
	Base, Max time.Duration
}

// Step is the wait after the given number of consecutive failures (>= 1),
// before jitter: Base, 2·Base, 4·Base ... up to Max.
func (b Backoff) Step(failures int) time.Duration {
	d := b.Base
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Delay is Step jittered to between half and all of it ("equal jitter");
// r in [0,1) is the jitter draw.
func (b Backoff) Delay(failures int, r float64) time.Duration {
	return Jitter(b.Step(failures), r)
}

// Jitter is d drawn between half and all of it; r in [0,1) is the draw.
func Jitter(d time.Duration, r float64) time.Duration {
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}

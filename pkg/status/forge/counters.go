package forge

import "sync/atomic"

// Counters count what a Reporter and its Queue did, for the caller's
// metrics to read (e.g. from a Prometheus collector's Collect). Share one
// between a Reporter and its Queue.
type Counters struct {
	// Sent: statuses the forge accepted.
	Sent atomic.Int64
	// Skipped: statuses not sent, identical to the last one sent for the
	// same commit and context.
	Skipped atomic.Int64
	// Retries: requests repeated after a server error, a rate limit or no
	// answer.
	Retries atomic.Int64
	// Failed: Set or Send calls (so, under a Queue, delivery attempts)
	// that ended in an error, transient or permanent.
	Failed atomic.Int64
	// Dropped: statuses a Queue gave up on: rejected by the forge, waited
	// too long for it, or pushed out of a full queue.
	Dropped atomic.Int64
}

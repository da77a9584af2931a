package forge

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/pkg/backoff"
)

// Sender makes one attempt at sending a status, without retrying: the
// Queue retries itself, each time with the newest status. *Reporter is one.
type Sender interface {
	Send(ctx context.Context, st Status) error
}

var _ Sender = (*Reporter)(nil)

// QueueOptions bound a Queue; zero fields take the defaults shown.
type QueueOptions struct {
	// MaxLen is how many statuses (distinct commit and context) may wait
	// (64); beyond it the oldest is dropped.
	MaxLen int
	// MaxAge is how long a status may wait for the forge (1h); a deploy's
	// status older than that misleads more than it informs.
	MaxAge time.Duration
	// BaseDelay and MaxDelay bound the backoff between deliveries while
	// the forge is unavailable (5s, 5m); a longer Retry-After wins.
	BaseDelay, MaxDelay time.Duration
	Logger              *slog.Logger
	// Counters gets the Dropped count; share the Reporter's.
	Counters *Counters
	Jitter   func(time.Duration) time.Duration
}

// Queue is the asynchronous front of a Sender: Set never waits on the
// network, and Run delivers statuses in the order they were first set, the
// newest status for a commit and context replacing any older one still
// waiting. Errors reach the log and the Counters, never the caller.
type Queue struct {
	next     Sender
	log      *slog.Logger
	counters *Counters
	maxLen   int
	maxAge   time.Duration
	backoff  retryDelay

	wake chan struct{} // a status was queued

	mu      sync.Mutex
	waiting []*entry // guarded by mu; first set first
}

type entry struct {
	st    Status
	since time.Time // when st was set
	gen   int       // bumped when a newer status replaces st
}

// NewQueue puts a Queue in front of next. Call Run to deliver.
func NewQueue(next Sender, opts QueueOptions) *Queue {
	q := &Queue{
		next:     next,
		log:      opts.Logger,
		counters: opts.Counters,
		maxLen:   opts.MaxLen,
		maxAge:   opts.MaxAge,
		backoff:  retryDelay{Backoff: backoff.Backoff{Base: opts.BaseDelay, Max: opts.MaxDelay}, jitter: opts.Jitter},
		wake:     make(chan struct{}, 1),
	}
	if q.log == nil {
		q.log = slog.Default()
	}
	if q.counters == nil {
		q.counters = new(Counters)
	}
	if q.maxLen <= 0 {
		q.maxLen = 64
	}
	if q.maxAge <= 0 {
		q.maxAge = time.Hour
	}
	if q.backoff.Base <= 0 {
		q.backoff.Base = 5 * time.Second
	}
	if q.backoff.Max <= 0 {
		q.backoff.Max = 5 * time.Minute
	}
	return q
}

// Set queues st and returns at once. It fails only for a status no forge
// would take (a malformed commit or an unknown state), so that the caller's
// bug shows where it is made.
func (q *Queue) Set(ctx context.Context, st Status) error {
	if err := st.validate(); err != nil {
		return err
	}
	now := time.Now()
	var dropped *entry
	q.mu.Lock()
	if i := q.indexLocked(st.key()); i >= 0 {
		e := q.waiting[i]
		e.st, e.since, e.gen = st, now, e.gen+1
	} else {
		q.waiting = append(q.waiting, &entry{st: st, since: now})
		if len(q.waiting) > q.maxLen {
			dropped = q.waiting[0]
			q.waiting = q.waiting[1:]
		}
	}
	q.mu.Unlock()
	if dropped != nil {
		q.drop(ctx, dropped.st, "queue full")
	}
	select {
	case q.wake <- struct{}{}:
	default: // Run is already due to look
	}
	return nil
}

// Len is the number of statuses waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// Run delivers queued statuses until ctx is done; run one per Queue.
func (q *Queue) Run(ctx context.Context) error {
	failures := 0
	for {
		e, w, ok := q.head()
		if !ok {
			select {
			case <-q.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if ctx.Err() != nil {
			q.log.WarnContext(ctx, "stopping with commit statuses undelivered", "waiting", q.Len())
			return ctx.Err()
		}
		if age := time.Since(w.since); age > q.maxAge {
			q.remove(e, w.gen)
			q.drop(ctx, w.st, "forge unavailable for "+age.Round(time.Second).String())
			continue
		}
		if failures > 0 {
			q.counters.Retries.Add(1)
		}
		err := q.next.Send(ctx, w.st)
		switch {
		case err == nil:
			if failures > 0 {
				q.log.InfoContext(ctx, "forge is back, commit status set", "commit", w.st.Commit, "context", w.st.Context, "state", w.st.State, "failures", failures)
			}
			failures = 0
			q.remove(e, w.gen)
		case ctx.Err() != nil:
			continue // stopping: logged above
		case errors.Is(err, ErrUnavailable):
			failures++
			// The forge's Retry-After wins over the backoff, but no wait
			// outlasts MaxAge: past it the status is dropped anyway.
			wait := min(max(q.backoff.delay(failures), retryAfter(err)), q.maxAge)
			q.log.WarnContext(ctx, "forge unavailable, commit status queued", "commit", w.st.Commit, "context", w.st.Context, "state", w.st.State, "waiting", q.Len(), "retry_in", wait, "err", err)
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		default:
			failures = 0
			q.remove(e, w.gen)
			q.drop(ctx, w.st, err.Error())
		}
	}
}

// head returns the oldest waiting entry and a copy of it, which Set may
// not change under Run's feet.
func (q *Queue) head() (*entry, entry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 {
		return nil, entry{}, false
	}
	e := q.waiting[0]
	return e, *e, true
}

// remove forgets e if no newer status replaced it meanwhile.
func (q *Queue) remove(e *entry, gen int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.gen != gen {
		return
	}
	q.waiting = slices.DeleteFunc(q.waiting, func(x *entry) bool { return x == e })
}

func (q *Queue) indexLocked(k key) int {
	return slices.IndexFunc(q.waiting, func(e *entry) bool { return e.st.key() == k })
}

func (q *Queue) drop(ctx context.Context, st Status, why string) {
	q.counters.Dropped.Add(1)
	q.log.ErrorContext(ctx, "commit status dropped", "commit", st.Commit, "context", st.Context, "state", st.State, "reason", why)
}

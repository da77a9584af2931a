package watch

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/backoff"
)

// listings lets every caller that asks for the remote's refs at about the
// same time share one listing. When fifty environments take their locks at
// once (a branch they all follow moved), fifty connections at the same
// instant are what a stock git daemon resets; with listings they make two.
//
// A caller is only ever given a listing that started after it asked, so a
// push it knows of (the webhook that woke it, its own compare-and-swap) is
// in what it reads. One listing runs at a time; callers that asked while it
// ran wait, the first of them lists again, and the rest take that result.
type listings struct {
	slot chan struct{} // held while a listing runs

	mu     sync.Mutex
	starts uint64  // listings started so far
	last   *listed // the last listing that ended
}

type listed struct {
	seq  uint64 // its place among the starts
	refs map[plumbing.ReferenceName]RemoteRef
	err  error
}

func newListings() *listings {
	return &listings{slot: make(chan struct{}, 1)}
}

// get returns a listing that started after the call, made by list or
// shared with other callers. The map is shared: callers must not change it.
func (l *listings) get(ctx context.Context, list func(context.Context) (map[plumbing.ReferenceName]RemoteRef, error)) (map[plumbing.ReferenceName]RemoteRef, error) {
	l.mu.Lock()
	asked := l.starts
	l.mu.Unlock()
	select {
	case l.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.slot }()

	l.mu.Lock()
	if last := l.last; last != nil && last.seq > asked {
		l.mu.Unlock()
		return last.refs, last.err
	}
	l.starts++
	seq := l.starts
	l.mu.Unlock()

	refs, err := list(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// This caller gave up; the others still want an answer and list
		// again themselves.
		l.last = nil
	} else {
		l.last = &listed{seq: seq, refs: refs, err: err}
	}
	return refs, err
}

// listRetries is how often a listing that failed on a transient error (a
// connection reset by a busy server) is tried again at once, after a short
// jittered pause, before the caller hears of it.
const listRetries = 2

// listBackoff spaces those tries.
func listBackoff() backoff.Backoff {
	return backoff.Backoff{Base: 250 * time.Millisecond, Max: 2 * time.Second}
}

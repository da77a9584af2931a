// Package lock holds one deploy per environment across every agent: a lease
// kept as the ref refs/ferry/locks/<env> on the project's git remote, whose
// commit records the holder, when it was acquired and when it expires. The
// lease is taken, renewed and released with compare-and-swap pushes, so the
// git server decides every race; an expired lease may be stolen. It knows
// nothing of AWS or of deploy steps.
package lock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Remote is what the locker needs from the local mirror (watch.Mirror
// provides it).
type Remote interface {
	// WithRepository runs fn with exclusive use of the repository.
	WithRepository(fn func(*git.Repository) error) error
	Sync(ctx context.Context, name plumbing.ReferenceName) (plumbing.Hash, error)
	PushCAS(ctx context.Context, name plumbing.ReferenceName, oldHash, newHash plumbing.Hash) (bool, error)
}

// ErrHeld: another agent holds an unexpired lease. Errors that match it are
// *HeldError, which says who and until when.
var ErrHeld = errors.New("lock held")

// ErrLost: the lease was taken over or removed by someone else (it expired
// while we held it, or an operator deleted it). Stop and report.
var ErrLost = errors.New("lock lost")

// HeldError reports the current holder.
type HeldError struct {
	Env     string
	Holder  string
	Expires time.Time
	// LostRace is set when the lease looked free but another agent's
	// compare-and-swap push landed first.
	LostRace bool
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lock for %s held by %s until %s", e.Env, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Lease is a held lock.
type Lease struct {
	Env      string
	Holder   string
	Acquired time.Time
	Expires  time.Time
	commit   plumbing.Hash
}

// Locker takes leases for one agent.
type Locker struct {
	Remote Remote
	// Holder names this agent in the lease, e.g. "bastion-1/pid 4242".
	Holder string
	// TTL is how long a lease lasts without renewal; default 10m. Renewals
	// happen every TTL/3, so clocks of agents must agree to well within it.
	TTL time.Duration
	// Exited, when set, reports whether a lease's holder is known to have
	// stopped (a process on this host that no longer runs). Its lease is
	// taken over at once instead of after it expires: a restarted agent
	// recovers the deploy its predecessor left without waiting out the
	// lease. Only a certain answer may be true; when in doubt, false.
	Exited func(holder string) bool
	Logger *slog.Logger
}

func (l *Locker) ttl() time.Duration {
	if l.TTL <= 0 {
		return 10 * time.Minute
	}
	return l.TTL
}

func (l *Locker) log() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

// Ref is the lock ref of env.
func Ref(env string) plumbing.ReferenceName { return plumbing.ReferenceName(watch.LockRefPrefix + env) }

// Acquire takes env's lease: created when there is none, taken over when the
// current one has expired, is this holder's own (left by a restart) or
// belongs to a holder that Exited reports gone.
// Otherwise, or when another agent wins the race, it returns a *HeldError.
func (l *Locker) Acquire(ctx context.Context, env string) (*Lease, error) {
	if l.Holder == "" || strings.ContainsAny(l.Holder, "\n") {
		return nil, fmt.Errorf("lock holder name %q is empty or has a newline", l.Holder)
	}
	if err := plumbing.ReferenceName(Ref(env)).Validate(); err != nil || env == "" {
		return nil, fmt.Errorf("bad environment name %q for a lock ref", env)
	}
	ref := Ref(env)
	cur, err := l.Remote.Sync(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("read lock %s: %w", env, err)
	}
	now := time.Now().UTC()
	if !cur.IsZero() {
		held, err := l.read(env, cur)
		if err != nil {
			return nil, err
		}
		switch {
		case held.Holder == l.Holder:
			l.log().Info("taking over our own lease left by an earlier run", "env", env)
		case l.Exited != nil && l.Exited(held.Holder):
			l.log().Warn("taking over the lease of an agent that has exited", "env", env, "holder", held.Holder, "expires", held.Expires)
		case now.Before(held.Expires):
			return nil, &HeldError{Env: env, Holder: held.Holder, Expires: held.Expires}
		default:
			l.log().Warn("stealing an expired lease", "env", env, "holder", held.Holder, "expired", held.Expires)
		}
	}
	lease := &Lease{Env: env, Holder: l.Holder, Acquired: now, Expires: now.Add(l.ttl())}
	next, err := l.write(lease, cur)
	if err != nil {
		return nil, err
	}
	ok, err := l.Remote.PushCAS(ctx, ref, cur, next)
	if err != nil {
		return nil, fmt.Errorf("take lock %s: %w", env, err)
	}
	if !ok {
		// Lost the race: report the winner if we can see it.
		if h, err := l.Remote.Sync(ctx, ref); err == nil && !h.IsZero() {
			if w, err := l.read(env, h); err == nil {
				return nil, &HeldError{Env: env, Holder: w.Holder, Expires: w.Expires, LostRace: true}
			}
		}
		return nil, &HeldError{Env: env, Holder: "another agent", LostRace: true}
	}
	lease.commit = next
	return lease, nil
}

// Renew extends the lease by TTL from now. ErrLost if it is no longer ours.
func (l *Locker) Renew(ctx context.Context, lease *Lease) error {
	renewed := *lease
	renewed.Expires = time.Now().UTC().Add(l.ttl())
	next, err := l.write(&renewed, lease.commit)
	if err != nil {
		return err
	}
	ok, err := l.Remote.PushCAS(ctx, Ref(lease.Env), lease.commit, next)
	if err != nil {
		return fmt.Errorf("renew lock %s: %w", lease.Env, err)
	}
	if !ok {
		return fmt.Errorf("renew lock %s: %w", lease.Env, ErrLost)
	}
	renewed.commit = next
	*lease = renewed
	return nil
}

// Release deletes the lease. ErrLost if it was no longer ours (then nothing
// is deleted: the ref belongs to whoever holds it now).
func (l *Locker) Release(ctx context.Context, lease *Lease) error {
	ok, err := l.Remote.PushCAS(ctx, Ref(lease.Env), lease.commit, plumbing.ZeroHash)
	if err != nil {
		return fmt.Errorf("release lock %s: %w", lease.Env, err)
	}
	if !ok {
		return fmt.Errorf("release lock %s: %w", lease.Env, ErrLost)
	}
	return nil
}

// KeepAlive renews the lease every TTL/3 until ctx ends. If a renewal finds
// the lease lost it sends ErrLost on the returned channel and stops; failed
// renewals (remote down) are retried at the next tick while the lease has
// not expired. The channel is closed when KeepAlive stops.
func (l *Locker) KeepAlive(ctx context.Context, lease *Lease) <-chan error {
	out := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(l.ttl() / 3):
			}
			err := l.Renew(ctx, lease)
			switch {
			case err == nil:
			case ctx.Err() != nil:
				return
			case errors.Is(err, ErrLost), !time.Now().Before(lease.Expires):
				out <- err
				return
			default:
				l.log().Warn("renewing lock failed; retrying", "env", lease.Env, "err", err)
			}
		}
	}()
	return out
}

// Inspect reads env's current lease from the remote; nil when unlocked.
func (l *Locker) Inspect(ctx context.Context, env string) (*Lease, error) {
	h, err := l.Remote.Sync(ctx, Ref(env))
	if err != nil || h.IsZero() {
		return nil, err
	}
	return l.read(env, h)
}

const msgPrefix = "ferry lock: "

func (l *Locker) write(lease *Lease, parent plumbing.Hash) (h plumbing.Hash, err error) {
	err = l.Remote.WithRepository(func(repo *git.Repository) error {
		h, err = l.writeCommit(repo, lease, parent)
		return err
	})
	return h, err
}

func (l *Locker) writeCommit(repo *git.Repository, lease *Lease, parent plumbing.Hash) (plumbing.Hash, error) {
	s := repo.Storer
	to := s.NewEncodedObject()
	if err := (&object.Tree{}).Encode(to); err != nil {
		return plumbing.ZeroHash, err
	}
	tree, err := s.SetEncodedObject(to)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sig := object.Signature{Name: "Ferry", Email: "ferry@localhost", When: time.Now().UTC()}
	c := &object.Commit{
		Author: sig, Committer: sig, TreeHash: tree,
		Message: leaseMessage(lease),
	}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	o := s.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(o)
}

func (l *Locker) read(env string, h plumbing.Hash) (*Lease, error) {
	var c *object.Commit
	err := l.Remote.WithRepository(func(repo *git.Repository) error {
		var err error
		c, err = object.GetCommit(repo.Storer, h)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read lock %s commit %s: %w", env, h, err)
	}
	lease, err := parseLease(env, h, c.Message)
	if err != nil {
		return nil, err
	}
	if lease.Holder == "" || lease.Expires.IsZero() {
		// Unreadable: treat as expired so a broken ref cannot block deploys
		// forever, but say so.
		l.log().Warn("lock ref holds no readable lease; treating it as expired", "env", env, "commit", h)
		lease.Holder = "unknown"
	}
	return lease, nil
}

// leaseMessage is the message of a lease's commit.
func leaseMessage(lease *Lease) string {
	return fmt.Sprintf("%s%s\n\nholder: %s\nacquired: %s\nexpires: %s\n", msgPrefix, lease.Env,
		lease.Holder, lease.Acquired.UTC().Format(time.RFC3339Nano), lease.Expires.UTC().Format(time.RFC3339Nano))
}

// parseLease reads a lease's commit message (anyone who can push may have
// written it). A time that does not parse is an error naming the lock and
// the commit: the lease may be live, in a form this Ferry does not read,
// and taking it over could run two deploys at once.
func parseLease(env string, h plumbing.Hash, message string) (*Lease, error) {
	lease := &Lease{Env: env, commit: h}
	for _, line := range strings.Split(message, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "holder":
			lease.Holder = v
		case "acquired", "expires":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, fmt.Errorf("lock %s commit %s: %s: %w", env, h, k, err)
			}
			if k == "acquired" {
				lease.Acquired = t
			} else {
				lease.Expires = t
			}
		}
	}
	return lease, nil
}

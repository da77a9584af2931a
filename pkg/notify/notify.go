// Package notify tells people what a deploy did, where they look: a Slack
// channel (incoming webhook), any HTTP endpoint (a JSON body signed with
// HMAC-SHA256) or a local command (the event as JSON on stdin).
//
// Sending never holds a deploy up: Notify only queues an event, each
// target has its own bounded queue and sender, a full queue drops the event
// (counted and logged), and a failed send is retried with jittered backoff
// a few times, then given up on. Events carry no secrets: a target's URL
// and signing secret stay with the target and are never logged.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/pkg/backoff"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// The kinds of event, named once in the config's vocabulary.
const (
	Started          = config.EventStarted
	Succeeded        = config.EventSucceeded
	RolledBack       = config.EventRolledBack
	Failed           = config.EventFailed
	AwaitingApproval = config.EventAwaitingApproval
	BakeFailed       = config.EventBakeFailed
)

// Event is what happened to a deploy. It is sent as JSON as is (webhook,
// exec) or as the text of a Slack message.
type Event struct {
	Event       string `json:"event"`
	Project     string `json:"project"`
	Environment string `json:"environment"`
	Commit      string `json:"commit"`
	Method      string `json:"method,omitempty"`
	// Summary is the plan's summary ("full deploy of web, worker …").
	Summary string `json:"summary,omitempty"`
	// Reason says why a deploy failed, rolled back or waits.
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Target delivers one event; an error is retried.
type Target interface {
	Send(ctx context.Context, ev Event) error
}

// Route is a target and the events it wants: empty Environments or Events
// match every one.
type Route struct {
	// Name is how logs and metrics name the target (never its URL, which
	// may hold a token).
	Name         string
	Target       Target
	Environments []string
	Events       []string
}

func (r Route) matches(ev Event) bool {
	return (len(r.Environments) == 0 || slices.Contains(r.Environments, ev.Environment)) &&
		(len(r.Events) == 0 || slices.Contains(r.Events, ev.Event))
}

// Options tune a Notifier; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// QueueSize is how many events wait per target before new ones are
	// dropped (default 64).
	QueueSize int
	// Attempts bounds the sends of one event to one target (default 5).
	Attempts int
	// Backoff spaces the attempts (default 1s doubling to 1m).
	Backoff backoff.Backoff
	// Timeout bounds one attempt (default 30s).
	Timeout time.Duration
	// Rand returns jitter draws in [0,1); default math/rand/v2.
	Rand func() float64
	// Dropped is called with a target's name when its queue was full.
	Dropped func(target string)
	// Delivered is called once per event and target after its last
	// attempt, with the last error (nil when sent).
	Delivered func(target string, ev Event, err error)
}

// Notifier fans events out to routes.
type Notifier struct {
	opts   Options
	log    *slog.Logger
	routes []route
	wg     sync.WaitGroup
}

type route struct {
	Route
	queue chan Event
}

// New prepares a Notifier; Run sends.
func New(routes []Route, opts Options) *Notifier {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff.Base <= 0 {
		opts.Backoff = backoff.Backoff{Base: time.Second, Max: time.Minute}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	n := &Notifier{opts: opts, log: opts.Logger}
	for _, r := range routes {
		n.routes = append(n.routes, route{Route: r, queue: make(chan Event, opts.QueueSize)})
	}
	return n
}

// Notify queues ev for every route that wants it and returns at once. It
// is safe on a nil Notifier (no targets).
func (n *Notifier) Notify(ev Event) {
	if n == nil {
		return
	}
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	for _, r := range n.routes {
		if !r.matches(ev) {
			continue
		}
		select {
		case r.queue <- ev:
		default:
			n.log.Warn("notification dropped: the target's queue is full", "target", r.Name, "event", ev.Event, "env", ev.Environment, "commit", ev.Commit)
			if n.opts.Dropped != nil {
				n.opts.Dropped(r.Name)
			}
		}
	}
}

// Send delivers ev now to every route that wants it, each with its
// retries, and returns once all are done or ctx ends: for a command that
// exits when it has told (ferry bake), where Notify's queues would die
// with the process. The error joins the routes' last ones; like Notify it
// never fails what it reports on, so callers log it and go on.
func (n *Notifier) Send(ctx context.Context, ev Event) error {
	if n == nil {
		return nil
	}
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for i := range n.routes {
		r := &n.routes[i]
		if !r.matches(ev) {
			continue
		}
		wg.Go(func() {
			err := n.deliver(ctx, r, ev)
			if n.opts.Delivered != nil {
				n.opts.Delivered(r.Name, ev, err)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("notify %s: %w", r.Name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Run sends queued events until ctx ends, then returns once every sender
// has stopped; events still queued then are not sent.
func (n *Notifier) Run(ctx context.Context) {
	if n == nil {
		return
	}
	for i := range n.routes {
		n.wg.Go(func() { n.sender(ctx, &n.routes[i]) })
	}
	n.wg.Wait()
}

func (n *Notifier) sender(ctx context.Context, r *route) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.queue:
			err := n.deliver(ctx, r, ev)
			if n.opts.Delivered != nil {
				n.opts.Delivered(r.Name, ev, err)
			}
		}
	}
}

// deliver sends ev to r, retrying with backoff.
func (n *Notifier) deliver(ctx context.Context, r *route, ev Event) error {
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
		err = r.Target.Send(actx, ev)
		cancel()
		if err == nil {
			n.log.Debug("notification sent", "target", r.Name, "event", ev.Event, "env", ev.Environment, "attempt", attempt)
			return nil
		}
		if attempt >= n.opts.Attempts || ctx.Err() != nil {
			n.log.Warn("notification not sent", "target", r.Name, "event", ev.Event, "env", ev.Environment, "attempts", attempt, "err", err)
			return err
		}
		wait := n.opts.Backoff.Delay(attempt, n.opts.Rand())
		n.log.Info("notification failed; retrying", "target", r.Name, "event", ev.Event, "env", ev.Environment, "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/backoff"
	"github.com/ferry-deploy/ferry/pkg/commit"
)

// LockRefPrefix is where pkg/lock keeps each environment's lease
// (refs/ferry/locks/<env>): the one definition of that namespace, which
// the watcher fetches, prunes and keeps through compaction.
const LockRefPrefix = "refs/ferry/locks/"

// Options configure a Watcher. Mirror and Rules are required.
type Options struct {
	Mirror *Mirror
	Rules  []Rule
	// Schedule of polls; default Every(time.Minute).
	Schedule Schedule
	// StateDir holds watch-state.json (last emitted targets). Empty: kept
	// in memory only.
	StateDir string
	// NotesRef is fetched alongside watched refs when it moved
	// (project.git.notes_ref); empty: no notes are fetched.
	NotesRef string
	// Backoff after failed polls; default 5s doubling to 5m.
	Backoff backoff.Backoff
	// Compact says when to repack the mirror after a fetch.
	Compact CompactPolicy
	// Rand returns jitter draws in [0,1); default math/rand/v2.
	Rand   func() float64
	Logger *slog.Logger
}

// Watcher polls the remote and works out each environment's target.
type Watcher struct {
	opts    Options
	log     *slog.Logger
	trigger chan struct{}

	pollMu sync.Mutex // one poll at a time; guards state and warned
	state  targetState
	warned map[string]bool

	statusMu sync.Mutex
	status   Status
}

// Status is the watcher's health, for logs and the status command.
type Status struct {
	LastSuccess time.Time
	Failures    int // consecutive
	LastError   error
}

// New checks the options and loads the persisted state.
func New(opts Options) (*Watcher, error) {
	if opts.Mirror == nil {
		return nil, fmt.Errorf("watch: no mirror: %w", ErrPermanent)
	}
	envs := map[string]bool{}
	for _, r := range opts.Rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if envs[r.Env] {
			return nil, fmt.Errorf("two rules for environment %s: %w", r.Env, ErrPermanent)
		}
		envs[r.Env] = true
	}
	if opts.Schedule == nil {
		opts.Schedule = Every(time.Minute)
	}
	if opts.Backoff.Base <= 0 {
		opts.Backoff.Base = 5 * time.Second
	}
	if opts.Backoff.Max < opts.Backoff.Base {
		opts.Backoff.Max = max(5*time.Minute, opts.Backoff.Base)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{opts: opts, log: opts.Logger, trigger: make(chan struct{}, 1), warned: map[string]bool{}}
	st, err := loadState(w.stateFile())
	if err != nil {
		return nil, err
	}
	w.state = st
	return w, nil
}

func (w *Watcher) stateFile() string {
	if w.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(w.opts.StateDir, "watch-state.json")
}

// Trigger asks Run for an immediate poll (from a webhook). It never blocks;
// triggers that arrive during a poll fold into one.
func (w *Watcher) Trigger() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// Status reports the watcher's health.
func (w *Watcher) Status() Status {
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	return w.status
}

// Current is the last target emitted for env, if any.
func (w *Watcher) Current(env string) (Target, bool) {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	s, ok := w.state.Targets[env]
	if !ok {
		return Target{}, false
	}
	return s.target(env), true
}

// Run polls on the schedule, on Trigger, and after failures with backoff,
// sending each changed target on out, until ctx ends. Failures never stop
// it: the last known targets are kept and it recovers when the remote does.
// It also compacts the mirror on the compaction policy's own schedule.
func (w *Watcher) Run(ctx context.Context, out chan<- Target) error {
	tidy := w.opts.Compact.withDefaults()
	tidy.Tidy = true
	// After a poll once the time has come, rather than on a timer of its
	// own: compaction and fetches take the same lock anyway.
	nextTidy := time.Now().Add(tidy.Every)
	for {
		targets, err := w.Poll(ctx)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st := w.Status()
			wait = w.opts.Backoff.Delay(st.Failures, w.opts.Rand())
			w.log.Error("poll failed; keeping last known targets", "err", err, "failures", st.Failures, "retry_in", wait)
		} else {
			for _, t := range targets {
				select {
				case out <- t:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			now := time.Now()
			wait = w.opts.Schedule.Next(now).Sub(now)
		}
		if now := time.Now(); !now.Before(nextTidy) {
			// Housekeeping: a failure is logged, not a failed poll.
			if _, err := w.opts.Mirror.Compact(tidy, now); err != nil {
				w.log.Warn("compacting the mirror failed", "err", err)
			}
			nextTidy = now.Add(tidy.Every)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		case <-w.trigger:
			timer.Stop()
		}
	}
}

// Poll lists the remote's refs, fetches only those that moved, and returns
// the environments whose target changed since the last emitted one.
func (w *Watcher) Poll(ctx context.Context) ([]Target, error) {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	targets, err := w.pollLocked(ctx)
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	if err != nil {
		w.status.Failures++
		w.status.LastError = err
		return nil, err
	}
	if w.status.Failures > 0 {
		w.log.Info("remote reachable again", "after_failures", w.status.Failures)
	}
	w.status.Failures, w.status.LastError = 0, nil
	w.status.LastSuccess = time.Now()
	return targets, nil
}

func (w *Watcher) pollLocked(ctx context.Context) ([]Target, error) {
	targets, err := w.pollOnce(ctx)
	if errors.Is(err, ErrRefGone) { // deleted between listing and fetching
		targets, err = w.pollOnce(ctx)
	}
	return targets, err
}

func (w *Watcher) pollOnce(ctx context.Context) ([]Target, error) {
	m := w.opts.Mirror
	refs, err := m.ListRemote(ctx)
	if err != nil {
		return nil, err
	}
	wanted := w.wanted(refs)

	// Fetch only what moved: the refs environments want, and the notes and
	// lock refs that other packages read from the mirror.
	var fetch []plumbing.ReferenceName
	for _, r := range wanted {
		if m.LocalRef(r.Name) != r.Hash {
			fetch = append(fetch, r.Name)
		}
	}
	locksMoved := false
	for name, r := range refs {
		switch {
		case name.String() == w.opts.NotesRef && m.LocalRef(name) != r.Hash:
			fetch = append(fetch, name)
		case strings.HasPrefix(name.String(), LockRefPrefix) && m.LocalRef(name) != r.Hash:
			locksMoved = true
		}
	}
	if locksMoved {
		// Locks come and go during deploys; a wildcard does not fail when
		// one is released between the listing and the fetch.
		fetch = append(fetch, LockRefPrefix+"*")
	}
	sort.Slice(fetch, func(i, j int) bool { return fetch[i] < fetch[j] })
	if err := m.Fetch(ctx, fetch...); err != nil {
		return nil, err
	}
	if len(fetch) > 0 {
		// Compaction is housekeeping: a failure is logged, not a failed poll.
		if _, err := m.Compact(w.opts.Compact, time.Now()); err != nil {
			w.log.Warn("compacting the mirror failed", "err", err)
		}
	}
	if err := w.pruneLocked(refs); err != nil {
		return nil, err
	}

	var changed []Target
	for _, rule := range w.opts.Rules {
		r, ok := wanted[rule.Env]
		if !ok {
			continue
		}
		last, had := w.state.Targets[rule.Env]
		id := commit.FromSHA1(r.Commit)
		if had && last.Ref == r.Name.String() && last.Commit == id {
			continue
		}
		t := Target{Env: rule.Env, Ref: r.Name.String(), Commit: id}
		if rule.Branch != "" && had && last.Ref == t.Ref {
			prev := last.Commit
			ok, err := m.DescendsFrom(hashOf(prev), r.Commit)
			switch {
			case err != nil:
				w.log.Warn("cannot tell whether branch was force-pushed", "env", t.Env, "ref", t.Ref, "previous", prev, "err", err)
			case !ok:
				t.Forced = true
				w.log.Warn("branch force-pushed: new head does not descend from the previous target", "env", t.Env, "ref", t.Ref, "previous", prev, "commit", t.Commit)
			}
		}
		changed = append(changed, t)
		w.state.Targets[t.Env] = savedTarget{Ref: t.Ref, Commit: t.Commit}
		w.clearWarnings(t.Env)
	}
	if len(changed) > 0 {
		if err := w.state.save(w.stateFile()); err != nil {
			return nil, err
		}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].Env < changed[j].Env })
	return changed, nil
}

// wanted picks each environment's ref from the remote's refs. Environments
// with no valid ref (deleted branch, no matching tag, only older tags) are
// absent: no target, a warning, and nothing undeployed.
func (w *Watcher) wanted(refs map[plumbing.ReferenceName]RemoteRef) map[string]RemoteRef {
	out := map[string]RemoteRef{}
	for _, rule := range w.opts.Rules {
		last, had := w.state.Targets[rule.Env]
		if rule.Branch != "" {
			name := plumbing.NewBranchReferenceName(rule.Branch)
			r, ok := refs[name]
			if !ok {
				w.warnOnce(rule.Env, "branch-gone:"+rule.Branch, "watched branch is missing on the remote; no target, nothing undeployed",
					"env", rule.Env, "branch", rule.Branch)
				continue
			}
			out[rule.Env] = r
			continue
		}
		tags, invalid := rule.matchTags(refs)
		for _, name := range invalid {
			w.warnOnce("", "invalid-tag:"+name, "tag matches the pattern but is not a semantic version (major.minor.patch); ignored",
				"env", rule.Env, "tag", name, "pattern", rule.TagPattern)
		}
		if len(tags) == 0 {
			w.warnOnce(rule.Env, "no-tags:"+rule.TagPattern, "no tag matches the pattern; no target, nothing undeployed",
				"env", rule.Env, "pattern", rule.TagPattern)
			continue
		}
		best := tags[0]
		if had && strings.HasPrefix(last.Ref, "refs/tags/") {
			lastV, err := semver.NewVersion(strings.TrimPrefix(last.Ref, "refs/tags/"))
			if err == nil && best.version.LessThan(lastV) {
				w.warnOnce(rule.Env, "older-tag:"+best.ref.Name.String(), "highest matching tag is older than the previous target (was a tag deleted?); not a target",
					"env", rule.Env, "tag", best.ref.Name.Short(), "previous", last.Ref)
				continue
			}
		}
		out[rule.Env] = best.ref
	}
	return out
}

// pruneLocked deletes mirror refs in the namespaces Ferry fetches (watched
// branches, tags, notes, locks) that the remote no longer has.
func (w *Watcher) pruneLocked(refs map[plumbing.ReferenceName]RemoteRef) error {
	local, err := w.opts.Mirror.LocalRefs()
	if err != nil {
		return err
	}
	watchedBranch := map[plumbing.ReferenceName]bool{}
	for _, r := range w.opts.Rules {
		if r.Branch != "" {
			watchedBranch[plumbing.NewBranchReferenceName(r.Branch)] = true
		}
	}
	var gone []plumbing.ReferenceName
	for _, name := range local {
		if _, ok := refs[name]; ok {
			continue
		}
		if watchedBranch[name] || name.IsTag() || name.String() == w.opts.NotesRef || strings.HasPrefix(name.String(), LockRefPrefix) {
			gone = append(gone, name)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	w.log.Info("refs deleted on the remote; removing them from the mirror", "refs", gone)
	return w.opts.Mirror.DeleteLocal(gone...)
}

func (w *Watcher) warnOnce(env, key, msg string, args ...any) {
	k := env + "\x00" + key
	if w.warned[k] {
		return
	}
	w.warned[k] = true
	w.log.Warn(msg, args...)
}

func (w *Watcher) clearWarnings(env string) {
	for k := range w.warned {
		if strings.HasPrefix(k, env+"\x00") {
			delete(w.warned, k)
		}
	}
}

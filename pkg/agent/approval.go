package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/notify"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/status"
	"github.com/ferry-deploy/ferry/pkg/status/forge"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Awaiting is a deploy the agent planned and does not start until a person
// approves it (policy.approve): the control file awaiting-<env>.json.
type Awaiting struct {
	Commit  commit.ID   `json:"commit"`
	Ref     string      `json:"ref,omitempty"`
	Method  plan.Method `json:"method"`
	Summary string      `json:"summary"`
	Since   time.Time   `json:"since"`
}

// Decision is a person's answer to an awaiting deploy (ferry approve or
// ferry reject): the control file approval-<env>.json.
type Decision struct {
	Commit   commit.ID `json:"commit"`
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason,omitempty"`
}

// AwaitingState returns env's deploy awaiting approval, or nil.
func (c Control) AwaitingState(env string) (*Awaiting, error) {
	var a Awaiting
	ok, err := c.read(c.path("awaiting", env), &a)
	if !ok {
		return nil, err
	}
	return &a, nil
}

// DecisionState returns the answer given to env's awaiting deploy, or nil.
func (c Control) DecisionState(env string) (*Decision, error) {
	var d Decision
	ok, err := c.read(c.path("approval", env), &d)
	if !ok {
		return nil, err
	}
	return &d, nil
}

// errNeedsApproval stops a deploy whose plan under the lock needs an
// approval it does not have.
var errNeedsApproval = errors.New("the deploy needs approval (policy.approve)")

// ErrNotAwaiting: ferry approve or reject named a commit the environment
// does not await approval for.
var ErrNotAwaiting = errors.New("not awaiting approval")

// Decide records d as the answer to env's awaiting deploy, which must be
// of d.Commit (given in full, or as a prefix of at least 7 digits as the
// ferry approve command line takes it: the full id is filled in).
func (c Control) Decide(env, sha string, d Decision) (Decision, error) {
	a, err := c.AwaitingState(env)
	if err != nil {
		return d, err
	}
	sha = strings.ToLower(strings.TrimSpace(sha))
	if a == nil {
		return d, fmt.Errorf("%s: %w: no deploy of it waits for one", env, ErrNotAwaiting)
	}
	if len(sha) < 7 || !strings.HasPrefix(a.Commit.String(), sha) {
		return d, fmt.Errorf("%s: %w of %q: the deploy waiting is of %s (%s)", env, ErrNotAwaiting, sha, a.Commit.Short(), a.Summary)
	}
	d.Commit = a.Commit
	return d, c.write(c.path("approval", env), d)
}

func (c Control) clearApproval(env string) error {
	return errors.Join(c.remove(c.path("awaiting", env)), c.remove(c.path("approval", env)))
}

// needsApproval reports whether env's policy wants a person to approve a
// deploy by method m.
func needsApproval(env *config.Environment, m plan.Method) bool {
	return slices.Contains(env.Policy.Approve, string(m))
}

// approval is the look at an environment whose policy asks for approval,
// before its deploy windows are looked at (a deploy may be approved
// outside them, and then starts when one opens). It returns the state the
// environment is left in when the agent must not deploy now, or ok to go
// on: nothing to approve, or approved.
func (a *Agent) approval(ctx context.Context, env *config.Environment, d *Deployer, t *watch.Target, in plan.Input) (EnvState, bool) {
	log := a.log.With("env", env.Name)
	state := func(s, detail string) EnvState {
		return EnvState{Env: env.Name, State: s, Detail: detail, Target: t.Commit}
	}
	aw, err := a.control.AwaitingState(env.Name)
	if err != nil {
		log.Error("cannot read the deploy awaiting approval", "err", err)
		return EnvState{}, false
	}
	dec, err := a.control.DecisionState(env.Name)
	if err != nil {
		log.Error("cannot read the approval", "err", err)
		return EnvState{}, false
	}
	if aw != nil && aw.Commit != t.Commit {
		// A newer commit supersedes the one awaiting: it is never
		// deployed, and its approval (if any) does not carry over.
		log.Info("deploy awaiting approval superseded by a newer commit", "commit", aw.Commit, "by_commit", t.Commit)
		now := time.Now().UTC()
		d.note(ctx, aw.Commit, status.Record{Env: env.Name, Method: string(aw.Method), Outcome: status.Superseded, Started: aw.Since, Ended: now,
			Host: d.host, Reason: "superseded by " + t.Commit.Short() + " before it was approved"})
		d.setStatus(ctx, forge.Status{Commit: aw.Commit, Ref: aw.Ref, State: forge.StateError,
			Description: fmt.Sprintf("Not deployed to %s: superseded by %s", env.Name, t.Commit.Short())})
		if err := a.control.clearApproval(env.Name); err != nil {
			log.Error("cannot clear the superseded approval", "err", err)
		}
		aw, dec = nil, nil
	}
	if aw != nil && dec != nil && dec.Commit == aw.Commit {
		if !dec.Approved {
			log.Warn("deploy rejected", "commit", aw.Commit, "by", dec.By, "at", dec.At, "reason", dec.Reason)
			reason := "rejected by " + dec.By
			if dec.Reason != "" {
				reason += ": " + dec.Reason
			}
			d.note(ctx, aw.Commit, status.Record{Env: env.Name, Method: string(aw.Method), Outcome: status.Rejected, Started: aw.Since, Ended: dec.At,
				Host: d.host, By: dec.By, Reason: dec.Reason})
			d.setStatus(ctx, forge.Status{Commit: aw.Commit, Ref: aw.Ref, State: forge.StateError,
				Description: fmt.Sprintf("Not deployed to %s: %s", env.Name, reason)})
			if err := a.control.clearApproval(env.Name); err != nil {
				log.Error("cannot clear the rejected approval", "err", err)
			}
			return a.block(env.Name, Blocked{Commit: aw.Commit, Outcome: "rejected", Reason: reason, At: dec.At}), false
		}
		return EnvState{}, true
	}
	// Plan (reading only, no lock, as every look does) to see whether
	// this deploy needs approval. A plan that fails is left to the
	// deploy, which decides and records it under the lock.
	p, err := plan.Make(ctx, d.cloud, Repo{Mirror: d.mirror}, in)
	if err != nil && aw != nil {
		return state(StateAwaitingApproval, fmt.Sprintf("%s; ferry approve %s %s", aw.Summary, env.Name, aw.Commit.Short())), false
	}
	if err != nil || p.Action != plan.Deploy || !needsApproval(env, p.Method) {
		if aw != nil {
			// Deployed meanwhile (ferry deploy by hand), or no longer
			// a deploy that needs approval: nothing awaits any more.
			log.Info("deploy no longer awaits approval", "commit", aw.Commit, "action", p.Action, "method", p.Method)
			if err := a.control.clearApproval(env.Name); err != nil {
				log.Error("cannot clear the approval", "err", err)
			}
		}
		return EnvState{}, true
	}
	if aw != nil {
		return state(StateAwaitingApproval, fmt.Sprintf("%s; ferry approve %s %s", aw.Summary, env.Name, aw.Commit.Short())), false
	}
	if err := d.verify(ctx, p.Target); err != nil {
		// Nobody is asked about a commit whose signature is refused
		// (verify recorded it); one not checkable yet is left to the
		// deploy, which tries again.
		if plan.IsRefused(err) {
			log.Error("deploy refused; waiting for a new commit or ferry retry", "commit", t.Commit, "err", err)
			return a.block(env.Name, Blocked{Commit: t.Commit, Outcome: "refused", Reason: err.Error(), At: time.Now().UTC()}), false
		}
		return EnvState{}, true
	}
	aw = &Awaiting{Commit: p.Target.Commit, Ref: p.Target.Ref, Method: p.Method, Summary: planSummary(p), Since: time.Now().UTC()}
	if err := a.control.write(a.control.path("awaiting", env.Name), aw); err != nil {
		log.Error("cannot record the deploy awaiting approval", "err", err)
		return EnvState{}, false
	}
	log.Info("deploy awaiting approval", "commit", aw.Commit, "method", aw.Method, "summary", aw.Summary)
	d.note(ctx, aw.Commit, status.Record{Env: env.Name, Method: string(aw.Method), Outcome: status.AwaitingApproval, Started: aw.Since,
		Previous: p.Deployed.Commit.String(), Host: d.host, Reason: aw.Summary})
	d.setStatus(ctx, forge.Status{Commit: aw.Commit, Ref: aw.Ref, State: forge.StatePending,
		Description: "Awaiting approval: " + aw.Summary})
	a.notifier.Notify(a.event(notify.AwaitingApproval, env.Name, p, "ferry approve "+env.Name+" "+aw.Commit.Short()))
	return state(StateAwaitingApproval, fmt.Sprintf("%s; ferry approve %s %s", aw.Summary, env.Name, aw.Commit.Short())), false
}

// approved records, when the deploy of c was approved, who approved it
// (the agent's log and a note) as it starts.
func (a *Agent) approved(ctx context.Context, env *config.Environment, d *Deployer, p *plan.Plan) {
	dec, err := a.control.DecisionState(env.Name)
	if err != nil || dec == nil || !dec.Approved || dec.Commit != p.Target.Commit {
		return
	}
	a.log.Info("deploy approved", "env", env.Name, "commit", dec.Commit, "by", dec.By, "at", dec.At)
	d.note(ctx, dec.Commit, status.Record{Env: env.Name, Method: string(p.Method), Outcome: status.Approved, Started: dec.At, Ended: dec.At,
		Host: d.host, By: dec.By, Reason: dec.Reason})
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/status"
	"github.com/ferry-deploy/ferry/pkg/status/forge"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Cloud is what a deploy reads and changes in AWS.
type Cloud interface {
	plan.Cloud
	execute.Cloud
	bake.Cloud
	bake.Console
}

// Deployer carries out the deploys of one environment: lock, recovery,
// plan, confirmation, execution and the record of the outcome.
type Deployer struct {
	cfg    *config.Config
	env    *config.Environment
	mirror *watch.Mirror
	cloud  Cloud
	log    *slog.Logger // with env=NAME
	base   *slog.Logger // without: the executor adds its own
	host   string       // this process, as notes name it: HOST/pid N
	holder string       // this process, as leases name it (see procSpace.holder)
	// exited reports whether a lease's holder is a process of this
	// machine that no longer runs (see procSpace.exited).
	exited func(holder string) bool
	// hooks builds a deploy's hooks; default NewHooks (SSH).
	hooks HooksFunc
	// dialer, when not nil, makes the SSH connections of the hooks and
	// bakes (see Options.Dialer).
	dialer remote.Dialer
	// statuses are the forges outcomes are also reported to.
	statuses []StatusSetter
	// observe is told each deploy's progress (see execute.Progress).
	observe func(execute.Progress)
	// bakeFailed, when set, is told of each bake that failed (the
	// agent's bake-failed notification).
	bakeFailed func(c commit.ID, err error)
	// baker, when set, bakes instead of a bake.Baker over SSH (tests on
	// the fast backend, whose instances run no sshd).
	baker execute.Baker
	// bakedAhead is the last commit BakeAhead is done with (baked, found,
	// deployed already, or failed and notified).
	bakedAhead commit.ID
}

// WithObserver makes the deployer tell f each deploy's progress.
func (d *Deployer) WithObserver(f func(execute.Progress)) *Deployer {
	d.observe = f
	return d
}

// HooksFunc builds the hooks of one deploy of env.
type HooksFunc func(env *config.Environment, deployID string) (execute.Hooks, error)

// WithHooks makes the deployer run hooks built by f instead of over SSH
// (ferry demo's simulated instances have no sshd).
func (d *Deployer) WithHooks(f HooksFunc) *Deployer {
	d.hooks = f
	return d
}

// WithDialer makes the deployer's SSH connections (hooks and bakes) with
// dialer; nil dials directly.
func (d *Deployer) WithDialer(dialer remote.Dialer) *Deployer {
	d.dialer = dialer
	return d
}

func (d *Deployer) newHooks(deployID string) (execute.Hooks, error) {
	if d.hooks != nil {
		return d.hooks(d.env, deployID)
	}
	h, err := newHooks(d.cfg.Project.StateDir, d.env, deployID, d.dialer, d.log)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// NewDeployer prepares the deploys of env.
func NewDeployer(cfg *config.Config, env *config.Environment, m *watch.Mirror, c Cloud, log *slog.Logger) *Deployer {
	space := thisSpace()
	return &Deployer{cfg: cfg, env: env, mirror: m, cloud: c, log: log.With("env", env.Name), base: log,
		host:   fmt.Sprintf("%s/pid %d", space.host, os.Getpid()),
		holder: space.holder(os.Getpid()), exited: space.exited(processRunning)}
}

// journal is where the environment's deploys are journaled.
func (d *Deployer) journal() execute.JournalStore { return journalStore(d.cfg) }

// journalStore is where a project's deploys are journaled.
func journalStore(cfg *config.Config) execute.JournalStore {
	return execute.JournalStore{Dir: filepath.Join(cfg.Project.StateDir, "journal")}
}

// executor carries out the environment's deploys with hooks.
func (d *Deployer) executor(hooks execute.Hooks) *execute.Executor {
	return &execute.Executor{Cloud: d.cloud, Hooks: hooks, Journal: d.journal(), Env: d.env, Log: d.base,
		Baker: d.imageBaker(), Observe: d.observe}
}

// imageBaker is the environment's baker (nil unless it bakes), reporting
// each failed bake as bake-failed.
func (d *Deployer) imageBaker() execute.Baker {
	baker := d.baker
	if baker == nil {
		baker = bakerFor(d.cfg, d.env, d.mirror, d.cloud, d.dialer, d.base)
	}
	if baker != nil && d.bakeFailed != nil {
		baker = reportingBaker{baker, d.bakeFailed}
	}
	return baker
}

// WithBakeFailed makes the deployer tell f of each bake that fails.
func (d *Deployer) WithBakeFailed(f func(c commit.ID, err error)) *Deployer {
	d.bakeFailed = f
	return d
}

// reportingBaker tells failed of a bake that failed other than by the
// deploy being stopped.
type reportingBaker struct {
	execute.Baker
	failed func(c commit.ID, err error)
}

func (b reportingBaker) Bake(ctx context.Context, c commit.ID) (string, error) {
	img, err := b.Baker.Bake(ctx, c)
	if err != nil && ctx.Err() == nil {
		b.failed(c, err)
	}
	return img, err
}

// Deploy plans, and when there is something to deploy takes the lock,
// recovers an interrupted deploy, plans again under the lock, asks confirm
// (which may print the plan and refuse), executes and records. It returns
// the report of the deploy it ran (nil when there was none).
//
// An environment already at its target takes no lock and writes nothing:
// the agent looks at every environment once a minute, and each lock is a
// commit pushed to the remote. Only a plan that says "nothing to do", with
// no interrupted deploy in the journal, ends here; anything else (a deploy,
// a refusal, a failure to read state) is decided under the lock as before,
// since another agent's deploy may be what the plan saw.
func (d *Deployer) Deploy(ctx context.Context, in plan.Input, confirm func(*plan.Plan) error) (*execute.Report, error) {
	d.FlushNotes(ctx)
	if p, err := plan.Make(ctx, d.cloud, Repo{Mirror: d.mirror}, in); err == nil && p.Action != plan.Deploy {
		j, err := d.journal().Load(d.env.Name)
		if err != nil {
			return nil, err
		}
		if j == nil {
			if confirm != nil {
				return nil, confirm(p)
			}
			return nil, nil
		}
	}
	if err := d.verify(ctx, in.Target); err != nil {
		return nil, err
	}
	ctx, release, err := d.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := d.recover(ctx); err != nil {
		return nil, err
	}
	p, err := plan.Make(ctx, d.cloud, Repo{Mirror: d.mirror}, in)
	if err != nil {
		return nil, err
	}
	if confirm != nil {
		if err := confirm(p); err != nil {
			return nil, err
		}
	}
	if p.Action != plan.Deploy {
		return nil, nil
	}
	if err := d.pushSecrets(ctx); err != nil {
		return nil, err
	}
	deployID := fmt.Sprintf("%s-%s-%s", d.env.Name, time.Now().UTC().Format("20060102T150405"), p.Target.Commit.Short()[:8])
	hooks, err := d.newHooks(deployID)
	if err != nil {
		return nil, err
	}
	started := time.Now().UTC()
	d.note(ctx, p.Target.Commit, status.Record{Env: d.env.Name, Method: string(p.Method), Outcome: status.Started,
		Started: started, Launch: p.LaunchSource.Name, Previous: p.Deployed.Commit.String(), Host: d.host})
	d.setStatus(ctx, forge.Status{Commit: p.Target.Commit, Ref: p.Target.Ref, DeployID: deployID, State: forge.StatePending,
		Description: fmt.Sprintf("Deploying to %s (%s)", d.env.Name, p.Method)})
	// The journal keeps the time the note says, so that the outcome
	// recorded, by this run or a recovery, pairs with its attempt.
	ex := d.executor(hooks)
	ex.Started = started
	r, err := ex.Run(ctx, p, deployID)
	d.record(ctx, r)
	if st, ok := finalStatus(r, p.Target.Ref); ok {
		d.setStatus(ctx, st)
	}
	return &r, err
}

// verify checks the target's signature as the environment's policy asks.
// An untrusted target is refused for good: the refusal is recorded as a
// note and a commit status, and the error is a *plan.RefusedError so that
// the agent waits for a new commit. Other errors (a keyring that does not
// parse, an object not fetched yet) record nothing on the commit.
func (d *Deployer) verify(ctx context.Context, target plan.Revision) error {
	policy := watch.VerifyPolicy{Mode: d.env.Verify, OpenPGPKeyring: d.env.TrustedKeys.OpenPGP, SSHAllowedSigners: d.env.TrustedKeys.SSHAllowedSigners}
	if policy.Mode == "" || policy.Mode == watch.VerifyNone {
		return nil
	}
	v, err := d.mirror.Verify(ctx, watch.Target{Env: d.env.Name, Ref: target.Ref, Commit: target.Commit}, policy)
	var unverified *watch.UnverifiedError
	switch {
	case err == nil:
		d.log.Info("signature verified", "commit", target.Commit, "ref", target.Ref, "signer", v.String())
		return nil
	case errors.As(err, &unverified):
		reason := "signature: " + unverified.Reason
		now := time.Now().UTC()
		d.note(ctx, target.Commit, status.Record{Env: d.env.Name, Outcome: status.Refused, Started: now, Ended: now, Host: d.host, Reason: reason})
		d.setStatus(ctx, forge.Status{Commit: target.Commit, Ref: target.Ref, State: forge.StateError,
			Description: fmt.Sprintf("Not deployed to %s: %s", d.env.Name, unverified.Reason)})
		return &plan.RefusedError{Environment: d.env.Name, Reasons: []string{reason}}
	default:
		return fmt.Errorf("verify the signature of %s: %w", target.Commit.Short(), err)
	}
}

// lock takes the environment's lease for the length of a deploy and keeps
// it alive; losing it cancels the returned context.
func (d *Deployer) lock(ctx context.Context) (context.Context, func(), error) {
	locker := &lock.Locker{Remote: d.mirror, Holder: d.holder, Exited: d.exited, TTL: d.env.Policy.Timeouts.LockLease.Std(), Logger: d.log}
	lease, err := locker.Acquire(ctx, d.env.Name)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	lost := locker.KeepAlive(ctx, lease)
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		for err := range lost { // closed when KeepAlive stops
			if err != nil {
				cancel(fmt.Errorf("lost the lock of %s: %w", d.env.Name, err))
			}
		}
	}()
	release := func() {
		// Stop renewing first: a renewal racing the release would move the
		// lease under it, and the release would then leave the lock held
		// until it expires.
		cancel(nil)
		<-renewing
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer rcancel()
		if err := locker.Release(rctx, lease); err != nil {
			d.log.Warn("could not release the lock; it expires on its own", "err", err)
		}
	}
	return ctx, release, nil
}

// RecoverPending finishes a deploy an earlier agent left interrupted, if
// the journal holds one, under the environment's lock. It runs whatever
// the environment's pause, windows or blocked commit say: a half-done
// deploy must never wait.
func (d *Deployer) RecoverPending(ctx context.Context) error {
	j, err := d.journal().Load(d.env.Name)
	if err != nil || j == nil {
		return err
	}
	ctx, release, err := d.lock(ctx)
	if err != nil {
		return err
	}
	defer release()
	return d.recover(ctx)
}

// recover finishes a deploy an earlier agent left interrupted.
func (d *Deployer) recover(ctx context.Context) error {
	j, err := d.journal().Load(d.env.Name)
	if err != nil || j == nil {
		return err
	}
	hooks, err := d.newHooks(j.DeployID)
	if err != nil {
		return err
	}
	r, err := d.executor(hooks).Recover(ctx, d.env.Name)
	switch {
	case r == nil:
		// Nothing was recovered: err, if any, is the journal's, and the
		// deploy must not go on over a journal it could not read.
		return err
	case r.Outcome == execute.Interrupted:
		return err
	default:
		// Rolled back or finished: the outcome is recorded and the
		// environment is whole again, whatever went wrong on the way.
		d.record(ctx, *r)
		return nil
	}
}

// record writes a finished deploy's outcome to the notes.
func (d *Deployer) record(ctx context.Context, r execute.Report) {
	var o status.Outcome
	switch r.Outcome {
	case execute.Succeeded:
		o = status.Succeeded
	case execute.RolledBack:
		o = status.RolledBack
	case execute.Failed:
		o = status.Failed
	default:
		return // interrupted: the started record stands until recovery
	}
	d.note(ctx, r.Commit, status.Record{Env: r.Environment, Method: string(r.Method), Outcome: o, Started: r.Started,
		Ended: r.Finished, Launch: r.LaunchSource, Previous: r.Previous.String(), Host: d.host, Reason: r.Reason})
}

// note appends a record; a failure to write it is logged, never fatal: the
// deploy itself is what matters, and its journal and logs keep the facts.
// The record is kept in the state dir and pushed later (FlushNotes).
func (d *Deployer) note(ctx context.Context, c commit.ID, rec status.Record) {
	if !d.env.Status.Notes {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n := &status.Notes{Remote: d.mirror, Ref: d.cfg.Project.Git.NotesRef, Logger: d.log}
	if err := n.Append(ctx, c, rec); err != nil {
		d.log.Error("could not record the outcome as a git note", "commit", c, "outcome", rec.Outcome, "err", err)
		d.keepNote(c, rec)
	}
}

// Drift lists the [launch] settings of the config the groups' launch
// sources lack (see launchDrift); nil when the client cannot tell.
func (d *Deployer) Drift(ctx context.Context) ([]string, error) {
	dc, ok := d.cloud.(describeCloud)
	if !ok {
		return nil, nil
	}
	return launchDrift(ctx, dc, d.env)
}

package execute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/internal/faultpoint"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// Outcome is how a deploy ended.
type Outcome string

const (
	Succeeded  Outcome = "succeeded"
	Failed     Outcome = "failed"
	RolledBack Outcome = "rolled-back"
	// Interrupted: the agent was asked to stop; the journal says where,
	// and Recover finishes the job on the next start.
	Interrupted Outcome = "interrupted"
)

// ErrInterrupted is returned when the deploy's context ended mid-deploy.
var ErrInterrupted = errors.New("deploy interrupted")

// Report is the result of a deploy, for notes, statuses and the log.
type Report struct {
	DeployID     string
	Environment  string
	Commit       commit.ID
	Previous     commit.ID // zero when it was not known
	Method       plan.Method
	Outcome      Outcome
	Started      time.Time
	Finished     time.Time
	LaunchSource string
	// Reason is a short account of a failure ("" on success).
	Reason string
}

// Executor carries plans out for one environment.
type Executor struct {
	Cloud   Cloud
	Hooks   Hooks
	Journal JournalStore
	Env     *config.Environment
	Log     *slog.Logger
	// Poll is the interval between two looks at AWS while waiting;
	// zero uses the environment's policy.poll_interval.
	Poll time.Duration
	// Baker bakes the commit's image when the environment bakes one per
	// commit (launch.image = "bake"); nil otherwise.
	Baker Baker
	// UserData renders the launch source's user data (base64) for a
	// commit; nil renders the environment's launch.user_data_file, or,
	// without one, keeps the copied source's user data.
	UserData func(c commit.ID) (string, error)
	// Started, when set, is when the caller started the deploy, as it
	// recorded it (the "started" note). The journal keeps it, and every
	// report of the deploy, a recovered one's too, carries it: the note
	// pairs an outcome with its attempt by that time. Zero: when Run is
	// called.
	Started time.Time
	// Observe, when set, is told the deploy's progress at each change
	// (a step started or done, a wait's count moved, a rollback, the
	// end). It is called on the deploy's goroutine and must not block.
	Observe func(Progress)

	progress *Progress // what Observe was told last
	running  *Journal  // the journal of the deploy being driven
}

func (e *Executor) now() time.Time { return time.Now().UTC() }

func (e *Executor) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Run carries p out. The returned report always has an outcome; the error
// explains a failure, rollback or interruption.
func (e *Executor) Run(ctx context.Context, p *plan.Plan, deployID string) (Report, error) {
	if p.Action != plan.Deploy {
		return Report{}, fmt.Errorf("plan for %s has nothing to deploy (%s)", p.Environment, p.Action)
	}
	if err := p.Validate(); err != nil {
		return Report{}, fmt.Errorf("plan for %s: %w", p.Environment, err)
	}
	if j, err := e.Journal.Load(p.Environment); err != nil {
		return Report{}, err
	} else if j != nil && !j.Finished {
		return Report{}, fmt.Errorf("an interrupted deploy of %s (%s) must be recovered first", p.Environment, j.DeployID)
	}
	started := e.Started
	if started.IsZero() {
		started = e.now()
	}
	j := &Journal{
		Version: journalVersion, DeployID: deployID, Plan: p, Started: started.UTC(),
		Before: map[string]GroupSnapshot{}, Suspended: map[string][]string{}, Sources: map[string]Source{},
	}
	j.moveTo(0)
	if err := e.snapshot(ctx, j); err != nil {
		return e.report(j, Failed, err), err
	}
	if p.LaunchSource.Existing {
		if err := e.findPrepared(ctx, j); err != nil {
			return e.report(j, Failed, err), err
		}
	}
	if err := e.save(j); err != nil {
		return e.report(j, Failed, err), err
	}
	return e.drive(ctx, j)
}

// Recover finishes the environment's interrupted deploy, if any: it rolls
// back one that had not reached the point of no return and finishes one
// that had. It returns nil when there was nothing to recover.
func (e *Executor) Recover(ctx context.Context, env string) (*Report, error) {
	j, err := e.Journal.Load(env)
	if err != nil || j == nil || j.Finished {
		return nil, err
	}
	e.log().Warn("recovering an interrupted deploy", "env", env, "deploy", j.DeployID,
		"commit", j.Plan.Target.Commit, "step", j.Next, "past_no_return", j.PastNoReturn)
	r, err := e.drive(ctx, j)
	return &r, err
}

// drive runs the remaining steps and settles the outcome.
func (e *Executor) drive(ctx context.Context, j *Journal) (Report, error) {
	log := e.log().With("env", j.Plan.Environment, "deploy", j.DeployID)
	e.running = j
	defer func() { e.running = nil }()
	var stepErr error
	// A recovered deploy that had not passed the point of no return is
	// rolled back rather than resumed: the agent that planned it is gone,
	// and the world may have moved since.
	if j.Next > 0 && !j.PastNoReturn && j.Next < len(j.Plan.Steps) {
		// The process may have been the agent or a person's ferry deploy.
		stepErr = errors.New("the deploy's process (the agent, or a ferry deploy) stopped mid-deploy")
	}
	for stepErr == nil && j.Next < len(j.Plan.Steps) {
		if ctx.Err() != nil {
			return e.interrupt(j, ctx.Err())
		}
		step := j.Plan.Steps[j.Next]
		log.Info("step", "n", j.Next+1, "of", len(j.Plan.Steps), "name", step.Name, "group", step.Group)
		e.stepStarted(j)
		sctx := faultpoint.Step(ctx, j.Next+1)
		if err := e.step(sctx, j, step); err != nil {
			if ctx.Err() != nil {
				return e.interrupt(j, err)
			}
			stepErr = fmt.Errorf("step %d (%s): %w", j.Next+1, step.Name, err)
			break
		}
		faultpoint.Reached(sctx, faultpoint.BeforeRecord)
		e.stepDone(j, j.Next)
		j.moveTo(j.Next + 1)
		if err := e.save(j); err != nil {
			stepErr = fmt.Errorf("after step %d (%s): %w", j.Next, step.Name, err)
			break
		}
		faultpoint.Reached(sctx, faultpoint.AfterRecord)
	}
	if stepErr == nil {
		return e.finish(j, Succeeded, nil)
	}
	log.Error("deploy failed", "err", stepErr)
	if j.PastNoReturn {
		return e.finishForward(ctx, j, stepErr)
	}
	e.rollingBack(j)
	if err := e.rollback(ctx, j); err != nil {
		log.Error("rollback failed", "err", err)
		return e.finish(j, Failed, &rollbackError{step: stepErr, rollback: err})
	}
	return e.finish(j, RolledBack, stepErr)
}

// interrupt stops at a safe point: processes Ferry suspended are resumed
// (a stopped agent must not leave a group unable to scale), the journal is
// kept for Recover.
func (e *Executor) interrupt(j *Journal, cause error) (Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.resumeAll(ctx, j)
	if saveErr := e.save(j); saveErr != nil {
		err = errors.Join(err, saveErr)
	}
	e.log().Warn("deploy interrupted; it will be recovered on the next start", "env", j.Plan.Environment, "deploy", j.DeployID, "step", j.Next, "err", err)
	return e.report(j, Interrupted, cause), fmt.Errorf("%w: %w", ErrInterrupted, errors.Join(cause, err))
}

// finishForward completes a deploy past the point of no return: the new
// version serves; only cleanup remains. Each remaining step is tried once.
func (e *Executor) finishForward(ctx context.Context, j *Journal, cause error) (Report, error) {
	errs := []error{cause}
	for j.Next++; j.Next < len(j.Plan.Steps); j.Next++ {
		if err := e.step(ctx, j, j.Plan.Steps[j.Next]); err != nil {
			errs = append(errs, fmt.Errorf("step %d (%s): %w", j.Next+1, j.Plan.Steps[j.Next].Name, err))
		}
		if err := e.save(j); err != nil {
			errs = append(errs, err)
		}
	}
	return e.finish(j, Failed, errors.Join(errs...))
}

// finish resumes whatever is still suspended, closes the journal and
// reports.
func (e *Executor) finish(j *Journal, o Outcome, cause error) (Report, error) {
	if len(j.Detached) > 0 {
		// A step that failed between detaching and terminating (a
		// deploy finished forward, a failed rollback): try once more.
		dctx, cancel := context.WithTimeout(context.Background(), e.Env.Policy.Timeouts.Drain.Std()+time.Minute)
		if err := e.endAllDetached(dctx, j); err != nil {
			cause = errors.Join(cause, err)
			if o == Succeeded {
				o = Failed
			}
		}
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.resumeAll(ctx, j); err != nil {
		cause = errors.Join(cause, err)
		if o == Succeeded {
			o = Failed
		}
	}
	j.Finished = true
	if err := e.save(j); err != nil {
		cause = errors.Join(cause, err)
	} else if err := e.Journal.Remove(j.Plan.Environment); err != nil {
		e.log().Error("journal not removed", "env", j.Plan.Environment, "deploy", j.DeployID, "err", err)
		cause = errors.Join(cause, err)
	}
	r := e.report(j, o, cause)
	e.ended(j, o)
	e.log().Info("deploy finished", "env", r.Environment, "deploy", r.DeployID, "outcome", r.Outcome,
		"commit", r.Commit, "elapsed", r.Finished.Sub(r.Started).Round(time.Second), "reason", r.Reason)
	return r, cause
}

// save writes the journal. A failure is logged at error level here, where
// it happens, as well as returned: the journal on disk is then behind what
// Ferry did, which an operator must know even when the outcome's one-line
// reason names another error.
func (e *Executor) save(j *Journal) error {
	err := e.Journal.Save(j)
	if err != nil {
		e.log().Error("journal not written", "env", j.Plan.Environment, "deploy", j.DeployID, "step", j.Next, "err", err)
	}
	return err
}

func (e *Executor) report(j *Journal, o Outcome, cause error) Report {
	r := Report{
		DeployID: j.DeployID, Environment: j.Plan.Environment, Commit: j.Plan.Target.Commit,
		Previous: j.Plan.Deployed.Commit, Method: j.Plan.Method, Outcome: o,
		Started: j.Started, Finished: e.now(), LaunchSource: j.Plan.LaunchSource.Name,
	}
	if cause != nil {
		r.Reason = shortReason(cause)
	}
	return r
}

// shortReason keeps a failure reason to its first line: the report's
// summary (the error itself has the rest). Notes bound its length
// (status.MaxReason), forges their descriptions' own. A failed rollback
// keeps the first line of each part: what it could not undo (an upgrade
// page left up on hosts that went away) is as much the outcome as the
// step that failed.
func shortReason(err error) string {
	var re *rollbackError
	if errors.As(err, &re) {
		return firstLine(re.step) + "; rollback failed: " + firstLine(re.rollback)
	}
	return firstLine(err)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// rollbackError is a deploy that failed and whose rollback failed too.
type rollbackError struct{ step, rollback error }

func (e *rollbackError) Error() string {
	return fmt.Sprintf("%v; rollback failed: %v", e.step, e.rollback)
}

func (e *rollbackError) Unwrap() []error { return []error{e.step, e.rollback} }

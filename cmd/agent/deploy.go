package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/status"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

func newDeployCmd(logs *logOptions) *cobra.Command {
	var (
		path    string
		target  targetFlags
		method  string
		prepped string
		yes     bool
	)
	cmd := &cobra.Command{
		Use:   "deploy ENV",
		Short: "Deploy an environment now: plan, confirm, execute, record the outcome",
		Long: `Deploy does by hand what the agent (ferry run) does when a commit arrives:
it takes the environment's lock, finishes any deploy an earlier agent left
interrupted, shows the plan (see ferry plan), asks for confirmation where
the environment's policy requires it (production), carries the plan out and
records the outcome as a git note on the deployed commit.

A full deploy brings up a new set of instances behind the "upgrade in
progress" page, runs the worker's migrations and static media, switches the
load balancers to the new instances and terminates the old ones. A serial
deploy replaces instances a batch at a time with no downtime. Any failure
before the old instances are terminated rolls the group back to exactly what
it was; every suspended Auto Scaling process is resumed whatever happens.

Exit status: 0 deployed (or nothing to do), 1 failed, rolled back, refused
or not confirmed, 64 wrong command line.`,
		Example: `  ferry deploy -c /etc/ferry/ferry.toml staging
  ferry deploy -c ferry.toml production --ref refs/tags/v1.4.0 --yes
  ferry deploy -c ferry.toml staging --launch-config myproject-staging-3f2a1b4c5d6e-20261123T093000`,
		Args: exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := checkMethod(method); err != nil {
				return err
			}
			d, err := newDeployer(cmd.Context(), path, args[0], log)
			if err != nil {
				return err
			}
			rev, err := resolveTarget(cmd.Context(), d.cfg, d.env, d.mirror, target.commit, target.ref, log)
			if err != nil {
				return err
			}
			in := planInput(d.cfg, d.env, rev)
			in.AllowRollback, in.Method, in.LaunchSource, in.Now = target.allowRollback, plan.Method(method), prepped, time.Now()
			confirm := func(p *plan.Plan) error {
				if err := p.WriteText(cmd.OutOrStdout()); err != nil {
					return err
				}
				if !d.env.Policy.Confirm || yes || p.Action != plan.Deploy {
					return nil
				}
				return confirmDeploy(cmd.InOrStdin(), cmd.OutOrStdout(), p)
			}
			r, err := d.deploy(cmd.Context(), in, confirm)
			if r != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "\n%s: %s %s (%s) in %s\n", r.Environment, r.Outcome, short(r.Commit), r.Method, r.Finished.Sub(r.Started).Round(time.Second))
				if r.Reason != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "reason: %s\n", r.Reason)
				}
			}
			return err
		},
	}
	addConfigFlag(cmd, &path)
	target.bind(cmd)
	cmd.Flags().StringVar(&method, "method", "", "deploy with this method: full, or serial (refused when the change needs full)")
	cmd.Flags().StringVar(&prepped, "launch-config", "", "use the launch configuration or template version ferry prepare created")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (environments with policy.confirm)")
	return cmd
}

// confirmDeploy asks a person to type the environment's name. Without a
// terminal there is nobody to ask: the deploy is refused.
func confirmDeploy(in io.Reader, out io.Writer, p *plan.Plan) error {
	if f, ok := in.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return fmt.Errorf("%s requires confirmation and there is no terminal to ask: pass --yes", p.Environment)
	}
	warning := ""
	if p.Downtime {
		warning = " This is a full deploy: users see the upgrade page (downtime)."
	}
	fmt.Fprintf(out, "\nDeploy %s to %s?%s Type the environment's name to go on: ", short(p.Target.Commit), p.Environment, warning)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if strings.TrimSpace(line) != p.Environment {
		return fmt.Errorf("not confirmed: nothing was changed")
	}
	return nil
}

// deployer holds what one environment's deploys need.
type deployer struct {
	cfg    *config.Config
	env    *config.Environment
	mirror *watch.Mirror
	cloud  execute.Cloud
	planC  plan.Cloud
	log    *slog.Logger
	host   string
}

func newDeployer(ctx context.Context, path, envName string, log *slog.Logger) (*deployer, error) {
	cfg, env, err := loadEnv(path, envName)
	if err != nil {
		return nil, err
	}
	m, err := openMirror(cfg, log)
	if err != nil {
		return nil, err
	}
	c, err := newCloud(ctx, env, log)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &deployer{cfg: cfg, env: env, mirror: m, cloud: c, planC: c, log: log.With("env", env.Name),
		host: fmt.Sprintf("%s/pid %d", host, os.Getpid())}, nil
}

func (d *deployer) executor(deployID string, hooks execute.Hooks) *execute.Executor {
	return &execute.Executor{
		Cloud: d.cloud, Hooks: hooks, Journal: execute.JournalStore{Dir: filepath.Join(d.cfg.Project.StateDir, "journal")},
		Env: d.env, Log: d.log,
	}
}

// deploy takes the lock, recovers, plans, confirms, executes and records.
// It returns the report of the deploy it ran (nil when there was none).
func (d *deployer) deploy(ctx context.Context, in plan.Input, confirm func(*plan.Plan) error) (*execute.Report, error) {
	locker := &lock.Locker{Remote: d.mirror, Holder: d.host, TTL: d.env.Policy.Timeouts.LockLease.Std(), Logger: d.log}
	lease, err := locker.Acquire(ctx, d.env.Name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lost := locker.KeepAlive(ctx, lease)
	go func() {
		if err, ok := <-lost; ok && err != nil {
			cancel(fmt.Errorf("lost the lock of %s: %w", d.env.Name, err))
		}
	}()
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer rcancel()
		if err := locker.Release(rctx, lease); err != nil {
			d.log.Warn("could not release the lock; it expires on its own", "err", err)
		}
	}()

	if err := d.recover(ctx); err != nil {
		return nil, err
	}
	p, err := plan.Make(ctx, d.planC, planRepo{d.mirror}, in)
	if err != nil {
		return nil, err
	}
	if err := confirm(p); err != nil {
		return nil, err
	}
	if p.Action != plan.Deploy {
		return nil, nil
	}
	deployID := fmt.Sprintf("%s-%s-%s", d.env.Name, time.Now().UTC().Format("20060102T150405"), short(p.Target.Commit)[:8])
	hooks, err := newHooks(d.cfg.Project.StateDir, d.env, deployID, d.log)
	if err != nil {
		return nil, err
	}
	started := time.Now().UTC()
	d.note(ctx, p.Target.Commit, status.Record{Env: d.env.Name, Method: string(p.Method), Outcome: status.Started,
		Started: started, Launch: p.LaunchSource.Name, Previous: p.Deployed.Commit, Host: d.host})
	r, err := d.executor(deployID, hooks).Run(ctx, p, deployID)
	d.record(ctx, r)
	return &r, err
}

// recover finishes a deploy an earlier agent left interrupted.
func (d *deployer) recover(ctx context.Context) error {
	ex := d.executor("", nil)
	j, err := ex.Journal.Load(d.env.Name)
	if err != nil || j == nil {
		return err
	}
	hooks, err := newHooks(d.cfg.Project.StateDir, d.env, j.DeployID, d.log)
	if err != nil {
		return err
	}
	ex.Hooks = hooks
	r, err := ex.Recover(ctx, d.env.Name)
	if r != nil {
		d.record(ctx, *r)
	}
	if err != nil && r != nil && r.Outcome == execute.Interrupted {
		return err
	}
	return nil
}

// record writes a finished deploy's outcome to the notes.
func (d *deployer) record(ctx context.Context, r execute.Report) {
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
		Ended: r.Finished, Launch: r.LaunchSource, Previous: r.Previous, Host: d.host, Reason: r.Reason})
}

// note appends a record; a failure to write it is logged, never fatal: the
// deploy itself is what matters, and its journal and logs keep the facts.
func (d *deployer) note(ctx context.Context, commit string, rec status.Record) {
	if !d.env.Status.Notes {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	n := &status.Notes{Remote: d.mirror, Ref: d.cfg.Project.Git.NotesRef, Logger: d.log}
	if err := n.Append(ctx, plumbing.NewHash(commit), rec); err != nil {
		d.log.Error("could not record the outcome as a git note", "commit", commit, "outcome", rec.Outcome, "err", err)
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

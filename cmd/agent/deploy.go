package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferry-deploy/ferry/pkg/plan"
)

func newDeployCmd(logs *logOptions) *cobra.Command { return deployCmd(logs, false) }

// newRedeployCmd is ferry deploy --redeploy under its own name.
func newRedeployCmd(logs *logOptions) *cobra.Command {
	cmd := deployCmd(logs, true)
	cmd.Use = "redeploy ENV"
	cmd.Short = "Deploy the commit an environment runs again, on new instances"
	cmd.Long = `Redeploy is ferry deploy --redeploy: it deploys the target (by default the
commit the environment runs) even when it is the deployed commit, on new
instances started from a new launch source. Use it after a change of the
environment's [launch] settings (image, instance type, metadata options,
a new base image to bake from) or when instances lost their configuration:
the agent notices a [launch] change and shows it in ferry status as drift,
but deploys only when told.

A redeploy is serial (no downtime) unless --method full is given. Like
ferry deploy it takes the lock, asks for confirmation where the policy
requires it, respects the deploy windows (--ignore-window) and records the
outcome as a git note.

Exit status: 0 redeployed, 1 failed, rolled back, refused or not
confirmed, 64 wrong command line.`
	cmd.Example = `  ferry redeploy -c /etc/ferry/ferry.toml staging
  ferry redeploy -c ferry.toml production --method full --yes`
	return cmd
}

func deployCmd(logs *logOptions, redeploy bool) *cobra.Command {
	var (
		flags        planFlags
		yes          bool
		ignoreWindow bool
		statusWait   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy ENV",
		Short: "Deploy an environment now: plan, confirm, execute, record the outcome",
		Long: `Deploy does by hand what the agent (ferry run) does when a commit arrives:
it takes the environment's lock, finishes any deploy an earlier agent left
interrupted, shows the plan (see ferry plan), asks for confirmation where
the environment's policy requires it (production), carries the plan out and
records the outcome as a git note on the deployed commit.

With --redeploy (or as ferry redeploy) the target is deployed even when it
is the commit the environment runs: new instances from a new launch source,
serial unless --method full.

A full deploy brings up a new set of instances behind the "upgrade in
progress" page, runs the worker's migrations and static media, switches the
load balancers to the new instances and terminates the old ones. A serial
deploy replaces instances a batch at a time with no downtime. Any failure
before the old instances are terminated rolls the group back to exactly what
it was; every suspended Auto Scaling process is resumed whatever happens.

The environment's deploy windows apply as they do to the agent: outside
them the deploy is refused before anything changes, unless
--ignore-window is given.

Exit status: 0 deployed (or nothing to do), 1 failed, rolled back, refused
(outside the deploy windows too) or not confirmed, 64 wrong command line.`,
		Example: `  ferry deploy -c /etc/ferry/ferry.toml staging
  ferry deploy -c ferry.toml production --ref refs/tags/v1.4.0 --yes
  ferry deploy -c ferry.toml staging --launch-config myproject-staging-3f2a1b4c5d6e-20261123T093000`,
		Args: exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := openProject(flags.path, newCloud, log)
			if err != nil {
				return err
			}
			req := flags.request()
			req.IgnoreWindow, req.StatusWait = ignoreWindow, statusWait
			req.Redeploy = req.Redeploy || redeploy
			confirm := func(pl *plan.Plan) error {
				if err := pl.WriteText(cmd.OutOrStdout()); err != nil {
					return err
				}
				if !p.Config.Environments[pl.Environment].Policy.Confirm || yes || pl.Action != plan.Deploy {
					return nil
				}
				return confirmDeploy(cmd.InOrStdin(), cmd.OutOrStdout(), pl)
			}
			r, err := p.Deploy(cmd.Context(), args[0], req, confirm)
			if r != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "\n%s: %s %s (%s) in %s\n", r.Environment, r.Outcome, r.Commit.Short(), r.Method, r.Finished.Sub(r.Started).Round(time.Second))
				if r.Reason != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "reason: %s\n", r.Reason)
				}
			}
			return usage(err)
		},
	}
	verb := "deploy"
	if redeploy {
		verb = "redeploy"
	}
	flags.bind(cmd, verb)
	cmd.Flags().DurationVar(&statusWait, "status-wait", 30*time.Second, "at the end, how long to wait for forges to take the commit statuses (a forge that is down never fails the deploy)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (environments with policy.confirm)")
	cmd.Flags().BoolVar(&ignoreWindow, "ignore-window", false, "deploy even outside the environment's deploy windows")
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
	fmt.Fprintf(out, "\nDeploy %s to %s?%s Type the environment's name to go on: ", p.Target.Commit.Short(), p.Environment, warning)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if strings.TrimSpace(line) != p.Environment {
		return fmt.Errorf("not confirmed: nothing was changed")
	}
	return nil
}

package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newASGCmd returns ferry asg with its suspend and resume subcommands.
func newASGCmd(logs *logOptions) *cobra.Command {
	asg := &cobra.Command{
		Use:   "asg",
		Short: "Suspend or resume the Auto Scaling processes of an environment's groups",
		Long: `Asg suspends and resumes the Auto Scaling processes of every group of an
environment (FabulAWS's suspend_autoscaling_processes and
resume_autoscaling_processes). It is not ferry pause, which stops Ferry
from deploying and leaves the groups alone.

Exit status: 0 done, 1 failed or refused, 64 wrong command line.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{cmd.CommandPath(), fmt.Errorf("unknown command %q for %s", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return exitError{code: exitUsage}
		},
	}
	for _, action := range []string{"suspend", "resume"} {
		var path string
		sub := &cobra.Command{
			Use:   action + " ENV [PROCESS...]",
			Short: strings.ToUpper(action[:1]) + action[1:] + " Auto Scaling processes on each group of an environment",
			Long: fmt.Sprintf(`%s the named Auto Scaling processes (all of them when none is named:
Launch, Terminate, AddToLoadBalancer, AlarmNotification, AZRebalance,
HealthCheck, InstanceRefresh, ReplaceUnhealthy, ScheduledActions) on every group of the environment.

It takes the environment's lock for the moment of the change, so it is
refused, changing nothing, while a deploy holds it. The change is written
to the log (and to a running agent's log, as an audit line; no git note)
and shown by ferry status with who made it. A deploy keeps the processes a
person suspended as found and does not resume them; it refuses to start
while one it needs (Launch, Terminate, HealthCheck, ReplaceUnhealthy,
AddToLoadBalancer) is suspended.

Exit status: 0 done, 1 failed or refused (a deploy holds the lock), 64
wrong command line (an unknown process or environment).`, strings.ToUpper(action[:1])+action[1:]),
			Example: fmt.Sprintf("  ferry asg %s -c /etc/ferry/ferry.toml production\n  ferry asg %s -c ferry.toml staging AZRebalance ScheduledActions", action, action),
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return usageError{cmd.CommandPath(), fmt.Errorf("name an environment")}
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				log, err := logs.logger(cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				p, err := openProject(path, newCloud, log)
				if err != nil {
					return err
				}
				change := p.SuspendProcesses
				if action == "resume" {
					change = p.ResumeProcesses
				}
				out, err := change(cmd.Context(), args[0], args[1:], whoami())
				for _, g := range out {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: suspended now: %s\n", g.Group, orNone(strings.Join(g.Suspended, ", ")))
				}
				return usage(err)
			},
		}
		addConfigFlag(sub, &path)
		asg.AddCommand(sub)
	}
	return asg
}

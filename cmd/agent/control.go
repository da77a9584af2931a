package main

import (
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
)

// newControlCmds returns pause, resume and retry: small commands that leave
// a note in the state dir for the running agent, which reads it before
// every deploy (and keeps it across restarts).
func newControlCmds() []*cobra.Command {
	var path, reason string
	pause := &cobra.Command{
		Use:   "pause ENV",
		Short: "Stop the agent from starting deploys of an environment",
		Long: `Pause records that the environment must not be deployed until ferry resume.
A deploy already running finishes. The pause survives restarts of the agent
and shows in ferry status with who paused it, when and why.`,
		Example: `  ferry pause -c /etc/ferry/ferry.toml production --reason "black friday"`,
		Args:    exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, env, err := loadEnv(path, args[0])
			if err != nil {
				return err
			}
			if err := agent.ControlFor(cfg).Pause(env.Name, agent.Paused{Since: time.Now().UTC(), By: whoami(), Reason: reason}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s paused: the agent starts no deploy of it until ferry resume %s\n", env.Name, env.Name)
			return nil
		},
	}
	pause.Flags().StringVar(&reason, "reason", "", "why, shown in ferry status")
	resume := &cobra.Command{
		Use:   "resume ENV",
		Short: "Let the agent deploy a paused environment again",
		Long:  `Resume removes the pause ferry pause recorded; a running agent sees the change at once (it watches its control directory; failing that, within its one-minute recheck) and deploys the environment's newest target.`,
		Args:  exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, env, err := loadEnv(path, args[0])
			if err != nil {
				return err
			}
			if err := agent.ControlFor(cfg).Resume(env.Name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s resumed\n", env.Name)
			return nil
		},
	}
	retry := &cobra.Command{
		Use:   "retry ENV",
		Short: "Let the agent try a commit whose deploy failed again",
		Long: `After a deploy fails, rolls back or is refused, the agent does not deploy the
same commit again on its own: it waits for a new commit. Retry forgets the
failed commit so that a running agent deploys it again, at once.`,
		Args: exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, env, err := loadEnv(path, args[0])
			if err != nil {
				return err
			}
			c := agent.ControlFor(cfg)
			b, err := c.BlockedState(env.Name)
			if err != nil {
				return err
			}
			if b == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s has no failed commit waiting; nothing to retry\n", env.Name)
				return nil
			}
			if err := c.Retry(env.Name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%s) will be deployed again\n", env.Name, b.Commit.Short(), b.Outcome)
			return nil
		},
	}
	cmds := []*cobra.Command{pause, resume, retry}
	for _, c := range cmds {
		addConfigFlag(c, &path)
	}
	return cmds
}

func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

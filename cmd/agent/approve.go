package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
)

// newApprovalCmds returns approve and reject: the answer to a deploy the
// agent planned and waits on (policy.approve), left in the state dir's
// control directory for the running agent, which watches it.
func newApprovalCmds() []*cobra.Command {
	var path, reason string
	decide := func(approved bool) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{cmd.CommandPath(), fmt.Errorf("%s takes two arguments, the environment's name and the commit (got %d)", cmd.Name(), len(args))}
			}
			cfg, env, err := loadEnv(path, args[0])
			if err != nil {
				return err
			}
			d, err := agent.ControlFor(cfg).Decide(env.Name, args[1], agent.Decision{Approved: approved, By: whoami(), At: time.Now().UTC(), Reason: reason})
			if err != nil { // agent.ErrNotAwaiting among them: exit 1
				return err
			}
			if approved {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: deploy of %s approved by %s; the agent starts it within the deploy windows\n", env.Name, d.Commit.Short(), d.By)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: deploy of %s rejected by %s; the agent waits for a new commit (or ferry retry %s)\n", env.Name, d.Commit.Short(), d.By, env.Name)
			}
			return nil
		}
	}
	approve := &cobra.Command{
		Use:   "approve ENV SHA",
		Short: "Let the agent start a deploy that awaits approval",
		Long: `With policy.approve (e.g. ["full"]: the downtime of the upgrade page), the
agent plans a deploy of such a method, records it as awaiting approval (a
git note, a pending commit status with the plan's summary, a notification,
ferry status) and waits. Approve lets it start, within the deploy windows.
SHA is the commit awaiting (at least 7 digits); who approved, and when, go
to the agent's log and the commit's note. A newer commit supersedes the
deploy awaiting, and its approval with it.

Exit status: 0 approved, 1 the environment awaits no approval of SHA, 64
wrong command line.`,
		Example: `  ferry approve -c /etc/ferry/ferry.toml production 4f1c0d2e9a7b`,
		RunE:    decide(true),
	}
	reject := &cobra.Command{
		Use:   "reject ENV SHA",
		Short: "Refuse a deploy that awaits approval",
		Long: `Reject answers a deploy awaiting approval (see ferry approve) with no: the
agent records the refusal (note, commit status, who and when) and does not
deploy the commit again on its own; a new commit, or ferry retry, asks again.

Exit status: 0 rejected, 1 the environment awaits no approval of SHA, 64
wrong command line.`,
		Example: `  ferry reject -c /etc/ferry/ferry.toml production 4f1c0d2e9a7b --reason "not during the sale"`,
		RunE:    decide(false),
	}
	reject.Flags().StringVar(&reason, "reason", "", "why, recorded in the note")
	approve.Flags().StringVar(&reason, "reason", "", "a comment, recorded in the note")
	for _, c := range []*cobra.Command{approve, reject} {
		addConfigFlag(c, &path)
	}
	return []*cobra.Command{approve, reject}
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/plan"
)

// exitChanges is `ferry plan`'s "a deploy is planned" (terraform's
// -detailed-exitcode convention).
const exitChanges = 2

func newPlanCmd(logs *logOptions) *cobra.Command {
	var (
		flags  planFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "plan ENV",
		Short: "Show what a deploy of an environment would do, changing nothing",
		Long: `Plan reads what is deployed in the environment (from the Auto Scaling group's
ferry:commit tag, checked against its launch source), the commit to deploy
(what the environment watches: its branch's head or its highest release tag,
or --commit / --ref), picks the method and says which rule decided it:

  full    the schema marker (.ferry/schema-version) changed, a path matching
          project.full_deploy_globs changed, a commit carries the trailer
          "Ferry-Method: full", or the deployed commit is unknown;
  serial  otherwise.

It runs the pre-flight checks (suspended processes, unhealthy instances, room
to double, rollbacks, policy) and prints the ordered steps, the capacity
before, during and after, and the instances that would be replaced.

Exit status: 0 nothing to do, 2 a deploy is planned, 1 error or refusal
(the reasons are printed), 64 wrong command line.`,
		Example: `  ferry plan -c /etc/ferry/ferry.toml staging
  ferry plan -c ferry.toml production --ref refs/tags/v1.4.0 --json`,
		Args: exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			pr, err := openProject(flags.path, newCloud, log)
			if err != nil {
				return err
			}
			p, err := pr.Plan(cmd.Context(), args[0], flags.request())
			if err != nil {
				return usage(err)
			}
			if asJSON {
				err = p.WriteJSON(cmd.OutOrStdout())
			} else {
				err = p.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if p.Action == plan.Deploy {
				return exitError{code: exitChanges}
			}
			return nil
		},
	}
	flags.bind(cmd, "plan")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON (schema: docs/plan-schema.md)")
	return cmd
}

// exactlyOneEnv takes the environment's name as the only argument.
func exactlyOneEnv(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{cmd.CommandPath(), fmt.Errorf("%s takes one argument, the environment's name (got %d)", cmd.Name(), len(args))}
	}
	return nil
}

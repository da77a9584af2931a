package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
)

func newPrepareCmd(logs *logOptions) *cobra.Command {
	var (
		path        string
		commit, ref string
	)
	cmd := &cobra.Command{
		Use:   "prepare ENV [--commit SHA | --ref REF]",
		Short: "Create the launch source of a commit ahead of a deploy and print its name",
		Long: `Prepare does only the first step of a deploy, ahead of time: it creates the
launch template version (or, for groups that use one, the launch
configuration) that new instances of the commit will start from, and prints
its name. Nothing else changes: no Auto Scaling group, no instance. It is
FabulAWS's create_launch_config_for_deployment.

The commit is what the environment watches (its branch's head, or its
highest release tag), or --commit / --ref. The launch source is copied from
each group's current one with the environment's [launch] settings applied
(image, instance type, security groups, key, IAM profile) and named

  <project>-<env>-<sha12>-<UTC yyyymmddThhmmss>

(the launch template version's description, or the launch configuration's
name, with "-ROLE" appended for each group when the environment has
several). With launch.image = "bake" the commit's image is baked first
(or reused when it exists; see ferry bake) and the source names it; that
bake holds the environment's lock, so prepare is refused while a deploy or
another bake holds it, and a bake that fails is notified (bake-failed) to
the [[notify]] targets. Pass
that name to ferry deploy --launch-config; the deploy then
reuses it, and refuses one prepared for another commit. Running prepare
again creates a new, later-stamped source.

Only the name is written to standard output, so a script can keep it:
  name=$(ferry prepare -c ferry.toml staging)

Exit status: 0 prepared, 1 failed, 64 wrong command line.`,
		Example: `  ferry prepare -c /etc/ferry/ferry.toml production --ref refs/tags/v1.4.0
  ferry deploy -c /etc/ferry/ferry.toml production --ref refs/tags/v1.4.0 \
      --launch-config "$(ferry prepare -c /etc/ferry/ferry.toml production --ref refs/tags/v1.4.0)"`,
		Args: exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := openProject(path, newCloud, log)
			if err != nil {
				return err
			}
			name, err := p.Prepare(cmd.Context(), args[0], agent.Request{Commit: commit, Ref: ref})
			if err != nil {
				return usage(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), name)
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().StringVar(&commit, "commit", "", "prepare this commit (full SHA) instead of what the environment watches")
	cmd.Flags().StringVar(&ref, "ref", "", "prepare the head of this branch or ref (e.g. staging, refs/tags/v1.4.0)")
	return cmd
}

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
)

func newBakeCmd(logs *logOptions) *cobra.Command {
	var (
		path        string
		commit, ref string
	)
	cmd := &cobra.Command{
		Use:   "bake ENV [--commit SHA | --ref REF]",
		Short: "Bake a commit's image ahead of a deploy and print its id",
		Long: `Bake makes the environment's image of a commit (launch.image = "bake"),
ahead of the deploy, so that the deploy itself only installs it: a builder
instance from launch.base_image receives the commit's tree from Ferry's own
git mirror (a tar stream over SSH, no git on the instance) in
/srv/app/releases/<sha>, runs each role's build hook there, is cleaned of
host keys, cloud-init state, logs, shell history and secrets, and is
imaged. The image is tagged ferry:commit, ferry:env and ferry:project, and
the builder terminated. Nothing of the environment changes.

An image already baked for the commit is reused, never baked twice. A bake
that fails terminates its builder and removes its half-made image; the
reason and the builder's log are printed, and the [[notify]] targets told
(bake-failed) before the command exits. See docs/bake.md.

Only the image id is written to standard output.

Exit status: 0 baked or reused, 1 failed, 64 wrong command line.`,
		Example: `  ferry bake -c /etc/ferry/ferry.toml production --ref refs/tags/v1.4.0`,
		Args:    exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := openProject(path, newCloud, log)
			if err != nil {
				return err
			}
			r, err := p.Bake(cmd.Context(), args[0], agent.Request{Commit: commit, Ref: ref})
			if err != nil {
				return usage(err)
			}
			if r.Reused {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s was baked before for %s: reused\n", r.Image, r.Commit.Short())
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "baked %s for %s in %s (builder log: %s)\n", r.Image, r.Commit.Short(), r.Elapsed.Round(time.Second), r.Log)
			}
			fmt.Fprintln(cmd.OutOrStdout(), r.Image)
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().StringVar(&commit, "commit", "", "bake this commit (full SHA) instead of what the environment watches")
	cmd.Flags().StringVar(&ref, "ref", "", "bake the head of this branch or ref (e.g. staging, refs/tags/v1.4.0)")
	return cmd
}

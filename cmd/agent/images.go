package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newImagesCmd(logs *logOptions) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "images ENV",
		Short: "List the images Ferry baked for an environment",
		Long: `Images lists the environment's baked images (launch.image = "bake"), newest
first: the commit each holds, its id, age and state, and what launches from
it (a group's launch source, a running instance's, an unfinished deploy's
rollback) or why else it is kept ("previous deploy": the commit the
environment ran before the deployed one, a rollback's target). After each
bake Ferry keeps the newest images.keep of them (default 5) and every one
in use, and deregisters the others with their snapshots. See docs/bake.md.

Exit status: 0 listed, 1 failed, 64 wrong command line.`,
		Example: `  ferry images -c /etc/ferry/ferry.toml production`,
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
			imgs, err := p.Images(cmd.Context(), args[0])
			if err != nil {
				return usage(err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "COMMIT\tIMAGE\tAGE\tSTATE\tIN USE BY")
			for _, img := range imgs {
				by := strings.Join(img.InUse, ", ")
				if by == "" {
					by = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", img.Commit.Short(), img.ID, age(time.Since(img.Created)), img.State, by)
			}
			return w.Flush()
		},
	}
	addConfigFlag(cmd, &path)
	return cmd
}

// age says how old something is, to the unit that matters.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/internal/demo"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
)

func newDemoCmd(logs *logOptions) *cobra.Command {
	var (
		dir      string
		keep     bool
		machines bool
		cacheDir string
	)
	cmd := &cobra.Command{
		Use:   "demo [--keep] [--dir DIR] [--machines]",
		Short: "Watch Ferry do its whole job on this machine, no AWS account needed",
		Long: `Demo runs everything on the embedded default, with no credentials and no
network: a git remote holding a small example shop, a simulated AWS account
(staging: 3 web servers behind a load balancer and a worker; production:
2 web servers and a worker) and the agent. It then walks through, narrating:

  1. a push to the staging branch        → a serial deploy, no downtime;
  2. a commit bumping .ferry/schema-version → a full deploy behind the
                                            "upgrade in progress" page;
  3. the tag v1.0.0                        → production deploys the release;
  4. a commit whose health check fails     → rollback, a failed outcome, and
                                            no retry loop;

then prints git log --notes=ferry and ferry status. It takes about a minute.
With --keep everything keeps running afterwards: push commits from the
printed clone and curl the load balancers yourself. The agent's own log goes
to stderr (--log-level info for every step).

With --machines (as root, with debootstrap and systemd-container installed)
it is the seed's stack on Debian machines booted with systemd-nspawn, as in
ferry sim --machines --stack, with Ferry's own path throughout: ferry env
create of the testing environment (security groups, the balancer, the
cache+queue, db-primary and db-replica servers made by their recipes, the web
group from examples/app's first commit, baked; the demo makes the key pair and
a secrets file of random values), then the agent deploying the pushes to its
branch: a change, serially, and examples/app's schema bump, in a full deploy
behind the upgrade page. Through the balancer it shows each commit's page and
a note written on the primary read from the replica; over SSH, the new column
on the replica. It ends with how to look around (addresses, an ssh line). The
machines' images get this ferry binary. The first run builds the stack image
from this machine's Debian mirror (a few minutes); the walk then takes about
five.`,
		Example: `  go run ./cmd/agent demo
  ferry demo --keep --dir /tmp/ferry-demo
  sudo ferry demo --machines`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-level") && !cmd.Root().PersistentFlags().Changed("log-level") {
				logs.level = "warn" // the narration tells the story; errors still show
			}
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return demo.Run(cmd.Context(), demo.Options{
				Dir: dir, Keep: keep, Out: cmd.OutOrStdout(), Log: log, Machines: machines, CacheDir: cacheDir,
				Status: func(ctx context.Context, path string, out io.Writer) error {
					err := printStatus(ctx, path, nil, false, simCloud, log, out)
					if _, ok := err.(exitError); ok {
						return nil // an environment out of sync is the point of step 4
					}
					return err
				},
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the demo's files here instead of a temporary directory")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the simulator, remote and agent running after the walk-through")
	cmd.Flags().BoolVar(&machines, "machines", false, "run every instance as a Debian machine (root; debootstrap, systemd-container)")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", "", "where --machines keeps its images (default /var/cache/ferry/machines)")
	return cmd
}

// simCloud connects to the demo's simulator, which takes any credentials.
func simCloud(ctx context.Context, env *config.Environment, log *slog.Logger) (*cloud.Client, error) {
	return cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Credentials: simenv.Credentials(), Logger: log})
}

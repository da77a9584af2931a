package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/envbuild"
)

func newEnvCmd(logs *logOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Create or destroy a whole environment (the seed's create_environment)",
		Long: `ferry env create builds an environment from its [environments.ENV.create]
config in an account that does not have it yet: security groups, a classic
load balancer, the long-lived cache+queue and database servers (provisioned
by their recipes, all at once, one log each), and the web and worker launch
templates and Auto Scaling groups, every one tagged ferry:project, ferry:env
and ferry:role. ferry env destroy removes what carries those tags.
See docs/environments.md.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newEnvCreateCmd(logs), newEnvDestroyCmd(logs))
	return cmd
}

func newEnvCreateCmd(logs *logOptions) *cobra.Command {
	var (
		path        string
		noProvision bool
	)
	cmd := &cobra.Command{
		Use:   "create ENV",
		Short: "Build an environment from its [create] config and provision its servers",
		Long: `Create builds the environment from its [environments.ENV.create] config in an
account that does not have it: the seed's security groups (<project>-sg,
<project>-web-sg, ...), a classic load balancer (80→80, HTTPS 443→443, health
check HTTPS:443/healthcheck.html), the long-lived servers (cache and queue,
db-primary, db-replica), and a launch template and Auto Scaling group each for
the web and worker servers (from launch.image_id, or with launch.image = "bake"
the environment's first commit, baked). Everything is tagged ferry:project,
ferry:env and ferry:role. Then every long-lived server is made into its roles
by its recipe, all at once, each with its own log file, and a summary names
each server, its role, its address and its log.

It refuses, creating nothing, while servers of an earlier environment of that
name still run. A create that failed is taken up by running it again: it
finds what exists by its tags and makes only what is missing, never a second
server. With --no-provision the resources are made and the servers left as
they booted; the create is finished by running it again without the flag.
See docs/environments.md.

Exit status: 0 created, 1 failed or refused, 64 wrong command line.`,
		Example: `  ferry env create -c /etc/ferry/testing.toml testing`,
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
			res, err := p.CreateEnv(cmd.Context(), args[0], agent.EnvRequest{Progress: cmd.ErrOrStderr(), NoProvision: noProvision})
			if res != nil && len(res.Servers) > 0 {
				printServers(cmd.OutOrStdout(), args[0], res)
			}
			if err != nil {
				return usage(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "environment %s: %d made, %d already there; balancer %s\n",
				args[0], res.CreatedCount(), len(res.Resources)-res.CreatedCount(), res.BalancerDNS)
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&noProvision, "no-provision", false, "make the resources only; a later create without it provisions the servers")
	return cmd
}

// printServers is create's summary: each long-lived server, its roles, its
// address and where its log is.
func printServers(w io.Writer, env string, res *envbuild.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tROLE\tINSTANCE\tADDRESS\tSTATE\tLOG")
	for _, s := range res.Servers {
		rs := make([]string, len(s.Roles))
		for i, r := range s.Roles {
			rs[i] = string(r)
		}
		state := "provisioned"
		switch {
		case s.Err != nil:
			state = "FAILED"
		case s.Log == "":
			state = "not provisioned"
		}
		log := s.Log
		if log == "" {
			log = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, strings.Join(rs, "+"), s.ID, s.Address, state, log)
	}
	_ = tw.Flush()
}

func newEnvDestroyCmd(logs *logOptions) *cobra.Command {
	var (
		path      string
		confirmed []string
	)
	cmd := &cobra.Command{
		Use:   "destroy ENV [--yes-destroy-ENV]",
		Short: "Remove everything env create made for an environment",
		Long: `Destroy removes what carries the environment's tags (ferry:project and
ferry:env): its Auto Scaling groups with their instances, its long-lived
servers, its load balancer and launch templates, and, once every instance has
terminated, its security groups. Run again after a failure, it removes what is
left. Baked images stay (ferry bake's, reused by a later create).

An environment whose config says protected = true is destroyed only when the
command names it: --yes-destroy-ENV (e.g. --yes-destroy-production).

Exit status: 0 destroyed, 1 failed or refused, 64 wrong command line.`,
		Example: `  ferry env destroy -c /etc/ferry/testing.toml testing`,
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
			gone, err := p.DestroyEnv(cmd.Context(), args[0], agent.EnvRequest{Progress: cmd.ErrOrStderr(), Confirmed: confirmed})
			if err != nil {
				return usage(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "environment %s: %d removed\n", args[0], len(gone))
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	// --yes-destroy-ENV names the environment in the flag itself: every
	// such flag is read as --yes-destroy, its name kept.
	var bare bool
	cmd.Flags().BoolVar(&bare, "yes-destroy", false, "")
	_ = cmd.Flags().MarkHidden("yes-destroy")
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if env, ok := strings.CutPrefix(name, "yes-destroy-"); ok {
			confirmed = append(confirmed, env)
			return "yes-destroy"
		}
		return pflag.NormalizedName(name)
	})
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if bare && len(confirmed) == 0 {
			return usageError{cmd.CommandPath(), fmt.Errorf("--yes-destroy names the environment: --yes-destroy-ENV")}
		}
		return nil
	}
	return cmd
}

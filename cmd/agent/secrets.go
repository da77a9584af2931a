package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// newSecretsCmd is `ferry secrets`: push an environment's secrets to SSM and
// its servers, and the read-only diff and list. Nothing it prints shows a
// value.
func newSecretsCmd(logs *logOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Put an environment's secrets in SSM Parameter Store and on its servers",
		Long: `Secrets reads an environment's secrets from the sources its
[environments.NAME.secrets] table names (a dotenv file readable by its owner
only, and/or an SSM path), keeps them in SSM Parameter Store under
/<project>/<env>/ as SecureString parameters, and hands them to the running
servers through each role's secrets_changed hook, on stdin over SSH.

No subcommand prints, logs or records a secret's value: only names,
versions and dates.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{cmd.CommandPath(), fmt.Errorf("unknown command %q", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return exitError{code: exitUsage}
		},
	}
	cmd.AddCommand(newSecretsPushCmd(logs), newSecretsDiffCmd(logs), newSecretsListCmd(logs), newSecretsFetchCmd(logs))
	return cmd
}

// secretsPush builds the push of one environment, connected to its account.
func secretsPush(ctx context.Context, path, envName string, log *slog.Logger) (*agent.SecretsPush, error) {
	cfg, env, err := loadEnv(path, envName)
	if err != nil {
		return nil, err
	}
	if env.Secrets == nil {
		return nil, usageError{"ferry secrets", fmt.Errorf("environment %s has no secrets: add [environments.%s.secrets] with file and/or path", env.Name, env.Name)}
	}
	c, err := newCloud(ctx, env, log)
	if err != nil {
		return nil, err
	}
	m, err := agent.OpenMirror(cfg, log)
	if err != nil {
		return nil, err
	}
	return &agent.SecretsPush{
		Project: cfg.Project.Name, StateDir: cfg.Project.StateDir, Env: env, Store: c, Groups: c,
		AgentSocket: os.Getenv("SSH_AUTH_SOCK"), Log: log, Lock: agent.EnvLock(cfg, env, m, log),
	}, nil
}

func newSecretsPushCmd(logs *logOptions) *cobra.Command {
	var (
		path    string
		deliver bool
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "push ENV",
		Short: "Write changed secrets to SSM and run secrets_changed on the running servers",
		Long: `Push reads the environment's sources and what SSM holds under
/<project>/<env>/, writes each secret that is new or changed as a new
version of its SecureString parameter (an unchanged one gets no new
version; one only in SSM is kept), and then, when something was written,
runs each role's secrets_changed hook on the environment's running servers
(InService instances of its group and its listed hosts) with every secret
under the path on stdin as KEY=value lines. The default hook of web servers
and workers writes /etc/app/secrets.env (root's, 0600, atomically) and
restarts gunicorn or celery where it runs.

The push holds the environment's lock, as a deploy does: a push while a
deploy or another push runs fails (exit 1, "lock held"), changing nothing.
Sources, SSM and the servers are read, and the SSH settings checked, before
anything is written. Each server's output is in
<state_dir>/logs/<env>/secrets-<time>/<role>-<instance>.log with the values
masked; <state_dir>/secrets/<env>.json records the push (names and
versions).

Exit status: 0 pushed (or nothing to do), 1 failed, 64 wrong command line.`,
		Example: `  ferry secrets push -c /etc/ferry/ferry.toml production
  ferry secrets push -c ferry.toml staging --deliver`,
		Args: exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := secretsPush(cmd.Context(), path, args[0], log)
			if err != nil {
				return err
			}
			p.Deliver = deliver
			rec, err := p.Run(cmd.Context())
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(rec); jerr != nil {
					return jerr
				}
			} else {
				writePush(w, rec)
			}
			return err
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&deliver, "deliver", false, "run the secrets_changed hooks even when no value changed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the push's record as JSON")
	return cmd
}

func writePush(w io.Writer, rec agent.SecretsRecord) {
	if len(rec.Written) == 0 {
		fmt.Fprintf(w, "%s: no secret changed under %s\n", rec.Environment, rec.Path)
	} else {
		var parts []string
		for _, k := range rec.Written {
			parts = append(parts, fmt.Sprintf("%s (version %d)", k, rec.Versions[k]))
		}
		fmt.Fprintf(w, "%s: wrote %s under %s\n", rec.Environment, strings.Join(parts, ", "), rec.Path)
	}
	for _, s := range rec.Servers {
		outcome := "ok"
		if s.Error != "" {
			outcome = "FAILED: " + s.Error
		}
		fmt.Fprintf(w, "  %s %s (%s): %s\n", s.Role, s.Instance, s.Address, outcome)
	}
}

func newSecretsDiffCmd(logs *logOptions) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "diff ENV",
		Short: "Say which secrets a push would write (names only)",
		Long: `Diff compares the environment's sources with what SSM holds under
/<project>/<env>/ and lists, by name, the secrets that are new, changed,
unchanged, or only in SSM. It changes nothing.

Exit status: 0 nothing to push, 1 a push would write something (or the
sources or SSM could not be read), 64 wrong command line.`,
		Example: `  ferry secrets diff -c /etc/ferry/ferry.toml production`,
		Args:    exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := secretsPush(cmd.Context(), path, args[0], log)
			if err != nil {
				return err
			}
			d, err := p.Diff(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, row := range []struct {
				what  string
				names []string
			}{{"new", d.Added}, {"changed", d.Changed}, {"unchanged", d.Unchanged}, {"only in SSM (kept)", d.OnlyInSSM}} {
				if len(row.names) > 0 {
					fmt.Fprintf(w, "%s: %s\n", row.what, strings.Join(row.names, ", "))
				}
			}
			if d.Differs() {
				return exitError{code: exitFailure}
			}
			fmt.Fprintf(w, "%s: SSM has every secret of the sources under %s\n", args[0], d.Path)
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	return cmd
}

func newSecretsListCmd(logs *logOptions) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "list ENV",
		Short: "List the secrets SSM holds for an environment: names, versions, dates",
		Long: `List shows each parameter under /<project>/<env>/ with its version and
when it was last written, and when secrets were last pushed from this host.
Values are not even decrypted.`,
		Example: `  ferry secrets list -c /etc/ferry/ferry.toml production`,
		Args:    exactlyOneEnv,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			p, err := secretsPush(cmd.Context(), path, args[0], log)
			if err != nil {
				return err
			}
			params, err := p.Versions(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tLAST WRITTEN")
			for _, prm := range params {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", prm.Name, prm.Version, prm.Modified.UTC().Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			rec, ok, err := agent.LastSecretsPush(p.StateDir, p.Env.Name)
			switch {
			case err != nil:
				return err
			case ok:
				fmt.Fprintf(w, "last pushed from here: %s (%s)\n", rec.PushedAt.UTC().Format(time.RFC3339), rec.RunID)
				if !rec.CheckedAt.IsZero() {
					fmt.Fprintf(w, "found up to date since: %s\n", rec.CheckedAt.UTC().Format(time.RFC3339))
				}
			default:
				fmt.Fprintln(w, "never pushed from here")
			}
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	return cmd
}

func newSecretsFetchCmd(logs *logOptions) *cobra.Command {
	var (
		path, out, region, endpoint string
	)
	cmd := &cobra.Command{
		Use:   "fetch --path /PROJECT/ENV/",
		Short: "On an instance: write the secrets SSM holds under a path to a file (at boot)",
		Long: `Fetch runs on an instance, not on the bastion, and reads no config: it
reads every SecureString parameter directly below --path (decrypted) with
the AWS SDK's default credentials (on EC2, the instance profile's, from the
instance metadata service with IMDSv2) and writes them as KEY=value lines
to --out, created mode 0600 and renamed over the old file, so the app reads
all of it or none. The region, unless given, comes from the instance
metadata service.

The shipped unit ferry-secrets.service runs it at boot before the app's
services, so an instance Auto Scaling launches starts with the secrets
pushed last (see ferry secrets push). It prints the names written, never a
value. Nothing is written when SSM cannot be read or holds no secret there.

Exit status: 0 written, 1 failed, 64 wrong command line.`,
		Example: `  ferry secrets fetch --path /shop/production/ --out /etc/app/secrets.env`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usageError{cmd.CommandPath(), fmt.Errorf("--path is required (the environment's /<project>/<env>/)")}
			}
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			c, err := cloud.New(cmd.Context(), cloud.Options{Region: region, RegionFromIMDS: region == "", Endpoint: endpoint, Logger: log})
			if err != nil {
				return err
			}
			names, err := agent.FetchSecrets(cmd.Context(), c, path, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d %s to %s: %s\n", len(names), plural(len(names), "secret", "secrets"), out, strings.Join(names, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "the SSM path the secrets are under, /<project>/<env>/")
	cmd.Flags().StringVar(&out, "out", "/etc/app/secrets.env", "the file to write (mode 0600)")
	cmd.Flags().StringVar(&region, "region", "", "AWS region (default: the instance's, from the metadata service)")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "AWS endpoint override (the simulator)")
	return cmd
}

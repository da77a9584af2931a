package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/config"
)

func newValidateCmd() *cobra.Command {
	var path string
	var skipFiles bool
	cmd := &cobra.Command{
		Use:   "validate [-c FILE]",
		Short: "Check a config file and report every problem in it",
		Long: `Validate reads a Ferry config file and checks it without touching git or AWS:
unknown keys, values of the wrong type, missing required values, two
environments claiming the same branch, tag patterns that do not compile,
cron specs that never fire, zero timeouts and more. It also checks every
file the config names (keys, tokens, secrets, known_hosts, allowed_signers,
user data): each must exist and be readable, and a file holding a secret
must be readable by its owner only (mode 0600 or 0400), as OpenSSH requires
of private keys. --skip-files leaves the files out, for a config checked
away from the machine it runs on.

Every problem is printed, one per line, as FILE:LINE: KEY: MESSAGE.
Exit status: 0 when the file is valid, 1 when it is not (or cannot be read).`,
		Example: `  ferry validate -c /etc/ferry/ferry.toml
  ferry validate --skip-files -c examples/environments/production.toml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err == nil && !skipFiles {
				err = cfg.CheckFiles()
			}
			if err != nil {
				es, ok := config.AsErrors(err)
				if !ok {
					return err
				}
				for _, e := range es {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d %s\n", path, len(es), plural(len(es), "problem", "problems"))
				return exitError{code: exitFailure}
			}
			names := make([]string, 0, len(cfg.Environments))
			for name := range cfg.Environments {
				names = append(names, name)
			}
			slices.Sort(names)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: project %s, %d %s (%s)\n", path, cfg.Project.Name,
				len(names), plural(len(names), "environment", "environments"), strings.Join(names, ", "))
			return nil
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&skipFiles, "skip-files", false, "check the config alone, not the files it names")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

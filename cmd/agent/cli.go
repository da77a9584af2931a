package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes scripts can rely on.
const (
	// exitOK: the command did what was asked.
	exitOK = 0
	// exitFailure: the command ran and failed (an invalid config, an
	// unreachable remote, a failed deploy).
	exitFailure = 1
	// exitUsage: the command line itself is wrong (unknown flag or command,
	// missing argument); nothing was attempted. 64 is EX_USAGE of sysexits.h.
	exitUsage = 64
)

// defaultConfigPath is used when neither -c nor $FERRY_CONFIG is given.
const defaultConfigPath = "/etc/ferry/ferry.toml"

// usageError marks a mistake in the command line; cmd is the command path
// whose --help explains it.
type usageError struct {
	cmd string
	err error
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries a specific exit code for an error already reported to
// the user (so run prints nothing more).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run is the whole program behind main, so tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := unknownCommand(root, args)
	if err == nil {
		err = root.ExecuteContext(ctx)
	}
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "ferry: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ue.cmd)
		return exitUsage
	}
	return exitFailure
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "ferry",
		Short: "Pull-based GitOps deploys to EC2 Auto Scaling groups",
		Long: `Ferry watches a git repository and rolls new commits out to EC2 Auto Scaling
groups behind load balancers. Pushing to an environment's branch (or tagging
a release) deploys it; the outcome is recorded as a git note on the commit.

Each deploy is "full" (new instances behind an upgrade page, then a switch,
with downtime) when the commit changes the schema marker, or "serial"
(instances replaced a batch at a time, no downtime) otherwise.

Exit codes: 0 success, 1 failure, 64 wrong command line.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// A bare "ferry" prints help and fails: a script that forgot its
		// subcommand should notice.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{"ferry", fmt.Errorf("unknown command %q", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return exitError{code: exitUsage}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{cmd.CommandPath(), err} })
	root.CompletionOptions.DisableDefaultCmd = true

	var logs logOptions
	logs.bind(root)
	root.AddCommand(
		newValidateCmd(),
		newVersionCmd(),
		newPlanCmd(&logs),
		newSimCmd(&logs),
		newDeployCmd(&logs),
		newRedeployCmd(&logs),
		newPrepareCmd(&logs),
		newBakeCmd(&logs),
		newImagesCmd(&logs),
		newEnvCmd(&logs),
		newRunCmd(&logs),
		newStatusCmd(&logs),
		newHistoryCmd(&logs),
		newDemoCmd(&logs),
		newSecretsCmd(&logs),
		newASGCmd(&logs),
		newDescribeCmd(&logs),
	)
	root.AddCommand(newControlCmds()...)
	root.AddCommand(newApprovalCmds()...)
	return root
}

// unknownCommand refuses a command name that does not exist, with or
// without --help: cobra would print the parent's help for "ferry bogus
// --help" and exit 0, which a script takes for success.
func unknownCommand(root *cobra.Command, args []string) error {
	root.InitDefaultHelpCmd() // as Execute does, so that "ferry help X" is found
	c, rest, err := root.Find(args)
	if err == nil && c.Name() == "help" && c.Parent() == root {
		return unknownHelpTopic(root, rest)
	}
	if err != nil || !c.HasSubCommands() {
		return nil // cobra reports it, or the command takes arguments
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return nil
		}
		if name, ok := strings.CutPrefix(a, "-"); ok {
			// A flag's value is not a command name: skip it.
			name = strings.TrimPrefix(name, "-")
			var f *pflag.Flag
			if strings.HasPrefix(a, "--") {
				f = c.Flags().Lookup(name)
			} else if len(name) == 1 {
				f = c.Flags().ShorthandLookup(name)
			}
			if f != nil && f.NoOptDefVal == "" && !strings.Contains(a, "=") {
				i++
			}
			continue
		}
		return usageError{c.CommandPath(), fmt.Errorf("unknown command %q for %s", a, c.CommandPath())}
	}
	return nil
}

// unknownHelpTopic refuses "ferry help X" when X names no command: cobra
// prints "Unknown help topic" with the root's usage and exits 0.
func unknownHelpTopic(root *cobra.Command, topic []string) error {
	var words []string
	for i := 0; i < len(topic); i++ {
		a := topic[i]
		name, ok := strings.CutPrefix(a, "-")
		if !ok {
			words = append(words, a)
			continue
		}
		// A global flag's value (--log-level debug) is not a topic.
		name = strings.TrimPrefix(name, "-")
		f := root.PersistentFlags().Lookup(name)
		if f == nil && len(name) == 1 {
			f = root.PersistentFlags().ShorthandLookup(name)
		}
		if f != nil && f.NoOptDefVal == "" && !strings.Contains(a, "=") {
			i++
		}
	}
	if len(words) == 0 {
		return nil // "ferry help": the root's help
	}
	c, rest, err := root.Find(words)
	if err == nil && len(rest) == 0 && c != root {
		return nil
	}
	return usageError{root.CommandPath(), fmt.Errorf("unknown help topic %q: no such command", strings.Join(words, " "))}
}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{cmd.CommandPath(), fmt.Errorf("unexpected argument %q: %s takes none", args[0], cmd.Name())}
	}
	return nil
}

// addConfigFlag adds the -c/--config flag every command that reads a config takes.
func addConfigFlag(cmd *cobra.Command, path *string) {
	def := os.Getenv("FERRY_CONFIG")
	if def == "" {
		def = defaultConfigPath
	}
	cmd.Flags().StringVarP(path, "config", "c", def, "project config file (TOML); $FERRY_CONFIG overrides the default")
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/bake"
)

func newStatusCmd(logs *logOptions) *cobra.Command {
	var (
		path   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status [ENV]",
		Short: "Show what each environment runs, what it should run, and why not",
		Long: `Status reports, for every environment (or the one named): the commit deployed
(read from the Auto Scaling group, the source of truth), the commit wanted
(from git: the branch's head or the highest release tag), the last outcomes
recorded in the git notes, who holds the environment's lock, whether it is
paused or waits for a new commit after a failure, the groups' suspended
Auto Scaling processes and who last changed them with ferry asg, and
whether a deploy window is open.

Exit status: 0 when every environment shown runs its wanted commit, 1 when
one does not or could not be read, 64 wrong command line.`,
		Example: `  ferry status -c /etc/ferry/ferry.toml
  ferry status -c ferry.toml production --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{cmd.CommandPath(), fmt.Errorf("status takes at most one environment")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logs.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return printStatus(cmd.Context(), path, args, asJSON, newCloud, log, cmd.OutOrStdout())
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// printStatus writes the status of the config's environments (or the one
// in only) and fails when one is not in sync.
func printStatus(ctx context.Context, path string, only []string, asJSON bool, cloudFor cloudFunc, log *slog.Logger, w io.Writer) error {
	p, err := openProject(path, cloudFor, log)
	if err != nil {
		return err
	}
	out, err := p.Status(ctx, only)
	if err != nil {
		return usage(err)
	}
	allGood := true
	for _, s := range out {
		allGood = allGood && s.InSync && len(s.Errors) == 0
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		writeStatus(w, out)
	}
	if !allGood {
		return exitError{code: exitFailure}
	}
	return nil
}

func writeStatus(out io.Writer, list []agent.EnvStatus) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for i, s := range list {
		if i > 0 {
			fmt.Fprintln(w)
		}
		state := "in sync"
		if !s.InSync {
			state = "NOT in sync"
		}
		fmt.Fprintf(w, "%s\t%s\n", s.Env, state)
		deployed := orNone(s.Deployed.Short())
		if s.Deployed.IsZero() && s.DeployedSource != "" {
			deployed += " (" + s.DeployedSource + ")"
		}
		fmt.Fprintf(w, "  deployed\t%s\n", deployed)
		fmt.Fprintf(w, "  wanted\t%s %s\n", orNone(s.Wanted.Short()), s.WantedAt)
		for _, r := range s.Last {
			line := fmt.Sprintf("%s %s deploy started %s", r.Outcome, r.Method, r.Started.UTC().Format(time.RFC3339))
			if r.Reason != "" {
				line += ": " + r.Reason
			}
			fmt.Fprintf(w, "  last\t%s\n", line)
		}
		fmt.Fprintf(w, "  lock\t%s\n", orNone(s.Lock))
		if s.Paused != nil {
			fmt.Fprintf(w, "  paused\tby %s since %s %s\n", s.Paused.By, s.Paused.Since.Format(time.RFC3339), s.Paused.Reason)
		}
		if a := s.Awaiting; a != nil {
			fmt.Fprintf(w, "  awaiting approval\t%s since %s: %s (ferry approve %s %s)\n", a.Commit.Short(), a.Since.Format(time.RFC3339), a.Summary, s.Env, a.Commit.Short())
			if d := s.Decision; d != nil && d.Commit == a.Commit {
				verdict := "rejected"
				if d.Approved {
					verdict = "approved"
				}
				fmt.Fprintf(w, "  approval\t%s by %s at %s\n", verdict, d.By, d.At.Format(time.RFC3339))
			}
		}
		if s.Blocked != nil {
			fmt.Fprintf(w, "  blocked\t%s %s: %s (push a new commit or ferry retry %s)\n", s.Blocked.Commit.Short(), s.Blocked.Outcome, s.Blocked.Reason, s.Env)
		}
		for _, g := range s.Suspended {
			fmt.Fprintf(w, "  suspended\t%s: %s\n", g.Group, strings.Join(g.Suspended, ", "))
		}
		if c := s.Scaling; c != nil {
			fmt.Fprintf(w, "  asg\tlast %s of %s by %s at %s\n", c.Action, strings.Join(c.Processes, ", "), c.By, c.At.Format(time.RFC3339))
		}
		for _, d := range s.Drift {
			fmt.Fprintf(w, "  drift\t%s (ferry redeploy %s applies it)\n", d, s.Env)
		}
		fmt.Fprintf(w, "  window\t%s\n", s.Window)
		if s.Secrets {
			fmt.Fprintf(w, "  secrets\t%s\n", secretsLine(s))
		}
		if b := s.Bake; b != nil {
			fmt.Fprintf(w, "  bake\t%s\n", bakeLine(b, time.Now()))
		}
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  error\t%s\n", e)
		}
	}
	_ = w.Flush()
}

// bakeLine says how the environment's last bake went, or how far the one
// in progress is.
func bakeLine(b *bake.Record, now time.Time) string {
	switch {
	case !b.Finished:
		line := fmt.Sprintf("in progress: %s of %s, %s so far", b.Phase, b.Commit.Short(), now.Sub(b.Started).Round(time.Second))
		if b.Builder != "" {
			line += ", builder " + b.Builder
		}
		if b.Log != "" {
			line += ", log " + b.Log
		}
		return line
	case b.Outcome == bake.OutcomeBaked:
		return fmt.Sprintf("baked %s for %s, started %s", b.Image, b.Commit.Short(), b.Started.UTC().Format(time.RFC3339))
	}
	line := fmt.Sprintf("%s (started %s)", b.Reason, b.Started.UTC().Format(time.RFC3339))
	if !b.CleanedUp {
		line += "; its builder or image is not removed yet (the next bake does)"
	}
	return line
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newHistoryCmd(logs *logOptions) *cobra.Command {
	var (
		path  string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "history ENV",
		Short: "List an environment's past deploys from the git notes",
		Long: `History reads the deploy records Ferry keeps as git notes (refs/notes/ferry)
on the commits of the environment's branch or release tags, newest first:
when, which commit, which method, the outcome and, for failures, why. The
same records show in git log --notes=ferry.`,
		Example: `  ferry history -c /etc/ferry/ferry.toml staging --limit 20`,
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
			all, err := p.History(cmd.Context(), args[0], limit)
			if err != nil {
				return usage(err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "STARTED\tCOMMIT\tMETHOD\tOUTCOME\tDURATION\tREASON")
			for _, e := range all {
				dur := "-"
				if !e.Ended.IsZero() {
					dur = e.Ended.Sub(e.Started).Round(time.Second).String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Started.UTC().Format(time.RFC3339), e.Commit.Short(), e.Method, e.Outcome, dur, e.Reason)
			}
			return w.Flush()
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many deploys")
	return cmd
}

// secretsLine says when the environment's secrets were last pushed from
// this host, or that they never were (new instances then find nothing in
// SSM to fetch).
func secretsLine(s agent.EnvStatus) string {
	if s.SecretsPushed == nil {
		return fmt.Sprintf("never pushed from this host (ferry secrets push %s)", s.Env)
	}
	line := "last pushed " + s.SecretsPushed.UTC().Format(time.RFC3339)
	if s.SecretsChecked != nil {
		line += ", up to date at " + s.SecretsChecked.UTC().Format(time.RFC3339)
	}
	return line
}

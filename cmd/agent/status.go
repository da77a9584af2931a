package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/status"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// envStatus is what ferry status reports for one environment.
type envStatus struct {
	Env      string          `json:"env"`
	Deployed string          `json:"deployed,omitempty"`
	Wanted   string          `json:"wanted,omitempty"`
	WantedAt string          `json:"wanted_ref,omitempty"`
	InSync   bool            `json:"in_sync"`
	Last     []status.Record `json:"last_outcomes,omitempty"`
	Lock     string          `json:"lock,omitempty"`
	Paused   *agent.Paused   `json:"paused,omitempty"`
	Blocked  *agent.Blocked  `json:"blocked,omitempty"`
	Window   string          `json:"window"`
	Errors   []string        `json:"errors,omitempty"`
}

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
paused or waits for a new commit after a failure, and whether a deploy
window is open.

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
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(cfg.Environments))
	for n := range cfg.Environments {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(only) == 1 {
		if _, _, err := loadEnv(path, only[0]); err != nil {
			return err
		}
		names = only
	}
	m, err := openMirror(cfg, log)
	if err != nil {
		return err
	}
	var out []envStatus
	allGood := true
	for _, name := range names {
		s := readStatus(ctx, cfg, cfg.Environments[name], m, cloudFor, log)
		allGood = allGood && s.InSync && len(s.Errors) == 0
		out = append(out, s)
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

// cloudFunc connects to an environment's account.
type cloudFunc func(ctx context.Context, env *config.Environment, log *slog.Logger) (*cloud.Client, error)

func readStatus(ctx context.Context, cfg *config.Config, env *config.Environment, m *watch.Mirror, cloudFor cloudFunc, log *slog.Logger) envStatus {
	s := envStatus{Env: env.Name}
	fail := func(what string, err error) { s.Errors = append(s.Errors, what+": "+err.Error()) }

	if rev, err := resolveTarget(ctx, cfg, env, m, "", "", log); err != nil {
		fail("wanted commit", err)
	} else {
		s.Wanted, s.WantedAt = rev.Commit, rev.Ref
	}
	if c, err := cloudFor(ctx, env, log); err != nil {
		fail("AWS", err)
	} else if name, ok := primaryGroup(env); ok {
		if g, err := c.Group(ctx, name, nil, nil); err != nil {
			fail("deployed commit", err)
		} else {
			s.Deployed = g.Tags[plan.TagCommit]
		}
	}
	s.InSync = s.Deployed != "" && s.Deployed == s.Wanted

	notes := &status.Notes{Remote: m, Ref: cfg.Project.Git.NotesRef}
	if err := notes.Refresh(ctx); err != nil {
		fail("notes", err)
	}
	for _, commit := range []string{s.Wanted, s.Deployed} {
		if commit == "" {
			continue
		}
		recs, err := notes.Read(plumbing.NewHash(commit))
		if err != nil {
			fail("notes", err)
			continue
		}
		for _, r := range recs {
			if r.Env == env.Name {
				s.Last = append(s.Last, r)
			}
		}
		if commit == s.Deployed && s.Deployed == s.Wanted {
			break
		}
	}
	s.Last = attempts(s.Last)
	slices.SortFunc(s.Last, func(a, b status.Record) int { return b.Started.Compare(a.Started) })
	if len(s.Last) > 3 {
		s.Last = s.Last[:3]
	}

	locker := &lock.Locker{Remote: m, Holder: "ferry status"}
	if l, err := locker.Inspect(ctx, env.Name); err != nil {
		fail("lock", err)
	} else if l != nil {
		s.Lock = fmt.Sprintf("held by %s until %s", l.Holder, l.Expires.UTC().Format(time.RFC3339))
		if agent.HolderExited(l.Holder) {
			s.Lock += " (that process has exited: the next deploy takes the lock over and recovers)"
		}
	}
	ctl := agent.ControlFor(cfg)
	var err error
	if s.Paused, err = ctl.PausedState(env.Name); err != nil {
		fail("pause", err)
	}
	if s.Blocked, err = ctl.BlockedState(env.Name); err != nil {
		fail("blocked", err)
	}
	if w, err := agent.Windows(env.Windows, time.Now()); err != nil {
		fail("windows", err)
	} else if w.Open {
		s.Window = "open"
	} else {
		s.Window = "closed: " + w.Reason
	}
	return s
}

// primaryGroup is the group whose tag says what an environment runs: web,
// or the first role's.
func primaryGroup(env *config.Environment) (string, bool) {
	if g, ok := env.Groups["web"]; ok {
		return g, true
	}
	roles := make([]string, 0, len(env.Groups))
	for r := range env.Groups {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	if len(roles) == 0 {
		return "", false
	}
	return env.Groups[roles[0]], true
}

func writeStatus(out io.Writer, list []envStatus) {
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
		fmt.Fprintf(w, "  deployed\t%s\n", orNone(short(s.Deployed)))
		fmt.Fprintf(w, "  wanted\t%s %s\n", orNone(short(s.Wanted)), s.WantedAt)
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
		if s.Blocked != nil {
			fmt.Fprintf(w, "  blocked\t%s %s: %s (push a new commit or ferry retry %s)\n", short(s.Blocked.Commit), s.Blocked.Outcome, s.Blocked.Reason, s.Env)
		}
		fmt.Fprintf(w, "  window\t%s\n", s.Window)
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  error\t%s\n", e)
		}
	}
	_ = w.Flush()
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
			cfg, env, err := loadEnv(path, args[0])
			if err != nil {
				return err
			}
			m, err := openMirror(cfg, log)
			if err != nil {
				return err
			}
			rev, err := resolveTarget(cmd.Context(), cfg, env, m, "", "", log)
			if err != nil {
				return err
			}
			notes := &status.Notes{Remote: m, Ref: cfg.Project.Git.NotesRef}
			if err := notes.Refresh(cmd.Context()); err != nil {
				return err
			}
			commits, err := m.Commits(plumbing.ZeroHash, plumbing.NewHash(rev.Commit), 500)
			if err != nil {
				return err
			}
			type entry struct {
				commit string
				rec    status.Record
			}
			var all []entry
			for _, c := range commits {
				recs, err := notes.Read(c.Hash)
				if err != nil {
					return err
				}
				for _, r := range recs {
					if r.Env == env.Name && r.Outcome != status.Started {
						all = append(all, entry{c.Hash.String(), r})
					}
				}
			}
			slices.SortFunc(all, func(a, b entry) int { return b.rec.Started.Compare(a.rec.Started) })
			if len(all) > limit {
				all = all[:limit]
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "STARTED\tCOMMIT\tMETHOD\tOUTCOME\tDURATION\tREASON")
			for _, e := range all {
				dur := "-"
				if !e.rec.Ended.IsZero() {
					dur = e.rec.Ended.Sub(e.rec.Started).Round(time.Second).String()
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.rec.Started.UTC().Format(time.RFC3339), short(e.commit), e.rec.Method, e.rec.Outcome, dur, e.rec.Reason)
			}
			return w.Flush()
		},
	}
	addConfigFlag(cmd, &path)
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many deploys")
	return cmd
}

// attempts keeps one record per deploy attempt: its outcome, or its
// "started" record while it has none.
func attempts(recs []status.Record) []status.Record {
	finished := map[time.Time]bool{}
	for _, r := range recs {
		if r.Outcome != status.Started {
			finished[r.Started] = true
		}
	}
	var out []status.Record
	for _, r := range recs {
		if r.Outcome != status.Started || !finished[r.Started] {
			out = append(out, r)
		}
	}
	return out
}

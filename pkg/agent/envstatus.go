package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/status"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// EnvStatus is what ferry status reports for one environment.
type EnvStatus struct {
	Env      string    `json:"env"`
	Deployed commit.ID `json:"deployed,omitzero"`
	// DeployedSource says where Deployed was read, or why it is unknown.
	DeployedSource string          `json:"deployed_source,omitempty"`
	Wanted         commit.ID       `json:"wanted,omitzero"`
	WantedAt       string          `json:"wanted_ref,omitempty"`
	InSync         bool            `json:"in_sync"`
	Last           []status.Record `json:"last_outcomes,omitempty"`
	Lock           string          `json:"lock,omitempty"`
	Paused         *Paused         `json:"paused,omitempty"`
	Blocked        *Blocked        `json:"blocked,omitempty"`
	// Awaiting is the deploy waiting for ferry approve (policy.approve),
	// and Decision the answer given, until the agent acts on it.
	Awaiting *Awaiting `json:"awaiting_approval,omitempty"`
	Decision *Decision `json:"approval,omitempty"`
	Window   string    `json:"window"`
	// Secrets says whether the environment has secrets; SecretsPushed is
	// when `ferry secrets push` last changed SSM or handed them to the
	// servers from this host (nil: never), and SecretsChecked when a push
	// since then found everything up to date.
	Secrets        bool       `json:"secrets,omitempty"`
	SecretsPushed  *time.Time `json:"secrets_pushed,omitempty"`
	SecretsChecked *time.Time `json:"secrets_checked,omitempty"`
	// Suspended lists the groups with suspended Auto Scaling processes,
	// as AWS has them; Scaling is the last change a person made to them
	// (ferry asg suspend / resume).
	Suspended []GroupProcesses `json:"suspended_processes,omitempty"`
	Scaling   *ScalingChange   `json:"scaling_change,omitempty"`
	// Drift lists the [launch] settings the groups' launch sources do not
	// have (changed since the last deploy): the agent does not redeploy
	// for them; ferry redeploy does.
	Drift []string `json:"launch_drift,omitempty"`
	// Bake is the environment's last bake here, or the one in progress
	// (launch.image = "bake"; nil: none yet).
	Bake   *bake.Record `json:"bake,omitempty"`
	Errors []string     `json:"errors,omitempty"`
}

// Status reads the status of the named environments (every one, sorted,
// when names is empty). What it cannot read is in each EnvStatus's Errors.
func (p *Project) Status(ctx context.Context, names []string) ([]EnvStatus, error) {
	if len(names) == 0 {
		names = envNames(p.Config)
	}
	var out []EnvStatus
	for _, name := range names {
		env, err := p.Env(name)
		if err != nil {
			return nil, err
		}
		out = append(out, p.envStatus(ctx, env))
	}
	return out, nil
}

func (p *Project) envStatus(ctx context.Context, env *config.Environment) EnvStatus {
	s := EnvStatus{Env: env.Name}
	fail := func(what string, err error) { s.Errors = append(s.Errors, what+": "+err.Error()) }

	if rev, err := p.Target(ctx, env, "", ""); err != nil {
		fail("wanted commit", err)
	} else {
		s.Wanted, s.WantedAt = rev.Commit, rev.Ref
	}
	if c, err := p.Connect(ctx, env, p.Logger); err != nil {
		fail("AWS", err)
	} else {
		if rev, err := plan.Deployed(ctx, c, env); err != nil {
			fail("deployed commit", err)
		} else {
			s.Deployed, s.DeployedSource = rev.Commit, rev.Source
		}
		for _, name := range envGroups(env) {
			if g, err := c.Group(ctx, name, nil, nil); err != nil {
				fail("group "+name, err)
			} else if len(g.SuspendedProcesses) > 0 {
				s.Suspended = append(s.Suspended, GroupProcesses{Group: name, Suspended: g.SuspendedProcesses})
			}
		}
		if dc, ok := c.(describeCloud); ok {
			if s.Drift, err = launchDrift(ctx, dc, env); err != nil {
				fail("launch settings", err)
			}
		}
	}
	s.InSync = !s.Deployed.IsZero() && s.Deployed == s.Wanted

	notes := &status.Notes{Remote: p.Mirror, Ref: p.Config.Project.Git.NotesRef}
	if err := notes.Refresh(ctx); err != nil {
		fail("notes", err)
	}
	for _, c := range []commit.ID{s.Wanted, s.Deployed} {
		if c.IsZero() {
			continue
		}
		recs, err := notes.Read(c)
		if err != nil {
			fail("notes", err)
			continue
		}
		for _, r := range recs {
			if r.Env == env.Name {
				s.Last = append(s.Last, r)
			}
		}
		if c == s.Deployed && s.Deployed == s.Wanted {
			break
		}
	}
	s.Last = status.Attempts(s.Last)
	slices.SortFunc(s.Last, func(a, b status.Record) int { return b.Started.Compare(a.Started) })
	if len(s.Last) > 3 {
		s.Last = s.Last[:3]
	}

	locker := &lock.Locker{Remote: p.Mirror, Holder: "ferry status"}
	if l, err := locker.Inspect(ctx, env.Name); err != nil {
		fail("lock", err)
	} else if l != nil {
		s.Lock = fmt.Sprintf("held by %s until %s", l.Holder, l.Expires.UTC().Format(time.RFC3339))
		if HolderExited(l.Holder) {
			s.Lock += " (that process has exited: the next deploy takes the lock over and recovers)"
		}
	}
	ctl := ControlFor(p.Config)
	var err error
	if s.Paused, err = ctl.PausedState(env.Name); err != nil {
		fail("pause", err)
	}
	if s.Blocked, err = ctl.BlockedState(env.Name); err != nil {
		fail("blocked", err)
	}
	if s.Scaling, err = ctl.ScalingState(env.Name); err != nil {
		fail("asg", err)
	}
	if s.Awaiting, err = ctl.AwaitingState(env.Name); err != nil {
		fail("awaiting approval", err)
	}
	if s.Decision, err = ctl.DecisionState(env.Name); err != nil {
		fail("approval", err)
	}
	if env.Secrets != nil {
		s.Secrets = true
		if rec, ok, err := LastSecretsPush(p.Config.Project.StateDir, env.Name); err != nil {
			fail("secrets", err)
		} else if ok {
			s.SecretsPushed = &rec.PushedAt
			if !rec.CheckedAt.IsZero() {
				s.SecretsChecked = &rec.CheckedAt
			}
		}
	}
	if env.Launch.Image == config.LaunchImageBake {
		if s.Bake, err = (bake.Store{Dir: p.Config.Project.StateDir}).Load(env.Name); err != nil {
			fail("bake", err)
		}
	}
	if w, err := Windows(env.Windows, time.Now()); err != nil {
		fail("windows", err)
	} else if w.Open {
		s.Window = "open"
	} else {
		s.Window = "closed: " + w.Reason
	}
	return s
}

// newestFirst orders past deploys by start, newest first. Notes keep
// whole seconds, so records of one second (an approval and the deploy it
// let start) tie on it; the one that ended later comes first, and one not
// ended (awaiting approval) after those that did.
func newestFirst(a, b PastDeploy) int {
	if c := b.Started.Compare(a.Started); c != 0 {
		return c
	}
	return b.Ended.Compare(a.Ended)
}

// PastDeploy is one past deploy of an environment, as its note records it.
type PastDeploy struct {
	Commit commit.ID
	status.Record
}

// History returns env's finished deploys recorded on the commits of its
// branch or release tags, newest first, at most limit.
func (p *Project) History(ctx context.Context, name string, limit int) ([]PastDeploy, error) {
	env, err := p.Env(name)
	if err != nil {
		return nil, err
	}
	rev, err := p.Target(ctx, env, "", "")
	if err != nil {
		return nil, err
	}
	return history(ctx, p.Mirror, p.Config.Project.Git.NotesRef, env.Name, rev.Commit, limit)
}

// history reads env's finished deploys from the notes on the commits up
// to to, newest first, at most limit: ferry history and the agent's page
// read them here.
func history(ctx context.Context, m *watch.Mirror, notesRef, env string, to commit.ID, limit int) ([]PastDeploy, error) {
	notes := &status.Notes{Remote: m, Ref: notesRef}
	if err := notes.Refresh(ctx); err != nil {
		return nil, err
	}
	commits, err := m.Commits(plumbing.ZeroHash, hash(to), 500)
	if err != nil {
		return nil, err
	}
	var all []PastDeploy
	for _, c := range commits {
		id := commit.FromSHA1(c.Hash)
		recs, err := notes.Read(id)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Env == env && r.Outcome != status.Started {
				all = append(all, PastDeploy{id, r})
			}
		}
	}
	slices.SortFunc(all, newestFirst)
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

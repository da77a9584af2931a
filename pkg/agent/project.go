package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/secrets"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// Connect opens the AWS client of an environment's account and region.
type Connect func(ctx context.Context, env *config.Environment, log *slog.Logger) (Cloud, error)

// Project is one config's environments as the ferry commands (plan,
// deploy, prepare, status, history) see them: each command is one method,
// built from the same parts the long-lived Agent uses, so that "deployed",
// "wanted", the deploy windows and the plan's input mean the same thing
// everywhere.
type Project struct {
	Config *config.Config
	Mirror *watch.Mirror
	// Connect opens an environment's AWS client.
	Connect Connect
	Logger  *slog.Logger
	// UserAgent names Ferry to the forges.
	UserAgent string
}

// OpenProject opens cfg's mirror for the commands.
func OpenProject(cfg *config.Config, connect Connect, userAgent string, log *slog.Logger) (*Project, error) {
	m, err := OpenMirror(cfg, log)
	if err != nil {
		return nil, err
	}
	return &Project{Config: cfg, Mirror: m, Connect: connect, Logger: log, UserAgent: userAgent}, nil
}

// OpenMirror opens the project's git mirror in its state dir.
func OpenMirror(cfg *config.Config, log *slog.Logger) (*watch.Mirror, error) {
	g := cfg.Project.Git
	auth := watch.Auth{}
	if g.SSH != nil {
		auth.SSHKeyFile, auth.KnownHostsFile = g.SSH.KeyFile, g.SSH.KnownHosts
	}
	if g.HTTPS != nil {
		auth.TokenFile, auth.TokenEnv, auth.TokenUser = g.HTTPS.TokenFile, g.HTTPS.TokenEnv, g.HTTPS.Username
	}
	return watch.OpenMirror(watch.MirrorOptions{
		Dir: filepath.Join(cfg.Project.StateDir, "mirror"), URL: g.URL, Auth: auth, Logger: log,
	})
}

// ConnectAll opens the AWS client of every environment of cfg.
// Environments of one account and region share a client: its
// configuration, connections and credentials are the same, and fifty
// environments would otherwise hold fifty of each.
func ConnectAll(ctx context.Context, cfg *config.Config, connect Connect, log *slog.Logger) (map[string]Cloud, error) {
	clouds := map[string]Cloud{}
	shared := map[config.AWS]Cloud{}
	for _, name := range envNames(cfg) {
		env := cfg.Environments[name]
		c, ok := shared[env.AWS]
		if !ok {
			cc, err := connect(ctx, env, log)
			if err != nil {
				return nil, fmt.Errorf("environment %s: %w", name, err)
			}
			c, shared[env.AWS] = cc, cc
		}
		clouds[name] = c
	}
	return clouds, nil
}

// RequestError is a request the project cannot take as asked (an
// environment it does not have, --commit and --ref together): the command
// line is wrong, not the environment.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// Env returns the environment called name.
func (p *Project) Env(name string) (*config.Environment, error) { return LookupEnv(p.Config, name) }

// LookupEnv returns cfg's environment called name, or a *RequestError
// listing the ones it has.
func LookupEnv(cfg *config.Config, name string) (*config.Environment, error) {
	env, ok := cfg.Environments[name]
	if !ok {
		return nil, &RequestError{fmt.Errorf("no environment %q in %s (it has: %s)", name, cfg.File, strings.Join(envNames(cfg), ", "))}
	}
	return env, nil
}

// Request is what a command asks of one environment's deploy.
type Request struct {
	// Commit (a full SHA) or Ref (a branch or ref) names the target;
	// neither means what the environment watches.
	Commit, Ref string
	// Method, AllowRollback and LaunchSource are plan.Input's.
	Method        plan.Method
	AllowRollback bool
	LaunchSource  string
	// Redeploy deploys the target even when it is deployed already
	// (plan.Input.Redeploy): ferry redeploy, ferry deploy --redeploy.
	Redeploy bool
	// IgnoreWindow deploys outside the environment's deploy windows.
	IgnoreWindow bool
	// StatusWait bounds how long a deploy waits at its end for the forges
	// to take its commit statuses.
	StatusWait time.Duration
}

// session is one environment's parts for one command.
type session struct {
	env   *config.Environment
	cloud Cloud
	input plan.Input
}

func (p *Project) open(ctx context.Context, name string, req Request) (*session, error) {
	switch req.Method {
	case "", plan.Full, plan.Serial:
	default:
		return nil, &RequestError{fmt.Errorf("--method %q: use full or serial", req.Method)}
	}
	env, err := p.Env(name)
	if err != nil {
		return nil, err
	}
	rev, err := p.Target(ctx, env, req.Commit, req.Ref)
	if err != nil {
		return nil, err
	}
	c, err := p.Connect(ctx, env, p.Logger)
	if err != nil {
		return nil, err
	}
	in := planInput(p.Config, env, rev, time.Now())
	in.AllowRollback, in.Method, in.LaunchSource, in.Redeploy = req.AllowRollback, req.Method, req.LaunchSource, req.Redeploy
	return &session{env: env, cloud: c, input: in}, nil
}

// Target finds the commit to deploy to env: commit, ref, or what the
// environment watches (its branch's head, or its highest release tag).
func (p *Project) Target(ctx context.Context, env *config.Environment, sha, ref string) (plan.Revision, error) {
	m := p.Mirror
	switch {
	case sha != "" && ref != "":
		return plan.Revision{}, &RequestError{errors.New("give --commit or --ref, not both")}
	case ref != "":
		name := plumbing.ReferenceName(ref)
		if !strings.HasPrefix(ref, "refs/") {
			name = plumbing.NewBranchReferenceName(ref)
		}
		h, err := m.Sync(ctx, name)
		if err != nil {
			return plan.Revision{}, fmt.Errorf("--ref %s: %w", ref, err)
		}
		id := commit.FromSHA1(h)
		if id.IsZero() {
			return plan.Revision{}, &RequestError{fmt.Errorf("--ref %s: the remote %s has no %s", ref, m.URL(), name)}
		}
		return plan.Revision{Commit: id, Ref: name.String()}, nil
	}
	w, err := watch.New(watch.Options{Mirror: m, Rules: []watch.Rule{rule(env)}, NotesRef: p.Config.Project.Git.NotesRef, Logger: p.Logger})
	if err != nil {
		return plan.Revision{}, err
	}
	if _, err := w.Poll(ctx); err != nil {
		return plan.Revision{}, err
	}
	if sha != "" {
		id, err := commit.Parse(sha)
		if err != nil {
			return plan.Revision{}, &RequestError{fmt.Errorf("--commit %q: give the full 40-hex-digit commit id", sha)}
		}
		if ok, _ := (Repo{Mirror: m}).HasCommit(ctx, id); !ok {
			return plan.Revision{}, fmt.Errorf("--commit %s is not in the mirror of %s (fetched: the refs %s watches)", id, m.URL(), env.Name)
		}
		return plan.Revision{Commit: id}, nil
	}
	t, ok := w.Current(env.Name)
	if !ok {
		what := "branch " + env.Branch
		if env.Tag != "" {
			what = "a semver tag matching " + env.Tag
		}
		return plan.Revision{}, fmt.Errorf("%s has nothing to deploy: the remote has no %s", env.Name, what)
	}
	return plan.Revision{Commit: t.Commit, Ref: t.Ref}, nil
}

// Plan returns what a deploy of env would do, changing nothing. A deploy
// the windows hold back carries a warning saying so.
func (p *Project) Plan(ctx context.Context, env string, req Request) (*plan.Plan, error) {
	s, err := p.open(ctx, env, req)
	if err != nil {
		return nil, err
	}
	pl, err := plan.Make(ctx, s.cloud, Repo{Mirror: p.Mirror}, s.input)
	if err != nil {
		return nil, err
	}
	if pl.Action == plan.NoOp {
		pl.Warnings = append(pl.Warnings, driftWarnings(ctx, s.cloud, s.env)...)
	}
	if pl.Action == plan.Deploy {
		win, err := Windows(s.env.Windows, s.input.Now)
		if err != nil {
			return nil, err
		}
		if !win.Open {
			pl.Warnings = append(pl.Warnings, fmt.Sprintf("%s is %s: the agent waits for a window; ferry deploy needs --ignore-window", s.env.Name, win.Reason))
		}
	}
	pl.Secrets = p.secretsPlan(ctx, s)
	return pl, nil
}

// secretsPlan compares the environment's secret sources with SSM, by name;
// nil when it has none. Failing to read them is said, not fatal to the
// plan.
func (p *Project) secretsPlan(ctx context.Context, s *session) *plan.Secrets {
	if s.env.Secrets == nil {
		return nil
	}
	out := &plan.Secrets{Path: secrets.Path(p.Config.Project.Name, s.env.Name), Differ: []string{}, PushedByDeploy: s.env.Policy.PushSecrets}
	store, ok := s.cloud.(SecretStore)
	if !ok {
		out.Error = "this AWS client cannot reach SSM Parameter Store"
		return out
	}
	d, err := (&SecretsPush{Project: p.Config.Project.Name, StateDir: p.Config.Project.StateDir, Env: s.env, Store: store, Log: p.Logger}).Diff(ctx)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Differ = append(out.Differ, slices.Concat(d.Added, d.Changed)...)
	slices.Sort(out.Differ)
	out.Unchanged = len(d.Unchanged)
	return out
}

// Deploy deploys env now, as the agent would (see Deployer.Deploy), with
// confirm told the plan before anything changes. Outside the deploy
// windows it is refused unless req.IgnoreWindow. The commit statuses are
// queued so that a forge never holds the deploy up; at the end Deploy
// waits at most req.StatusWait for the forges to take them.
func (p *Project) Deploy(ctx context.Context, env string, req Request, confirm func(*plan.Plan) error) (*execute.Report, error) {
	s, err := p.open(ctx, env, req)
	if err != nil {
		return nil, err
	}
	if !req.IgnoreWindow {
		// The agent's deploy windows hold for people too; an operator who
		// means it says so.
		win, err := Windows(s.env.Windows, s.input.Now)
		if err != nil {
			return nil, err
		}
		if !win.Open {
			return nil, fmt.Errorf("%s may not be deployed now: %s; nothing was changed (pass --ignore-window to deploy anyway)", s.env.Name, win.Reason)
		}
	}
	statuses, err := Reporters(s.env, p.UserAgent, p.Logger)
	if err != nil {
		return nil, err
	}
	queues := startQueues(context.WithoutCancel(ctx), statuses, p.Logger)
	defer queues.flush(req.StatusWait)
	return NewDeployer(p.Config, s.env, p.Mirror, s.cloud, p.Logger).WithStatuses(queues.setters()).Deploy(ctx, s.input, confirm)
}

// Prepare creates the launch source a deploy of the target would start
// new instances from, and returns its name (ferry prepare).
func (p *Project) Prepare(ctx context.Context, env string, req Request) (string, error) {
	s, err := p.open(ctx, env, req)
	if err != nil {
		return "", err
	}
	rev := s.input.Target
	if s.env.Launch.Image == config.LaunchImageBake {
		// It bakes: under the environment's lock, as ferry bake.
		lctx, release, err := p.lockForBake(ctx, s)
		if err != nil {
			return "", err
		}
		defer release()
		ctx = lctx
	}
	ex := &execute.Executor{Cloud: s.cloud, Env: s.env, Log: p.Logger.With("env", s.env.Name)}
	if baker := bakerFor(p.Config, s.env, p.Mirror, s.cloud, nil, p.Logger); baker != nil {
		ex.Baker = reportingBaker{baker, func(c commit.ID, err error) { p.bakeFailed(ctx, s.env.Name, c, err) }}
	}
	src, err := ex.Prepare(ctx, rev.Commit, plan.LaunchSourceName(p.Config.Project.Name, s.env.Name, rev.Commit, s.input.Now))
	if err != nil {
		return "", fmt.Errorf("prepare %s for %s: %w", s.env.Name, rev.Commit.Short(), err)
	}
	return src.Name, nil
}

// rule is the watch rule of an environment.
func rule(env *config.Environment) watch.Rule {
	return watch.Rule{Env: env.Name, Branch: env.Branch, TagPattern: env.Tag}
}

// planInput is what the planner needs to deploy target to env.
func planInput(cfg *config.Config, env *config.Environment, target plan.Revision, now time.Time) plan.Input {
	return plan.Input{
		Project: cfg.Project.Name, SchemaMarker: cfg.Project.SchemaMarker, FullDeployGlobs: cfg.Project.FullDeployGlobs,
		Env: env, Target: target, Now: now,
	}
}

func envNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Environments))
	for n := range cfg.Environments {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/status"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// WriteTree writes the commit's tree from the mirror as a tar stream: what
// a bake delivers to its builder.
func (r Repo) WriteTree(ctx context.Context, c commit.ID, w io.Writer) error {
	err := r.Mirror.WriteTree(hash(c), w)
	return r.unknown(ctx, err, c)
}

var _ bake.Tree = Repo{}

// NewBaker builds env's baker: builders reached over SSH with the
// environment's settings (their host keys from their consoles), the tree
// from the mirror. dialer, when not nil, makes the SSH connections (the
// simulator's machines, in a network namespace of their own).
func NewBaker(cfg *config.Config, env *config.Environment, m *watch.Mirror, c bake.Cloud, console bake.Console, dialer remote.Dialer, log *slog.Logger) *bake.Baker {
	sshCfg := remote.FromConfig(cfg.Project.StateDir, env, "bake", os.Getenv("SSH_AUTH_SOCK"))
	sshCfg.Dialer = dialer
	b := &bake.Baker{
		Project: cfg.Project.Name, Env: env, Cloud: c, Tree: Repo{Mirror: m},
		Shell:    bake.SSHShell{Console: console, Config: sshCfg, StateDir: cfg.Project.StateDir},
		StateDir: cfg.Project.StateDir, Log: log,
		RollbackSources: func() ([]bake.LaunchSource, error) {
			return rollbackSources(cfg, env.Name)
		},
	}
	if m != nil {
		b.Previous = func(ctx context.Context) (commit.ID, error) {
			return previousDeployed(ctx, c, m, cfg.Project.Git.NotesRef, env)
		}
	}
	if env.Create != nil {
		// An environment env create builds: its groups' servers are made
		// by the recipes, on the builder.
		b.Provision = builderRecipes(cfg, env, c, log)
	}
	return b
}

// rollbackSources are the launch sources an unfinished deploy of env
// recorded before it changed its groups: what its rollback returns them
// to, whose images retention must keep. None when no deploy is unfinished
// (a finished deploy's journal is removed).
func rollbackSources(cfg *config.Config, env string) ([]bake.LaunchSource, error) {
	j, err := journalStore(cfg).Load(env)
	if err != nil || j == nil || j.Finished {
		return nil, err
	}
	var srcs []bake.LaunchSource
	for _, name := range slices.Sorted(maps.Keys(j.Before)) {
		g := j.Before[name]
		srcs = append(srcs, bake.LaunchSource{LaunchTemplate: g.LaunchTemplate, LaunchConfiguration: g.LaunchConfiguration})
	}
	return srcs, nil
}

// previousDeployed is the commit env ran before the one it runs now, as
// the deploy notes record it: the previous commit of the deployed
// commit's newest succeeded deploy of env that changed the commit (a
// redeploy's previous is the commit itself). Zero when that is unknown
// (nothing deployed, no group yet, no such note).
func previousDeployed(ctx context.Context, c plan.GroupReader, m *watch.Mirror, notesRef string, env *config.Environment) (commit.ID, error) {
	rev, err := plan.Deployed(ctx, c, env)
	if errors.Is(err, cloud.ErrNotFound) || err == nil && rev.Commit.IsZero() {
		return commit.ID{}, nil
	}
	if err != nil {
		return commit.ID{}, err
	}
	notes := &status.Notes{Remote: m, Ref: notesRef}
	if err := notes.Refresh(ctx); err != nil {
		return commit.ID{}, err
	}
	recs, err := notes.Read(rev.Commit)
	if err != nil {
		return commit.ID{}, err
	}
	recs = slices.DeleteFunc(recs, func(r status.Record) bool { return r.Env != env.Name || r.Outcome != status.Succeeded })
	slices.SortFunc(recs, func(a, b status.Record) int { return b.Ended.Compare(a.Ended) })
	for _, r := range recs {
		if prev, err := commit.Parse(r.Previous); err == nil && prev != rev.Commit {
			return prev, nil
		}
	}
	return commit.ID{}, nil
}

// imageBaker is a bake.Baker as the executor asks for it.
type imageBaker struct{ b *bake.Baker }

func (i imageBaker) Bake(ctx context.Context, c commit.ID) (string, error) {
	r, err := i.b.Bake(ctx, c)
	return r.Image, err
}

// bakerFor is the executor's baker for env: nil unless env bakes an image
// per commit.
func bakerFor(cfg *config.Config, env *config.Environment, m *watch.Mirror, c Cloud, dialer remote.Dialer, log *slog.Logger) execute.Baker {
	if env.Launch.Image != config.LaunchImageBake {
		return nil
	}
	return imageBaker{NewBaker(cfg, env, m, c, c, dialer, log)}
}

// BakeAhead bakes the image of in.Target ahead of its deploy, while
// the environment may not deploy (its window is closed, policy.bake_ahead),
// so that the deploy finds the image when it may. It looks without the
// lock first, since the agent asks at every recheck: a commit whose image
// exists, or that is deployed already, takes no lock and launches
// nothing. A bake runs under the lock, as a deploy's; one that fails is
// notified (bake-failed) and not tried again for the commit: the deploy
// bakes again when the window opens. It returns the image baked or found,
// "" when there is none to bake.
func (d *Deployer) BakeAhead(ctx context.Context, in plan.Input) (string, error) {
	c := in.Target.Commit
	if d.env.Launch.Image != config.LaunchImageBake || d.bakedAhead == c {
		return "", nil
	}
	img, ok, err := NewBaker(d.cfg, d.env, d.mirror, d.cloud, d.cloud, d.dialer, d.base).Find(ctx, c)
	if err != nil {
		return "", err
	}
	if ok {
		d.bakedAhead = c
		return img.ID, nil
	}
	p, err := plan.Make(ctx, d.cloud, Repo{Mirror: d.mirror}, in)
	if err != nil {
		return "", err
	}
	if p.Action != plan.Deploy {
		d.bakedAhead = c
		return "", nil
	}
	lctx, release, err := d.lock(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	d.log.Info("baking ahead while the deploy window is closed", "commit", c.Short())
	id, err := d.imageBaker().Bake(lctx, c)
	if err != nil {
		if ctx.Err() == nil {
			d.bakedAhead = c
		}
		return "", err
	}
	d.bakedAhead = c
	return id, nil
}

// Bake bakes the image of the commit req names (or the one env watches)
// alone: `ferry bake`. An image already baked for it is reused. It holds
// the environment's lock, as a deploy does: two bakes of one environment
// never run at once (the second then finds the first's image), and a bake
// never cleans up after a deploy's bake still running.
func (p *Project) Bake(ctx context.Context, env string, req Request) (bake.Result, error) {
	return p.bake(ctx, env, req, nil)
}

// bake is Bake with the builders' SSH connections made by dialer (nil:
// the network's).
func (p *Project) bake(ctx context.Context, env string, req Request, dialer remote.Dialer) (bake.Result, error) {
	s, err := p.open(ctx, env, req)
	if err != nil {
		return bake.Result{}, err
	}
	if s.env.Launch.Image != config.LaunchImageBake {
		return bake.Result{}, &RequestError{fmt.Errorf("environment %s does not bake images: set launch.image = %q and launch.base_image", s.env.Name, config.LaunchImageBake)}
	}
	lctx, release, err := p.lockForBake(ctx, s)
	if err != nil {
		return bake.Result{}, err
	}
	defer release()
	b := NewBaker(p.Config, s.env, p.Mirror, s.cloud, s.cloud, dialer, p.Logger)
	r, err := b.Bake(lctx, s.input.Target.Commit)
	if err != nil && ctx.Err() == nil {
		p.bakeFailed(ctx, s.env.Name, s.input.Target.Commit, err)
	}
	return r, err
}

// bakeFailed notifies a failed bake of a command (ferry bake, ferry
// prepare), before the command exits.
func (p *Project) bakeFailed(ctx context.Context, env string, c commit.ID, err error) {
	NotifyNow(ctx, p.Config, p.UserAgent, BakeFailedEvent(p.Config.Project.Name, env, c, err), p.Logger)
}

// lockForBake takes the environment's lock for a bake outside a deploy
// (ferry bake, ferry prepare): the lock lives on the git remote, so no two
// bakes of one environment run at once on any agent, and the second finds
// the first's image by its tags and reuses it.
func (p *Project) lockForBake(ctx context.Context, s *session) (context.Context, func(), error) {
	d := NewDeployer(p.Config, s.env, p.Mirror, s.cloud, p.Logger)
	lctx, release, err := d.lock(ctx)
	var held *lock.HeldError
	if errors.As(err, &held) {
		return nil, nil, fmt.Errorf("%s: refused: a deploy or another bake holds the environment's lock (%s until %s)", s.env.Name, held.Holder, held.Expires.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return nil, nil, err
	}
	return lctx, release, nil
}

// Images lists env's baked images, newest first, with what uses each:
// `ferry images`.
func (p *Project) Images(ctx context.Context, name string) ([]bake.Image, error) {
	env, err := p.Env(name)
	if err != nil {
		return nil, err
	}
	c, err := p.Connect(ctx, env, p.Logger)
	if err != nil {
		return nil, err
	}
	return NewBaker(p.Config, env, p.Mirror, c, c, nil, p.Logger).Images(ctx)
}

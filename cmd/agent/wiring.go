package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// loadEnv reads the config and picks one environment by name.
func loadEnv(path, name string) (*config.Config, *config.Environment, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	env, ok := cfg.Environments[name]
	if !ok {
		names := make([]string, 0, len(cfg.Environments))
		for n := range cfg.Environments {
			names = append(names, n)
		}
		return nil, nil, usageError{"ferry", fmt.Errorf("no environment %q in %s (it has: %s)", name, path, strings.Join(names, ", "))}
	}
	return cfg, env, nil
}

// openMirror opens the project's git mirror in the state dir.
func openMirror(cfg *config.Config, log *slog.Logger) (*watch.Mirror, error) {
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

// rule is the watch rule of an environment.
func rule(env *config.Environment) watch.Rule {
	return watch.Rule{Env: env.Name, Branch: env.Branch, TagPattern: env.Tag}
}

// resolveTarget finds the commit to deploy: --commit, --ref, or what the
// environment watches (its branch's head, or its highest release tag).
func resolveTarget(ctx context.Context, cfg *config.Config, env *config.Environment, m *watch.Mirror, commit, ref string, log *slog.Logger) (plan.Revision, error) {
	switch {
	case commit != "" && ref != "":
		return plan.Revision{}, usageError{"ferry", errors.New("give --commit or --ref, not both")}
	case ref != "":
		name := plumbing.ReferenceName(ref)
		if !strings.HasPrefix(ref, "refs/") {
			name = plumbing.NewBranchReferenceName(ref)
		}
		h, err := m.Sync(ctx, name)
		if err != nil {
			return plan.Revision{}, fmt.Errorf("--ref %s: %w", ref, err)
		}
		return plan.Revision{Commit: h.String(), Ref: name.String()}, nil
	}
	w, err := watch.New(watch.Options{Mirror: m, Rules: []watch.Rule{rule(env)}, NotesRef: cfg.Project.Git.NotesRef, Logger: log})
	if err != nil {
		return plan.Revision{}, err
	}
	if _, err := w.Poll(ctx); err != nil {
		return plan.Revision{}, err
	}
	if commit != "" {
		if !plumbing.IsHash(commit) {
			return plan.Revision{}, usageError{"ferry", fmt.Errorf("--commit %q: give the full 40-hex-digit commit id", commit)}
		}
		if ok, _ := (agent.Repo{Mirror: m}).HasCommit(ctx, commit); !ok {
			return plan.Revision{}, fmt.Errorf("--commit %s is not in the mirror of %s (fetched: the refs %s watches)", commit, m.URL(), env.Name)
		}
		return plan.Revision{Commit: commit}, nil
	}
	t, ok := w.Current(env.Name)
	if !ok {
		what := "branch " + env.Branch
		if env.Tag != "" {
			what = "a semver tag matching " + env.Tag
		}
		return plan.Revision{}, fmt.Errorf("%s has nothing to deploy: the remote has no %s", env.Name, what)
	}
	return plan.Revision{Commit: t.Commit.String(), Ref: t.Ref}, nil
}

// newCloud connects to the environment's account and region.
func newCloud(ctx context.Context, env *config.Environment, log *slog.Logger) (*cloud.Client, error) {
	return cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Profile: env.AWS.Profile, Logger: log})
}

// planInput gathers what the planner needs for env.
func planInput(cfg *config.Config, env *config.Environment, target plan.Revision) plan.Input {
	return plan.Input{
		Project: cfg.Project.Name, SchemaMarker: cfg.Project.SchemaMarker, FullDeployGlobs: cfg.Project.FullDeployGlobs,
		Env: env, Target: target,
	}
}

// planFlags are the flags ferry plan and ferry deploy share.
type planFlags struct {
	path    string
	target  targetFlags
	method  string
	prepped string
}

func (f *planFlags) bind(cmd *cobra.Command, verb string) {
	addConfigFlag(cmd, &f.path)
	f.target.bind(cmd)
	cmd.Flags().StringVar(&f.method, "method", "", verb+" with this method: full, or serial (refused when the change needs full)")
	cmd.Flags().StringVar(&f.prepped, "launch-config", "", "use the launch configuration or template version ferry prepare created")
}

// session is what planning a deploy of one environment needs.
type session struct {
	cfg    *config.Config
	env    *config.Environment
	mirror *watch.Mirror
	cloud  *cloud.Client
	input  plan.Input
}

// openSession loads the config, opens the mirror and AWS, and resolves the
// target the flags name.
func openSession(ctx context.Context, f planFlags, envName string, log *slog.Logger) (*session, error) {
	if err := checkMethod(f.method); err != nil {
		return nil, err
	}
	cfg, env, err := loadEnv(f.path, envName)
	if err != nil {
		return nil, err
	}
	m, err := openMirror(cfg, log)
	if err != nil {
		return nil, err
	}
	rev, err := resolveTarget(ctx, cfg, env, m, f.target.commit, f.target.ref, log)
	if err != nil {
		return nil, err
	}
	c, err := newCloud(ctx, env, log)
	if err != nil {
		return nil, err
	}
	in := planInput(cfg, env, rev)
	in.AllowRollback, in.Method, in.LaunchSource, in.Now = f.target.allowRollback, plan.Method(f.method), f.prepped, time.Now()
	return &session{cfg: cfg, env: env, mirror: m, cloud: c, input: in}, nil
}

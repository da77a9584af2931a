package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// loadEnv reads the config and picks one environment by name.
func loadEnv(path, name string) (*config.Config, *config.Environment, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	env, err := agent.LookupEnv(cfg, name)
	if err != nil {
		return nil, nil, usage(err)
	}
	return cfg, env, nil
}

// usage makes a request pkg/agent could not take as asked a mistake in the
// command line (exit 64).
func usage(err error) error {
	var re *agent.RequestError
	if errors.As(err, &re) {
		return usageError{"ferry", err}
	}
	return err
}

// cloudFunc connects to an environment's account.
type cloudFunc func(ctx context.Context, env *config.Environment, log *slog.Logger) (*cloud.Client, error)

// newCloud connects to the environment's account and region.
func newCloud(ctx context.Context, env *config.Environment, log *slog.Logger) (*cloud.Client, error) {
	return cloud.New(ctx, cloud.Options{Region: env.AWS.Region, Endpoint: env.AWS.Endpoint, Profile: env.AWS.Profile, Logger: log})
}

// connect adapts a cloudFunc to pkg/agent's Connect.
func (f cloudFunc) connect(ctx context.Context, env *config.Environment, log *slog.Logger) (agent.Cloud, error) {
	c, err := f(ctx, env, log)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// openProject loads the config at path and opens its mirror.
func openProject(path string, cloudFor cloudFunc, log *slog.Logger) (*agent.Project, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return agent.OpenProject(cfg, cloudFor.connect, "ferry/"+version, log)
}

type targetFlags struct {
	commit, ref   string
	allowRollback bool
}

func (f *targetFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.commit, "commit", "", "deploy this commit (full SHA) instead of what the environment watches")
	cmd.Flags().StringVar(&f.ref, "ref", "", "deploy the head of this branch or ref (e.g. staging, refs/tags/v1.4.0)")
	cmd.Flags().BoolVar(&f.allowRollback, "allow-rollback", false, "allow a target that is an ancestor of the deployed commit")
}

// planFlags are the flags ferry plan and ferry deploy share.
type planFlags struct {
	path     string
	target   targetFlags
	method   string
	prepped  string
	redeploy bool
}

func (f *planFlags) bind(cmd *cobra.Command, verb string) {
	addConfigFlag(cmd, &f.path)
	f.target.bind(cmd)
	cmd.Flags().StringVar(&f.method, "method", "", verb+" with this method: full, or serial (refused when the change needs full)")
	cmd.Flags().StringVar(&f.prepped, "launch-config", "", "use the launch configuration or template version ferry prepare created")
	if verb != "redeploy" {
		cmd.Flags().BoolVar(&f.redeploy, "redeploy", false, verb+" even when the target is the deployed commit: new instances from a new launch source (serial unless --method full)")
	}
}

// request is what the flags ask of pkg/agent.
func (f planFlags) request() agent.Request {
	return agent.Request{Commit: f.target.commit, Ref: f.target.ref, Method: plan.Method(f.method),
		AllowRollback: f.target.allowRollback, LaunchSource: f.prepped, Redeploy: f.redeploy}
}

// loadConfig reads the config and checks every file it names, before the
// command writes anything (a state dir, a mirror): a missing or readable-
// by-others token stops it at once, at the key that names the file.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckFiles(); err != nil {
		return nil, err
	}
	return cfg, nil
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/envbuild"
	"github.com/ferry-deploy/ferry/pkg/provision"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
	"github.com/ferry-deploy/ferry/pkg/secrets"
)

// ErrProtected is wrapped by a destroy refused because the environment's
// config says protected = true and the command did not confirm it by name.
var ErrProtected = errors.New("the environment is protected")

// EnvRequest is what `ferry env create` and `destroy` ask.
type EnvRequest struct {
	// Progress gets a line for each thing made or removed and for each
	// wait's news.
	Progress io.Writer
	// Confirmed names the environments the command line confirmed the
	// destroy of (--yes-destroy-NAME).
	Confirmed []string
	// NoProvision makes the resources only (create): the create stays
	// unfinished until a run without it provisions the servers.
	NoProvision bool
	// Dialer, when not nil, makes the SSH connections to the servers (the
	// simulator's machines).
	Dialer remote.Dialer
}

// CreateEnv builds the environment called name from its [create] config
// (`ferry env create`): what is missing of it is made, found again by its
// tags, and its long-lived servers provisioned by their recipes. With
// launch.image = "bake" the groups start from the environment's first
// commit, baked.
func (p *Project) CreateEnv(ctx context.Context, name string, req EnvRequest) (*envbuild.Result, error) {
	env, b, err := p.envBuilder(ctx, name, req)
	if err != nil {
		return nil, err
	}
	// The secrets are read before anything is made: a create that could
	// not provision its servers does not start.
	b.SkipProvision = req.NoProvision
	var sec roles.Secrets
	if len(b.Spec.Servers) > 0 && !req.NoProvision {
		if env.Secrets == nil {
			return nil, &RequestError{fmt.Errorf("environment %s: its servers' recipes need the secrets %v: add [environments.%s.secrets]", name, roles.SecretNames(), name)}
		}
		store, _ := b.Cloud.(secrets.Store)
		set, err := secrets.Read(ctx, env.Secrets, store)
		if err != nil {
			return nil, err
		}
		sec = roles.SecretsFrom(set)
	}
	if env.Launch.Image == config.LaunchImageBake {
		b.GroupImage = func(ctx context.Context) (string, string, error) {
			r, err := p.Bake(ctx, name, Request{})
			if err != nil {
				return "", "", err
			}
			return r.Image, r.Commit.String(), nil
		}
	}
	recipes := roles.NewRecipes()
	if dir := env.Create.Recipes; dir != "" {
		recipes = roles.NewRecipes(os.DirFS(dir))
	}
	b.SSHAddress = func(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(env.SSH.Port)) }
	b.NewProvisioner = func(a envbuild.Addresses, deployID string) (envbuild.Provisioner, error) {
		rc := remote.FromConfig(p.Config.Project.StateDir, env, deployID, os.Getenv("SSH_AUTH_SOCK"))
		rc.Dialer = req.Dialer
		return provision.New(provision.Config{
			Remote: rc, Recipes: recipes, Secrets: sec,
			Params: roles.RecipeParams{Project: p.Config.Project.Name, DBPrimary: a.DBPrimary, DBReplica: a.DBReplica, Cache: a.Cache, Queue: a.Cache},
		}, p.Logger)
	}
	return b.Create(ctx)
}

// DestroyEnv removes what `ferry env create` made of the environment
// called name (`ferry env destroy`); a protected one only when req confirms
// it by name.
func (p *Project) DestroyEnv(ctx context.Context, name string, req EnvRequest) ([]envbuild.Made, error) {
	env, err := p.Env(name)
	if err != nil {
		return nil, err
	}
	for _, c := range req.Confirmed {
		if c != name {
			return nil, &RequestError{fmt.Errorf("--yes-destroy-%s does not name the environment destroyed, %s", c, name)}
		}
	}
	if env.Protected && len(req.Confirmed) == 0 {
		return nil, fmt.Errorf("environment %s: %w (protected = true): give --yes-destroy-%s to destroy it", name, ErrProtected, name)
	}
	_, b, err := p.envBuilder(ctx, name, req)
	if err != nil {
		return nil, err
	}
	return b.Destroy(ctx)
}

func (p *Project) envBuilder(ctx context.Context, name string, req EnvRequest) (*config.Environment, *envbuild.Builder, error) {
	env, err := p.Env(name)
	if err != nil {
		return nil, nil, err
	}
	spec, err := envbuild.Plan(p.Config.Project.Name, env)
	if err != nil {
		return nil, nil, &RequestError{err}
	}
	c, err := p.Connect(ctx, env, p.Logger)
	if err != nil {
		return nil, nil, err
	}
	ec, ok := c.(envbuild.Cloud)
	if !ok {
		return nil, nil, fmt.Errorf("environment %s: its AWS client (%T) cannot make environments", name, c)
	}
	return env, &envbuild.Builder{
		Cloud: ec, Spec: spec, StateDir: p.Config.Project.StateDir, Progress: req.Progress,
		Poll: env.Policy.PollInterval.Std(), Timeout: env.Policy.Timeouts.InstancesInService.Std(), Log: p.Logger,
	}, nil
}

package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/envbuild"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
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
	if env.Secrets != nil && !req.NoProvision {
		// Into SSM before anything is made: the groups' instances fetch
		// them at boot (ferry-secrets.service).
		if store, ok := b.Cloud.(SecretStore); ok {
			push := func(deliver bool) *SecretsPush {
				sp := &SecretsPush{Project: p.Config.Project.Name, StateDir: p.Config.Project.StateDir, Env: env,
					Store: store, SSMOnly: !deliver, Deliver: deliver, Dialer: req.Dialer, AgentSocket: os.Getenv("SSH_AUTH_SOCK"), Log: p.Logger}
				sp.Groups, _ = b.Cloud.(GroupReader)
				return sp
			}
			b.Secrets = func(ctx context.Context) ([]string, error) {
				rec, err := push(false).Run(ctx)
				if err == nil {
					envProgress(req.Progress, "secrets: %d written under %s (%d already there)", len(rec.Written), rec.Path, len(rec.Versions)-len(rec.Written))
				}
				return rec.Written, err
			}
			// A create taken up after a failure, with secrets changed since
			// its groups' instances booted: their secrets_changed hooks, as
			// `ferry secrets push --deliver` runs them.
			if _, ok := b.Cloud.(GroupReader); ok {
				b.DeliverSecrets = func(ctx context.Context) error {
					rec, err := push(true).Run(ctx)
					for _, s := range rec.Servers {
						envProgress(req.Progress, "secrets: handed to %s %s (%s): %s", s.Role, s.Instance, s.Address, cmp.Or(s.Error, "ok"))
					}
					return err
				}
			}
		}
	}
	if env.Launch.Image == config.LaunchImageBake {
		b.GroupImage = func(ctx context.Context) (string, string, error) {
			r, err := p.bake(ctx, name, Request{}, req.Dialer)
			if err != nil {
				return "", "", err
			}
			return r.Image, r.Commit.String(), nil
		}
	}
	if !req.NoProvision {
		b.Migrate = func(ctx context.Context, r envbuild.FirstRelease) error {
			return firstMigrations(ctx, p.Config.Project.StateDir, env, req.Dialer, r, p.Logger)
		}
	}
	recipes := envRecipes(env)
	b.SSHAddress = func(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(env.SSH.Port)) }
	b.NewProvisioner = func(a envbuild.Addresses, deployID string) (envbuild.Provisioner, error) {
		rc := remote.FromConfig(p.Config.Project.StateDir, env, deployID, os.Getenv("SSH_AUTH_SOCK"))
		rc.Dialer = req.Dialer
		return provision.New(provision.Config{
			Remote: rc, Recipes: recipes, Secrets: sec,
			Params: recipeParams(p.Config, env, a),
		}, p.Logger)
	}
	return b.Create(ctx)
}

// firstMigrations runs the worker's deploy hook of the groups' first
// commit (the default: Django's migrate in its release directory) on r's
// instance, as a deploy's worker step does (envbuild.Builder.Migrate). The
// instance may have booted moments ago: it is dialled until its SSH
// answers, and its secrets, which the hook's commands read, until
// ferry-secrets.service has written them.
func firstMigrations(ctx context.Context, stateDir string, env *config.Environment, dialer remote.Dialer, r envbuild.FirstRelease, log *slog.Logger) error {
	c, err := commit.Parse(r.Commit)
	if err != nil {
		return fmt.Errorf("group %s's commit: %w", r.Group, err)
	}
	hooks, err := newHooks(stateDir, env, r.DeployID, dialer, log)
	if err != nil {
		return err
	}
	if len(hooks.cmds[roles.Worker][roles.Deploy]) == 0 {
		return nil // the environment's hooks say there is nothing to run
	}
	host := remote.Host{Addr: r.SSH, Instance: r.Instance, Role: roles.Worker}
	ready := remote.Command{Name: "worker deploy: the secrets fetched at boot",
		Line: "if systemctl cat ferry-secrets.service >/dev/null 2>&1; then sudo systemctl start ferry-secrets.service; fi"}
	for {
		err := hooks.runner.Run(ctx, host, ready)
		var dial *remote.DialError
		if err == nil {
			break
		}
		if !errors.As(err, &dial) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
	return hooks.RunHook(ctx, execute.HookRun{DeployID: r.DeployID, Env: env.Name, Commit: c, Role: roles.Worker, Hook: roles.Deploy,
		Hosts: []execute.Host{{InstanceID: r.Instance, Address: r.SSH}}})
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

// recipeParams are the recipes' parameters of env's servers, made for the
// long-lived servers at a.
func recipeParams(cfg *config.Config, env *config.Environment, a envbuild.Addresses) roles.RecipeParams {
	rp := roles.RecipeParams{Project: cfg.Project.Name, AppModule: config.DefaultAppModule,
		DBPrimary: a.DBPrimary, DBReplica: a.DBReplica, Cache: a.Cache, Queue: a.Cache}
	if env.Secrets != nil {
		rp.SecretsPath = secrets.Path(cfg.Project.Name, env.Name)
	}
	if c := env.Create; c != nil {
		if c.AppModule != "" {
			rp.AppModule = c.AppModule
		}
		rp.InstanceEndpoint = c.InstanceEndpoint
	}
	return rp
}

// envProgress writes a line of progress, if anyone reads it.
func envProgress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// builderRecipes is a bake's Baker.Provision for an environment env create
// builds: the builder is made into the groups' roles (web, worker) by
// their recipes, for the environment's long-lived servers (found by their
// tags), with roles.ActionImage: no secret reaches it, and the image's
// instances fetch them at boot with the ferry binary it installs.
func builderRecipes(cfg *config.Config, env *config.Environment, c bake.Cloud, log *slog.Logger) func(context.Context, string) ([]remote.Command, func(), error) {
	return func(ctx context.Context, address string) ([]remote.Command, func(), error) {
		none := func() {}
		if env.Secrets == nil {
			return nil, none, fmt.Errorf("the builder's recipes: the servers fetch their secrets from SSM at boot: add [environments.%s.secrets]", env.Name)
		}
		var a envbuild.Addresses
		for _, t := range []struct {
			typ  string
			addr *string
		}{{config.ServerDBPrimary, &a.DBPrimary}, {config.ServerDBReplica, &a.DBReplica}, {config.ServerCache, &a.Cache}} {
			ms, err := c.MachinesTagged(ctx, map[string]string{plan.TagProject: cfg.Project.Name, plan.TagEnv: env.Name, envbuild.TagRole: t.typ})
			if err != nil {
				return nil, none, err
			}
			for _, m := range ms {
				if m.State == "running" && m.PrivateIP != "" {
					*t.addr = m.PrivateIP
				}
			}
			if *t.addr == "" {
				return nil, none, fmt.Errorf("the builder's recipes need the environment's %s server, which does not run: ferry env create %s", t.typ, env.Name)
			}
		}
		var rs []roles.Role
		for _, r := range []roles.Role{roles.Web, roles.Worker} {
			if _, ok := env.Groups[string(r)]; ok {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			return nil, none, fmt.Errorf("environment %s has no web or worker group to bake for", env.Name)
		}
		bin := env.Create.FerryBinary
		if bin == "" {
			self, err := os.Executable()
			if err != nil {
				return nil, none, fmt.Errorf("the ferry binary for the servers (create.ferry_binary): %w", err)
			}
			bin = self
		}
		// The image trusts the environment's database CA, derived from
		// the replication password read here; the password itself never
		// reaches the builder.
		store, _ := c.(secrets.Store)
		set, err := secrets.Read(ctx, env.Secrets, store)
		if err != nil {
			return nil, none, fmt.Errorf("the builder's recipes: the database CA: %w", err)
		}
		dbTLS, err := roles.NewDBTLS(set[roles.SecretReplication])
		if err != nil {
			return nil, none, fmt.Errorf("the builder's recipes: %w", err)
		}
		params := recipeParams(cfg, env, a)
		params.DBCA = dbTLS.CA()
		pr, err := provision.New(provision.Config{
			Remote:  remote.FromConfig(cfg.Project.StateDir, env, "bake", ""),
			Recipes: envRecipes(env), Params: params, Ferry: bin,
		}, log)
		if err != nil {
			return nil, none, err
		}
		return pr.Commands(provision.Server{SSH: address, Address: address, Instance: "builder", Roles: rs, Action: roles.ActionImage})
	}
}

// envRecipes are the default recipes with env's create.recipes over them.
func envRecipes(env *config.Environment) roles.Recipes {
	if env.Create != nil && env.Create.Recipes != "" {
		return roles.NewRecipes(os.DirFS(env.Create.Recipes))
	}
	return roles.NewRecipes()
}

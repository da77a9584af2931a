// Package provision makes servers into their roles: it runs the role
// recipes of package roles (shell scripts and the files they install) as
// root over SSH with package remote, one log file per server, many
// servers at once. A recipe is idempotent: it installs only missing
// packages, rewrites only files whose content differs, restarts only the
// services whose files changed, and prints a "changed: ..." line for each
// thing it changed; a run that changes nothing says "no change", which
// Report tells its caller.
//
// The secrets (database, replication, RabbitMQ and Redis passwords,
// Django's SECRET_KEY) reach the recipe in its environment through
// remote.Command.Env: never on a command line, never in a log.
package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Dir is where a server keeps the recipe it was last sent (root only).
const Dir = "/var/lib/ferry/recipe"

// Server is one server to provision.
type Server struct {
	// SSH is the address Ferry connects to (host or host:port).
	SSH string
	// Address is the server's private address, which the recipe configures
	// (Redis listens on it); default: SSH's host.
	Address string
	// Instance names its log file with the first role: <role>-<instance>.log.
	Instance string
	// Roles are the roles it takes (the seed's cache and queue server is
	// cache and queue).
	Roles []roles.Role
	// Action is empty or roles.ActionReseed.
	Action string
}

// Config is what a Provisioner needs.
type Config struct {
	// Remote is how servers are reached and where their logs go.
	Remote remote.Config
	// Recipes are the recipes to run (roles.NewRecipes with the
	// environment's overrides).
	Recipes roles.Recipes
	Params  roles.RecipeParams
	Secrets roles.Secrets
	// Ferry is a ferry binary for the servers (Linux, their architecture),
	// installed as /usr/local/bin/ferry before the recipe runs, for
	// ferry-secrets.service; empty: none is sent. Web and worker servers
	// need it when Params.SecretsPath is set.
	Ferry string
}

// Provisioner runs recipes on servers. It is safe for concurrent use.
type Provisioner struct {
	cfg    Config
	runner *remote.Runner
	log    *slog.Logger
	dbTLS  *roles.DBTLS // nil without the replication password
}

// New returns a Provisioner that logs its summaries to logger (nil: nowhere).
func New(cfg Config, logger *slog.Logger) (*Provisioner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, err := remote.New(cfg.Remote, logger)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	p := &Provisioner{cfg: cfg, runner: r, log: logger}
	if cfg.Secrets.Replication != "" {
		// The database servers' certificates and the CA the others check
		// them with come from the replication password (roles.DBTLS).
		t, err := roles.NewDBTLS(cfg.Secrets.Replication)
		if err != nil {
			return nil, fmt.Errorf("provision: %w", err)
		}
		p.dbTLS = &t
		if p.cfg.Params.DBCA == "" {
			p.cfg.Params.DBCA = t.CA()
		}
	}
	return p, nil
}

// Report is what one server's provisioning did.
type Report struct {
	Server Server
	// Changes are the recipe's "changed: ..." lines, in order; none when
	// the server already was what its roles make it.
	Changes []string
	// Log is the server's log file.
	Log string
	Err error
}

// Provision uploads the recipes rendered for s to Dir and runs them for
// s's roles, in order.
func (p *Provisioner) Provision(ctx context.Context, s Server) Report {
	rep := Report{Server: s}
	cmds, done, err := p.Commands(s)
	if err != nil {
		rep.Err = err
		return rep
	}
	defer done()
	if rep.Log, err = p.cfg.Remote.Logs.Path(s.Roles[0], s.Instance); err != nil {
		rep.Err = fmt.Errorf("provision %s: %w", s.SSH, err)
		return rep
	}
	from := size(rep.Log)
	p.log.Info("provisioning", "server", s.SSH, "instance", s.Instance, "roles", s.Roles, "action", s.Action, "log", rep.Log)
	rep.Err = p.runner.Run(ctx, remote.Host{Addr: s.SSH, Instance: s.Instance, Role: s.Roles[0]}, cmds...)
	changes, err := readChanges(rep.Log, from)
	rep.Changes = changes
	if err != nil && rep.Err == nil {
		rep.Err = fmt.Errorf("provision %s: read its log: %w", s.SSH, err)
	}
	if rep.Err == nil {
		p.log.Info("provisioned", "server", s.SSH, "instance", s.Instance, "roles", s.Roles, "changes", len(changes))
	}
	return rep
}

// Commands are what provisioning s runs over SSH, in order: the recipes'
// upload, the ferry binary's (with Config.Ferry), and the run, with the
// secrets s's roles need in its environment (none for roles.ActionImage:
// a server an image is made of never receives one). A bake runs them on
// its builder through its own session. done closes the binary's file once
// they ran.
func (p *Provisioner) Commands(s Server) (cmds []remote.Command, done func(), err error) {
	done = func() {}
	if len(s.Roles) == 0 {
		return nil, done, fmt.Errorf("provision %s: no role", s.SSH)
	}
	addr := s.Address
	if addr == "" {
		addr = hostOf(s.SSH)
	}
	bundle, err := p.cfg.Recipes.Bundle(p.cfg.Params, roles.RecipeHost{Address: addr, Roles: s.Roles, Action: s.Action})
	if err != nil {
		return nil, done, fmt.Errorf("provision %s: %w", s.SSH, err)
	}
	var env map[string]string
	if s.Action != roles.ActionImage {
		if env, err = p.cfg.Secrets.SecretEnv(s.Roles); err != nil {
			return nil, done, fmt.Errorf("provision %s: %w", s.SSH, err)
		}
		if slices.Contains(s.Roles, roles.DBPrimary) || slices.Contains(s.Roles, roles.DBReplica) {
			if p.dbTLS == nil {
				return nil, done, fmt.Errorf("provision %s: a database server's certificate is derived from the secret %s, which is empty", s.SSH, roles.SecretReplication)
			}
			tlsEnv, err := p.dbTLS.ServerEnv(addr)
			if err != nil {
				return nil, done, fmt.Errorf("provision %s: %w", s.SSH, err)
			}
			maps.Copy(env, tlsEnv)
		}
	}
	names := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		names[i] = string(r)
	}
	cmds = append(cmds, remote.Command{
		Name:  "recipe upload",
		Line:  fmt.Sprintf("sudo sh -c 'umask 077 && rm -rf %[1]s && mkdir -p %[1]s && tar -xf - -C %[1]s --no-same-owner'", Dir),
		Stdin: bundle.Tar,
	})
	if p.cfg.Ferry != "" {
		f, err := os.Open(p.cfg.Ferry)
		if err != nil {
			return nil, done, fmt.Errorf("provision %s: the ferry binary for the servers: %w", s.SSH, err)
		}
		done = func() { f.Close() }
		cmds = append(cmds, installFerry(f))
	}
	line := "sudo "
	if len(env) > 0 {
		// sudo resets the environment but for the names given here.
		line += "--preserve-env=" + strings.Join(slices.Sorted(maps.Keys(env)), ",") + " "
	}
	line += "sh " + Dir + "/run.sh " + strings.Join(names, " ")
	cmds = append(cmds, remote.Command{Name: "recipe " + strings.Join(names, "+"), Line: line, Env: env})
	return cmds, done, nil
}

// FerryPath is where a server keeps the ferry binary its boot units run.
const FerryPath = "/usr/local/bin/ferry"

// installFerry streams the binary to the server, which replaces
// FerryPath only when it differs (a "changed:" line, as the recipes say):
// a run with the same binary changes nothing.
func installFerry(bin io.Reader) remote.Command {
	return remote.Command{
		Name: "ferry binary",
		Line: `sudo sh -c 'set -e; t=$(mktemp ` + FerryPath + `.XXXXXX); cat >"$t"; ` +
			`if cmp -s "$t" ` + FerryPath + `; then rm -f "$t"; else chmod 0755 "$t"; mv -f "$t" ` + FerryPath + `; echo "changed: ` + FerryPath + `"; fi'`,
		Input: bin,
	}
}

// ProvisionAll provisions every server, at most limit at once (all when
// limit < 1), and returns their reports in the order of servers. One
// server failing does not stop the others: each has its own log.
func (p *Provisioner) ProvisionAll(ctx context.Context, servers []Server, limit int) []Report {
	if limit < 1 || limit > len(servers) {
		limit = len(servers)
	}
	reports := make([]Report, len(servers))
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i, s := range servers {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			reports[i] = Report{Server: s, Err: ctx.Err()}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			reports[i] = p.Provision(ctx, s)
		})
	}
	wg.Wait()
	return reports
}

// Failed joins the errors of the reports that failed; nil when none did.
func Failed(reports []Report) error {
	var errs []error
	for _, r := range reports {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && !strings.Contains(addr[i:], "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readChanges returns the "changed: ..." lines the recipe printed, from
// the part of the server's log written since offset from (the log is
// appended to: one file per server across runs).
func readChanges(path string, from int64) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// <time> out| changed: <what>
		if _, rest, ok := strings.Cut(sc.Text(), " out| changed: "); ok {
			out = append(out, rest)
		}
	}
	return out, sc.Err()
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ferry-deploy/ferry/internal/jsonfile"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
	"github.com/ferry-deploy/ferry/pkg/secrets"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// minMasked is the shortest value pkg/remote masks in a command's output
// (a shorter one would mask everything).
const minMasked = 4

// SecretStore is what a secrets push needs of SSM Parameter Store
// (pkg/cloud's Client).
type SecretStore interface {
	secrets.Store
	PutSecret(ctx context.Context, name, value, keyID string) (int64, error)
}

// GroupReader reads an Auto Scaling group's instances (pkg/cloud's Client).
type GroupReader interface {
	Group(ctx context.Context, name string, extraBalancers, extraTargetGroups []string) (*cloud.Group, error)
}

// SecretsPush puts one environment's secrets into SSM under
// /<project>/<env>/ and hands them to its running servers.
type SecretsPush struct {
	Project  string
	StateDir string
	Env      *config.Environment
	Store    SecretStore
	Groups   GroupReader
	// AgentSocket is SSH_AUTH_SOCK, used when the environment names no key.
	AgentSocket string
	// Deliver runs the secrets_changed hooks even when no value changed.
	Deliver bool
	// Dialer, when not nil, makes the SSH connections to the servers (the
	// simulator's machines).
	Dialer remote.Dialer
	// SSMOnly writes SSM and the record only, running no hook: env create,
	// whose servers fetch the secrets at boot or get them from their recipe.
	SSMOnly bool
	Log     *slog.Logger
	Now     func() time.Time
	// Lock takes the environment's lock (as a deploy does) for the push,
	// so that two pushes, or a push and a deploy, never run at once; it
	// returns a context that ends if the lease is lost, and the release.
	// Nil when the caller already holds it (policy.push_secrets, inside a
	// deploy).
	Lock func(ctx context.Context) (context.Context, func(), error)
}

// EnvLock returns the Lock of env's pushes: its lease on the git remote
// through the mirror m, renewed while the push runs, as a deploy's.
func EnvLock(cfg *config.Config, env *config.Environment, m *watch.Mirror, log *slog.Logger) func(context.Context) (context.Context, func(), error) {
	return NewDeployer(cfg, env, m, nil, log).lock
}

// SecretsDiff compares an environment's sources with what SSM holds under
// its path, by name only.
type SecretsDiff struct {
	Path string `json:"path"`
	// Added are in the sources, not in SSM; Changed in both with another
	// value; Unchanged the same; OnlyInSSM under the path but in no source
	// (a push keeps them).
	Added     []string `json:"added"`
	Changed   []string `json:"changed"`
	Unchanged []string `json:"unchanged"`
	OnlyInSSM []string `json:"only_in_ssm"`
}

// Differs reports whether a push would write anything.
func (d SecretsDiff) Differs() bool { return len(d.Added)+len(d.Changed) > 0 }

// SecretServer is the outcome of the secrets_changed hook on one server.
type SecretServer struct {
	Role     string `json:"role"`
	Instance string `json:"instance"`
	Address  string `json:"address"`
	Log      string `json:"log"`
	Error    string `json:"error,omitempty"`
}

// SecretsRecord is what a push leaves in the state directory
// (<state_dir>/secrets/<env>.json), for `ferry status`: names and
// versions, never values.
type SecretsRecord struct {
	Environment string           `json:"environment"`
	RunID       string           `json:"run_id"`
	PushedAt    time.Time        `json:"pushed_at"`
	Path        string           `json:"path"`
	Written     []string         `json:"written"`
	Versions    map[string]int64 `json:"versions"`
	Servers     []SecretServer   `json:"servers"`

	// CheckedAt is when a later push found SSM and the servers up to date
	// and changed nothing; the fields above stay those of the push that
	// last did.
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

func (p *SecretsPush) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

func (p *SecretsPush) path() string { return secrets.Path(p.Project, p.Env.Name) }

// read returns the sources' secrets, SSM's under the path, and the diff.
func (p *SecretsPush) read(ctx context.Context) (secrets.Set, secrets.Set, map[string]secrets.Parameter, SecretsDiff, error) {
	d := SecretsDiff{Path: p.path()}
	if p.Env.Secrets == nil {
		return nil, nil, nil, d, fmt.Errorf("environment %s has no [environments.%s.secrets] table", p.Env.Name, p.Env.Name)
	}
	want, err := secrets.Read(ctx, p.Env.Secrets, p.Store)
	if err != nil {
		return nil, nil, nil, d, err
	}
	have, params, err := secrets.FromStore(ctx, p.Store, d.Path)
	if err != nil {
		return nil, nil, nil, d, err
	}
	for _, k := range want.Names() {
		v, ok := have[k]
		switch {
		case !ok:
			d.Added = append(d.Added, k)
		case v != want[k]:
			d.Changed = append(d.Changed, k)
		default:
			d.Unchanged = append(d.Unchanged, k)
		}
	}
	for _, k := range have.Names() {
		if _, ok := want[k]; !ok {
			d.OnlyInSSM = append(d.OnlyInSSM, k)
		}
	}
	// SSM keeps a parameter's type: a changed value of a String one could
	// not be written as a SecureString (HierarchyTypeMismatchException)
	// once others had been. Refused before anything is written.
	var plain []string
	for _, k := range d.Changed {
		if t := params[k].Type; t != "" && t != "SecureString" {
			plain = append(plain, fmt.Sprintf("%s (%s)", params[k].Name, t))
		}
	}
	if len(plain) > 0 {
		return nil, nil, nil, d, fmt.Errorf("secrets: not SecureString in SSM: %s; SSM keeps a parameter's type, so a push cannot write them encrypted: delete them (aws ssm delete-parameter) and push again", strings.Join(plain, ", "))
	}
	return want, have, params, d, nil
}

// Diff reads the sources and SSM and says what a push would write,
// changing nothing.
func (p *SecretsPush) Diff(ctx context.Context) (SecretsDiff, error) {
	_, _, _, d, err := p.read(ctx)
	return d, err
}

// Versions lists the secrets SSM holds under the environment's path: names,
// versions and when each was last written (SecureString values are not
// even decrypted).
func (p *SecretsPush) Versions(ctx context.Context) ([]secrets.Parameter, error) {
	params, err := p.Store.ParametersByPath(ctx, p.path(), false)
	if err != nil {
		return nil, err
	}
	for i := range params {
		params[i].Value = ""
	}
	return params, nil
}

// Run pushes: every value that is new or changed gets a new version in SSM
// (an unchanged one does not), then, when something was written (or
// Deliver), each role's secrets_changed hook runs on the environment's
// running servers (InService group instances and listed hosts) with every
// secret under the path on stdin. Sources and SSM are read, and every
// hook is resolved, before anything is written. The record it leaves and
// the error it returns name secrets, never their values; per-server logs
// have the values masked.
func (p *SecretsPush) Run(ctx context.Context) (SecretsRecord, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	start := now().UTC()
	rec := SecretsRecord{Environment: p.Env.Name, RunID: "secrets-" + start.Format("20060102T150405.000Z"), PushedAt: start, Path: p.path(), Versions: map[string]int64{}}
	if p.Lock != nil {
		lctx, release, err := p.Lock(ctx)
		if err != nil {
			return rec, fmt.Errorf("secrets of %s not pushed: %w", p.Env.Name, err)
		}
		defer release()
		ctx = lctx
	}
	want, have, params, d, err := p.read(ctx)
	if err != nil {
		return rec, err
	}
	for state, names := range map[string][]string{"added": d.Added, "changed": d.Changed, "unchanged": d.Unchanged} {
		for _, k := range names {
			p.log().Debug("secret compared with SSM", "env", p.Env.Name, "secret", k, "state", state, "ssm_version", params[k].Version)
		}
	}
	for _, k := range want.Names() {
		if len(want[k]) < minMasked {
			p.log().Warn("secret too short to be masked in the servers' output", "env", p.Env.Name, "secret", k, "shorter_than", minMasked)
		}
	}
	// Where the hooks will run, and the SSH runner, are settled before
	// anything is written: a mistake there changes nothing.
	var hand *handOver
	if (d.Differs() || p.Deliver) && !p.SSMOnly {
		if hand, err = p.prepareHandOver(ctx, rec.RunID); err != nil {
			return rec, err
		}
	}
	for k, prm := range params {
		rec.Versions[k] = prm.Version
	}

	keyID := p.Env.Secrets.KMSKeyID
	for _, k := range slices.Concat(d.Added, d.Changed) {
		v, err := p.Store.PutSecret(ctx, rec.Path+k, want[k], keyID)
		if err != nil {
			err = fmt.Errorf("secrets: %s not written (written before it: %v): %w", k, rec.Written, err)
			if len(rec.Written) > 0 {
				// SSM changed: the record (ferry status, secrets list)
				// says so, though no server was handed the secrets.
				slices.Sort(rec.Written)
				if serr := p.save(rec); serr != nil {
					err = errors.Join(err, serr)
				}
			}
			return rec, err
		}
		rec.Written = append(rec.Written, k)
		rec.Versions[k] = v
	}
	slices.Sort(rec.Written)
	p.log().Info("secrets in SSM", "env", p.Env.Name, "path", rec.Path, "written", rec.Written, "unchanged", len(d.Unchanged), "only_in_ssm", d.OnlyInSSM)

	var errs []error
	if hand != nil {
		all := maps.Clone(have)
		maps.Copy(all, want)
		rec.Servers = p.deliver(ctx, hand, all)
		for _, s := range rec.Servers {
			if s.Error != "" {
				errs = append(errs, fmt.Errorf("secrets_changed on %s %s: %s (log %s)", s.Role, s.Instance, s.Error, s.Log))
			}
		}
	}
	// A push that wrote nothing and handed nothing over leaves the record
	// of the push that last did, marked checked: "last pushed" must not
	// move for a push that changed nothing.
	saved := rec
	if hand == nil && len(rec.Written) == 0 {
		if prev, ok, err := LastSecretsPush(p.StateDir, p.Env.Name); err == nil && ok {
			prev.CheckedAt, prev.Versions = start, rec.Versions
			saved = prev
		}
	}
	if err := p.save(saved); err != nil {
		errs = append(errs, err)
	}
	return rec, errors.Join(errs...)
}

// handOver is where the secrets_changed hooks run: each role's rendered
// commands and running servers, and the runner that reaches them.
type handOver struct {
	targets []handTarget
	runner  *remote.Runner
	logs    remote.Logs
}

type handTarget struct {
	role  roles.Role
	lines []string
	hosts []remote.Host
}

// prepareHandOver renders each role's secrets_changed commands and finds
// its running servers: InService instances of its group, and its listed
// hosts. Nil when no role has both.
func (p *SecretsPush) prepareHandOver(ctx context.Context, runID string) (*handOver, error) {
	cmds, err := roles.Resolve(p.Env.Hooks)
	if err != nil {
		return nil, err
	}
	h := &handOver{}
	for _, role := range roles.All() {
		list := cmds[role][roles.SecretsChanged]
		if len(list) == 0 {
			continue
		}
		lines, err := roles.RenderEnv(role, roles.SecretsChanged, list, p.Env.Name)
		if err != nil {
			return nil, err
		}
		t := handTarget{role: role, lines: lines}
		if name, ok := p.Env.Groups[string(role)]; ok {
			g, err := p.Groups.Group(ctx, name, nil, nil)
			if err != nil {
				return nil, err
			}
			for _, in := range g.Instances {
				if in.LifecycleState == "InService" && in.PrivateIP != "" {
					t.hosts = append(t.hosts, remote.Host{Addr: in.PrivateIP, Instance: in.ID, Role: role})
				}
			}
		}
		for _, a := range p.Env.Hosts[string(role)] {
			t.hosts = append(t.hosts, remote.Host{Addr: a, Instance: a, Role: role})
		}
		if len(t.hosts) > 0 {
			h.targets = append(h.targets, t)
		}
	}
	if len(h.targets) == 0 {
		p.log().Info("no running server to hand the secrets to", "env", p.Env.Name)
		return nil, nil
	}
	cfg := remote.FromConfig(p.StateDir, p.Env, runID, p.AgentSocket)
	cfg.Dialer = p.Dialer
	if h.runner, err = remote.New(cfg, p.log()); err != nil {
		return nil, err
	}
	h.logs = cfg.Logs
	return h, nil
}

// deliver runs the hand-over, every secret on each command's stdin and
// masked in its output.
func (p *SecretsPush) deliver(ctx context.Context, h *handOver, all secrets.Set) []SecretServer {
	stdin, values := all.Dotenv(), all.Values()
	var out []SecretServer
	for _, t := range h.targets {
		rcmds := make([]remote.Command, len(t.lines))
		for i, line := range t.lines {
			rcmds[i] = remote.Command{
				Name:  fmt.Sprintf("%s %s %d/%d", t.role, roles.SecretsChanged, i+1, len(t.lines)),
				Line:  line,
				Stdin: stdin, Redact: values,
			}
		}
		p.log().Info("running hook", "hook", roles.SecretsChanged, "role", t.role, "instances", len(t.hosts), "secrets", all.Names(), "one_at_a_time", t.role == roles.Web)
		var results []remote.Result
		if t.role == roles.Web {
			results = rollingRun(ctx, h.runner, t.hosts, rcmds)
		} else {
			results = h.runner.RunAll(ctx, t.hosts, parallelHosts, rcmds...)
		}
		for _, r := range results {
			s := SecretServer{Role: string(t.role), Instance: r.Host.Instance, Address: r.Host.Addr}
			s.Log, _ = h.logs.Path(t.role, r.Host.Instance)
			if r.Err != nil {
				s.Error = r.Err.Error()
			}
			out = append(out, s)
		}
	}
	return out
}

// rollingRun runs the web servers' hook one server at a time, as a serial
// deploy replaces them: the default hook restarts the app, whose
// /healthcheck.html the balancer reads, and waits for it to answer again.
// Run on every web server at once, it left the balancer with no healthy
// instance for as long as the restarts took (and Auto Scaling replaced
// them when that outlasted the health check's threshold). After a server
// whose hook failed, the others are not touched: they keep serving with
// the secrets they have, and the push fails naming them.
func rollingRun(ctx context.Context, r *remote.Runner, hosts []remote.Host, cmds []remote.Command) []remote.Result {
	results := make([]remote.Result, len(hosts))
	var failed *remote.Result
	for i, h := range hosts {
		results[i].Host = h
		if failed != nil {
			results[i].Err = fmt.Errorf("not handed the secrets: %s %s failed before it, and the web servers are handed them one at a time so that the others keep serving", failed.Host.Role, failed.Host.Instance)
			continue
		}
		results[i].Err = r.Run(ctx, h, cmds...)
		if results[i].Err != nil {
			failed = &results[i]
		}
	}
	return results
}

// SecretsRecordPath is where a push's record is kept.
func SecretsRecordPath(stateDir, env string) string {
	return filepath.Join(stateDir, "secrets", env+".json")
}

func (p *SecretsPush) save(rec SecretsRecord) error {
	path := SecretsRecordPath(p.StateDir, p.Env.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(path, append(b, '\n'), 0o640)
}

// LastSecretsPush reads the record of an environment's last push; ok is
// false when there has been none.
func LastSecretsPush(stateDir, env string) (rec SecretsRecord, ok bool, err error) {
	b, err := os.ReadFile(SecretsRecordPath(stateDir, env))
	if errors.Is(err, os.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := jsonfile.Unmarshal(SecretsRecordPath(stateDir, env), b, &rec); err != nil {
		return SecretsRecord{}, false, err
	}
	if err := rec.check(env); err != nil {
		return SecretsRecord{}, false, fmt.Errorf("%s: %w", SecretsRecordPath(stateDir, env), err)
	}
	return rec, true, nil
}

// FetchSecrets writes the secrets SSM holds under path to file as KEY=value
// lines (root's when run as root, mode 0600, replaced atomically): what an
// instance runs at boot (`ferry secrets fetch`, with its instance
// profile's credentials from IMDS) before the app starts. It returns the
// names written. Nothing is written when SSM cannot be read, or holds
// nothing under path: an app must not start with an empty secrets file
// where it expected some.
func FetchSecrets(ctx context.Context, store secrets.Store, path, file string) ([]string, error) {
	set, _, err := secrets.FromStore(ctx, store, path)
	if err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("no secret under SSM path %s: nothing written to %s", path, file)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	// A temporary file in the same directory, created 0600 (whatever mode
	// an older file had), fsynced and renamed over file.
	f, err := renameio.NewPendingFile(file, renameio.WithPermissions(0o600))
	if err != nil {
		return nil, fmt.Errorf("write secrets to %s: %w", file, err)
	}
	defer f.Cleanup()
	if _, err := f.Write(set.Dotenv()); err != nil {
		return nil, fmt.Errorf("write secrets to %s: %w", file, err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return nil, fmt.Errorf("write secrets to %s: %w", file, err)
	}
	return set.Names(), nil
}

// pushSecrets is policy.push_secrets: under the deploy's lock, before the
// deploy changes anything, the environment's secrets are pushed as `ferry
// secrets push` does (running servers get changed ones through their
// secrets_changed hook; new instances read them at boot). A push that fails
// stops the deploy before it starts.
func (d *Deployer) pushSecrets(ctx context.Context) error {
	if !d.env.Policy.PushSecrets || d.env.Secrets == nil {
		return nil
	}
	store, ok := d.cloud.(SecretStore)
	groups, ok2 := d.cloud.(GroupReader)
	if !ok || !ok2 {
		return errors.New("policy.push_secrets: this AWS client cannot reach SSM Parameter Store")
	}
	// The hooks reach the servers as the deploy's do: through the
	// deployer's dialer when it has one (the simulator's machines).
	p := &SecretsPush{Project: d.cfg.Project.Name, StateDir: d.cfg.Project.StateDir, Env: d.env,
		Store: store, Groups: groups, AgentSocket: os.Getenv("SSH_AUTH_SOCK"), Dialer: d.dialer, Log: d.log}
	rec, err := p.Run(ctx)
	if err != nil {
		return fmt.Errorf("policy.push_secrets: %w", err)
	}
	d.log.Info("secrets pushed before the deploy", "written", rec.Written, "servers", len(rec.Servers))
	return nil
}

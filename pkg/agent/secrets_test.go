package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/secrets"
)

// secretsEnv is a simulated staging environment (two web instances, one
// worker, a cache server outside Auto Scaling) whose addresses all reach one
// real sshd, with a secrets file and secrets_changed hooks that write what
// they read on stdin to <served>/<address>.env, as the default hook writes
// /etc/app/secrets.env, and then carelessly print the values.
type secretsEnv struct {
	t        *testing.T
	ctx      context.Context
	sim      *awssim.Server
	simLog   *testutil.Buffer
	simState string
	cloud    *cloud.Client
	cfg      *config.Config
	env      *config.Environment
	stateDir string
	file     string
	served   string
	marks    string
	log      *testutil.Buffer
}

func newSecretsEnv(t *testing.T, sshd *sshtest.Server) *secretsEnv {
	t.Helper()
	dir := t.TempDir()
	served := filepath.Join(dir, "served")
	if err := os.Mkdir(served, 0o700); err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(sshd.HostPublicKey())
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, fmt.Appendf(nil, "[127.1.*]:%d %s %s\n", sshd.Port, fields[0], fields[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	marks := filepath.Join(dir, "marks")
	hook := fmt.Sprintf(`%s; umask 077; cat > %s/.$addr.tmp && mv -f %s/.$addr.tmp %s/$addr.env && echo "$addr" >> %s && echo "careless:" && cut -d= -f2- %s/$addr.env`,
		whereAmI, served, served, served, marks, served)
	stateDir := filepath.Join(dir, "state")
	file := filepath.Join(dir, "staging.env")
	cfg, err := config.Parse(filepath.Join(dir, "ferry.toml"), []byte(fmt.Sprintf(`
[project]
name = "shop"
state_dir = %q
[project.git]
url = "file:///srv/git/shop.git"
[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = %q
groups.worker = %q
hosts.cache = [%q]
load_balancers.classic = ["shop-staging"]
[environments.staging.secrets]
file = "staging.env"
kms_key_id = "alias/shop-secrets"
[environments.staging.ssh]
user = %q
port = %d
key_file = %q
known_hosts = %q
connect_timeout = "10s"
[environments.staging.hooks.web]
secrets_changed = [%q]
[environments.staging.hooks.worker]
secrets_changed = [%q]
[environments.staging.hooks.cache]
secrets_changed = [%q]
`, stateDir, webGroup, workerGroup, cacheHost, sshd.User, sshd.Port, sshd.ClientKey, knownHosts, hook, hook, hook)))
	if err != nil {
		t.Fatal(err)
	}

	// The simulator keeps its account in a file and logs every request at
	// debug level: both are artifacts a secret must not reach.
	simLog := &testutil.Buffer{}
	simState := filepath.Join(dir, "sim-account.json")
	srv, err := awssim.Start(awssim.Options{Tick: 5 * time.Millisecond, Second: 4 * time.Millisecond, BootDelay: 20 * time.Millisecond,
		ShutdownDelay: 10 * time.Millisecond, StateFile: simState, SaveInterval: 10 * time.Millisecond},
		slog.New(slog.NewTextHandler(simLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	clients := simenv.Connect(srv.URL)
	if err := simenv.Create(ctx, clients, simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-staging",
		Groups: []simenv.Group{{Name: webGroup, Size: 2, ClassicLB: "shop-staging"}, {Name: workerGroup, Size: 1}},
		Now:    time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	for g, n := range map[string]int{webGroup: 2, workerGroup: 1} {
		if err := simenv.WaitServing(ctx, clients, g, n); err != nil {
			t.Fatal(err)
		}
	}
	c, err := cloud.New(ctx, cloud.Options{Region: simenv.Region, Endpoint: srv.URL, Credentials: simenv.Credentials(), MaxAttempts: 3, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &secretsEnv{t: t, ctx: ctx, sim: srv, simLog: simLog, simState: simState, cloud: c, cfg: cfg, env: cfg.Environments["staging"],
		stateDir: stateDir, file: file, served: served, marks: marks, log: &testutil.Buffer{}}
}

func (s *secretsEnv) writeFile(text string, mode os.FileMode) {
	s.t.Helper()
	if err := os.WriteFile(s.file, []byte(text), mode); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(s.file, mode); err != nil {
		s.t.Fatal(err)
	}
}

func (s *secretsEnv) push() (agent.SecretsRecord, error) {
	p := &agent.SecretsPush{
		Project: "shop", StateDir: s.stateDir, Env: s.env, Store: s.cloud, Groups: s.cloud,
		Log: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return p.Run(s.ctx)
}

func (s *secretsEnv) versions() map[string]int64 {
	s.t.Helper()
	params, err := (&agent.SecretsPush{Project: "shop", Env: s.env, Store: s.cloud}).Versions(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, p := range params {
		if p.Value != "" {
			s.t.Errorf("Versions shows a value for %s", p.Name)
		}
		out[p.Name] = p.Version
	}
	return out
}

// servers returns the addresses of the running servers: the groups'
// InService instances and the cache host.
func (s *secretsEnv) servers() []string {
	s.t.Helper()
	addrs := []string{cacheHost}
	for _, name := range []string{webGroup, workerGroup} {
		g, err := s.cloud.Group(s.ctx, name, nil, nil)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, in := range g.Instances {
			addrs = append(addrs, in.PrivateIP)
		}
	}
	slices.Sort(addrs)
	return addrs
}

func (s *secretsEnv) ranOn() []string {
	b, err := os.ReadFile(s.marks)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestSecretsPush pushes an environment's secrets into the simulator's SSM
// and, over real SSH, to every running server; pushes again with nothing
// changed (no new version, no hook), then with one value changed (one new
// version only, every server gets it). Then it reads every artifact the
// runs left for the secret values.
func TestSecretsPush(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: []string{"0.0.0.0"}})
	s := newSecretsEnv(t, sshd)
	const (
		dbPassword  = "db-pass-6b1f0e9c"
		dbPassword2 = "db-pass-rotated-77c2"
		apiToken    = "api-tok-51d2a8e4"
		secretKey   = "django-key-'quoted' $and \"more\""
	)
	file := func(db string) string {
		quoted := strings.NewReplacer(`"`, `\"`, `$`, `\$`).Replace(secretKey)
		return fmt.Sprintf("# staging\nDB_PASSWORD=%s\nAPI_TOKEN=%s\nSECRET_KEY=\"%s\"\n", db, apiToken, quoted)
	}
	servers := s.servers()
	if len(servers) != 4 {
		t.Fatalf("servers %v, want 2 web, 1 worker, the cache host", servers)
	}

	// A group- or world-readable file is refused before anything is
	// written, naming the file and its mode.
	s.writeFile(file(dbPassword), 0o644)
	if _, err := s.push(); !errors.Is(err, secrets.ErrFileMode) || !strings.Contains(err.Error(), s.file) || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("world-readable file: %v", err)
	}
	if v := s.versions(); len(v) != 0 || len(s.ranOn()) != 0 {
		t.Fatalf("a refused push wrote %v and ran on %v", v, s.ranOn())
	}

	s.writeFile(file(dbPassword), 0o600)
	rec, err := s.push()
	if err != nil {
		t.Fatalf("first push: %v\nagent log:\n%s", err, s.log)
	}
	if got := strings.Join(rec.Written, ","); got != "API_TOKEN,DB_PASSWORD,SECRET_KEY" {
		t.Fatalf("first push wrote %s", got)
	}
	want := map[string]int64{"/shop/staging/API_TOKEN": 1, "/shop/staging/DB_PASSWORD": 1, "/shop/staging/SECRET_KEY": 1}
	if got := s.versions(); !mapsEqual(got, want) {
		t.Fatalf("versions %v, want %v", got, want)
	}
	ran := s.ranOn()
	slices.Sort(ran)
	if !slices.Equal(ran, servers) || len(rec.Servers) != 4 {
		t.Fatalf("secrets_changed ran on %v (record %+v), want every server %v", ran, rec.Servers, servers)
	}
	wantFile := "API_TOKEN=" + apiToken + "\nDB_PASSWORD=" + dbPassword + "\nSECRET_KEY=" + secretKey + "\n"
	for _, a := range servers {
		got, err := os.ReadFile(filepath.Join(s.served, a+".env"))
		if err != nil || string(got) != wantFile {
			t.Fatalf("%s got %q (%v), want the three secrets", a, got, err)
		}
	}

	// Nothing changed: no new version, no hook, and the record still
	// names the first push (status: "last pushed" then), checked since.
	first := rec
	rec, err = s.push()
	if err != nil || len(rec.Written) != 0 || len(rec.Servers) != 0 {
		t.Fatalf("second push: wrote %v on %v: %v", rec.Written, rec.Servers, err)
	}
	if last, ok, err := agent.LastSecretsPush(s.stateDir, "staging"); err != nil || !ok || last.RunID != first.RunID ||
		!last.PushedAt.Equal(first.PushedAt) || len(last.Servers) != 4 || !last.CheckedAt.Equal(rec.PushedAt) {
		t.Fatalf("record after a push that changed nothing: %+v %v %v; want the first push's (%s at %s), checked at %s", last, ok, err, first.RunID, first.PushedAt, rec.PushedAt)
	}
	if got := s.versions(); !mapsEqual(got, want) || len(s.ranOn()) != 4 {
		t.Fatalf("an unchanged push made versions %v or ran hooks (%d runs)", got, len(s.ranOn()))
	}

	// One value changes: one new version, and every server has it.
	s.writeFile(file(dbPassword2), 0o600)
	d, err := (&agent.SecretsPush{Project: "shop", Env: s.env, Store: s.cloud}).Diff(s.ctx)
	if err != nil || strings.Join(d.Changed, ",") != "DB_PASSWORD" || len(d.Added) != 0 || len(d.Unchanged) != 2 {
		t.Fatalf("diff %+v: %v", d, err)
	}
	rec, err = s.push()
	if err != nil || strings.Join(rec.Written, ",") != "DB_PASSWORD" {
		t.Fatalf("third push wrote %v: %v", rec.Written, err)
	}
	want["/shop/staging/DB_PASSWORD"] = 2
	if got := s.versions(); !mapsEqual(got, want) {
		t.Fatalf("versions %v, want only DB_PASSWORD at 2: %v", got, want)
	}
	wantFile = strings.Replace(wantFile, dbPassword, dbPassword2, 1)
	for _, a := range servers {
		if got, _ := os.ReadFile(filepath.Join(s.served, a+".env")); string(got) != wantFile {
			t.Fatalf("%s has %q after the change", a, got)
		}
	}
	last, ok, err := agent.LastSecretsPush(s.stateDir, "staging")
	if err != nil || !ok || last.RunID != rec.RunID || last.Versions["DB_PASSWORD"] != 2 {
		t.Fatalf("record %+v %v %v", last, ok, err)
	}

	// The careless hook printed every value; the per-server logs show it
	// printed something, masked.
	logs := 0
	for _, srv := range rec.Servers {
		b, err := os.ReadFile(srv.Log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "careless:") || !strings.Contains(string(b), "[redacted]") {
			t.Errorf("server log %s does not show the masked output:\n%s", srv.Log, b)
		}
		logs++
	}
	if logs != 4 {
		t.Fatalf("%d server logs", logs)
	}

	// No artifact holds a value: the state dir (per-server logs, the
	// push's record), the agent's log at debug level, the simulator's
	// log at debug level, its list of calls and its account file, sshd's
	// log.
	resp, err := http.Get(s.sim.URL + "/_awssim/calls")
	if err != nil {
		t.Fatal(err)
	}
	calls, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(calls), "ssm:PutParameter") {
		t.Fatalf("the simulator's calls: %v\n%s", err, calls)
	}
	if err := s.sim.Close(); err != nil {
		t.Fatal(err)
	}
	artifacts := map[string]string{"agent log": s.log.String(), "simulator log": s.simLog.String(), "simulator calls": string(calls), "sshd log": sshd.Log()}
	for _, dir := range []string{s.stateDir} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			artifacts[path] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(s.simState)
	if err != nil {
		t.Fatal(err)
	}
	artifacts["simulator account"] = string(b)
	if len(artifacts) < 8 {
		t.Fatalf("only %d artifacts to check", len(artifacts))
	}
	for name, text := range artifacts {
		for _, v := range []string{dbPassword, dbPassword2, apiToken, secretKey, "django-key"} {
			if strings.Contains(text, v) {
				t.Errorf("%s holds a secret value (%.6s…)", name, v)
			}
		}
	}
	if !strings.Contains(artifacts["agent log"], "DB_PASSWORD") || !bytes.Contains(b, []byte("/shop/staging/DB_PASSWORD")) {
		t.Errorf("the logs and the account should name the secrets")
	}
	// Every version was written as a SecureString under the environment's
	// kms_key_id (the simulator's account keeps each version's key).
	var account struct {
		Parameters map[string]struct {
			Versions []struct {
				Type  string `json:"type"`
				KeyID string `json:"keyId"`
			} `json:"versions"`
		} `json:"ssmParameters"`
	}
	if err := json.Unmarshal(b, &account); err != nil {
		t.Fatal(err)
	}
	versions := 0
	for name, prm := range account.Parameters {
		for _, v := range prm.Versions {
			versions++
			if v.Type != "SecureString" || v.KeyID != "alias/shop-secrets" {
				t.Errorf("%s: a %s under key %q, want a SecureString under kms_key_id alias/shop-secrets", name, v.Type, v.KeyID)
			}
		}
	}
	if versions != 4 {
		t.Errorf("the account holds %d versions, want 4 (three, then DB_PASSWORD's second)", versions)
	}
}

// A missing SSM permission is a clear error, naming the permission, before
// anything changed: reading the path denied, nothing is written and no
// hook runs; writing denied, no version is made, no hook runs and no
// record says a push happened. The error never holds a value.
func TestSecretsPushWithoutSSMPermission(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: []string{"0.0.0.0"}})
	s := newSecretsEnv(t, sshd)
	const value = "db-pass-denied-2b7c"
	s.writeFile("DB_PASSWORD="+value+"\n", 0o600)
	for _, c := range []struct {
		action, want string
	}{
		{"GetParametersByPath", "needs ssm:GetParametersByPath on the parameters under /shop/staging/, and kms:Decrypt"},
		{"PutParameter", "needs ssm:PutParameter on /shop/staging/DB_PASSWORD, and kms:Encrypt"},
	} {
		s.sim.SetFault(awssim.Fault{Action: c.action, ErrorRate: 1, ErrorCode: "AccessDeniedException"})
		_, err := s.push()
		s.sim.ClearFaults()
		if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s denied: %v, want AccessDeniedException and %q", c.action, err, c.want)
		}
		if strings.Contains(err.Error(), value) {
			t.Fatalf("%s denied: the error holds the value", c.action)
		}
		if v := s.versions(); len(v) != 0 {
			t.Fatalf("%s denied: SSM holds %v", c.action, v)
		}
		if ran := s.ranOn(); len(ran) != 0 {
			t.Fatalf("%s denied: secrets_changed ran on %v", c.action, ran)
		}
		if _, ok, err := agent.LastSecretsPush(s.stateDir, "staging"); ok || err != nil {
			t.Fatalf("%s denied: a record of a push (%v)", c.action, err)
		}
	}
	// Granted, the same push goes through.
	if rec, err := s.push(); err != nil || len(rec.Written) != 1 || len(s.ranOn()) != 4 {
		t.Fatalf("push once allowed: wrote %v on %v: %v", rec.Written, s.ranOn(), err)
	}
}

// putFailing is an SSM store that refuses to write the parameter named
// fail, as an IAM policy naming some parameters only would.
type putFailing struct {
	secrets.Store
	fail string
	puts map[string]int64
}

func (p *putFailing) PutSecret(_ context.Context, name, _, _ string) (int64, error) {
	if name == p.fail {
		return 0, errors.New("api error AccessDeniedException: not authorized")
	}
	p.puts[name]++
	return p.puts[name], nil
}

type noParameters struct{}

func (noParameters) ParametersByPath(context.Context, string, bool) ([]secrets.Parameter, error) {
	return nil, nil
}

// A push that wrote some secrets before SSM refused one leaves its record
// (ferry status: last pushed) naming those written, and an error naming
// them and the one refused.
func TestPartlyRefusedPushIsRecorded(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "staging.env")
	if err := os.WriteFile(file, []byte("A_KEY=value-a-6d1f\nB_KEY=value-b-0c2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := &config.Environment{Name: "staging", Secrets: &config.Secrets{File: file}}
	store := &putFailing{Store: noParameters{}, fail: "/shop/staging/B_KEY", puts: map[string]int64{}}
	p := &agent.SecretsPush{Project: "shop", StateDir: dir, Env: env, Store: store, SSMOnly: true}
	_, err := p.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "B_KEY not written (written before it: [A_KEY])") || strings.Contains(err.Error(), "value-") {
		t.Fatalf("push: %v", err)
	}
	rec, ok, err := agent.LastSecretsPush(dir, "staging")
	if err != nil || !ok || !slices.Equal(rec.Written, []string{"A_KEY"}) || rec.Versions["A_KEY"] != 1 {
		t.Fatalf("record %+v %v %v, want A_KEY written at version 1", rec, ok, err)
	}
}

// typedStore holds fixed parameters and counts the writes.
type typedStore struct {
	params []secrets.Parameter
	puts   int
}

func (s *typedStore) ParametersByPath(context.Context, string, bool) ([]secrets.Parameter, error) {
	return s.params, nil
}

func (s *typedStore) PutSecret(context.Context, string, string, string) (int64, error) {
	s.puts++
	return 1, nil
}

// A changed secret SSM holds as a plain String (made by hand) cannot be
// written as a SecureString: the push is refused before anything is
// written, naming the parameter and its type, not the value.
func TestPushRefusesAStringParameter(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "staging.env")
	if err := os.WriteFile(file, []byte("A_KEY=value-a-new-71c3\nB_KEY=value-b-new-2d90\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := &config.Environment{Name: "staging", Secrets: &config.Secrets{File: file}}
	store := &typedStore{params: []secrets.Parameter{
		{Name: "/shop/staging/B_KEY", Value: "value-b-old-5e11", Version: 3, Type: "String"},
	}}
	p := &agent.SecretsPush{Project: "shop", StateDir: dir, Env: env, Store: store, SSMOnly: true}
	_, err := p.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not SecureString in SSM: /shop/staging/B_KEY (String)") || strings.Contains(err.Error(), "value-") {
		t.Fatalf("push over a String parameter: %v", err)
	}
	if store.puts != 0 {
		t.Fatalf("%d parameters written before the refusal", store.puts)
	}
	// As a SecureString it goes through: both written.
	store.params[0].Type = "SecureString"
	if rec, err := p.Run(t.Context()); err != nil || store.puts != 2 || len(rec.Written) != 2 {
		t.Fatalf("push over a SecureString: %d writes, %v: %v", store.puts, rec.Written, err)
	}
}

// countingDialer dials directly, counting the connections it makes.
type countingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (c *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	c.addrs = append(c.addrs, addr)
	c.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// With policy.push_secrets, the push a deploy runs first reaches the
// servers as the deploy's hooks do: through the deployer's dialer (ferry
// demo --machines and ferry run in the simulator's namespace give one),
// not straight from this host.
func TestDeployPushReachesServersThroughTheDeployersDialer(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: []string{"0.0.0.0"}})
	s := newSecretsEnv(t, sshd)
	s.env.Policy.PushSecrets = true
	s.writeFile("DB_PASSWORD=db-pass-dialer-4e1a\n", 0o600)
	dialer := &countingDialer{}
	d := agent.NewDeployer(s.cfg, s.env, nil, s.cloud, slog.New(slog.NewTextHandler(s.log, nil))).WithDialer(dialer)
	if err := d.PushSecrets(s.ctx); err != nil {
		t.Fatalf("push before the deploy: %v\n%s", err, s.log)
	}
	ran := s.ranOn()
	slices.Sort(ran)
	if servers := s.servers(); !slices.Equal(ran, servers) {
		t.Fatalf("secrets_changed ran on %v, want %v", ran, servers)
	}
	dialer.mu.Lock()
	defer dialer.mu.Unlock()
	if len(dialer.addrs) < len(ran) {
		t.Fatalf("the deployer's dialer made %d connections (%v) for %d servers: the push dialed around it", len(dialer.addrs), dialer.addrs, len(ran))
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestSecretsPushRestartsWebServersOneAtATime: the web servers are handed
// the secrets one after the other (their hook restarts the app behind the
// balancer), the others' roles all at once; after a web server whose hook
// failed, the remaining web servers are not touched and the push fails
// naming them.
func TestSecretsPushRestartsWebServersOneAtATime(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: []string{"0.0.0.0"}})
	s := newSecretsEnv(t, sshd)
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	failOnce := filepath.Join(dir, "fail-once")
	// The web hook: start, a pause long enough for a second to start
	// beside it if it could, end; it fails once when failOnce exists.
	webHook := fmt.Sprintf(`%s; cat >/dev/null; echo "$addr start" >> %[2]s; sleep 0.3; if rm %[3]s 2>/dev/null; then echo "$addr failed" >> %[2]s; exit 3; fi; echo "$addr end" >> %[2]s`,
		whereAmI, events, failOnce)
	s.env.Hooks["web"] = map[string][]string{"secrets_changed": {webHook}}

	webs := func() []string {
		g, err := s.cloud.Group(s.ctx, webGroup, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, in := range g.Instances {
			out = append(out, in.PrivateIP)
		}
		return out
	}()
	read := func() []string {
		b, err := os.ReadFile(events)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}

	s.writeFile("DB_PASSWORD=db-pass-one-4c1d9e\n", 0o600)
	if _, err := s.push(); err != nil {
		t.Fatalf("push: %v\n%s", err, s.log)
	}
	got := read()
	if len(got) != 2*len(webs) {
		t.Fatalf("web hook events %q, want a start and an end on each of %v", got, webs)
	}
	for i := 0; i < len(got); i += 2 {
		a, b := strings.Fields(got[i]), strings.Fields(got[i+1])
		if a[1] != "start" || b[1] != "end" || a[0] != b[0] {
			t.Fatalf("web hook events %q: a web server started before the one before it ended", got)
		}
	}

	// A web server's hook fails: the next one is not handed the secrets.
	if err := os.WriteFile(events, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(failOnce, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.writeFile("DB_PASSWORD=db-pass-two-8e0a3b\n", 0o600)
	rec, err := s.push()
	if err == nil {
		t.Fatal("a push whose web hook failed on one server succeeded")
	}
	if got := read(); len(got) != 2 || !strings.HasSuffix(got[1], " failed") {
		t.Fatalf("web hook events %q, want one server started and failed, no other", got)
	}
	var failed, untouched int
	for _, srv := range rec.Servers {
		switch {
		case srv.Role != "web":
		case strings.Contains(srv.Error, "not handed the secrets"):
			untouched++
		case srv.Error != "":
			failed++
		}
	}
	if failed != 1 || untouched != len(webs)-1 || !strings.Contains(err.Error(), "not handed the secrets") {
		t.Errorf("record %+v, error %v; want one web server failed and %d not handed the secrets", rec.Servers, err, len(webs)-1)
	}
}

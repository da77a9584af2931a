package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file; cases add to or replace parts of it.
const minimalProject = `
[project]
name = "shop"

[project.git]
url = "file:///srv/git/shop.git"
`

const minimalEnv = `
[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = "shop-staging-web"
load_balancers.classic = ["shop-staging"]
ssh.user = "deploy"
`

// noSSHHooks empties every default hook a deploy runs over SSH.
const noSSHHooks = `[environments.staging.hooks.web]
upgrade_page_on = []
upgrade_page_off = []
[environments.staging.hooks.worker]
deploy = []
`

// TestSSHUserOptionalWithoutSSH: with no hook to run over SSH (no bake,
// no secrets, no [create]), ssh.user may be left out.
func TestSSHUserOptionalWithoutSSH(t *testing.T) {
	doc := minimalProject + strings.Replace(minimalEnv, "ssh.user = \"deploy\"\n", "", 1) + noSSHHooks
	if _, errs := parse(t, doc); errs != nil {
		t.Errorf("no hook runs over SSH, yet: %v\n%s", errs, numbered(doc))
	}
}

func parse(t *testing.T, doc string) (*Config, Errors) {
	t.Helper()
	cfg, err := Parse("/etc/ferry/ferry.toml", []byte(doc))
	if err == nil {
		return cfg, nil
	}
	es, ok := AsErrors(err)
	if !ok {
		t.Fatalf("Parse error is not an Errors list: %v", err)
	}
	return nil, es
}

func TestParseMinimalAppliesDefaults(t *testing.T) {
	cfg, errs := parse(t, minimalProject+minimalEnv)
	if errs != nil {
		t.Fatalf("minimal config is invalid:\n%v", errs)
	}
	env := cfg.Environments["staging"]
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"state_dir", cfg.Project.StateDir, DefaultStateDir},
		{"schema_marker", cfg.Project.SchemaMarker, DefaultSchemaMarker},
		{"notes_ref", cfg.Project.Git.NotesRef, DefaultNotesRef},
		{"poll_interval", cfg.Project.Git.PollInterval.Std(), DefaultPollInterval},
		{"env name", env.Name, "staging"},
		{"launch.kind", env.Launch.Kind, LaunchTemplate},
		{"launch.http_tokens", env.Launch.HTTPTokens, "required"},
		{"launch.metadata_hop_limit", env.Launch.MetadataHopLimit, 1},
		{"policy.methods", strings.Join(env.Policy.Methods, ","), "full,serial"},
		{"serial_batch_size", env.Policy.SerialBatchSize, DefaultSerialBatchSize},
		{"serial_mode", env.Policy.SerialMode, SerialSurge},
		{"min_healthy", env.Policy.MinHealthy, DefaultMinHealthy},
		{"confirm", env.Policy.Confirm, false},
		{"timeouts.instances_in_service", env.Policy.Timeouts.InstancesInService.Std(), DefaultInstancesInService},
		{"timeouts.healthy_in_balancers", env.Policy.Timeouts.HealthyInBalancers.Std(), DefaultHealthyInBalancers},
		{"timeouts.drain", env.Policy.Timeouts.Drain.Std(), DefaultDrain},
		{"timeouts.command", env.Policy.Timeouts.Command.Std(), DefaultCommand},
		{"timeouts.lock_lease", env.Policy.Timeouts.LockLease.Std(), DefaultLockLease},
		{"ssh.port", env.SSH.Port, DefaultSSHPort},
		{"ssh.connect_timeout", env.SSH.ConnectTimeout.Std(), DefaultSSHConnectTimeout},
		{"ssh.keepalive_interval", env.SSH.KeepAliveInterval.Std(), DefaultSSHKeepAlive},
		{"ssh.known_hosts", env.SSH.KnownHosts, "/var/lib/ferry/ssh_known_hosts"},
		{"status.notes", env.Status.Notes, true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestParseOverridesAndResolvesPaths(t *testing.T) {
	doc := minimalProject + `
state_dir = "state"
` + minimalEnv + `
[environments.staging.policy]
methods = ["serial"]
serial_batch_size = 3
confirm = true
timeouts.drain = "90s"

[environments.staging.status]
notes = false

[[environments.staging.status.forge]]
provider = "github"
repository = "acme/shop"
token_env = "GITHUB_TOKEN"

[[environments.staging.windows]]
cron = "0 9 * * 1-5"
duration = "8h"

[agent.ui]
token_file = "ui-token"
tls_cert_file = "tls/cert.pem"
tls_key_file = "/etc/ssl/private/ferry.key"
`
	// state_dir is under [project.git] in this document; put it in [project].
	doc = strings.Replace(doc, "\nstate_dir = \"state\"\n", "", 1)
	doc = strings.Replace(doc, "name = \"shop\"", "name = \"shop\"\nstate_dir = \"state\"", 1)
	cfg, errs := parse(t, doc)
	if errs != nil {
		t.Fatalf("invalid:\n%v", errs)
	}
	env := cfg.Environments["staging"]
	if got := cfg.Project.StateDir; got != "/etc/ferry/state" {
		t.Errorf("relative state_dir resolved to %q, want /etc/ferry/state", got)
	}
	if got := env.SSH.KnownHosts; got != "/etc/ferry/state/ssh_known_hosts" {
		t.Errorf("default known_hosts = %q, want it under the resolved state dir", got)
	}
	if !slices.Equal(env.Policy.Methods, []string{"serial"}) || env.Policy.SerialBatchSize != 3 || !env.Policy.Confirm {
		t.Errorf("policy not decoded: %+v", env.Policy)
	}
	if env.Policy.Timeouts.Drain.Std() != 90*time.Second || env.Policy.Timeouts.Command.Std() != DefaultCommand {
		t.Errorf("timeouts: drain %v (want 90s), command %v (want default)", env.Policy.Timeouts.Drain, env.Policy.Timeouts.Command)
	}
	if env.Status.Notes {
		t.Error("status.notes = false was not applied")
	}
	if len(env.Status.Forges) != 1 || env.Status.Forges[0].Context != "ferry/staging" {
		t.Errorf("forge context default: %+v", env.Status.Forges)
	}
	if len(env.Windows) != 1 || env.Windows[0].TimeZone != "UTC" || env.Windows[0].Mode != WindowAllow || env.Windows[0].Duration.Std() != 8*time.Hour {
		t.Errorf("window defaults: %+v", env.Windows)
	}
	if ui := cfg.Agent.UI; ui.TokenFile != "/etc/ferry/ui-token" || ui.TLSCertFile != "/etc/ferry/tls/cert.pem" || ui.TLSKeyFile != "/etc/ssl/private/ferry.key" {
		t.Errorf("[agent.ui] paths not resolved against the config's directory: %+v", ui)
	}
}

// TestValidationRules has one case per rule: each document holds exactly one
// problem, and the error must name its line and key.
func TestValidationRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		line    int
		key     string
		message string
	}{
		{"syntax error", "[project\nname = 1", 2, "", "expected"},
		{"unknown key", minimalProject + "colour = \"blue\"\n" + minimalEnv, 7, "project.git.colour", `unknown key "colour"`},
		{"unknown key with suggestion", minimalProject + minimalEnv + "brnach = \"x\"\n", 14, "environments.staging.brnach", `did you mean "branch"`},
		{"unknown table", minimalProject + minimalEnv + "[environments.staging.sssh]\nuser = \"x\"\n", 14, "environments.staging.sssh", `did you mean "ssh"`},
		{"inline secret", strings.Replace(minimalProject, "file:///srv/git/shop.git", "https://example.com/shop.git", 1) + "[project.git.https]\ntoken_env = \"T\"\ntoken = \"s3cr3t\"\n" + minimalEnv, 9, "project.git.https.token", "secrets are not written in the config"},
		{"wrong type string", strings.Replace(minimalProject, `name = "shop"`, "name = 42", 1) + minimalEnv, 3, "project.name", "expected a string, found an integer"},
		{"wrong type int", minimalProject + minimalEnv + "ssh.port = \"22\"\n", 14, "environments.staging.ssh.port", "expected an integer, found a string"},
		{"wrong type table", minimalProject + minimalEnv + "policy = \"fast\"\n", 14, "environments.staging.policy", "expected a table, found a string"},
		{"wrong type array", minimalProject + minimalEnv + "load_balancers.target_groups = \"arn\"\n", 14, "environments.staging.load_balancers.target_groups", "expected an array"},
		{"bad duration", minimalProject + minimalEnv + "policy.timeouts.drain = \"ten minutes\"\n", 14, "environments.staging.policy.timeouts.drain", "invalid duration"},
		{"zero timeout", minimalProject + minimalEnv + "policy.timeouts.command = \"0s\"\n", 14, "environments.staging.policy.timeouts.command", "must be a positive duration"},
		{"zero poll interval", minimalProject + "poll_interval = \"0s\"\n" + minimalEnv, 7, "project.git.poll_interval", "must be a positive duration"},
		{"missing project name", strings.Replace(minimalProject, `name = "shop"`, "", 1) + minimalEnv, 2, "project.name", "missing required value"},
		{"bad project name", strings.Replace(minimalProject, `name = "shop"`, `name = "my shop"`, 1) + minimalEnv, 3, "project.name", "use 1-64 letters"},
		{"missing url", strings.Replace(minimalProject, `url = "file:///srv/git/shop.git"`, "", 1) + minimalEnv, 5, "project.git.url", "missing required value"},
		{"unsupported url", strings.Replace(minimalProject, "file:///srv/git/shop.git", "shop.git", 1) + minimalEnv, 6, "project.git.url", "use an ssh://"},
		{"ssh remote without ssh auth", strings.Replace(minimalProject, "file:///srv/git/shop.git", "git@github.com:acme/shop.git", 1) + minimalEnv, 5, "project.git.ssh", "needs [project.git.ssh]"},
		{"ssh remote without known_hosts", strings.Replace(minimalProject, "file:///srv/git/shop.git", "ssh://git@example.com/shop.git", 1) + "[project.git.ssh]\nkey_file = \"k\"\n" + minimalEnv, 7, "project.git.ssh.known_hosts", "known_hosts"},
		{"credentials in url", strings.Replace(minimalProject, "file:///srv/git/shop.git", "https://bot:hunter2@example.com/shop.git", 1) + minimalEnv, 6, "project.git.url", "credentials in the URL"},
		{"token file and env", strings.Replace(minimalProject, "file:///srv/git/shop.git", "https://example.com/shop.git", 1) + "[project.git.https]\ntoken_file = \"t\"\ntoken_env = \"T\"\n" + minimalEnv, 7, "project.git.https", "only one of"},
		{"webhook without secret", minimalProject + "[project.git.webhook]\n" + minimalEnv, 7, "project.git.webhook", "secret_file or secret_env"},
		{"bad notes ref", minimalProject + "notes_ref = \"refs/heads/notes\"\n" + minimalEnv, 7, "project.git.notes_ref", "under refs/notes/"},
		{"bad poll cron", minimalProject + "poll_cron = \"every minute\"\n" + minimalEnv, 7, "project.git.poll_cron", "invalid cron spec"},
		{"schema marker outside repo", strings.Replace(minimalProject, `name = "shop"`, "name = \"shop\"\nschema_marker = \"../x\"", 1) + minimalEnv, 4, "project.schema_marker", "inside the repository"},
		{"bad glob", strings.Replace(minimalProject, `name = "shop"`, "name = \"shop\"\nfull_deploy_globs = [\"migrations/[\"]", 1) + minimalEnv, 4, "project.full_deploy_globs[0]", "not a valid glob"},
		{"no environments", minimalProject, 0, "environments", "no environment defined"},
		{"bad environment name", minimalProject + strings.Replace(minimalEnv, "environments.staging]", "environments.Staging_1]", 1), 8, "environments.Staging_1", "lowercase"},
		{"no trigger", minimalProject + strings.Replace(minimalEnv, "branch = \"staging\"\n", "", 1), 8, "environments.staging", "branch = \"NAME\" or tag"},
		{"branch and tag", minimalProject + minimalEnv + "tag = \"v*\"\nverify = \"none\"\n", 14, "environments.staging.tag", "not both"},
		{"bad branch", minimalProject + strings.Replace(minimalEnv, `branch = "staging"`, `branch = "stag..ing"`, 1), 9, "environments.staging.branch", "not a valid branch name"},
		{"tag pattern does not compile", minimalProject + strings.Replace(minimalEnv, `branch = "staging"`, "tag = \"v[0-9\"\nverify = \"none\"", 1), 9, "environments.staging.tag", "does not compile"},
		{"duplicate branch", minimalProject + minimalEnv + strings.ReplaceAll(strings.Replace(minimalEnv, "environments.staging]", "environments.qa]", 1), "shop-staging-web", "shop-qa-web"), 16, "environments.qa.branch", `already deploys environment "staging" (line 9)`},
		{"duplicate tag pattern", minimalProject + strings.Replace(minimalEnv, `branch = "staging"`, "tag = \"v*\"\nverify = \"none\"", 1) + strings.ReplaceAll(strings.Replace(strings.Replace(minimalEnv, "environments.staging]", "environments.prod]", 1), `branch = "staging"`, "tag = \"v*\"\nverify = \"none\"", 1), "shop-staging-web", "shop-prod-web"), 17, "environments.prod.tag", "already deploys"},
		{"group shared by environments", minimalProject + minimalEnv + strings.Replace(strings.Replace(minimalEnv, "environments.staging]", "environments.qa]", 1), `branch = "staging"`, `branch = "qa"`, 1), 18, "environments.qa.groups.web", "already used by staging.web"},
		{"missing region", minimalProject + strings.Replace(minimalEnv, "aws.region = \"us-east-1\"\n", "", 1), 8, "environments.staging.aws.region", "missing required value"},
		{"bad region", minimalProject + strings.Replace(minimalEnv, "us-east-1", "Virginia", 1), 10, "environments.staging.aws.region", "not an AWS region"},
		{"bad endpoint", minimalProject + minimalEnv + "aws.endpoint = \"localhost:4566\"\n", 14, "environments.staging.aws.endpoint", "http:// or https://"},
		{"no groups", minimalProject + strings.Replace(minimalEnv, "groups.web = \"shop-staging-web\"\n", "", 1), 8, "environments.staging.groups", "no Auto Scaling group"},
		{"unknown role", minimalProject + minimalEnv + "groups.database = \"db\"\n", 14, "environments.staging.groups.database", "unknown role"},
		{"web without load balancer", minimalProject + strings.Replace(minimalEnv, "load_balancers.classic = [\"shop-staging\"]\n", "", 1), 8, "environments.staging.load_balancers", "needs a load balancer"},
		{"bad target group arn", minimalProject + minimalEnv + "load_balancers.target_groups = [\"tg-1\"]\n", 14, "environments.staging.load_balancers.target_groups[0]", "not a target group ARN"},
		{"bad launch kind", minimalProject + minimalEnv + "launch.kind = \"ami\"\n", 14, "environments.staging.launch.kind", `use "template" or "configuration"`},
		{"template with configuration", minimalProject + minimalEnv + "launch.kind = \"configuration\"\nlaunch.template = \"lt\"\n", 15, "environments.staging.launch.template", "kind is"},
		{"no methods", minimalProject + minimalEnv + "policy.methods = []\n", 14, "environments.staging.policy.methods", "at least one deploy method"},
		{"unknown method", minimalProject + minimalEnv + "policy.methods = [\"blue-green\"]\n", 14, "environments.staging.policy.methods[0]", `use "full" or "serial"`},
		{"duplicate method", minimalProject + minimalEnv + "policy.methods = [\"full\", \"full\"]\n", 14, "environments.staging.policy.methods[1]", "listed twice"},
		{"zero batch", minimalProject + minimalEnv + "policy.serial_batch_size = 0\n", 14, "environments.staging.policy.serial_batch_size", "at least 1"},
		{"bad serial mode", minimalProject + minimalEnv + "policy.serial_mode = \"rolling\"\n", 14, "environments.staging.policy.serial_mode", "surge"},
		{"negative min healthy", minimalProject + minimalEnv + "policy.min_healthy = -1\n", 14, "environments.staging.policy.min_healthy", "negative"},
		{"missing ssh user", minimalProject + strings.Replace(minimalEnv, "ssh.user = \"deploy\"\n", "", 1), 8, "environments.staging.ssh.user", "missing required value"},
		{"missing ssh user, hooks of a deploy emptied but secrets to push", minimalProject + strings.Replace(minimalEnv, "ssh.user = \"deploy\"\n", "", 1) + "secrets.file = \"secrets.env\"\n" + noSSHHooks, 8, "environments.staging.ssh.user", "missing required value"},
		{"bad ssh port", minimalProject + minimalEnv + "ssh.port = 70000\n", 14, "environments.staging.ssh.port", "1-65535"},
		{"hook of unknown role", minimalProject + minimalEnv + "[environments.staging.hooks.nginx]\npost_deploy = [\"x\"]\n", 14, "environments.staging.hooks.nginx", "unknown role"},
		{"unknown hook", minimalProject + minimalEnv + "[environments.staging.hooks.web]\npre_deploy = [\"x\"]\n", 15, "environments.staging.hooks.web.pre_deploy", "unknown hook"},
		{"empty hook command", minimalProject + minimalEnv + "[environments.staging.hooks.worker]\ndeploy = [\" \"]\n", 15, "environments.staging.hooks.worker.deploy[0]", "empty command"},
		{"hook template does not render", minimalProject + minimalEnv + "[environments.staging.hooks.worker]\ndeploy = [\"cd /srv/{{.Sha}}\"]\n", 15, "environments.staging.hooks.worker.deploy[0]", "placeholders"},
		{"hosts of a role with a group", minimalProject + minimalEnv + "hosts.web = [\"10.0.0.5\"]\n", 14, "environments.staging.hosts.web", "has an Auto Scaling group"},
		{"bad host", minimalProject + minimalEnv + "hosts.cache = [\"10.0.0.5\", \"cache server\"]\n", 14, "environments.staging.hosts.cache[1]", "not a host name or IP address"},
		{"host listed twice", minimalProject + minimalEnv + "hosts.cache = [\"cache-1.internal\", \"cache-1.internal\"]\n", 14, "environments.staging.hosts.cache[1]", "listed twice"},
		{"no hosts", minimalProject + minimalEnv + "hosts.queue = []\n", 14, "environments.staging.hosts.queue", "no servers"},
		{"upgrade page on a worker", minimalProject + minimalEnv + "[environments.staging.hooks.worker]\nupgrade_page_on = [\"x\"]\n", 15, "environments.staging.hooks.worker.upgrade_page_on", "web servers only"},
		{"deploy step on web servers", minimalProject + minimalEnv + "[environments.staging.hooks.web]\ndeploy = [\"x\"]\n", 15, "environments.staging.hooks.web.deploy", "the worker's"},
		{"post_deploy of a role with no servers", minimalProject + minimalEnv + "[environments.staging.hooks.cache]\npost_deploy = [\"redis-cli FLUSHDB\"]\n", 15, "environments.staging.hooks.cache.post_deploy", "no Auto Scaling group (groups.cache) and no servers (hosts.cache)"},
		{"unknown verify mode", minimalProject + minimalEnv + "verify = \"gpg\"\ntrusted_keys.openpgp = \"k.asc\"\n", 14, "environments.staging.verify", `use "none", "head" or "tag"`},
		{"verify tag on a branch", minimalProject + minimalEnv + "verify = \"tag\"\ntrusted_keys.openpgp = \"k.asc\"\n", 14, "environments.staging.verify", "needs a tag-triggered environment"},
		{"verify without keys", minimalProject + minimalEnv + "verify = \"head\"\n", 8, "environments.staging.trusted_keys", "needs trusted keys"},
		{"release tags are verified by default", minimalProject + strings.Replace(minimalEnv, `branch = "staging"`, `tag = "v*"`, 1), 8, "environments.staging.trusted_keys", `verify = "tag" needs trusted keys`},
		{"cron never fires", minimalProject + minimalEnv + "[[environments.staging.windows]]\ncron = \"0 0 30 2 *\"\nduration = \"1h\"\n", 15, "environments.staging.windows[0].cron", "never fires"},
		{"cron does not parse", minimalProject + minimalEnv + "[[environments.staging.windows]]\ncron = \"0 0 * *\"\nduration = \"1h\"\n", 15, "environments.staging.windows[0].cron", "invalid cron spec"},
		{"window without duration", minimalProject + minimalEnv + "[[environments.staging.windows]]\ncron = \"0 9 * * *\"\n", 14, "environments.staging.windows[0].duration", "positive duration"},
		{"unknown time zone", minimalProject + minimalEnv + "[[environments.staging.windows]]\ncron = \"0 9 * * *\"\nduration = \"1h\"\ntime_zone = \"Mars/Olympus\"\n", 17, "environments.staging.windows[0].time_zone", "unknown time zone"},
		{"bad window mode", minimalProject + minimalEnv + "[[environments.staging.windows]]\ncron = \"0 9 * * *\"\nduration = \"1h\"\n[[environments.staging.windows]]\ncron = \"0 9 * * *\"\nduration = \"1h\"\nmode = \"block\"\n", 20, "environments.staging.windows[1].mode", `use "allow" or "deny"`},
		{"unknown forge", minimalProject + minimalEnv + "[[environments.staging.status.forge]]\nprovider = \"bitbucket\"\nrepository = \"a/b\"\ntoken_env = \"T\"\n", 15, "environments.staging.status.forge[0].provider", "github"},
		{"forge without token", minimalProject + minimalEnv + "[[environments.staging.status.forge]]\nprovider = \"github\"\nrepository = \"a/b\"\n", 14, "environments.staging.status.forge[0]", "token_file or token_env"},
		{"gitea without api url", minimalProject + minimalEnv + "[[environments.staging.status.forge]]\nprovider = \"gitea\"\nrepository = \"a/b\"\ntoken_file = \"t\"\n", 14, "environments.staging.status.forge[0].api_url", "missing required value"},
		{"secrets without a source", minimalProject + minimalEnv + "[environments.staging.secrets]\nkms_key_id = \"alias/shop\"\n", 14, "environments.staging.secrets", "no secret source"},
		{"secrets path without a slash", minimalProject + minimalEnv + "secrets.path = \"shop/staging\"\n", 14, "environments.staging.secrets.path", "not an SSM parameter path"},
		{"secrets path with an empty level", minimalProject + minimalEnv + "secrets.path = \"/shop//staging\"\n", 14, "environments.staging.secrets.path", "not an SSM parameter path"},
		{"secrets path reserved", minimalProject + minimalEnv + "secrets.path = \"/ssm-things/staging/\"\n", 14, "environments.staging.secrets.path", "reserves"},
		{"secrets path too deep", minimalProject + minimalEnv + "secrets.path = \"" + strings.Repeat("/l", 15) + "\"\n", 14, "environments.staging.secrets.path", "at most 15 levels"},
		{"bad kms key id", minimalProject + minimalEnv + "secrets.file = \"s.env\"\nsecrets.kms_key_id = \"my key\"\n", 15, "environments.staging.secrets.kms_key_id", "not a KMS key id"},
		{"secrets value inline", minimalProject + minimalEnv + "[environments.staging.secrets]\nfile = \"s.env\"\nsecret = \"x\"\n", 16, "environments.staging.secrets.secret", "secrets are not written in the config"},
		{"project name SSM reserves", strings.Replace(minimalProject, `name = "shop"`, `name = "awsome"`, 1) + minimalEnv + "secrets.file = \"s.env\"\n", 3, "project.name", "SSM reserves"},
		{"secrets_changed of a role with no servers", minimalProject + minimalEnv + "[environments.staging.hooks.queue]\nsecrets_changed = [\"x\"]\n", 15, "environments.staging.hooks.queue.secrets_changed", "no Auto Scaling group (groups.queue)"},
		{"secrets_changed names the commit", minimalProject + minimalEnv + "[environments.staging.hooks.web]\nsecrets_changed = [\"cd /srv/{{.Commit}}\"]\n", 15, "environments.staging.hooks.web.secrets_changed[0]", "{{.Env}} only"},
		{"bad http tokens", minimalProject + minimalEnv + "launch.http_tokens = \"v1\"\n", 14, "environments.staging.launch.http_tokens", "use \"required\""},
		{"bad metadata hop limit", minimalProject + minimalEnv + "launch.metadata_hop_limit = 0\n", 14, "environments.staging.launch.metadata_hop_limit", "must be 1-64"},
		{"push_secrets without secrets", minimalProject + minimalEnv + "policy.push_secrets = true\n", 14, "environments.staging.policy.push_secrets", "no secrets to push"},
		{"unknown image mode", minimalProject + minimalEnv + "launch.image = \"ami\"\n", 14, "environments.staging.launch.image", `use "bake"`},
		{"bake without a base image", minimalProject + minimalEnv + "launch.image = \"bake\"\n", 14, "environments.staging.launch.base_image", "missing required value"},
		{"base image without bake", minimalProject + minimalEnv + "launch.base_image = \"debian\"\n", 14, "environments.staging.launch.base_image", "only used to bake"},
		{"bake and a fixed image", minimalProject + minimalEnv + "launch.image = \"bake\"\nlaunch.base_image = \"debian\"\nlaunch.image_id = \"ami-1\"\n", 16, "environments.staging.launch.image_id", "remove one of the two"},
		{"build hook without bake", minimalProject + minimalEnv + "[environments.staging.hooks.web]\nbuild = [\"make\"]\n", 15, "environments.staging.hooks.web.build", `set launch.image = "bake"`},
		{"build hook of a role with no group", minimalProject + minimalEnv + "launch.image = \"bake\"\nlaunch.base_image = \"debian\"\n[environments.staging.hooks.cache]\nbuild = [\"make\"]\n", 17, "environments.staging.hooks.cache.build", "has none (groups.cache)"},
		{"keep no image", minimalProject + minimalEnv + "images.keep = 0\n", 14, "environments.staging.images.keep", "at least 1"},
		{"bake ahead without baking", minimalProject + minimalEnv + "policy.bake_ahead = true\n", 14, "environments.staging.policy.bake_ahead", `launch.image = "bake"`},
		{"unknown image cache", minimalProject + minimalEnv + "images.cache = \"last\"\n", 14, "environments.staging.images.cache", `use "previous" or "none"`},
		{"zero bake timeout", minimalProject + minimalEnv + "policy.timeouts.bake = \"0s\"\n", 14, "environments.staging.policy.timeouts.bake", "positive"},
		{"notify unknown kind", minimalProject + minimalEnv + "[[notify]]\nkind = \"email\"\n", 15, "notify[0].kind", `"email": use "slack"`},
		{"notify slack url inline", minimalProject + minimalEnv + "[[notify]]\nkind = \"slack\"\nurl_file = \"s\"\nurl = \"https://hooks.slack.com/services/T/B/x\"\n", 17, "notify[0].url", "its token"},
		{"notify webhook without secret", minimalProject + minimalEnv + "[[notify]]\nkind = \"webhook\"\nurl = \"https://ops.example.com/ferry\"\n", 14, "notify[0].secret_file", "missing required value"},
		{"notify exec without command", minimalProject + minimalEnv + "[[notify]]\nkind = \"exec\"\n", 14, "notify[0].command", "missing required value"},
		{"notify unknown environment", minimalProject + minimalEnv + "[[notify]]\nkind = \"exec\"\ncommand = [\"true\"]\nenvironments = [\"prod\"]\n", 17, "notify[0].environments[0]", `no environment "prod"`},
		{"notify unknown event", minimalProject + minimalEnv + "[[notify]]\nkind = \"exec\"\ncommand = [\"true\"]\nevents = [\"finished\"]\n", 17, "notify[0].events[0]", `"finished": use one of started`},
		{"approve unknown method", minimalProject + minimalEnv + "policy.approve = [\"downtime\"]\n", 14, "environments.staging.policy.approve[0]", `"downtime": use "full"`},
		{"approve a refused method", minimalProject + minimalEnv + "policy.methods = [\"serial\"]\npolicy.approve = [\"full\"]\n", 15, "environments.staging.policy.approve[0]", "not in policy.methods"},
		{"tls cert without key", minimalProject + minimalEnv + "[agent.ui]\ntls_cert_file = \"c.pem\"\n", 15, "agent.ui.tls_cert_file", "set tls_key_file too"},
		{"tls key without cert", minimalProject + minimalEnv + "[agent.ui]\ntoken_file = \"t\"\ntls_key_file = \"k.pem\"\n", 16, "agent.ui.tls_key_file", "set tls_cert_file too"},
		{"bad token env name", minimalProject + minimalEnv + "[[environments.staging.status.forge]]\nprovider = \"github\"\nrepository = \"a/b\"\ntoken_env = \"MY-TOKEN\"\n", 17, "environments.staging.status.forge[0].token_env", "not an environment variable name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := parse(t, tc.doc)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error, got %d:\n%v\ndocument:\n%s", len(errs), errs, numbered(tc.doc))
			}
			e := errs[0]
			if e.Line != tc.line || e.Key != tc.key || !strings.Contains(e.Msg, tc.message) {
				t.Errorf("got %s\nwant line %d, key %q, message containing %q\ndocument:\n%s", e, tc.line, tc.key, tc.message, numbered(tc.doc))
			}
			if e.File != "/etc/ferry/ferry.toml" {
				t.Errorf("error names file %q", e.File)
			}
		})
	}
}

// The secrets table: a file resolved against the config's directory, an
// SSM path and a KMS key.
func TestSecretsSources(t *testing.T) {
	cfg, errs := parse(t, minimalProject+minimalEnv+"[environments.staging.secrets]\nfile = \"secrets/staging.env\"\npath = \"/shop/manual/\"\nkms_key_id = \"alias/shop-secrets\"\n")
	if errs != nil {
		t.Fatal(errs)
	}
	s := cfg.Environments["staging"].Secrets
	if s == nil || s.File != "/etc/ferry/secrets/staging.env" || s.Path != "/shop/manual/" || s.KMSKeyID != "alias/shop-secrets" {
		t.Fatalf("secrets = %+v", s)
	}
	cfg, errs = parse(t, minimalProject+minimalEnv)
	if errs != nil || cfg.Environments["staging"].Secrets != nil {
		t.Fatalf("no secrets table: %+v %v", cfg.Environments["staging"].Secrets, errs)
	}
}

// Servers outside Auto Scaling are listed by role, and their post_deploy
// hook is then valid; an empty list of commands disables a hook anywhere.
func TestHostsOfRolesWithoutGroups(t *testing.T) {
	doc := minimalProject + minimalEnv + `hosts.cache = ["10.0.2.10", "cache-2.internal"]
[environments.staging.hooks.cache]
post_deploy = ["redis-cli -n 1 FLUSHDB"]
[environments.staging.hooks.queue]
post_deploy = []
`
	cfg, errs := parse(t, doc)
	if len(errs) != 0 {
		t.Fatalf("errors: %v\n%s", errs, numbered(doc))
	}
	if got := cfg.Environments["staging"].Hosts["cache"]; len(got) != 2 || got[1] != "cache-2.internal" {
		t.Errorf("hosts.cache = %q", got)
	}
}

func TestEveryErrorIsReported(t *testing.T) {
	doc := minimalProject + `colour = "blue"
` + minimalEnv + `
[environments.qa]
branch = "staging"
aws.region = "us-east-1"
groups.web = "shop-qa-web"
load_balancers.classic = ["shop-qa"]
ssh.user = "deploy"

[[environments.qa.windows]]
cron = "0 0 30 2 *"
duration = "1h"
`
	_, errs := parse(t, doc)
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, []int{7, 17, 24}) {
		t.Fatalf("want errors on lines 7 (unknown key), 17 (duplicate branch), 24 (cron); got:\n%v", errs)
	}
	text := errs.Error()
	for _, want := range []string{`unknown key "colour"`, `already deploys environment "staging"`, "never fires"} {
		if !strings.Contains(text, want) {
			t.Errorf("errors do not mention %q:\n%s", want, text)
		}
	}
	var one *Error
	if !errors.As(error(errs), &one) || one.Line != 7 {
		t.Errorf("errors.As(*Error) = %v", one)
	}
}

func TestSecretsNeverEchoed(t *testing.T) {
	doc := strings.Replace(minimalProject, "file:///srv/git/shop.git", "https://bot:hunter2@example.com/shop.git", 1) +
		"[project.git.https]\ntoken = \"s3cr3t-value\"\n" + minimalEnv
	_, errs := parse(t, doc)
	if len(errs) == 0 {
		t.Fatal("want errors")
	}
	for _, secret := range []string{"hunter2", "s3cr3t-value"} {
		if strings.Contains(errs.Error(), secret) {
			t.Errorf("error output contains the secret %q:\n%s", secret, errs)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}

func numbered(doc string) string {
	var b strings.Builder
	for i, l := range strings.Split(doc, "\n") {
		fmt.Fprintf(&b, "%3d| %s\n", i+1, l)
	}
	return b.String()
}

// createEnv is an environment env create builds: a web group only.
const createEnv = `
[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = "shop-staging-web"
ssh.user = "deploy"
launch.image_id = "ami-0123456789abcdef0"
[environments.staging.create.servers.web]
instance_type = "t3.small"
`

func TestCreateDefaults(t *testing.T) {
	cfg, errs := parse(t, minimalProject+createEnv+"[environments.staging.create.servers.db-primary]\ninstance_type = \"m6i.large\"\n")
	if errs != nil {
		t.Fatalf("invalid:\n%v", errs)
	}
	env := cfg.Environments["staging"]
	if got := env.LoadBalancers.Classic; len(got) != 1 || got[0] != "shop-staging" {
		t.Errorf("balancer %v, want the default shop-staging", got)
	}
	if web := env.Create.Servers[ServerWeb]; web.Count != 1 || web.Max != 1 {
		t.Errorf("web count %d max %d, want 1 and 1", web.Count, web.Max)
	}
	if env.Protected {
		t.Error("protected by default")
	}
	cfg, errs = parse(t, minimalProject+createEnv+"count = 0\n")
	if errs != nil {
		t.Fatalf("invalid:\n%v", errs)
	}
	if web := cfg.Environments["staging"].Create.Servers[ServerWeb]; web.Count != 0 || web.Max != 0 {
		t.Errorf("count = 0: count %d max %d, want an empty group", web.Count, web.Max)
	}
}

func TestDefaultBalancerName(t *testing.T) {
	for _, tc := range []struct{ project, env, want string }{
		{"myproject", "testing", "myproject-testing"},
		{"my_project.v2", "staging", "my-project-v2-staging"},
		{"a-very-long-project-name-indeed", "production", "a-very-long-project-name-indeed"},
	} {
		if got := DefaultBalancerName(tc.project, tc.env); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.project, tc.env, got, tc.want)
		}
	}
}

func TestCreateRules(t *testing.T) {
	base := minimalProject + createEnv
	for _, tc := range []struct {
		name, doc string
		line      int
		key, msg  string
	}{
		{"queue server", base + "[environments.staging.create.servers.queue]\ninstance_type = \"t3.small\"\n", 16, "environments.staging.create.servers.queue", "runs on the cache server"},
		{"unknown server", base + "[environments.staging.create.servers.mail]\ninstance_type = \"t3.small\"\n", 16, "environments.staging.create.servers.mail", "unknown server type"},
		{"bad instance type", strings.Replace(base, `"t3.small"`, `"small"`, 1), 15, "environments.staging.create.servers.web.instance_type", "not an EC2 instance type"},
		{"missing instance type", strings.Replace(base, "instance_type = \"t3.small\"\n", "count = 2\n", 1), 14, "environments.staging.create.servers.web.instance_type", "missing required value"},
		{"worker without group", base + "[environments.staging.create.servers.worker]\ninstance_type = \"t3.small\"\n", 16, "environments.staging.create.servers.worker", "name it in groups.worker"},
		{"long-lived count", base + "[environments.staging.create.servers.cache]\ninstance_type = \"t3.small\"\ncount = 2\n", 18, "environments.staging.create.servers.cache.count", "is one server"},
		{"max below count", base + "count = 3\nmax = 2\n", 17, "environments.staging.create.servers.web.max", "at least its count"},
		{"bad subnet", strings.Replace(base, "[environments.staging.create.servers.web]", "[environments.staging.create]\nsubnets = [\"sub-1\"]\n[environments.staging.create.servers.web]", 1), 15, "environments.staging.create.subnets[0]", "not a subnet id"},
		{"bad certificate", strings.Replace(base, "[environments.staging.create.servers.web]", "[environments.staging.create]\ncertificate = \"snakeoil\"\n[environments.staging.create.servers.web]", 1), 15, "environments.staging.create.certificate", "not a certificate ARN"},
		{"bad ssh_from", strings.Replace(base, "[environments.staging.create.servers.web]", "[environments.staging.create]\nssh_from = [\"10.0.0.0\"]\n[environments.staging.create.servers.web]", 1), 15, "environments.staging.create.ssh_from[0]", "not an IPv4 network"},
		{"bad image", base + "image_id = \"debian\"\n", 16, "environments.staging.create.servers.web.image_id", "not an image id"},
		{"no image", strings.Replace(base, "launch.image_id = \"ami-0123456789abcdef0\"\n", "", 1), 13, "environments.staging.create.servers.web.image_id", "needs an image"},
		{"shared instance type", strings.Replace(base, "launch.image_id", "launch.instance_type = \"t3.large\"\nlaunch.image_id", 1), 13, "environments.staging.launch", "its own launch template"},
		{"two balancers", strings.Replace(base, "ssh.user", "load_balancers.classic = [\"a\", \"b\"]\nssh.user", 1), 12, "environments.staging.load_balancers", "one classic load balancer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := parse(t, tc.doc)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error, got %d:\n%v\ndocument:\n%s", len(errs), errs, numbered(tc.doc))
			}
			e := errs[0]
			if e.Line != tc.line || e.Key != tc.key || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got %s\nwant line %d, key %q, message containing %q\ndocument:\n%s", e, tc.line, tc.key, tc.msg, numbered(tc.doc))
			}
		})
	}
}

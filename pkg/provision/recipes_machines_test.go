package provision_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/provision"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

// Every server of the seed's architecture, made from a fresh stack-image
// machine by its role's recipe over real SSH, all at once: the web
// server serves the release through nginx on 443, switches to the upgrade
// page with the default hooks and back, reaches PostgreSQL through
// PgBouncer and stunnel in TLS, writes on the primary and reads the row on
// the replica; a Celery task sent from the web server runs on the worker
// through RabbitMQ and its result comes back through Redis. A second run
// of every recipe changes nothing and says so; the replica can be seeded
// again from the primary.
func TestRecipesOnMachines(t *testing.T) {
	s := newStack(t, "db-primary", "db-replica", "cache+queue", "web", "worker")
	params := roles.RecipeParams{
		Project: "myproject", AppModule: "app",
		DBPrimary: s.byRole["db-primary"].ip, DBReplica: s.byRole["db-replica"].ip,
		Cache: s.byRole["cache+queue"].ip, Queue: s.byRole["cache+queue"].ip,
	}
	servers := []provision.Server{
		{Roles: []roles.Role{roles.DBPrimary}},
		{Roles: []roles.Role{roles.DBReplica}},
		{Roles: []roles.Role{roles.Cache, roles.Queue}},
		{Roles: []roles.Role{roles.Web}},
		{Roles: []roles.Role{roles.Worker}},
	}
	for i, name := range []string{"db-primary", "db-replica", "cache+queue", "web", "worker"} {
		m := s.byRole[name]
		servers[i].SSH, servers[i].Address, servers[i].Instance = m.ssh, m.ip, m.id
	}

	start := time.Now()
	first := s.provisioner("create", params, secrets()).ProvisionAll(s.ctx, servers, 0)
	s.checkReports(first, true)
	t.Logf("5 servers provisioned in parallel in %v", time.Since(start).Round(100*time.Millisecond))

	web, worker := s.byRole["web"], s.byRole["worker"]
	// The first release, as a baked image brings it; gunicorn and celery
	// start with it.
	for _, m := range []*machine{web, worker} {
		s.release(m, sha)
	}
	s.sh(web, "systemctl start gunicorn")
	s.sh(worker, "systemctl start celery")

	// nginx: the health check on 443 and 80, the app behind it.
	for _, url := range []string{"https://" + web.ip + "/healthcheck.html", "http://" + web.ip + "/healthcheck.html"} {
		s.eventually(url+" answers 200 ok", func() bool { code, body := s.tryGet(url); return code == 200 && body == "ok\n" })
	}
	if code, body := s.get("https://" + web.ip + "/"); code != 200 || body != "release under test\n" {
		t.Errorf("GET / = %d %q, want the release's page", code, body)
	}
	// The default hooks, unchanged, switch the upgrade page on and off.
	hooks := roles.Defaults()[roles.Web]
	// (nginx's reload returns before its new workers answer.)
	s.sh(web, strings.Join(hooks[roles.UpgradePageOn], "\n"))
	s.eventually("the upgrade page", func() bool {
		code, body := s.tryGet("https://" + web.ip + "/")
		return code == 503 && strings.Contains(body, "Upgrade in progress") && strings.Contains(body, "myproject")
	})
	if code, _ := s.get("https://" + web.ip + "/healthcheck.html"); code != 200 {
		t.Errorf("the health check with the upgrade page on = %d, want 200", code)
	}
	s.sh(web, strings.Join(hooks[roles.UpgradePageOff], "\n"))
	s.eventually("the app again after the upgrade page", func() bool {
		code, _ := s.tryGet("https://" + web.ip + "/")
		return code == 200
	})

	// The database through PgBouncer and stunnel: TLS to the primary, a row
	// written there and read on the replica.
	written := time.Now()
	got := s.sh(web, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_NAME" -XAt -v ON_ERROR_STOP=1 \
  -c "CREATE TABLE IF NOT EXISTS visits (n int)" -c "INSERT INTO visits VALUES (42)" \
  -c "SELECT 'ssl=' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"`)
	if !strings.Contains(got, "ssl=true") {
		t.Errorf("the app's connection to the primary is not in TLS:\n%s", got)
	}
	replicaRead := appEnv + `psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_REPLICA_NAME" -XAt -v ON_ERROR_STOP=1 \
  -c "SELECT 'rows=' || count(*) FROM visits WHERE n = 42" -c "SELECT 'recovery=' || pg_is_in_recovery()" -c "SELECT 'ssl=' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"`
	s.eventually("the row on the replica", func() bool {
		out, err := s.trySh(web, replicaRead)
		return err == nil && strings.Contains(out, "rows=1")
	})
	t.Logf("the row written on the primary was read on the replica %v after the write began (an SSH round trip each way included)", time.Since(written).Round(10*time.Millisecond))
	if got := s.sh(web, replicaRead); !strings.Contains(got, "recovery=true") || !strings.Contains(got, "ssl=true") {
		t.Errorf("the replica database is not a standby reached in TLS:\n%s", got)
	}

	// Redis, and a Celery task: web → RabbitMQ → worker → Redis → web.
	if got := s.sh(web, appEnv+`python3 -c 'import os, redis; e = os.environ; print("ping", redis.Redis(host=e["CACHE_HOST"], port=int(e["CACHE_PORT"]), password=e["CACHE_PASSWORD"]).ping())'`); !strings.Contains(got, "ping True") {
		t.Errorf("Redis from the web server:\n%s", got)
	}
	if got, err := s.trySh(web, appEnv+`cd /srv/app/current && runuser -u app -- python3 -c 'from app.celery import add; print("sum", add.delay(2, 3).get(timeout=120))'`); err != nil || !strings.Contains(got, "sum 5") {
		t.Errorf("a Celery task's round trip: %v\n%s\nthe worker:\n%s\nthe queue:\n%s", err, got,
			s.sh(worker, "systemctl status celery || true; journalctl -u celery -n 40 --no-pager"),
			s.sh(s.byRole["cache+queue"], "rabbitmqctl -q list_queues -p myproject; rabbitmqctl -q list_connections"))
	}
	if got := s.sh(s.byRole["cache+queue"], "ss -ltn"); !strings.Contains(got, s.byRole["cache+queue"].ip+":6379") || !strings.Contains(got, ":5672") {
		t.Errorf("Redis and RabbitMQ do not listen on the private address:\n%s", got)
	}

	// The app's secrets only in /etc/app/secrets.env, root's alone; a
	// secret of the environment that no recipe knows (as `ferry secrets
	// fetch` writes them all) stays there through the next run.
	if got := s.sh(web, "stat -c '%a %U' /etc/app/secrets.env; grep -c -e PASSWORD -e SECRET /etc/ferry/app.env || true; echo OTHER_TOKEN=kept-0123456789 >>/etc/app/secrets.env"); got != "600 root\n0\n" {
		t.Errorf("the secrets file's mode and owner, and secrets in app.env: %q, want 600 root and none", got)
	}

	// Again: nothing changes, and every recipe says so.
	start = time.Now()
	second := s.provisioner("again", params, secrets()).ProvisionAll(s.ctx, servers, 0)
	s.checkReports(second, false)
	t.Logf("second run of the 5 recipes in %v", time.Since(start).Round(100*time.Millisecond))
	if got := s.sh(web, "grep -c '^OTHER_TOKEN=kept-0123456789$' /etc/app/secrets.env"); got != "1\n" {
		t.Errorf("a secret the recipe does not know was not kept: %q", got)
	}

	// The replica seeded again from the primary has the primary's rows.
	s.sh(s.byRole["db-primary"], `runuser -u postgres -- psql -XAt -d myproject -c "INSERT INTO visits VALUES (43)"`)
	reseed := servers[1]
	reseed.Action = roles.ActionReseed
	rep := s.provisioner("reseed", params, secrets()).Provision(s.ctx, reseed)
	s.checkReports([]provision.Report{rep}, true)
	if !strings.Contains(strings.Join(rep.Changes, "\n"), "seeded from the primary") {
		t.Errorf("reseed changed %q, want it seeded from the primary", rep.Changes)
	}
	s.eventually("the reseeded replica has the primary's rows", func() bool {
		out, err := s.trySh(web, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_REPLICA_NAME" -XAt -c "SELECT 'rows=' || count(*) FROM visits"`)
		return err == nil && strings.Contains(out, "rows=2")
	})

	// stunnel checks who answers: the primary presenting a certificate of
	// the environment's CA for another address, or the snakeoil one every
	// Debian server has, is refused; its own again is taken. PgBouncer is
	// restarted before each try, so that it opens a new connection through
	// stunnel (psql cannot go to stunnel's port itself: it refuses the
	// SCRAM-PLUS a server in TLS offers on what it sees as plain TCP). A
	// refused try is ended after 20 s: PgBouncer would hold the client
	// for its query_wait_timeout.
	primary := s.byRole["db-primary"]
	direct := "systemctl restart pgbouncer\n" + appEnv + `timeout 20 psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_NAME" -XAt -c "SELECT 'answered'"`
	s.eventually("the primary through a new PgBouncer and stunnel with its own certificate", func() bool {
		out, err := s.trySh(web, direct)
		return err == nil && strings.Contains(out, "answered")
	})
	dbTLS, err := roles.NewDBTLS(secrets().Replication)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, err := dbTLS.Server("10.255.0.99")
	if err != nil {
		t.Fatal(err)
	}
	const tlsDir = "/etc/postgresql/ferry-tls"
	for _, c := range []struct{ name, swap string }{
		{"the environment's CA's certificate for another address", fmt.Sprintf(
			"echo %s | base64 -d >%s/server.crt\necho %s | base64 -d >%s/server.key\n",
			base64.StdEncoding.EncodeToString([]byte(otherCert)), tlsDir, base64.StdEncoding.EncodeToString([]byte(otherKey)), tlsDir)},
		{"the snakeoil certificate", fmt.Sprintf("cp /etc/ssl/certs/ssl-cert-snakeoil.pem %[1]s/server.crt\ncp /etc/ssl/private/ssl-cert-snakeoil.key %[1]s/server.key\n", tlsDir)},
	} {
		since := strings.TrimSpace(s.sh(web, "date +%s"))
		s.sh(primary, c.swap+"systemctl reload postgresql@15-main\n")
		out, err := s.trySh(web, direct)
		if err == nil || strings.Contains(out, "answered") {
			t.Errorf("the primary presenting %s was answered through stunnel: %v\n%s", c.name, err, out)
		}
		if got := s.sh(web, "journalctl -u ferry-stunnel --since @"+since+" --no-pager"); !strings.Contains(strings.ToLower(got), "rejected by cert") {
			t.Errorf("stunnel's journal after refusing %s does not say why:\n%s", c.name, got)
		}
	}
	// The primary's recipe puts its own certificate back.
	s.checkReports([]provision.Report{s.provisioner("cert", params, secrets()).Provision(s.ctx, servers[0])}, true)
	s.eventually("the primary through stunnel with its own certificate again", func() bool {
		out, err := s.trySh(web, direct)
		return err == nil && strings.Contains(out, "answered")
	})
}

// appEnv loads the app's settings, as its processes see them.
const appEnv = "set -a; . /etc/ferry/app.env; . /etc/app/secrets.env; set +a; export PGPASSWORD=\"$DB_PASSWORD\"\n"

// eventually polls cond until it holds, failing the test after two
// minutes (a bound on a wait, not a claim about speed).
func (s *stack) eventually(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *stack) tryGet(url string) (int, string) {
	code, body, _ := s.doGet(url)
	return code, body
}

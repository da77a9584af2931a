package provision_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/provision"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// The checks of what the role recipes made, beyond the app
// (TestAppOnMachines runs them on its one stack: a second stack of five
// machines cost CI a few minutes of two cores).

// checkUpgradePage: nginx answers the health check on 80 and 443, and the
// web role's default hooks, unchanged, switch the "upgrade in progress"
// page on (503, the health check still 200) and off.
func (s *stack) checkUpgradePage(web *machine) {
	s.t.Helper()
	for _, url := range []string{"https://" + web.ip + "/healthcheck.html", "http://" + web.ip + "/healthcheck.html"} {
		s.eventually(url+" answers 200 ok", func() bool { code, body := s.tryGet(url); return code == 200 && body == "ok\n" })
	}
	hooks := roles.Defaults()[roles.Web]
	// (nginx's reload returns before its new workers answer.)
	s.sh(web, strings.Join(hooks[roles.UpgradePageOn], "\n"))
	s.eventually("the upgrade page", func() bool {
		code, body := s.tryGet("https://" + web.ip + "/")
		return code == 503 && strings.Contains(body, "Upgrade in progress") && strings.Contains(body, "myproject")
	})
	if code, _ := s.get("https://" + web.ip + "/healthcheck.html"); code != 200 {
		s.t.Errorf("the health check with the upgrade page on = %d, want 200", code)
	}
	s.sh(web, strings.Join(hooks[roles.UpgradePageOff], "\n"))
	s.eventually("the app again after the upgrade page", func() bool {
		code, _ := s.tryGet("https://" + web.ip + "/")
		return code == 200
	})
}

// checkDatabaseTLS: the app's connections through PgBouncer and stunnel
// reach the primary and the replica (a standby) in TLS; Redis and
// RabbitMQ listen on the cache+queue server's private address.
func (s *stack) checkDatabaseTLS(web *machine) {
	s.t.Helper()
	ssl := `-c "SELECT 'ssl=' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" -c "SELECT 'recovery=' || pg_is_in_recovery()"`
	if got := s.sh(web, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_NAME" -XAt -v ON_ERROR_STOP=1 `+ssl); !strings.Contains(got, "ssl=true") || !strings.Contains(got, "recovery=false") {
		s.t.Errorf("the app's connection to the primary is not in TLS to a primary:\n%s", got)
	}
	if got := s.sh(web, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_REPLICA_NAME" -XAt -v ON_ERROR_STOP=1 `+ssl); !strings.Contains(got, "ssl=true") || !strings.Contains(got, "recovery=true") {
		s.t.Errorf("the replica database is not a standby reached in TLS:\n%s", got)
	}
	cq := s.byRole["cache+queue"]
	if got := s.sh(cq, "ss -ltn"); !strings.Contains(got, cq.ip+":6379") || !strings.Contains(got, ":5672") {
		s.t.Errorf("Redis and RabbitMQ do not listen on the private address:\n%s", got)
	}
}

// checkReseed: the replica seeded again from the primary (the db-replica
// recipe's action reseed) says so and has the primary's rows.
func (s *stack) checkReseed(p *provision.Provisioner, replica provision.Server, web *machine) {
	s.t.Helper()
	s.sh(web, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_NAME" -XAt -v ON_ERROR_STOP=1 -c "CREATE TABLE reseed_check (n int)" -c "INSERT INTO reseed_check VALUES (1), (2)"`)
	replica.Action = roles.ActionReseed
	rep := p.Provision(s.ctx, replica)
	s.checkReports([]provision.Report{rep}, true)
	if !strings.Contains(strings.Join(rep.Changes, "\n"), "seeded from the primary") {
		s.t.Errorf("reseed changed %q, want it seeded from the primary", rep.Changes)
	}
	s.eventually("the reseeded replica has the primary's rows", func() bool {
		out, err := s.trySh(web, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_REPLICA_NAME" -XAt -c "SELECT 'rows=' || count(*) FROM reseed_check"`)
		return err == nil && strings.Contains(out, "rows=2")
	})
}

// checkStunnelVerifies: stunnel checks who answers. The primary presenting
// a certificate of the environment's CA for another address, or the
// snakeoil one every Debian server has, is refused; its own, which its
// recipe puts back, is taken again. PgBouncer is restarted before each
// try, so that it opens a new connection through stunnel (psql cannot go
// to stunnel's port itself: it refuses the SCRAM-PLUS a server in TLS
// offers on what it sees as plain TCP). A refused try is ended after
// 20 s: PgBouncer would hold the client for its query_wait_timeout.
func (s *stack) checkStunnelVerifies(p *provision.Provisioner, primaryServer provision.Server, web *machine) {
	s.t.Helper()
	primary := s.byRole["db-primary"]
	direct := "systemctl restart pgbouncer\n" + appEnv + `timeout 20 psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_NAME" -XAt -c "SELECT 'answered'"`
	s.eventually("the primary through a new PgBouncer and stunnel with its own certificate", func() bool {
		out, err := s.trySh(web, direct)
		return err == nil && strings.Contains(out, "answered")
	})
	dbTLS, err := roles.NewDBTLS(secrets().Replication)
	if err != nil {
		s.t.Fatal(err)
	}
	otherCert, otherKey, err := dbTLS.Server("10.255.0.99")
	if err != nil {
		s.t.Fatal(err)
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
			s.t.Errorf("the primary presenting %s was answered through stunnel: %v\n%s", c.name, err, out)
		}
		if got := s.sh(web, "journalctl -u ferry-stunnel --since @"+since+" --no-pager"); !strings.Contains(strings.ToLower(got), "rejected by cert") {
			s.t.Errorf("stunnel's journal after refusing %s does not say why:\n%s", c.name, got)
		}
	}
	s.checkReports([]provision.Report{p.Provision(s.ctx, primaryServer)}, true)
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

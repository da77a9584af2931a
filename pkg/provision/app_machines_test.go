package provision_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/provision"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// The sample app (examples/app) on the five servers the role recipes
// made, run by the default hooks alone: each release delivered as a tar
// over SSH into /srv/app/releases/<sha> (as a bake delivers it), the
// build hook (collectstatic into the release; /srv/app/current switched
// as a bake does)
// on web and worker, the worker's deploy hook (migrate, once), then
// through nginx on 443: the commit's page and its static file, a note
// written on the primary and read back from the replica, a Celery task's
// round trip, a session in Redis that outlives a gunicorn restart. A
// second release with a schema bump is migrated by the worker's deploy
// hook, and the new column reaches the replica. What the recipes made
// beyond the app: nginx on 80 and 443 and the default hooks' upgrade
// page; TLS to the primary and to the replica (a standby) through
// PgBouncer and stunnel, which refuses a primary with another certificate;
// a second run of every recipe changing nothing (and keeping a secret no
// recipe knows); the replica seeded again from the primary.
//
// The secrets (docs/secrets.md): the web and worker servers get
// ferry-secrets.service and the ferry binary from their recipe, and the
// app units start only after it fetched the environment's secrets from
// SSM with the instance profile (IMDSv2): the app shows the hash of a
// secret only SSM holds. An image of the web server, with no secrets
// file, boots an instance that serves with the value pushed to SSM after
// the image was made.
//
// The bake (docs/bake.md): that image as the environment's base image and
// as what a web group behind a classic balancer runs, a serial deploy of
// a commit of examples/app with Ferry's planner and executor bakes the
// commit on it first (pkg/bake, the default build hook); the deploy's
// instance, launched from the baked image, serves the commit and its
// static files, and so does the group's own replacement of it, sent
// nothing after boot. A second deploy of the commit reuses its image; a
// commit whose build hook fails fails its deploy at the bake, the group
// untouched.
func TestAppOnMachines(t *testing.T) {
	ferry := buildFerry(t)
	s := newStack(t, "db-primary", "db-replica", "cache+queue", "web", "worker")
	s.ferry = ferry
	store := s.Cloud()
	const token1, token2 = "api-token-first-5c1e0b7d", "api-token-second-9a4f22e1"
	for k, v := range map[string]string{
		roles.SecretDB: secrets().DB, roles.SecretReplication: secrets().Replication, roles.SecretQueue: secrets().Queue,
		roles.SecretCache: secrets().Cache, roles.SecretKey: secrets().SecretKey, "API_TOKEN": token1,
	} {
		if _, err := store.PutSecret(s.ctx, secretsPath+k, v, ""); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	s.checkReports(s.provisionAll("create"), true)
	t.Logf("5 servers provisioned in parallel in %v", time.Since(start).Round(100*time.Millisecond))
	web, worker := s.byRole["web"], s.byRole["worker"]
	// The login user lingers: logind neither stops nor starts its systemd
	// manager around each of Ferry's logins (run.sh).
	for role, m := range s.byRole {
		if got := s.sh(m, "loginctl show-user admin -p Linger; systemctl is-active user@$(id -u admin).service"); got != "Linger=yes\nactive\n" {
			t.Errorf("%s: the login user's linger and manager: %q", role, got)
		}
	}

	const sha1 = "1111111111111111111111111111111111111111"
	const sha2 = "2222222222222222222222222222222222222222"
	app := appTar(t, "../../examples/app", "")
	start = time.Now()
	for _, m := range []*machine{web, worker} {
		s.deliver(m, sha1, app)
	}
	s.hook(web, roles.Web, roles.Build, sha1, true)
	s.hook(worker, roles.Worker, roles.Build, sha1, true)
	s.hook(worker, roles.Worker, roles.Deploy, sha1, false)
	s.sh(web, "systemctl restart gunicorn")
	t.Logf("release delivered, built, migrated and started in %v", time.Since(start).Round(100*time.Millisecond))

	base := "https://" + web.ip
	c := s.client()
	s.eventually("the app's health check through nginx", func() bool {
		code, body, _ := c.do("GET", base+"/healthcheck.html", nil)
		return code == 200 && body == "ok\n"
	})
	if code, body, err := c.do("GET", base+"/", nil); err != nil || code != 200 || body != "commit "+sha1+"\n" {
		t.Errorf("GET / = %d %q %v, want the commit's page", code, body, err)
	}
	// The release's own static files, as nginx serves them.
	if code, body, err := c.do("GET", base+"/static/notes/app.css", nil); err != nil || code != 200 || !strings.Contains(body, "notes") {
		t.Errorf("GET /static/notes/app.css = %d %q %v", code, body, err)
	}
	if got := s.sh(web, "readlink /srv/app/current; stat -c %U /srv/app/releases/"+sha1+"/static/notes/app.css"); got != "/srv/app/releases/"+sha1+"\napp\n" {
		t.Errorf("current and the collected static file's owner: %q", got)
	}
	s.checkUpgradePage(web)
	s.checkDatabaseTLS(web)

	// Written on the primary, read back from the replica.
	written := time.Now()
	code, body, err := c.do("POST", base+"/notes/", url.Values{"text": {"hello replica"}})
	if err != nil || code != 201 || !strings.HasPrefix(body, "note ") {
		t.Fatalf("POST /notes/ = %d %q %v\nweb's gunicorn:\n%s", code, body, err, s.sh(web, "journalctl -u gunicorn -n 40 --no-pager"))
	}
	id := strings.TrimSpace(strings.TrimPrefix(body, "note "))
	s.eventually("the note on the replica", func() bool {
		code, body, _ := c.do("GET", base+"/notes/"+id, nil)
		return code == 200 && body == "note "+id+" hello replica\n"
	})
	t.Logf("a note POSTed through nginx was read back from the replica %v after the POST began", time.Since(written).Round(10*time.Millisecond))

	// Celery: web → RabbitMQ → worker → Redis → web.
	if code, body, err := c.do("GET", base+"/task?x=20&y=22", nil); err != nil || code != 200 || body != "sum 42\n" {
		t.Errorf("GET /task = %d %q %v\nthe worker:\n%s", code, body, err, s.sh(worker, "journalctl -u celery -n 40 --no-pager"))
	}

	// A session in Redis outlives gunicorn.
	if code, body, err := c.do("GET", base+"/session", nil); err != nil || code != 200 || body != "visits 1\n" {
		t.Fatalf("GET /session = %d %q %v\nweb's gunicorn:\n%s", code, body, err, s.sh(web, "journalctl -u gunicorn -n 40 --no-pager"))
	}
	s.sh(web, "systemctl restart gunicorn")
	s.eventually("the session after gunicorn's restart", func() bool {
		code, body, _ := c.do("GET", base+"/session", nil)
		if code == 200 && body != "visits 2\n" {
			t.Fatalf("the session did not survive gunicorn's restart: %q\nweb's gunicorn:\n%s", body, s.sh(web, "journalctl -u gunicorn -n 40 --no-pager"))
		}
		return code == 200
	})

	// The schema bump: the next release's migration, run once by the
	// worker's deploy hook, reaches the replica.
	s.deliver(worker, sha2, appTar(t, "../../examples/app", "../../examples/app/schema-bump"))
	s.hook(worker, roles.Worker, roles.Build, sha2, true)
	out := s.hook(worker, roles.Worker, roles.Deploy, sha2, false)
	if !strings.Contains(out, "Applying notes.0002_note_tag... OK") {
		t.Errorf("the deploy hook did not apply the schema bump:\n%s", out)
	}
	s.eventually("the new column on the replica", func() bool {
		out, err := s.trySh(web, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_REPLICA_NAME" -XAt -c "SELECT 'tag=' || count(*) FROM information_schema.columns WHERE table_name = 'notes_note' AND column_name = 'tag'"`)
		return err == nil && strings.Contains(out, "tag=1")
	})
	if got := s.sh(worker, appEnv+`psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d "$DB_NAME" -XAt -c "SELECT count(*) FROM django_migrations WHERE app = 'notes'"`); got != "2\n" {
		t.Errorf("notes migrations recorded on the primary: %q, want 2", got)
	}
	// A failing command fails the hook: systemd-run gives its exit status
	// and output back.
	if out, err := s.ssh(worker, roles.AppCommand(roles.ReleaseDir+"/"+sha2, "manage.py migrate notes 0099_missing"), nil); err == nil || !strings.Contains(out, "0099_missing") {
		t.Errorf("a failing migrate through AppCommand: %v\n%s, want it failed with Django's error", err, out)
	}
	if code, body, err := c.do("GET", base+"/task?x=1&y=1", nil); err != nil || code != 200 || body != "sum 2\n" {
		t.Errorf("GET /task after the worker's restart = %d %q %v", code, body, err)
	}

	// The secrets: gunicorn started after ferry-secrets.service wrote the
	// file from SSM, API_TOKEN included (no recipe writes that one).
	if code, body, err := c.do("GET", base+"/secret", nil); err != nil || code != 200 || body != tokenPage(token1) {
		t.Errorf("GET /secret = %d %q %v, want %q\n%s", code, body, err, tokenPage(token1), s.sh(web, "journalctl -u ferry-secrets --no-pager -n 30"))
	}
	for _, m := range []*machine{web, worker} {
		if got := s.sh(m, "systemctl is-enabled ferry-secrets; systemctl is-active ferry-secrets; stat -c '%a %U' /etc/app/secrets.env; cat /etc/ferry/secrets-fetch.env"); got != "enabled\nactive\n600 root\nFERRY_SECRETS_PATH="+secretsPath+"\nAWS_ENDPOINT_URL="+s.Srv.InstanceURL+"\n" {
			t.Errorf("%s: the secrets unit and files: %q", m.ip, got)
		}
	}
	// The app's secrets are in /etc/app/secrets.env alone, root's, none in
	// app.env; one that no recipe knows (as `ferry secrets fetch` writes
	// them all) stays there through the next run.
	if got := s.sh(web, "grep -c -e PASSWORD -e SECRET /etc/ferry/app.env || true; echo OTHER_TOKEN=kept-0123456789 >>/etc/app/secrets.env"); got != "0\n" {
		t.Errorf("secrets in app.env: %q, want none", got)
	}
	// A second run of every recipe, the binary included, changes nothing
	// and says so.
	params, servers := s.appServers()
	s.checkReports(s.provisioner("again", params, secrets()).ProvisionAll(s.ctx, servers, 0), false)
	if got := s.sh(web, "grep -c '^OTHER_TOKEN=kept-0123456789$' /etc/app/secrets.env"); got != "1\n" {
		t.Errorf("a secret the recipe does not know was not kept: %q", got)
	}
	s.checkReseed(s.provisioner("reseed", params, secrets()), servers[1], web)
	s.checkStunnelVerifies(s.provisioner("cert", params, secrets()), servers[0], web)

	// An image of the web server as a bake leaves it (no secrets file, no
	// userlist), a new value pushed to SSM, and an instance of the image:
	// it serves with the new value, fetched at its boot.
	s.sh(web, "rm -f /etc/app/secrets.env /etc/pgbouncer/userlist.txt && sync")
	img, err := s.SDK.EC2.CreateImage(s.ctx, &ec2.CreateImageInput{InstanceId: aws.String(web.id), Name: aws.String("myproject-web-test"), NoReboot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewImageAvailableWaiter(s.SDK.EC2, func(o *ec2.ImageAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second }).
		Wait(s.ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(img.ImageId)}}, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutSecret(s.ctx, secretsPath+"API_TOKEN", token2, ""); err != nil {
		t.Fatal(err)
	}
	booted := time.Now()
	scaled := s.LaunchImage(aws.ToString(img.ImageId), 1)[0]
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code, body, _ := c.do("GET", "https://"+scaled.IP+"/secret", nil)
		if code == 200 && body == tokenPage(token2) {
			break
		}
		if time.Now().After(deadline) {
			console, _ := simenv.ConsoleOutput(s.ctx, s.SDK, scaled.ID)
			t.Fatalf("the new instance's /secret: %d %q, want %q\nconsole:\n%s", code, body, tokenPage(token2), console)
		}
		time.Sleep(time.Second)
	}
	t.Logf("an instance of the web server's image served with the secret pushed after the image %v after RunInstances", time.Since(booted).Round(100*time.Millisecond))
	// That image as the environment's base image: a commit deployed
	// serially with a bake, served by the group and its replacement.
	s.bakeAndServe(aws.ToString(img.ImageId), token2)
	// No artifact of the provisioning holds a value of API_TOKEN either.
	err = filepath.WalkDir(s.logs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && (bytes.Contains(b, []byte(token1)) || bytes.Contains(b, []byte(token2))) {
			t.Errorf("%s holds a secret value", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// secretsPath is the test environment's SSM path, /<project>/<env>/.
const secretsPath = "/myproject/testing/"

// tokenPage is examples/app's /secret for a value of API_TOKEN.
func tokenPage(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "secret API_TOKEN sha256:" + hex.EncodeToString(sum[:])[:16] + "\n"
}

// provisionAll provisions the five servers of newStack's names with the
// default recipes.
func (s *stack) provisionAll(id string) []provision.Report {
	s.t.Helper()
	params, servers := s.appServers()
	return s.provisioner(id, params, secrets()).ProvisionAll(s.ctx, servers, 0)
}

// appServers are the five servers of newStack's names and their recipes'
// parameters, the web and worker servers' boot unit reading secretsPath.
func (s *stack) appServers() (roles.RecipeParams, []provision.Server) {
	params := roles.RecipeParams{
		Project: "myproject", AppModule: "app",
		DBPrimary: s.byRole["db-primary"].ip, DBReplica: s.byRole["db-replica"].ip,
		Cache: s.byRole["cache+queue"].ip, Queue: s.byRole["cache+queue"].ip,
		SecretsPath: secretsPath, InstanceEndpoint: s.Srv.InstanceURL,
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
	return params, servers
}

// appTar is dir as a tar stream, without its schema-bump directory, with
// overlay's files laid over it.
func appTar(t *testing.T, dir, overlay string) []byte {
	t.Helper()
	files := map[string]string{}
	add := func(root string, skip string) {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() && (rel == skip || d.Name() == "__pycache__") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				files[filepath.ToSlash(rel)] = p
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(dir, "schema-bump")
	if overlay != "" {
		add(overlay, "")
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, p := range files {
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// deliver unpacks a release into /srv/app/releases/<sha> as pkg/bake does:
// a tar on standard input, owned by the SSH user until the build hook ran.
func (s *stack) deliver(m *machine, sha string, release []byte) {
	s.t.Helper()
	dir := roles.ReleaseDir + "/" + sha
	if out, err := s.ssh(m, `sudo rm -rf `+dir+` && sudo mkdir -p `+dir+` && sudo tar -x --no-same-owner -C `+dir+` -f - && sudo chown -R "$(id -un):" `+dir, bytes.NewReader(release)); err != nil {
		s.t.Fatalf("deliver %s to %s: %v\n%s", sha, m.ip, err, out)
	}
}

// hook runs a role's default hook for commit sha on m as the SSH user, one
// command after another as package remote does; a build hook runs in the
// release directory, after which the release becomes the app user's and
// /srv/app/current points at it (roles.FinishRelease, as a bake ends).
func (s *stack) hook(m *machine, role roles.Role, h roles.Hook, sha string, build bool) string {
	s.t.Helper()
	vars, err := roles.NewVars("testing", commit.MustParse(sha))
	if err != nil {
		s.t.Fatal(err)
	}
	lines, err := roles.Render(role, h, roles.Defaults()[role][h], vars)
	if err != nil {
		s.t.Fatal(err)
	}
	var all strings.Builder
	for _, line := range lines {
		if build {
			line = "cd " + roles.ReleaseDir + "/" + sha + " && " + line
		}
		out, err := s.ssh(m, line, nil)
		all.WriteString(out)
		if err != nil {
			s.t.Fatalf("%s %s on %s: %s: %v\n%s", role, h, m.ip, line, err, out)
		}
	}
	if build {
		s.sh(m, strings.Join(roles.FinishRelease(roles.ReleaseDir+"/"+sha), "\n"))
	}
	return all.String()
}

// ssh runs line as the SSH user (admin) with the real OpenSSH client.
func (s *stack) ssh(m *machine, line string, stdin io.Reader) (string, error) {
	cmd := s.SSH(s.ctx, s.known, m.ip, line)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// browser is an HTTPS client in the machines' namespace that keeps its
// cookies (accepting the machine's self-signed certificate, as the seed's
// balancer does).
type browser struct{ c *http.Client }

func (s *stack) client() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{Timeout: 90 * time.Second, Jar: jar, Transport: &http.Transport{
		DialContext: s.net.DialContext, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the machine's snakeoil certificate
	}}}
}

func (b *browser) do(method, u string, form url.Values) (int, string, error) {
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = b.c.PostForm(u, form)
	} else {
		resp, err = b.c.Get(u)
	}
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

package roles_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ferry-deploy/ferry/pkg/roles"
)

func params() roles.RecipeParams {
	return roles.RecipeParams{Project: "my.Project", AppModule: "app",
		DBPrimary: "172.31.0.4", DBReplica: "172.31.0.5", Cache: "172.31.0.6", Queue: "172.31.0.6", DBCA: testCA()}
}

func testCA() string {
	d, err := roles.NewDBTLS("replication-password-0123")
	if err != nil {
		panic(err)
	}
	return d.CA()
}

func withPath() roles.RecipeParams {
	p := params()
	p.SecretsPath = "/my.Project/testing/"
	return p
}

// untar returns the bundle's files by name.
func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = string(body)
	}
}

func TestBundleRendersTheFilesForTheServer(t *testing.T) {
	b, err := roles.NewRecipes().Bundle(params(), roles.RecipeHost{Address: "172.31.0.6", Roles: []roles.Role{roles.Cache, roles.Queue}})
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, b.Tar)
	for _, want := range []struct{ file, text string }{
		{"files/redis/ferry.conf", "bind 127.0.0.1 -::1 172.31.0.6\n"},
		{"files/pgbouncer/pgbouncer.ini", "my_project = host=127.0.0.1 port=15432 dbname=my_project\n"},
		{"files/stunnel/ferry-db.conf", "connect = 172.31.0.5:5432\nverifyChain = yes\nCAfile = /etc/ferry/db-ca.pem\ncheckIP = 172.31.0.5\n"},
		{"files/tls/db-ca.pem", "-----BEGIN CERTIFICATE-----\n"},
		{"files/postgresql/pg_hba.conf", "hostssl    my_project   my_project    0.0.0.0/0     scram-sha-256"},
		{"params.sh", "FERRY_DB_NAME='my_project'\n"},
		{"params.sh", "FERRY_ADDRESS='172.31.0.6'\n"},
		{"run.sh", ". \"$FERRY_RECIPE/lib.sh\""},
	} {
		if !strings.Contains(files[want.file], want.text) {
			t.Errorf("%s lacks %q:\n%s", want.file, want.text, files[want.file])
		}
	}
	for name, body := range files {
		for _, secret := range []string{"PASSWORD=", "requirepass "} {
			if strings.Contains(body, secret) && !strings.HasSuffix(name, ".sh") {
				t.Errorf("%s carries %q: secrets travel in the environment only", name, secret)
			}
		}
	}
}

func TestBundleRefusesWhatCannotWork(t *testing.T) {
	noReplica := params()
	noReplica.DBReplica = ""
	badModule := params()
	badModule.AppModule = "my-app"
	shell := params()
	shell.Cache = "10.0.0.1; rm -rf /"
	tests := []struct {
		name string
		p    roles.RecipeParams
		h    roles.RecipeHost
		want string
	}{
		{"no role", params(), roles.RecipeHost{Address: "10.0.0.1"}, "no role"},
		{"web without the replica's address", noReplica, roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Web}}, `db_replica address ""`},
		{"a module that is no Python name", badModule, roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Worker}}, `app module "my-app"`},
		{"an address that is shell", shell, roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Web}}, "cache address"},
		{"reseed of a primary", params(), roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.DBPrimary}, Action: roles.ActionReseed}, `action reseed for roles db-primary: it is a db-replica's`},
		{"an image of a database", withPath(), roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Web, roles.DBPrimary}, Action: roles.ActionImage}, "only web and worker servers are made into images"},
		{"an image without the secrets path", params(), roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Web}, Action: roles.ActionImage}, "fetch their secrets at boot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := roles.NewRecipes().Bundle(tt.p, tt.h)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Bundle: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestOverridesReplaceFilesOneByOne(t *testing.T) {
	own := fstest.MapFS{
		"files/nginx/upgrade.html": {Data: []byte("<p>{{.Project}} is down for a moment</p>\n")},
		"web.sh":                   {Data: []byte("echo my own web recipe\n")},
	}
	b, err := roles.NewRecipes(nil, own).Bundle(params(), roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Web}})
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, b.Tar)
	if files["files/nginx/upgrade.html"] != "<p>my.Project is down for a moment</p>\n" || files["web.sh"] != "echo my own web recipe\n" {
		t.Errorf("overrides not laid over the defaults: %q, %q", files["files/nginx/upgrade.html"], files["web.sh"])
	}
	if !strings.Contains(files["files/nginx/site.conf"], "include /etc/nginx/ferry/mode.conf;") {
		t.Error("a default file the environment does not override is gone")
	}

	broken := fstest.MapFS{"files/nginx/site.conf": {Data: []byte("listen {{.Port}};\n")}}
	if _, err := roles.NewRecipes(broken).Bundle(params(), roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Web}}); err == nil || !strings.Contains(err.Error(), "site.conf") {
		t.Errorf("a template naming an unknown field: %v, want an error naming the file", err)
	}
}

func TestSecretEnv(t *testing.T) {
	s := roles.Secrets{DB: "db-0123456789abcdef", Replication: "repl-0123456789abcdef", Queue: "queue-0123456789abcdef",
		Cache: "cache-0123456789abcdef", SecretKey: "key-0123456789abcdef"}
	env, err := s.SecretEnv([]roles.Role{roles.DBReplica})
	if err != nil || len(env) != 1 || env["REPLICATION_PASSWORD"] != s.Replication {
		t.Errorf("a replica's secrets: %v %v, want the replication password alone", env, err)
	}
	env, err = s.SecretEnv([]roles.Role{roles.Web})
	if err != nil || len(env) != 4 || env["REPLICATION_PASSWORD"] != "" {
		t.Errorf("a web server's secrets: %v %v, want the app's four", len(env), err)
	}
	weak := s
	weak.Cache = "it's short"
	_, err = weak.SecretEnv([]roles.Role{roles.Cache})
	if err == nil || !strings.Contains(err.Error(), "CACHE_PASSWORD") || strings.Contains(err.Error(), weak.Cache) {
		t.Errorf("a bad secret: %v, want an error naming it without showing it", err)
	}
	// Django's own generator's symbols would break the secrets file read
	// by a shell: refused, with the way to make one that fits.
	django := s
	django.SecretKey = "k)7$w!x@3#z%q^e&r*t(y-u_i=o+p0a9s8d7f6g5h4j3k2l1"
	_, err = django.SecretEnv([]roles.Role{roles.Worker})
	if err == nil || !strings.Contains(err.Error(), "DJANGO_SECRET_KEY") || !strings.Contains(err.Error(), "token_urlsafe") || strings.Contains(err.Error(), django.SecretKey) {
		t.Errorf("a Django key with symbols: %v, want an error naming it, saying how to make one, without showing it", err)
	}
}

// Every shell script of the recipes parses with sh -n (dash on Debian).
func TestRecipeScriptsParse(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	b, err := roles.NewRecipes().Bundle(params(), roles.RecipeHost{Address: "10.0.0.1", Roles: roles.All()})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range untar(t, b.Tar) {
		if !strings.HasSuffix(name, ".sh") {
			continue
		}
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}

// The example of an environment's own files (examples/recipes) bundles,
// and its upgrade page replaces the default one.
func TestExampleOverrides(t *testing.T) {
	b, err := roles.NewRecipes(os.DirFS("../../examples/recipes")).Bundle(params(), roles.RecipeHost{Address: "10.0.0.1", Roles: []roles.Role{roles.Web}})
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, b.Tar)
	if !strings.Contains(files["files/nginx/upgrade.html"], "We are upgrading my.Project") {
		t.Errorf("the example's upgrade page is not the one sent:\n%s", files["files/nginx/upgrade.html"])
	}
	if _, ok := files["README.md"]; ok {
		t.Error("the example's README.md is sent: only scripts and files/ belong in a bundle")
	}
}

// The boot unit the recipes install is the one systemd/ ships (and
// systemd/unit_test.go verifies with systemd-analyze).
func TestRecipesInstallTheShippedSecretsUnit(t *testing.T) {
	shipped, err := os.ReadFile("../../systemd/ferry-secrets.service")
	if err != nil {
		t.Fatal(err)
	}
	b, err := roles.NewRecipes().Bundle(params(), roles.RecipeHost{Address: "172.31.0.7", Roles: []roles.Role{roles.Web}})
	if err != nil {
		t.Fatal(err)
	}
	if got := untar(t, b.Tar)["files/systemd/ferry-secrets.service"]; got != string(shipped) {
		t.Errorf("pkg/roles/recipes/files/systemd/ferry-secrets.service differs from systemd/ferry-secrets.service:\n%s", got)
	}
}

func TestBundleCarriesTheSecretsPathAndEndpoint(t *testing.T) {
	p := params()
	p.SecretsPath, p.InstanceEndpoint = "/my.Project/testing/", "http://172.31.0.1:4566"
	b, err := roles.NewRecipes().Bundle(p, roles.RecipeHost{Address: "172.31.0.7", Roles: []roles.Role{roles.Worker}})
	if err != nil {
		t.Fatal(err)
	}
	sh := untar(t, b.Tar)["params.sh"]
	for _, want := range []string{"FERRY_SECRETS_PATH='/my.Project/testing/'\n", "FERRY_INSTANCE_ENDPOINT='http://172.31.0.1:4566'\n"} {
		if !strings.Contains(sh, want) {
			t.Errorf("params.sh lacks %q:\n%s", want, sh)
		}
	}
	for _, bad := range []struct{ path, endpoint string }{
		{"myproject/testing", ""}, {"/myproject/testing", ""}, {"/my project/", ""}, {"/p/'x'/", ""},
		{"", "ftp://host"}, {"", "http://host/'; rm -rf /"}, {"", "http://host path"},
	} {
		p := params()
		p.SecretsPath, p.InstanceEndpoint = bad.path, bad.endpoint
		if _, err := roles.NewRecipes().Bundle(p, roles.RecipeHost{Address: "172.31.0.7", Roles: []roles.Role{roles.Web}}); err == nil {
			t.Errorf("path %q endpoint %q: no error", bad.path, bad.endpoint)
		}
	}
}

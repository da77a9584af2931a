package roles

import (
	"archive/tar"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// The role recipes: shell scripts and the files they install, run as root
// on a server to make it a role. See docs/roles.md.
//
//go:embed recipes
var recipes embed.FS

// DefaultRecipes is the recipes Ferry ships: run.sh, lib.sh, one ROLE.sh per
// role (cache.sh, db-primary.sh, ...) and the files they install under
// files/.
func DefaultRecipes() fs.FS {
	sub, err := fs.Sub(recipes, "recipes")
	if err != nil {
		panic(err) // the embedded tree always has recipes/
	}
	return sub
}

// Recipes is a set of recipe files: the defaults with an environment's own
// files laid over them, path by path (an environment's web.sh replaces the
// default web.sh; its files/nginx/site.conf replaces that file only).
type Recipes struct {
	layers []fs.FS // later layers win
}

// NewRecipes returns the default recipes with overrides laid over them in
// order; a nil override is skipped.
func NewRecipes(overrides ...fs.FS) Recipes {
	r := Recipes{layers: []fs.FS{DefaultRecipes()}}
	for _, o := range overrides {
		if o != nil {
			r.layers = append(r.layers, o)
		}
	}
	return r
}

// files returns every file path of the set (the top's *.sh and files/**)
// and the layer it comes from.
func (r Recipes) files() (map[string]fs.FS, error) {
	out := map[string]fs.FS{}
	for _, layer := range r.layers {
		err := fs.WalkDir(layer, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Scripts at the top, what they install under files/; nothing
			// else (an override directory's README) is sent.
			if d.Type().IsRegular() && (strings.HasPrefix(p, "files/") || !strings.Contains(p, "/") && path.Ext(p) == ".sh") {
				out[p] = layer
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("recipes: %w", err)
		}
	}
	return out, nil
}

// RecipeParams are what the recipes of an environment are made for. The
// secrets travel apart (Secrets), so that what Bundle makes holds none.
type RecipeParams struct {
	// Project is the project's name; DBName is derived from it.
	Project string
	// AppModule is the Django project's package: AppModule.settings and
	// AppModule.wsgi:application, and Celery's app (-A AppModule).
	AppModule string
	// DBPrimary, DBReplica, Cache and Queue are the private addresses (or
	// names) of the long-lived servers, as web and worker servers reach them.
	DBPrimary, DBReplica, Cache, Queue string
	// Clients is the network (CIDR) the databases accept the app and the
	// replica from, over TLS; default 0.0.0.0/0 (security groups narrow it).
	Clients string
	// SecretsPath is the environment's SSM path (/<project>/<env>/) that
	// ferry-secrets.service reads at each boot of a web or worker server,
	// before the app starts; empty: the unit is installed but never runs
	// (the recipe and the secrets_changed hook write the secrets file).
	SecretsPath string
	// InstanceEndpoint is the AWS endpoint as the servers reach it
	// (AWS_ENDPOINT_URL for `ferry secrets fetch`); empty: AWS's own. Only
	// a simulator needs one.
	InstanceEndpoint string
	// DBCA is the certificate (PEM) of the CA that signs the database
	// servers' certificates (DBTLS.CA): web and worker servers (stunnel)
	// and the replica (libpq, verify-full) trust it alone and check the
	// server's address, so a server presenting another certificate is
	// refused. Needed for those roles; provision.New derives it from the
	// replication password when empty.
	DBCA string
}

// Secrets are the passwords the recipes set and use. Each reaches a
// recipe in its environment under its name (SecretNames), never on a
// command line or in a log; on web and worker servers the recipe keeps the
// app's in SecretsFile under the same names, the file `ferry secrets
// fetch` and the secrets_changed hook write from the environment's
// secrets. Every one is 16 to 128 of A-Z a-z 0-9 _ - (they go into URLs
// and config files unquoted).
type Secrets struct {
	// DB is the app's PostgreSQL role's password; Replication the
	// replicator role's; Queue the app's RabbitMQ user's; Cache Redis's.
	DB, Replication, Queue, Cache string
	// SecretKey is Django's SECRET_KEY.
	SecretKey string
}

// The names of the secrets, in the recipes' environment and in an
// environment's secrets (pkg/secrets).
const (
	SecretDB          = "DB_PASSWORD"
	SecretReplication = "REPLICATION_PASSWORD"
	SecretQueue       = "QUEUE_PASSWORD"
	SecretCache       = "CACHE_PASSWORD"
	SecretKey         = "DJANGO_SECRET_KEY"
)

// SecretNames lists the names of the secrets the recipes use.
func SecretNames() []string {
	return []string{SecretCache, SecretDB, SecretKey, SecretQueue, SecretReplication}
}

// SecretsFrom takes the recipes' secrets from an environment's secrets by
// name (a missing one is empty, which SecretEnv refuses where a role
// needs it).
func SecretsFrom(values map[string]string) Secrets {
	return Secrets{DB: values[SecretDB], Replication: values[SecretReplication], Queue: values[SecretQueue],
		Cache: values[SecretCache], SecretKey: values[SecretKey]}
}

// RecipeHost is one server a bundle is made for.
type RecipeHost struct {
	// Address is the server's private address (Redis listens on it).
	Address string
	// Roles are the roles it takes, in order (cache and queue share the
	// seed's cache+queue server).
	Roles []Role
	// Action is empty, or "reseed": a db-replica's data replaced by a new
	// copy of the primary's.
	Action string
}

// Actions of a recipe run besides the default.
const (
	// ActionReseed seeds a db-replica from the primary again.
	ActionReseed = "reseed"
	// ActionImage makes a web or worker server that an image is made of (a
	// bake's builder): no secret is sent or written, nothing that needs
	// one is started, and the image's instances fetch the secrets at
	// boot, so RecipeParams.SecretsPath is required.
	ActionImage = "image"
)

var (
	moduleRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	hostRE     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)
	secretRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
	ssmPathRE  = regexp.MustCompile(`^/([A-Za-z0-9_.-]+/)+$`)
	endpointRE = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$`)
)

// DBName is the name of the app's database, PostgreSQL role and RabbitMQ
// user and vhost: the project's name in lower case with every character
// other than a-z, 0-9 and _ made an underscore.
func (p RecipeParams) DBName() string {
	var b strings.Builder
	for _, c := range strings.ToLower(p.Project) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "p_" + s
	}
	return s
}

func (p RecipeParams) withDefaults() RecipeParams {
	if p.Clients == "" {
		p.Clients = "0.0.0.0/0"
	}
	return p
}

// check validates what the roles need: a web or worker server needs every
// address, a replica its primary.
func (p RecipeParams) check(rs []Role) error {
	var errs []error
	if p.Project == "" {
		errs = append(errs, errors.New("no project name"))
	}
	if _, err := netip.ParsePrefix(p.Clients); err != nil {
		errs = append(errs, fmt.Errorf("clients %q is not a CIDR network", p.Clients))
	}
	if p.SecretsPath != "" && !ssmPathRE.MatchString(p.SecretsPath) {
		errs = append(errs, fmt.Errorf("secrets path %q is not an SSM path like /project/env/", p.SecretsPath))
	}
	if p.InstanceEndpoint != "" && !endpointRE.MatchString(p.InstanceEndpoint) {
		errs = append(errs, fmt.Errorf("instance endpoint %q is not an http(s) URL of a host and port", p.InstanceEndpoint))
	}
	need := map[string]string{}
	needCA := false
	for _, r := range rs {
		switch r {
		case Web, Worker:
			need["db_primary"], need["db_replica"], need["cache"], need["queue"] = p.DBPrimary, p.DBReplica, p.Cache, p.Queue
			if !moduleRE.MatchString(p.AppModule) {
				errs = append(errs, fmt.Errorf("app module %q is not a Python package name", p.AppModule))
			}
		case DBReplica:
			need["db_primary"] = p.DBPrimary
		}
		switch r {
		case Web, Worker, DBReplica:
			if err := checkCA(p.DBCA); err != nil && !needCA {
				errs = append(errs, fmt.Errorf("role %s checks the database servers' certificates: %w (roles.NewDBTLS(...).CA())", r, err))
				needCA = true
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(need)) {
		if !hostRE.MatchString(need[k]) {
			errs = append(errs, fmt.Errorf("%s address %q is not an IPv4 address or host name", k, need[k]))
		}
	}
	return errors.Join(errs...)
}

// SecretEnv returns the secrets the roles need, by the environment
// variable each recipe reads, after checking them. The values must reach
// the recipe in its environment (remote.Command.Env), never elsewhere.
func (s Secrets) SecretEnv(rs []Role) (map[string]string, error) {
	env := map[string]string{}
	for _, r := range rs {
		switch r {
		case Web, Worker:
			env[SecretDB], env[SecretQueue], env[SecretCache], env[SecretKey] = s.DB, s.Queue, s.Cache, s.SecretKey
		case Cache:
			env[SecretCache] = s.Cache
		case Queue:
			env[SecretQueue] = s.Queue
		case DBPrimary:
			env[SecretDB], env[SecretReplication] = s.DB, s.Replication
		case DBReplica:
			env[SecretReplication] = s.Replication
		}
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if !secretRE.MatchString(env[k]) {
			// Name the secret, never show it.
			errs = append(errs, fmt.Errorf("secret %s: want 16 to 128 of A-Z a-z 0-9 _ - (make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))')", k))
		}
	}
	return env, errors.Join(errs...)
}

// Bundle is what a server is sent: a tar of the recipe directory with the
// files rendered for it, and the command line that runs it.
type Bundle struct {
	Tar []byte
	// Roles are the roles the run makes the server, as run.sh's arguments.
	Roles []Role
}

// Bundle renders the recipes for one server: every file under files/ is a
// text/template of RecipeData (strict: an unknown field is an error), and
// params.sh holds the non-secret parameters as shell assignments.
func (r Recipes) Bundle(p RecipeParams, h RecipeHost) (Bundle, error) {
	p = p.withDefaults()
	if len(h.Roles) == 0 {
		return Bundle{}, errors.New("recipes: no role")
	}
	if err := p.check(h.Roles); err != nil {
		return Bundle{}, fmt.Errorf("recipes: %w", err)
	}
	if !hostRE.MatchString(h.Address) {
		return Bundle{}, fmt.Errorf("recipes: server address %q is not an IPv4 address or host name", h.Address)
	}
	switch h.Action {
	case "":
	case ActionReseed:
		if !slices.Contains(h.Roles, DBReplica) {
			return Bundle{}, fmt.Errorf("recipes: action reseed for roles %s: it is a db-replica's", joinRoles(h.Roles))
		}
	case ActionImage:
		for _, r := range h.Roles {
			if r != Web && r != Worker {
				return Bundle{}, fmt.Errorf("recipes: action image for role %s: only web and worker servers are made into images", r)
			}
		}
		if p.SecretsPath == "" {
			return Bundle{}, errors.New("recipes: action image: an image's instances fetch their secrets at boot, from the secrets path, which is empty")
		}
	default:
		return Bundle{}, fmt.Errorf("recipes: unknown action %q for roles %s (reseed is a db-replica's, image a web or worker server's)", h.Action, joinRoles(h.Roles))
	}
	files, err := r.files()
	if err != nil {
		return Bundle{}, err
	}
	for _, need := range append([]string{"run.sh", "lib.sh"}, roleScripts(h.Roles)...) {
		if files[need] == nil {
			return Bundle{}, fmt.Errorf("recipes: no %s", need)
		}
	}
	data := RecipeData{RecipeParams: p, DBName: p.DBName(), Address: h.Address,
		DBPrimaryIsIP: net.ParseIP(p.DBPrimary) != nil, DBReplicaIsIP: net.ParseIP(p.DBReplica) != nil}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, body []byte) error {
		return errors.Join(tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}), write(tw, body))
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body, err := fs.ReadFile(files[name], name)
		if err != nil {
			return Bundle{}, fmt.Errorf("recipes: %w", err)
		}
		mode := int64(0o644)
		if strings.HasPrefix(name, "files/") {
			if body, err = render(name, body, data); err != nil {
				return Bundle{}, err
			}
		} else if path.Ext(name) == ".sh" {
			mode = 0o755
		}
		if err := add(name, mode, body); err != nil {
			return Bundle{}, err
		}
	}
	if err := add("params.sh", 0o644, []byte(paramsScript(data, h.Action))); err != nil {
		return Bundle{}, err
	}
	if err := tw.Close(); err != nil {
		return Bundle{}, err
	}
	return Bundle{Tar: buf.Bytes(), Roles: slices.Clone(h.Roles)}, nil
}

func write(tw *tar.Writer, b []byte) error {
	_, err := tw.Write(b)
	return err
}

func roleScripts(rs []Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r) + ".sh"
	}
	return out
}

// RecipeData is what the files under files/ may refer to:
// {{.Project}}, {{.AppModule}}, {{.DBPrimary}}, {{.DBReplica}}, {{.Cache}},
// {{.Queue}}, {{.Clients}}, {{.SecretsPath}}, {{.InstanceEndpoint}},
// {{.DBCA}}, {{.DBName}}, {{.Address}} (the server's own), and
// {{.DBPrimaryIsIP}} and {{.DBReplicaIsIP}} (whether stunnel checks the
// certificate's IP address or host name).
type RecipeData struct {
	RecipeParams
	DBName                       string
	Address                      string
	DBPrimaryIsIP, DBReplicaIsIP bool
}

func render(name string, body []byte, data RecipeData) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(string(body))
	if err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("recipes: %w", err)
	}
	return b.Bytes(), nil
}

// paramsScript is params.sh: every value checked above is a plain word, so
// single quotes are quoting enough.
func paramsScript(d RecipeData, action string) string {
	var b strings.Builder
	b.WriteString("# The recipe's parameters (no secrets: those come in the environment).\n")
	for _, kv := range [][2]string{
		{"FERRY_PROJECT", d.Project}, {"FERRY_DB_NAME", d.DBName}, {"FERRY_APP_MODULE", d.AppModule},
		{"FERRY_ADDRESS", d.Address}, {"FERRY_DB_PRIMARY", d.DBPrimary}, {"FERRY_DB_REPLICA", d.DBReplica},
		{"FERRY_CACHE", d.Cache}, {"FERRY_QUEUE", d.Queue}, {"FERRY_CLIENTS", d.Clients}, {"FERRY_ACTION", action},
		{"FERRY_SECRETS_PATH", d.SecretsPath}, {"FERRY_INSTANCE_ENDPOINT", d.InstanceEndpoint},
	} {
		fmt.Fprintf(&b, "%s='%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", `'\''`))
	}
	return b.String()
}

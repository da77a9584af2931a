package roles

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

const (
	sha    = "716084f7bf3dcdd1a2b3c4d5e6f708192a3b4c5d"
	sha256 = "9fa3bff31096defe00112233445566778899aabbccddeeff0011223344556677"
)

func TestNewVars(t *testing.T) {
	for _, tc := range []struct {
		env, commit string
		wantShort   string
		wantErr     string
	}{
		{"staging", sha, "716084f7bf3d", ""},
		{"production", sha256, "9fa3bff31096", ""},
		{"staging", "", "", "not a full lower-case hex SHA"}, // the zero commit.ID
		{"prod; rm -rf /", sha, "", "not a plain name"},
		{"", sha, "", "not a plain name"},
	} {
		var c commit.ID
		if tc.commit != "" {
			c = commit.MustParse(tc.commit)
		}
		v, err := NewVars(tc.env, c)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewVars(%q, %q) = %v, want error %q", tc.env, tc.commit, err, tc.wantErr)
			}
			continue
		}
		if err != nil || v.ShortCommit != tc.wantShort || v.Commit != tc.commit || v.Env != tc.env {
			t.Errorf("NewVars(%q, %q) = %+v, %v", tc.env, tc.commit, v, err)
		}
	}
}

// Vars made by hand are checked as strictly as NewVars's: nothing but hex
// digits and a plain name reaches the shell.
func TestVarsMadeByHandAreChecked(t *testing.T) {
	for _, v := range []Vars{
		{Commit: "716084f", ShortCommit: "716084f", Env: "staging"},
		{Commit: strings.ToUpper(sha), ShortCommit: strings.ToUpper(sha)[:12], Env: "staging"},
		{Commit: sha[:39] + ";", ShortCommit: sha[:12], Env: "staging"},
		{Commit: sha, ShortCommit: "$(reboot)", Env: "staging"},
	} {
		if _, err := Render(Web, UpgradePageOn, []string{"echo {{.Commit}}"}, v); err == nil {
			t.Errorf("Render with %+v: no error", v)
		}
	}
}

func TestRender(t *testing.T) {
	v, err := NewVars("staging", commit.MustParse(sha))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cmds    []string
		want    []string
		wantErr []string // all must appear in the error
	}{
		{
			name: "placeholders",
			cmds: []string{"cd /srv/app/releases/{{.Commit}}", "echo {{.Env}}-{{.ShortCommit}}", "plain"},
			want: []string{"cd /srv/app/releases/" + sha, "echo staging-716084f7bf3d", "plain"},
		},
		{
			name:    "unknown field",
			cmds:    []string{"ok", "echo {{.Branch}}"},
			wantErr: []string{"role worker", "hook deploy", "command 2", "Branch"},
		},
		{
			name:    "lower-case field",
			cmds:    []string{"echo {{.commit}}"},
			wantErr: []string{"role worker", "hook deploy", "command 1", "commit"},
		},
		{
			name:    "syntax error",
			cmds:    []string{"echo {{.Commit"},
			wantErr: []string{"role worker", "hook deploy", "command 1"},
		},
		{name: "no commands", cmds: nil, want: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(Worker, Deploy, tc.cmds, v)
			if tc.wantErr != nil {
				var re *RenderError
				if !errors.As(err, &re) || re.Role != Worker || re.Hook != Deploy {
					t.Fatalf("Render = %q, %v; want a *RenderError for worker/deploy", got, err)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Render = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestRenderRefusesUncheckedVars(t *testing.T) {
	_, err := Render(Web, UpgradePageOn, []string{"echo {{.Env}}"}, Vars{Commit: sha, ShortCommit: sha[:12], Env: "$(reboot)"})
	if err == nil {
		t.Fatal("Render accepted an environment name that is not a plain name")
	}
}

func TestDefaultsRender(t *testing.T) {
	if err := Check(Defaults()); err != nil {
		t.Fatalf("default commands do not render: %v", err)
	}
	v, _ := NewVars("staging", commit.MustParse(sha))
	got, err := Render(Worker, Deploy, Defaults()[Worker][Deploy], v)
	if err != nil {
		t.Fatal(err)
	}
	// Migrations in the new commit's release directory, as the app's user
	// with its settings and secrets, celery stopped around them.
	want := []string{
		"if systemctl cat celery.service >/dev/null 2>&1; then sudo systemctl stop celery; fi",
		"sudo systemd-run --quiet --wait --pipe --collect --service-type=exec -p User=app -p Group=app" +
			" -p EnvironmentFile=/etc/ferry/app.env -p EnvironmentFile=/etc/app/secrets.env" +
			" -p WorkingDirectory=/srv/app/releases/" + sha + " /usr/bin/python3 manage.py migrate --noinput",
		"if systemctl is-enabled --quiet celery.service 2>/dev/null; then sudo systemctl start celery; fi",
	}
	if !slices.Equal(got, want) {
		t.Errorf("worker deploy = %q\nwant %q", got, want)
	}
	// The build hook: each release's own static files (the bake then
	// points current at the release: FinishRelease).
	build, err := Render(Web, Build, Defaults()[Web][Build], v)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"python3 manage.py collectstatic --noinput --verbosity 0"}; !slices.Equal(build, want) {
		t.Errorf("web build = %q\nwant %q", build, want)
	}
	if got, err := Render(Worker, Build, Defaults()[Worker][Build], v); err != nil || len(got) != 0 {
		t.Errorf("worker build = %q (%v), want none", got, err)
	}
}

func TestResolve(t *testing.T) {
	got, err := Resolve(map[string]map[string][]string{
		"web":    {"post_deploy": {"curl -fsS http://localhost/healthcheck.html"}},
		"cache":  {"post_deploy": {"redis-cli FLUSHDB"}},
		"worker": {"deploy": {}}, // disabled
	})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if !slices.Equal(got[Web][UpgradePageOn], Defaults()[Web][UpgradePageOn]) {
		t.Error("web lost its default upgrade page")
	}
	if !slices.Equal(got[Cache][PostDeploy], []string{"redis-cli FLUSHDB"}) {
		t.Errorf("cache post_deploy = %q", got[Cache][PostDeploy])
	}
	if len(got[Worker][Deploy]) != 0 {
		t.Errorf("worker deploy not disabled: %q", got[Worker][Deploy])
	}
	if _, ok := got[DBPrimary]; ok {
		t.Error("db-primary has no commands and should be absent")
	}

	for _, tc := range []struct {
		name string
		in   map[string]map[string][]string
		want string
	}{
		{"unknown role", map[string]map[string][]string{"database": {"deploy": {"x"}}}, `unknown role "database"`},
		{"unknown hook", map[string]map[string][]string{"web": {"pre_deploy": {"x"}}}, `role web: unknown hook "pre_deploy"`},
		{"bad template", map[string]map[string][]string{"web": {"post_deploy": {"echo {{.Tag}}"}}}, "role web hook post_deploy command 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Resolve(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resolve = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// secrets_changed runs outside any deploy: {{.Env}} renders, a reference
// to the commit is an error rather than an empty string.
func TestRenderEnvKnowsNoCommit(t *testing.T) {
	got, err := RenderEnv(Web, SecretsChanged, []string{"echo {{.Env}}"}, "staging")
	if err != nil || len(got) != 1 || got[0] != "echo staging" {
		t.Fatalf("RenderEnv = %q, %v", got, err)
	}
	if _, err := RenderEnv(Web, SecretsChanged, []string{"cd /srv/{{.Commit}}"}, "staging"); err == nil {
		t.Fatal("a command naming the commit rendered")
	}
	if _, err := RenderEnv(Web, SecretsChanged, []string{"true"}, "Bad Env"); err == nil {
		t.Fatal("a bad environment name rendered")
	}
	if d := Defaults(); len(d[Web][SecretsChanged]) == 0 || len(d[Worker][SecretsChanged]) == 0 || len(d[Cache][SecretsChanged]) != 0 {
		t.Fatalf("default secrets_changed: web %q, worker %q, cache %q", d[Web][SecretsChanged], d[Worker][SecretsChanged], d[Cache][SecretsChanged])
	}
}

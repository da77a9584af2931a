package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckFiles: every file the config names is checked where the config
// names it, and a secret others can read is refused.
func TestCheckFiles(t *testing.T) {
	write := func(t *testing.T, dir, name string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		// doc is added to a valid config; %s is the temp dir.
		doc     func(dir string) string
		wantKey string // empty: no problem
		wantMsg string
	}{
		{name: "all present", doc: func(d string) string {
			return "[project.git.https]\ntoken_file = \"" + write(t, d, "tok", 0o600) + "\"\n" +
				"[project.git.webhook]\nsecret_file = \"" + write(t, d, "hook", 0o400) + "\"\n"
		}},
		{name: "forge token missing", doc: func(d string) string {
			return "[[environments.staging.status.forge]]\nprovider = \"github\"\nrepository = \"o/r\"\ntoken_file = \"" + d + "/nope\"\n"
		}, wantKey: "environments.staging.status.forge[0].token_file", wantMsg: "/nope does not exist"},
		{name: "webhook secret readable by others", doc: func(d string) string {
			return "[project.git.webhook]\nsecret_file = \"" + write(t, d, "hook", 0o644) + "\"\n"
		}, wantKey: "project.git.webhook.secret_file", wantMsg: "permissions 0644"},
		{name: "token readable by group", doc: func(d string) string {
			return "[project.git.https]\ntoken_file = \"" + write(t, d, "tok", 0o640) + "\"\n"
		}, wantKey: "project.git.https.token_file", wantMsg: "chmod 600"},
		{name: "forge token empty", doc: func(d string) string {
			p := filepath.Join(d, "empty")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return "[[environments.staging.status.forge]]\nprovider = \"github\"\nrepository = \"o/r\"\ntoken_file = \"" + p + "\"\n"
		}, wantKey: "environments.staging.status.forge[0].token_file", wantMsg: "is empty"},
		{name: "ui token is a directory", doc: func(d string) string {
			return "[agent.ui]\ntoken_file = \"" + d + "\"\n"
		}, wantKey: "agent.ui.token_file", wantMsg: "not a regular file"},
		{name: "tls certificate readable by all, key by its owner", doc: func(d string) string {
			return "[agent.ui]\ntls_cert_file = \"" + write(t, d, "cert.pem", 0o644) + "\"\ntls_key_file = \"" + write(t, d, "key.pem", 0o600) + "\"\n"
		}},
		{name: "tls key readable by others", doc: func(d string) string {
			return "[agent.ui]\ntls_cert_file = \"" + write(t, d, "cert.pem", 0o644) + "\"\ntls_key_file = \"" + write(t, d, "key.pem", 0o644) + "\"\n"
		}, wantKey: "agent.ui.tls_key_file", wantMsg: "permissions 0644"},
		{name: "tls certificate missing", doc: func(d string) string {
			return "[agent.ui]\ntls_cert_file = \"" + d + "/cert.pem\"\ntls_key_file = \"" + write(t, d, "key.pem", 0o600) + "\"\n"
		}, wantKey: "agent.ui.tls_cert_file", wantMsg: "does not exist"},
		{name: "allowed_signers readable by all is fine", doc: func(d string) string {
			return "[environments.staging.trusted_keys]\nssh_allowed_signers = \"" + write(t, d, "signers", 0o644) + "\"\n"
		}},
		{name: "allowed_signers missing", doc: func(d string) string {
			return "[environments.staging.trusted_keys]\nssh_allowed_signers = \"" + d + "/signers\"\n"
		}, wantKey: "environments.staging.trusted_keys.ssh_allowed_signers", wantMsg: "does not exist"},
		{name: "secrets file readable by others", doc: func(d string) string {
			return "[environments.staging.secrets]\nfile = \"" + write(t, d, "prod.env", 0o604) + "\"\n"
		}, wantKey: "environments.staging.secrets.file", wantMsg: "permissions 0604"},
		{name: "notify secret missing", doc: func(d string) string {
			return "[[notify]]\nkind = \"webhook\"\nurl = \"https://example.com/hook\"\nsecret_file = \"" + d + "/s\"\n"
		}, wantKey: "notify[0].secret_file", wantMsg: "does not exist"},
		{name: "instance key missing", doc: func(d string) string {
			return "[environments.staging.ssh]\nkey_file = \"" + d + "/id\"\nknown_hosts = \"" + write(t, d, "kh", 0o644) + "\"\n"
		}, wantKey: "environments.staging.ssh.key_file", wantMsg: "does not exist"},
		// Each bake's builder installs it in the web and worker servers'
		// image: a path that is not there would fail the bake once its
		// builder is launched.
		{name: "create's ferry binary present", doc: func(d string) string {
			return createTable("ferry_binary = \"" + write(t, d, "ferry", 0o755) + "\"\n")
		}},
		{name: "create's ferry binary missing", doc: func(d string) string {
			return createTable("ferry_binary = \"" + d + "/ferry-linux-arm64\"\n")
		}, wantKey: "environments.staging.create.ferry_binary", wantMsg: "does not exist"},
		{name: "create's ferry binary a directory", doc: func(d string) string {
			return createTable("ferry_binary = \"" + d + "\"\n")
		}, wantKey: "environments.staging.create.ferry_binary", wantMsg: "not a regular file"},
		{name: "known_hosts missing", doc: func(d string) string {
			return "[environments.staging.ssh]\nknown_hosts = \"" + d + "/kh\"\n"
		}},
		{name: "known_hosts a directory", doc: func(d string) string {
			return "[environments.staging.ssh]\nknown_hosts = \"" + d + "\"\n"
		}, wantKey: "environments.staging.ssh.known_hosts", wantMsg: "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := project(filepath.Join(dir, "state")) + minimalEnv + tc.doc(dir)
			cfg, errs := parse(t, doc)
			if errs != nil {
				t.Fatalf("the document itself is invalid: %v\n%s", errs, numbered(doc))
			}
			err := cfg.CheckFiles()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("CheckFiles: %v", err)
				}
				return
			}
			es, ok := AsErrors(err)
			if !ok {
				t.Fatalf("CheckFiles = %v, want Errors at %s", err, tc.wantKey)
			}
			var found *Error
			for _, e := range es {
				if e.Key == tc.wantKey {
					found = e
				}
			}
			if found == nil {
				t.Fatalf("no problem at %s: %v", tc.wantKey, err)
			}
			if !strings.Contains(found.Msg, tc.wantMsg) || found.File != "/etc/ferry/ferry.toml" || found.Line == 0 {
				t.Errorf("got %q, want %q at a line of the file", found.Error(), tc.wantMsg)
			}
			// The line is the one that names the file.
			if line := strings.Split(doc, "\n")[found.Line-1]; !strings.Contains(line, lastKey(tc.wantKey)) {
				t.Errorf("line %d is %q, not the key %s", found.Line, line, tc.wantKey)
			}
		})
	}
}

// createTable is an environment's [create] table holding keys, with the
// one server type and image it needs.
func createTable(keys string) string {
	return "[environments.staging.launch]\nimage_id = \"ami-0123456789abcdef0\"\n" +
		"[environments.staging.create]\n" + keys +
		"[environments.staging.create.servers.web]\ninstance_type = \"t3.small\"\n"
}

// project is a [project] table with state_dir and an https remote, which
// takes a token.
func project(stateDir string) string {
	return "[project]\nname = \"shop\"\nstate_dir = \"" + stateDir + "\"\n[project.git]\nurl = \"https://git.example.com/shop.git\"\n"
}

func lastKey(k string) string { return k[strings.LastIndexByte(k, '.')+1:] }

// TestCheckFilesWritesNothing: checking a config whose state dir does not
// exist yet leaves it absent.
func TestCheckFilesWritesNothing(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	doc := project(state) + "[project.git.https]\ntoken_file = \"" + dir + "/missing\"\n" + minimalEnv
	cfg, errs := parse(t, doc)
	if errs != nil {
		t.Fatal(errs)
	}
	if err := cfg.CheckFiles(); err == nil {
		t.Fatal("a missing token file passed")
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the state dir exists after CheckFiles: %v", err)
	}
}

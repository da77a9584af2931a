package remote_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/sshtest"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

func TestSecretsReachTheCommandButNoLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	const token, password, stdin = "tok-7f3a9c1e5b", "pw with 'quotes' and $dollar", "stdin-secret-42"
	// The command line is logged, so it checks the values by digest only.
	digest := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
	check := func(expr, sum, ok string) string {
		return `[ "$(printf %s "` + expr + `" | sha256sum | cut -d' ' -f1)" = ` + sum + ` ] && echo ` + ok + `; `
	}
	psFile := filepath.Join(t.TempDir(), "ps")
	h := f.host(0, "i-1")
	err := f.runner(t).Run(context.Background(), h, remote.Command{
		Name: "secrets",
		Line: check("$API_TOKEN", digest(token), "token-ok") +
			check("$DB_PASSWORD", digest(password), "password-ok") +
			`read -r line; ` + check("$line", digest(stdin), "stdin-ok") +
			// A careless hook prints them; the log must still not show them.
			`echo "leak: $API_TOKEN $DB_PASSWORD $line"; ` +
			// Nor may the remote command line, which any local user sees;
			// kept out of the (masked) log to see it as it is.
			`tr '\0' ' ' < /proc/$$/cmdline > ` + psFile,
		Env:   map[string]string{"API_TOKEN": token, "DB_PASSWORD": password},
		Stdin: []byte(stdin + "\n"),
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, f.serverLog(t, h))
	}
	log := f.serverLog(t, h)
	for _, want := range []string{"out| token-ok", "out| password-ok", "out| stdin-ok", "env API_TOKEN,DB_PASSWORD (values withheld)"} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %q:\n%s", want, log)
		}
	}
	ps, err := os.ReadFile(psFile)
	if err != nil || !strings.Contains(string(ps), "ferry_kv") {
		t.Fatalf("remote command line not captured (%v): %q", err, ps)
	}
	for _, where := range []struct{ name, text string }{{"server log", log}, {"agent log", f.log.String()}, {"remote command line", string(ps)}} {
		for _, secret := range []string{token, "quotes", stdin} {
			if strings.Contains(where.text, secret) {
				t.Errorf("%s shows a secret (%q):\n%s", where.name, secret, where.text)
			}
		}
	}
}

// TestEnvValuesArriveExactly: no value is interpreted by the remote shell
// on its way in, whatever it holds.
func TestEnvValuesArriveExactly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	values := []string{
		"", "  leading and trailing  ", `back\slash\n`, "`id`", "$(id)", "${HOME}", "a=b=c",
		"'single' \"double\"", "ünïcödé ☃", "-n", "*", "\t tab",
	}
	// One command checks them all: each session costs an sshd fork.
	env := map[string]string{}
	var line strings.Builder
	for i, v := range values {
		name := fmt.Sprintf("V%d", i)
		env[name] = v
		sum := fmt.Sprintf("%x", sha256.Sum256([]byte(v)))
		fmt.Fprintf(&line, `[ "$(printf %%s "$%s" | sha256sum | cut -d' ' -f1)" = %s ] || echo %s differs; `, name, sum, name)
	}
	line.WriteString("true")
	h := f.host(0, "i-1")
	if err := f.runner(t).Run(context.Background(), h, remote.Command{Name: "values", Line: line.String(), Env: env}); err != nil {
		t.Fatal(err)
	}
	if log := f.serverLog(t, h); strings.Contains(log, "out| ") {
		t.Errorf("values changed on the way:\n%s", log)
	}
}

func TestCommandValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	r := f.runner(t)
	for _, tc := range []struct {
		name string
		cmd  remote.Command
		want string
	}{
		{"empty line", remote.Command{Name: "c", Line: "  "}, "empty command line"},
		{"no name", remote.Command{Line: "true"}, "no name"},
		{"bad env name", remote.Command{Name: "c", Line: "true", Env: map[string]string{"A-B": "x"}}, `"A-B" is not a shell name`},
		{"newline in value", remote.Command{Name: "c", Line: "true", Env: map[string]string{"K": "line1\nline2"}}, "K: value contains a newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Run(context.Background(), f.host(0, "i-1"), tc.cmd)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "line1") {
				t.Errorf("error shows the value: %v", err)
			}
		})
	}
}

func TestLogPath(t *testing.T) {
	t.Parallel()
	l := remote.Logs{Root: "/var/lib/ferry/logs", Env: "production", DeployID: "20261123T111111Z-abc123"}
	for _, tc := range []struct {
		role, instance string
		want           string // empty: an error
	}{
		{"web", "i-0123456789abcdef0", "/var/lib/ferry/logs/production/20261123T111111Z-abc123/web-i-0123456789abcdef0.log"},
		{"db-replica", "i-1", "/var/lib/ferry/logs/production/20261123T111111Z-abc123/db-replica-i-1.log"},
		{"web", "../../etc/passwd", ""},
		{"web", "a/b", ""},
		{"web", ".hidden", ""},
		{"web", "", ""},
		{"we/b", "i-1", ""},
	} {
		got, err := l.Path(roleOf(tc.role), tc.instance)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Path(%q, %q) = %q, want an error", tc.role, tc.instance, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Path(%q, %q) = %q, %v; want %q", tc.role, tc.instance, got, err, tc.want)
		}
	}
	if got := remote.LogRoot("/var/lib/ferry"); got != "/var/lib/ferry/logs" {
		t.Errorf("LogRoot = %q", got)
	}
}

// Values listed in Redact are masked in the output too, on their own: a
// hook that reads KEY=value lines on stdin and prints only a value.
func TestRedactMasksValuesInsideStdin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sshtest.Start(t, sshtest.Options{}))
	const value = "v4lue-in-a-line-91c"
	h := f.host(0, "i-r")
	err := f.runner(t).Run(context.Background(), h, remote.Command{
		Name:   "redact",
		Line:   `cut -d= -f2-; echo done`,
		Stdin:  []byte("DB_PASSWORD=" + value + "\n"),
		Redact: []string{value},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := f.serverLog(t, h)
	if strings.Contains(log, value) || !strings.Contains(log, "out| [redacted]") || !strings.Contains(log, "out| done") {
		t.Fatalf("server log:\n%s", log)
	}
}

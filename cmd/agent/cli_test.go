package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runFerry(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

const brokenConfig = `[project]
name = "shop"
colour = "blue"

[project.git]
url = "file:///srv/git/shop.git"

[environments.staging]
branch = "staging"
aws.region = "us-east-1"
groups.web = "shop-staging-web"
load_balancers.classic = ["shop-staging"]
ssh.user = "deploy"

[environments.qa]
branch = "staging"
aws.region = "us-east-1"
groups.web = "shop-qa-web"
load_balancers.classic = ["shop-qa"]
ssh.user = "deploy"

[[environments.qa.windows]]
cron = "61 * * * *"
duration = "1h"
`

func TestCommands(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.toml")
	if err := os.WriteFile(broken, []byte(brokenConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	example := filepath.Join("..", "..", "examples", "environments", "production.toml")

	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string // each must appear
		stderr     []string
		stdoutNone bool
	}{
		{name: "valid example", args: []string{"validate", "--skip-files", "-c", example}, code: exitOK,
			stdout: []string{"production.toml: valid: project myproject, 1 environment (production)"}},
		{name: "config from environment", args: []string{"validate", "--skip-files"}, code: exitOK,
			stdout: []string{"production.toml: valid"}},
		{name: "example away from its machine names missing files", args: []string{"validate", "-c", example}, code: exitFailure,
			stderr: []string{"production.toml:17: project.git.ssh.key_file: /etc/ferry/deploy_key does not exist",
				"production.toml:97: environments.production.status.forge[0].token_file: /etc/ferry/github_token does not exist"}},
		{name: "invalid config lists every problem", args: []string{"validate", "--config", broken}, code: exitFailure,
			stderr: []string{
				"broken.toml:3: project.colour: unknown key \"colour\"",
				"broken.toml:16: environments.qa.branch: branch \"staging\" already deploys environment \"staging\" (line 9)",
				"broken.toml:23: environments.qa.windows[0].cron: invalid cron spec",
				"broken.toml: 3 problems",
			}, stdoutNone: true},
		{name: "missing config", args: []string{"validate", "-c", filepath.Join(t.TempDir(), "none.toml")}, code: exitFailure,
			stderr: []string{"ferry: read config:", "no such file"}},
		{name: "unknown flag", args: []string{"validate", "--bogus"}, code: exitUsage,
			stderr: []string{"unknown flag: --bogus", "Run 'ferry validate --help'"}},
		{name: "unexpected argument", args: []string{"validate", "staging"}, code: exitUsage,
			stderr: []string{`unexpected argument "staging"`}},
		{name: "unknown command", args: []string{"deploy-all"}, code: exitUsage,
			stderr: []string{`unknown command "deploy-all"`, "Run 'ferry --help'"}},
		{name: "unknown command with --help", args: []string{"bake-all", "--help"}, code: exitUsage,
			stderr: []string{`unknown command "bake-all" for ferry`, "Run 'ferry --help'"}, stdoutNone: true},
		{name: "unknown command after a global flag's value", args: []string{"--log-level", "debug", "bake-all", "--help"}, code: exitUsage,
			stderr: []string{`unknown command "bake-all" for ferry`}, stdoutNone: true},
		{name: "unknown subcommand with --help", args: []string{"asg", "pause", "--help"}, code: exitUsage,
			stderr: []string{`unknown command "pause" for ferry asg`, "Run 'ferry asg --help'"}, stdoutNone: true},
		{name: "global flag then help", args: []string{"--log-level", "debug", "--help"}, code: exitOK,
			stdout: []string{"Ferry watches a git repository"}},
		{name: "no command prints help", args: nil, code: exitUsage,
			stdout: []string{"Usage:", "validate", "version"}},
		{name: "version", args: []string{"version"}, code: exitOK,
			stdout: []string{"ferry dev", "go1."}},
		{name: "root help", args: []string{"--help"}, code: exitOK,
			stdout: []string{"Ferry watches a git repository", "Exit codes:", "validate", "version"}},
		{name: "validate help", args: []string{"validate", "--help"}, code: exitOK,
			stdout: []string{"FILE:LINE: KEY: MESSAGE", "Exit status", "-c, --config", "$FERRY_CONFIG"}},
		{name: "help of an unknown command", args: []string{"help", "nosuch"}, code: exitUsage,
			stderr: []string{`unknown help topic "nosuch"`, "Run 'ferry --help'"}, stdoutNone: true},
		{name: "help of an unknown subcommand", args: []string{"help", "asg", "pause"}, code: exitUsage,
			stderr: []string{`unknown help topic "asg pause"`}, stdoutNone: true},
		{name: "help after a global flag's value", args: []string{"--log-level", "debug", "help", "deploy"}, code: exitOK,
			stdout: []string{"ferry deploy"}},
		{name: "help of a subcommand", args: []string{"help", "asg", "suspend"}, code: exitOK,
			stdout: []string{"ferry asg suspend"}},
		{name: "version help", args: []string{"help", "version"}, code: exitOK,
			stdout: []string{"Version prints"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FERRY_CONFIG", example)
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if tc.stdoutNone && stdout != "" {
				t.Errorf("stdout should be empty, got:\n%s", stdout)
			}
		})
	}
}

// TestEveryCommandHasHelp keeps --help meaningful as commands are added.
func TestEveryCommandHasHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			continue
		}
		if c.Short == "" || len(c.Long) < 80 {
			t.Errorf("%s: Short %q, Long of %d characters; explain the command in --help", c.Name(), c.Short, len(c.Long))
		}
		code, stdout, _ := runFerry(t, c.Name(), "--help")
		if code != exitOK || !regexp.MustCompile(`Usage:\s+ferry `+c.Name()).MatchString(stdout) {
			t.Errorf("ferry %s --help: exit %d, output:\n%s", c.Name(), code, stdout)
		}
	}
}

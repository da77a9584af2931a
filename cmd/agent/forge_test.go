package main

import (
	"os"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/forgetest"
)

// TestDeployReportsCommitStatus: a deploy sets pending, then success, on a
// GitHub whose every request is validated against GitHub's official OpenAPI
// description; the token never reaches the output.
func TestDeployReportsCommitStatus(t *testing.T) {
	gh := forgetest.NewGitHub(t, "../..")
	p := newProject(t, 1)
	const token = "ghp_test_token_never_logged"
	t.Setenv("FERRY_TEST_GH_TOKEN", token)
	p.addGitHub(gh.URL)
	next := p.push("Change", map[string]string{"app.py": "2\n"})
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging", "--log-level", "debug")
	if code != exitOK {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var got []string
	for _, s := range gh.Statuses() {
		got = append(got, s.State+" "+s.Context+" "+s.SHA)
	}
	want := []string{"pending ferry/staging " + next, "success ferry/staging " + next}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("statuses %q, want %q", got, want)
	}
	if p := gh.Problems(); len(p) > 0 {
		t.Errorf("requests GitHub's description does not allow:\n%s", strings.Join(p, "\n"))
	}
	if strings.Contains(stdout+stderr, token) {
		t.Error("the forge token reached the output")
	}
}

// TestForgeOutageDoesNotFailDeploy: a forge that answers 5xx is logged,
// never a reason to fail or roll back the deploy.
func TestForgeOutageDoesNotFailDeploy(t *testing.T) {
	p := newProject(t, 1)
	t.Setenv("FERRY_TEST_GH_TOKEN", "token")
	// Nothing listens on this port of the loopback: the forge is down.
	p.addGitHub("http://127.0.0.1:9")
	next := p.push("Change", map[string]string{"app.py": "2\n"})
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging", "--status-wait", "500ms")
	if code != exitOK || !strings.Contains(stdout, "succeeded "+next[:12]) {
		t.Fatalf("deploy with the forge down: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "commit statuses not delivered") {
		t.Errorf("the forge outage was not logged:\n%s", stderr)
	}
}

// addGitHub makes the staging environment report to a GitHub at apiURL,
// with the token in $FERRY_TEST_GH_TOKEN.
func (p *project) addGitHub(apiURL string) {
	p.t.Helper()
	data, err := os.ReadFile(p.config)
	if err != nil {
		p.t.Fatal(err)
	}
	data = append(data, []byte(`
[[environments.staging.status.forge]]
provider = "github"
api_url = "`+apiURL+`"
repository = "acme/shop"
token_env = "FERRY_TEST_GH_TOKEN"
`)...)
	if err := os.WriteFile(p.config, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
}

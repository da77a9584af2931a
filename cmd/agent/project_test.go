package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// project is a complete setup for driving the ferry command: a bare git
// remote pushed to with the git CLI, a simulated account with a staging
// environment already running the first commit, and a config file.
type project struct {
	t        *testing.T
	work     *testutil.GitRepo
	remote   string
	sim      *awssim.Server
	config   string
	first    string
	stateDir string
}

func newProject(t *testing.T, size int) *project {
	t.Helper()
	return newProjectWith(t, size, awssim.DemoApp)
}

// newProjectWith builds a project whose instances serve app.
func newProjectWith(t *testing.T, size int, app awssim.InstanceApp) *project {
	t.Helper()
	return newProjectSim(t, size, awssim.Options{App: app})
}

// newProjectSim builds a project on a simulator started with opts.
func newProjectSim(t *testing.T, size int, opts awssim.Options) *project {
	t.Helper()
	return newProjectSimZones(t, size, 2, opts)
}

// newProjectSimZones is newProjectSim with the group across zones
// Availability Zones.
func newProjectSimZones(t *testing.T, size, zones int, opts awssim.Options) *project {
	t.Helper()
	work := testutil.NewGitRepo(t)
	first := work.Commit("First", map[string]string{"app.py": "1\n", ".ferry/schema-version": "1\n"})
	remote := filepath.Join(t.TempDir(), "shop.git")
	testutil.InitBareRepo(t, remote)
	work.Git("remote", "add", "origin", remote)
	work.Git("push", "-q", "origin", "main:staging")

	srv := testutil.StartSim(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := simenv.Connect(srv.URL)
	if err := simenv.Create(ctx, c, simenv.Spec{
		Project: "shop", Env: "staging", LaunchTemplate: "shop-staging-web",
		Groups:         []simenv.Group{{Name: "shop-staging-web", Size: size, ClassicLB: "shop-staging", Zones: zones}},
		DeployedCommit: first, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(ctx, c, "shop-staging-web", size); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	config := filepath.Join(t.TempDir(), "ferry.toml")
	doc := fmt.Sprintf(`[project]
name = "shop"
state_dir = %q

[project.git]
url = %q
poll_interval = "50ms"

[environments.staging]
branch = "staging"
aws.region = "us-east-1"
aws.endpoint = %q
groups.web = "shop-staging-web"
load_balancers.classic = ["shop-staging"]
ssh.user = "deploy"

[environments.staging.policy]
poll_interval = "20ms"

[environments.staging.policy.timeouts]
instances_in_service = "20s"
healthy_in_balancers = "5s"
drain = "20s"

# No SSH in these tests: hooks run nothing.
[environments.staging.hooks.web]
upgrade_page_on = []
upgrade_page_off = []
[environments.staging.hooks.worker]
deploy = []
`, stateDir, "file://"+remote, srv.URL)
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	// The simulator accepts any credentials; the SDK's default chain needs
	// some, and must not wander off to an instance metadata service.
	t.Setenv("AWS_ACCESS_KEY_ID", simenv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", simenv.SecretAccessKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return &project{t: t, work: work, remote: remote, sim: srv, config: config, first: first, stateDir: stateDir}
}

// push commits files and pushes them to the staging branch, as a person
// would, returning the commit.
func (p *project) push(message string, files map[string]string) string {
	p.t.Helper()
	c := p.work.Commit(message, files)
	p.work.Git("push", "-q", "origin", "main:staging")
	return c
}

func execGit(gitDir string, args ...string) (string, error) {
	out, err := testutil.GitCommand("", append([]string{"--git-dir", gitDir}, args...)...).CombinedOutput()
	return string(out), err
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

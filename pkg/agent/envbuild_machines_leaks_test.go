package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/forgetest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
)

// apiToken3 is API_TOKEN's value the debug-level redeploy pushes.
const apiToken3 = "api-token-redeploy-5c27e9d4"

// checkEveryArtifact: a redeploy at debug level, with policy.push_secrets
// and a changed API_TOKEN, commit statuses posted to a GitHub (the fake
// that validates them against GitHub's description); then every artifact
// the deploys left outside the state directory is read for every secret
// value: the agent's debug log, the statuses, the git remote (every object:
// notes, commits, lock refs; and git log --all with notes), and the baked
// images' layers on disk. The state directory (per-server logs included),
// the commands' output and the simulator's calls are read by
// checkNoSecretLeaks.
func (w *envMachines) checkEveryArtifact() {
	t := w.t
	var gh *forgetest.GitHub
	if forgetest.Installed("../..") || os.Getenv("CI") == "true" {
		// The deploy runs in the machines' namespace: the fake listens
		// there, on its loopback.
		l, err := w.srv.MachineNetwork().Listen(w.ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gh = forgetest.NewGitHubOn(t, "../..", l)
	} else {
		t.Logf("%s not installed (scripts/install-npm-test-deps.sh): no commit statuses to read", forgetest.OctokitDir)
	}
	doc, err := os.ReadFile(w.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(doc), "[environments.testing.policy]\n", "[environments.testing.policy]\npush_secrets = true\n", 1)
	if gh != nil {
		t.Setenv("FERRY_TEST_GH_TOKEN", "ghp_machines_test")
		text += fmt.Sprintf("\n[[environments.testing.status.forge]]\nprovider = \"github\"\napi_url = %q\nrepository = \"acme/shop\"\ntoken_env = \"FERRY_TEST_GH_TOKEN\"\n", gh.URL)
	}
	w.secrets = regexp.MustCompile(`(?m)^API_TOKEN=.*$`).ReplaceAllString(w.secrets, "API_TOKEN="+apiToken3)
	w.values = append(w.values, apiToken3)
	if err := os.WriteFile(w.secretsFile, []byte(w.secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.cfgFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	head := w.repo.Git("rev-parse", "testing")
	// Full: the serial deploy has its own phase, and replacing three
	// instances one by one took three times as long.
	out, err := w.deploy("--redeploy", "--method", "full", "--log-level", "debug")
	// A web server's gunicorn restarts with the new secrets. The
	// simulator runs AWS's clock ten times as fast (Options.Second), so
	// on a machine as busy as CI's a restart of a few seconds can outlast
	// the balancer's unhealthy threshold, and the group then replaces the
	// instance mid-push: the push fails, naming it, and nothing is
	// deployed. That, and only that, is tried once more (docs/secrets.md).
	if m := regexp.MustCompile(`policy\.push_secrets: secrets_changed on web (i-[0-9a-f]+): `).FindSubmatch(out); err != nil && m != nil {
		g, gerr := w.c.Group(w.ctx, "myproject-testing-web", nil, nil)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if !slices.ContainsFunc(g.Instances, func(i cloud.Instance) bool { return i.ID == string(m[1]) }) {
			t.Logf("the group replaced %s during the push (its health check failed while gunicorn restarted); the redeploy again:\n%s", m[1], out)
			out, err = w.deploy("--redeploy", "--method", "full", "--log-level", "debug")
		}
	}
	if err != nil {
		t.Fatalf("ferry deploy --redeploy --log-level debug: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(`level=DEBUG msg="secret compared with SSM"`)) || !bytes.Contains(out, []byte("secrets pushed before the deploy")) {
		t.Errorf("the redeploy's log is not at debug level, or shows no push:\n%s", out)
	}
	// The deploy ended with its instances InService; on a machine as
	// busy as CI's a health check may still time out right after, and the
	// balancer then has none for a moment ("no healthy instances"): the
	// answers before the new value are logged, and only a balancer that
	// never serves it fails the test.
	var before []string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		page := ""
		resp, err := w.browser.Get(w.lb + "/secret")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page = string(b)
		} else {
			page = err.Error()
		}
		if page == tokenPage(apiToken3) {
			break
		}
		before = append(before, strings.TrimSpace(page))
		if time.Now().After(deadline) {
			t.Fatalf("after the redeploy that pushed API_TOKEN, the balancer's /secret never served %q; it answered %q", tokenPage(apiToken3), before)
		}
	}
	if len(before) > 0 {
		t.Logf("after the redeploy, the balancer's /secret answered %q before the new value", before)
	}
	// Each artifact must hold its canary, something it is known to
	// hold, so that a check that read nothing does not pass.
	leaks := func(what string, b []byte, canary string) {
		t.Helper()
		if !bytes.Contains(b, []byte(canary)) {
			t.Errorf("%s does not hold %q: not read?", what, canary)
		}
		for _, v := range w.values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a secret value", what)
			}
		}
	}
	leaks("the agent's debug log", out, "API_TOKEN")

	if gh != nil {
		sts := gh.Statuses()
		if len(sts) == 0 {
			t.Error("the redeploy posted no commit status")
		}
		for _, p := range gh.Problems() {
			t.Errorf("commit status: %s", p)
		}
		var b bytes.Buffer
		for _, s := range sts {
			fmt.Fprintf(&b, "%s %s %s %s\n", s.SHA, s.State, s.Context, s.Description)
		}
		leaks("the commit statuses", b.Bytes(), head)
	}

	// The remote: every object it holds (commits, trees, note blobs,
	// whatever refs point at, unreachable ones too), every ref's name,
	// and the history with every notes ref shown.
	git := func(args ...string) []byte {
		t.Helper()
		cmd := testutil.GitCommand(w.repo.Dir, args...)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return b
	}
	refs := git("for-each-ref", "--format=%(refname) %(objectname)")
	leaks("the remote's refs", refs, "refs/notes/ferry")
	objects := git("cat-file", "--batch-all-objects", "--batch", "--unordered")
	leaks("an object of the remote (a note, a commit, a tree)", objects, "API_TOKEN")
	leaks("git log --all --notes", git("log", "--all", "--notes=*", "--format=%H %B%n%N"), "ferry: testing")

	w.checkImagesHoldNoSecret()
}

// checkImagesHoldNoSecret reads every file of the images this
// simulator's bakes made, each a layer of the machines' store on disk
// (DefaultCacheDir/layers/<namespace>-<image id>/fs; deregistered images'
// too, while the store keeps them), for every value.
func (w *envMachines) checkImagesHoldNoSecret() {
	t := w.t
	layers, err := filepath.Glob(filepath.Join(machines.DefaultCacheDir, "layers", w.srv.MachineNetwork().Name()+"-ami-*", "fs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) < 2 {
		t.Errorf("%d baked images' layers on disk, want at least the first commit's and the second's: %v", len(layers), layers)
	}
	pats := filepath.Join(t.TempDir(), "values")
	if err := os.WriteFile(pats, []byte(strings.Join(w.values, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The app's code, which names API_TOKEN, is in every baked image:
	// the canary that the files were read.
	canary := filepath.Join(t.TempDir(), "canary")
	if err := os.WriteFile(canary, []byte("API_TOKEN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range layers {
		if hits := grepValues(w.ctx, pats, dir); hits != "" {
			t.Errorf("the image layer %s holds a secret value in:\n%s", filepath.Dir(dir), hits)
		}
		if grepValues(w.ctx, canary, dir) == "" {
			t.Errorf("no file of the image layer %s names API_TOKEN: not read?", filepath.Dir(dir))
		}
	}
}

// grepValues lists the files under dir that hold a line of the file pats
// (symbolic links not followed, devices and overlayfs whiteouts skipped).
func grepValues(ctx context.Context, pats, dir string) string {
	cmd := exec.CommandContext(ctx, "grep", "-rlF", "-D", "skip", "-f", pats, dir)
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out)
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return ""
	default:
		return fmt.Sprintf("grep %s: %v", dir, err)
	}
}

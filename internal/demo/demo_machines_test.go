package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/secrets"
)

// TestDemoMachines plays the walk on machines (ferry demo --machines):
// env create of the seed's testing environment on the stack image, whose
// balancer then serves examples/app's first commit and a note written on
// the primary read from the replica; the agent's serial deploy of a change
// and full deploy of the schema bump, each commit's page served through
// the balancer after its deploy, the upgrade page seen during the full
// one, and the new column on the replica. No secret value of the
// generated file shows in the narration. It takes about five minutes
// with the stack image cached, on the path TestEnvCreateOnMachines
// (pkg/agent) already takes every run, so it runs only when asked:
// FERRY_TEST_DEMO_MACHINES=1 (scripts/test-machines-demo.sh), which keeps
// the README's test command within CI's time on two cores.
func TestDemoMachines(t *testing.T) {
	if os.Getenv("FERRY_TEST_DEMO_MACHINES") == "" {
		t.Skip("ferry demo --machines is played with FERRY_TEST_DEMO_MACHINES=1 (scripts/test-machines-demo.sh)")
	}
	testutil.RequireRoot(t)
	for _, tool := range []string{"git", "debootstrap", "systemd-nspawn", "nsenter", "ssh"} {
		testutil.RequireTool(t, tool)
	}
	ferry := buildFerry(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	start := time.Now()
	// The simulator's and the agent's warnings (a machine that fails to
	// boot, a failed step) show with a failure.
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := t.TempDir()
	err := Run(ctx, Options{Dir: dir, Out: &out, Machines: true, Log: log, FerryBinary: ferry,
		Status: func(context.Context, string, io.Writer) error { return nil }})
	text := out.String()
	if err != nil {
		t.Fatalf("demo --machines: %v\n%s", err, text)
	}
	t.Logf("ferry demo --machines took %s\n%s", time.Since(start).Round(100*time.Millisecond), text)
	for _, want := range []*regexp.Regexp{
		// env create: every long-lived server with its roles and its log.
		regexp.MustCompile(`(?s)==> 1\. ferry env create testing.*created in .*myproject-testing-cache\s+cache\+queue\s+172\.31\.[0-9.]+\s+/\S+.*myproject-testing-db-primary\s+db-primary\s+172\.31\.`),
		regexp.MustCompile(`(?s)==> 1\..*myproject-testing-db-replica\s+db-replica\s+172\.31\.[0-9.]+\s+/\S+`),
		// A note written on the primary, read from the replica.
		regexp.MustCompile(`(?s)==> 1\..*/notes/ → 201 note 1 .*/notes/1 → 200 note 1 written by ferry demo on the primary   \(read from the replica, [0-9.]+m?s after the write\).*==> 2\.`),
		regexp.MustCompile(`(?s)==> 2\..*\[testing\] serial deploy, step [0-9]+/[0-9]+: bake.*deployed, idle after .*requests through the balancer during the deploy: [1-9][0-9]* answered by the app.*app\.css → 200 body \{ font-family: sans-serif; color: navy; \}`),
		regexp.MustCompile(`(?s)==> 3\..*\[testing\] full deploy, step .*[0-9]+ answered by the app, [1-9][0-9]* saw the upgrade page`),
		regexp.MustCompile(`(?s)==> 3\..*\(the db-replica\): notes_note: id, text, created, tag; migrations: 0001_initial, 0002_note_tag`),
		regexp.MustCompile(`(?s)==> 3\..*/notes/2 → 200 note 2 written after the schema bump   \(read from the replica`),
		regexp.MustCompile(`(?s)==> 4\..*ferry deploy: testing succeeded \(full\).*ferry deploy: testing succeeded \(serial\)`),
		regexp.MustCompile(`log in: +sudo nsenter --net=/\S+ ssh -i /\S+\.pem -o UserKnownHostsFile=/\S+ admin@172\.31\.`),
	} {
		if !want.MatchString(text) {
			t.Errorf("narration does not match %s", want)
		}
	}
	// The first commit's page after env create, each pushed commit's after
	// its deploy, all through the balancer.
	first := regexp.MustCompile(`curl \S+/ → 200 commit ([0-9a-f]{40})\n`).FindStringSubmatch(text)
	repo := exec.Command("git", "--git-dir", filepath.Join(dir, "app.git"), "rev-list", "--reverse", "testing")
	revs, err := repo.Output()
	if err != nil {
		t.Fatal(err)
	}
	commits := strings.Fields(string(revs))
	if len(commits) != 3 || first == nil || first[1] != commits[0] {
		t.Errorf("after env create the balancer served %q, want the first of %v", first, commits)
	}
	if len(commits) == 3 {
		for i, msg := range []string{"Navy notes", "Tag notes"} {
			m := regexp.MustCompile(`(?s)git commit -m "` + msg + `" → ([0-9a-f]{12}).*?idle after .*?curl \S+/ → 200 commit ([0-9a-f]{40})\n`).FindStringSubmatch(text)
			if m == nil || m[2] != commits[i+1] || !strings.HasPrefix(m[2], m[1]) {
				t.Errorf("the page after the deploy of %q does not show it (%s): %q", msg, commits[i+1], m)
			}
		}
	}
	// The generated secrets: every one the recipes and the app need, in a
	// file of its owner's only, none of them in the narration.
	set, err := secrets.ReadFile(filepath.Join(dir, "testing.env"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set) < 6 {
		t.Errorf("the secrets file has %d values", len(set))
	}
	for name, v := range set {
		if strings.Contains(text, v) {
			t.Errorf("the narration shows the secret %s", name)
		}
	}
}

// buildFerry builds the ferry command the machines' images get (static:
// the machines' glibc may be older than this host's).
func buildFerry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/agent")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = testutil.GoBuildEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/agent: %v\n%s", err, out)
	}
	return bin
}

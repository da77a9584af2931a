package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// The bake as a kind of the crash matrix (docs/reliability.md). A bake's
// builder is reached over SSH at its private address with the host keys
// its console shows; the fast simulator's instances have neither, so
// every cell runs on machines (`ferry sim --machines`, root): `ferry
// bake` SIGKILLed at one point of its phases, `ferry bake` again on the
// same state dir, then `ferry deploy` of the commit.
//
// FERRY_CRASH_MATRIX=all runs every cell; otherwise FERRY_CRASH_BAKE_SAMPLE
// cells (default 1), picked with FERRY_CRASH_SEED as TestCrashMatrix does.

// bakePoint is one point of a bake as the hook traces it: "bake-PHASE
// WHERE" or "bake-PHASE after-call N OPERATION".
type bakePoint struct {
	phase string // "bake-launch"
	where string
	call  int
	op    string
}

func (p bakePoint) fault() string {
	if p.call > 0 {
		return fmt.Sprintf("%s:%s:%d", p.phase, p.where, p.call)
	}
	return p.phase + ":" + p.where
}

func (p bakePoint) String() string {
	if p.call > 0 {
		return fmt.Sprintf("%s after call %d %s", p.phase, p.call, p.op)
	}
	return p.phase + " " + p.where
}

func parseBakeTrace(t *testing.T, path string) []bakePoint {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	defer f.Close()
	var out []bakePoint
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.HasPrefix(fields[0], "bake-") {
			t.Fatalf("trace line %q: not a bake's point", sc.Text())
		}
		p := bakePoint{phase: fields[0], where: fields[1]}
		if len(fields) == 4 {
			if p.call, err = strconv.Atoi(fields[2]); err != nil {
				t.Fatalf("trace line %q: %v", sc.Text(), err)
			}
			p.op = fields[3]
		}
		out = append(out, p)
	}
	return out
}

// TestCrashMatrixBake runs the bake's cells of the crash matrix.
func TestCrashMatrixBake(t *testing.T) {
	if testing.Short() {
		t.Skip("boots machines")
	}
	all := os.Getenv("FERRY_CRASH_MATRIX") == "all"
	sample := 1
	if v := os.Getenv("FERRY_CRASH_BAKE_SAMPLE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("FERRY_CRASH_BAKE_SAMPLE: %v", err)
		}
		sample = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FERRY_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FERRY_CRASH_SEED: %v", err)
		}
		seed = n
	}
	bin := faultBinary(t)
	timeout := 20 * time.Minute
	if all {
		timeout = 90 * time.Minute
	}
	// One simulator for every cell, each cell an environment of its own.
	sim := machinetest.Start(t, machinetest.Options{KeyName: "bake", Timeout: timeout, Tools: []string{"tar", "git"},
		Second: 100 * time.Millisecond})

	trace := filepath.Join(t.TempDir(), "trace")
	tp := newBakeProject(t, sim, bin, "t0")
	tp.env = []string{"FERRY_FAULT_TRACE=" + trace}
	if code, out := tp.ferry("bake", "-c", tp.config, tp.name); code != 0 {
		t.Fatalf("the traced bake: exit %d\n%s", code, out)
	}
	points := parseBakeTrace(t, trace)
	if len(points) == 0 {
		t.Fatal("the traced bake reached no fault point: is the binary built with -tags ferryfault?")
	}
	t.Logf("%d points", len(points))
	cells := points
	if !all && sample < len(points) {
		t.Logf("a sample of %d bake cells, FERRY_CRASH_SEED=%d", sample, seed)
		cells = nil
		for _, i := range rand.New(rand.NewPCG(seed, 0)).Perm(len(points))[:sample] {
			cells = append(cells, points[i])
		}
	}
	report := newCrashReport()
	for i, pt := range cells {
		t.Run(strings.ReplaceAll(pt.String(), " ", "_"), func(t *testing.T) {
			outcome := ""
			defer func() { report.add("bake", pt, outcome, !t.Failed()) }()
			outcome = crashBakeCell(t, sim, bin, fmt.Sprintf("c%d", i+1), pt)
		})
	}
}

// bakeProject is one environment that bakes its image, in the machines'
// simulator: a web group of one instance from the base image behind a
// classic balancer, running a first commit; a second commit pushed.
type bakeProject struct {
	t             *testing.T
	sim           *machinetest.Env
	bin           string
	name          string // the environment
	config, state string
	group, lb     string
	first, next   string
	env           []string
}

func newBakeProject(t *testing.T, sim *machinetest.Env, bin, name string) *bakeProject {
	t.Helper()
	p := &bakeProject{t: t, sim: sim, bin: bin, name: name, state: t.TempDir(),
		config: filepath.Join(t.TempDir(), "ferry.toml"), group: "shop-" + name + "-web", lb: "shop-" + name}
	work := testutil.NewGitRepo(t)
	p.first = work.Commit("First", map[string]string{"index.html": "<h1>shop</h1>\n"})
	remote := filepath.Join(t.TempDir(), "shop.git")
	testutil.InitBareRepo(t, remote)
	work.Git("remote", "add", "origin", remote)
	if err := simenv.Create(sim.Ctx, sim.SDK, simenv.Spec{
		Project: "shop", Env: name, LaunchTemplate: p.group, ImageID: sim.Image, KeyName: sim.KeyName,
		Groups:         []simenv.Group{{Name: p.group, Size: 1, MaxSize: 2, ClassicLB: p.lb}},
		DeployedCommit: p.first, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := simenv.WaitServing(sim.Ctx, sim.SDK, p.group, 1); err != nil {
		t.Fatal(err)
	}
	p.next = work.Commit("Second", map[string]string{"index.html": "<h1>shop, 2</h1>\n"})
	work.Git("push", "-q", "origin", "main:staging")
	// The lease is long: the bake after a killed one takes over the lock
	// because its holder no longer runs, not because the lease ran out.
	doc := fmt.Sprintf(`[project]
name = "shop"
state_dir = %q
[project.git]
url = %q
[environments.%[3]s]
branch = "staging"
aws.region = "us-east-1"
aws.endpoint = %[4]q
groups.web = %[5]q
load_balancers.classic = [%[6]q]
ssh.user = "admin"
ssh.key_file = %[7]q
launch.image = "bake"
launch.base_image = %[8]q
launch.key_name = %[9]q
[environments.%[3]s.policy]
poll_interval = "200ms"
[environments.%[3]s.policy.timeouts]
instances_in_service = "5m"
healthy_in_balancers = "5m"
drain = "30s"
lock_lease = "10m"
bake = "5m"
# Nothing but the build runs over SSH: the deploy's own hooks are tested
# elsewhere.
[environments.%[3]s.hooks.web]
build = ["echo built > BUILT"]
upgrade_page_on = []
upgrade_page_off = []
[environments.%[3]s.hooks.worker]
deploy = []
`, p.state, "file://"+remote, name, sim.Srv.URL, p.group, p.lb, sim.KeyFile, sim.Image, sim.KeyName)
	if err := os.WriteFile(p.config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// command is ferry in the machines' network namespace, where the
// builders are (the simulator's URL answers there too).
func (p *bakeProject) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := p.sim.Net.Command(ctx, p.bin, append([]string{"--log-format", "text"}, args...)...)
	cmd.Env = append(childEnv(), "HOME="+p.t.TempDir())
	cmd.Env = append(cmd.Env, p.env...)
	return cmd
}

// ferry runs ferry to its end: exit code and output.
func (p *bakeProject) ferry(args ...string) (int, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.sim.Ctx, 10*time.Minute)
	defer cancel()
	out, err := p.command(ctx, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		p.t.Fatalf("ferry %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return 0, string(out)
}

// groupState is what a bake must not change of the group.
func (p *bakeProject) groupState(c *cloud.Client) string {
	p.t.Helper()
	g, err := c.Group(p.sim.Ctx, p.group, []string{p.lb}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return fmt.Sprintf("%+v %d/%d/%d %v %s %v", *g.LaunchTemplate, g.MinSize, g.MaxSize, g.DesiredCapacity,
		ids(g), g.Tags[plan.TagCommit], g.SuspendedProcesses)
}

// builders returns the environment's instances that run outside its group.
func (p *bakeProject) builders(c *cloud.Client) []string {
	p.t.Helper()
	g, err := c.Group(p.sim.Ctx, p.group, nil, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	ms, err := c.MachinesTagged(p.sim.Ctx, map[string]string{plan.TagEnv: p.name})
	if err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if (m.State == "pending" || m.State == "running") && !slices.Contains(ids(g), m.ID) {
			out = append(out, m.ID+" "+m.State)
		}
	}
	return out
}

// images returns the environment's images baked for c.
func (p *bakeProject) images(c *cloud.Client, sha string) []cloud.Image {
	p.t.Helper()
	imgs, err := c.ImagesTagged(p.sim.Ctx, plan.BakedImageTags("shop", p.name, commit.MustParse(sha)))
	if err != nil {
		p.t.Fatal(err)
	}
	return imgs
}

// crashBakeCell kills `ferry bake` at pt, bakes again, checks what the
// two left, deploys the commit and checks the group runs its image. It
// returns how the second bake ended: rebaked (the killed bake's builder
// and half-made image removed, a bake of its own), reused (the killed
// bake had tagged its image, which the second finds), or bake-failed.
func crashBakeCell(t *testing.T, sim *machinetest.Env, bin, name string, pt bakePoint) string {
	p := newBakeProject(t, sim, bin, name)
	c := sim.Cloud()
	before := p.groupState(c)

	var out testutil.Buffer
	p.env = []string{"FERRY_FAULT=" + pt.fault()}
	killed := p.command(sim.Ctx, "bake", "-c", p.config, p.name)
	killed.Stdout, killed.Stderr = &out, &out
	err := killed.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !signaled(ee, syscall.SIGKILL) {
		t.Fatalf("ferry bake was not killed at %s: %v\n%s", pt, err, out.String())
	}
	p.env = nil
	journal := bake.Store{Dir: p.state}
	// Killed before its first record, a bake has no journal yet.
	first := pt.phase == "bake-"+string(bake.PhasePrepare) && pt.where == "before-record"
	if rec, err := journal.Load(p.name); err != nil || (rec == nil) != first || rec != nil && rec.Finished {
		t.Fatalf("the killed bake's journal: %+v %v; want it unfinished, or none before its first record", rec, err)
	}

	code, again := p.ferry("bake", "-c", p.config, p.name)
	outcome := "rebaked"
	switch {
	case code != 0:
		outcome = bake.OutcomeFailed
	case strings.Contains(again, "image of the commit exists, reused"):
		outcome = "reused"
	}
	if t.Failed() || code != 0 {
		t.Logf("the killed bake's log:\n%s", out.String())
	}
	if code != 0 {
		t.Errorf("the bake after the kill: exit %d\n%s", code, again)
	}
	imgs := p.images(c, p.next)
	switch {
	case code == 0 && (len(imgs) != 1 || imgs[0].State != "available"):
		t.Errorf("images of %s: %+v, want one, available", commit.MustParse(p.next).Short(), imgs)
	case code != 0 && len(imgs) != 0:
		t.Errorf("a failed bake left images of %s: %+v", commit.MustParse(p.next).Short(), imgs)
	}
	if b := p.builders(c); len(b) > 0 {
		t.Errorf("builders left running: %v", b)
	}
	rec, err := journal.Load(p.name)
	if code == 0 && (err != nil || rec == nil || !rec.Finished || rec.Outcome != bake.OutcomeBaked || !rec.CleanedUp || rec.Commit != commit.MustParse(p.next)) {
		t.Errorf("journal after the bake: %+v %v, want %s baked and cleaned up", rec, err, p.next)
	}
	if after := p.groupState(c); after != before {
		t.Errorf("the bakes changed the group:\n got %s\nwant %s", after, before)
	}
	if t.Failed() {
		t.Logf("the bake after the kill:\n%s", again)
		return outcome
	}

	// The commit's deploy: its image, found, launches the new instance.
	if code, out := p.ferry("deploy", "-c", p.config, p.name, "--yes"); code != 0 {
		t.Fatalf("the deploy after the bakes: exit %d\n%s", code, out)
	}
	g, err := c.Group(sim.Ctx, p.group, []string{p.lb}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.LaunchTemplateVersion(sim.Ctx, *g.LaunchTemplate)
	if err != nil || v.ImageID != imgs[0].ID || g.Tags[plan.TagCommit] != p.next {
		t.Errorf("after the deploy the group launches %+v (%v) tagged %s, want the image %s of %s", v, err, g.Tags[plan.TagCommit], imgs[0].ID, p.next)
	}
	if err := simenv.WaitServing(sim.Ctx, sim.SDK, p.group, 1); err != nil {
		t.Error(err)
	}
	if imgs := p.images(c, p.next); len(imgs) != 1 {
		t.Errorf("after the deploy, images of the commit: %+v, want the one baked", imgs)
	}
	if b := p.builders(c); len(b) > 0 {
		t.Errorf("after the deploy, builders running: %v", b)
	}
	return outcome
}

// signaled reports whether the process ended of sig.
func signaled(ee *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

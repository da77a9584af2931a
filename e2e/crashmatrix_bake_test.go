package e2e

import (
	"bufio"
	"cmp"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/simenv/machinetest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/bake"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/status"
)

// The bake as a kind of the crash matrix (docs/reliability.md). A bake's
// builder is reached over SSH at its private address with the host keys
// its console shows; the fast simulator's instances have neither, so
// every cell runs on machines (`ferry sim --machines`, root). A cell
// kills one of two commands at one point of the bake's phases, by
// SIGKILL, and runs the same command again on the same state dir:
//
//   - `ferry bake` (kind "bake"), then `ferry deploy` of the commit;
//   - `ferry deploy`, whose first step (bake-image) bakes (kind "bake in
//     deploy"): the second deploy recovers the killed one's journal, and
//     its bake-image step recovers the killed bake's.
//
// FERRY_CRASH_MATRIX=all runs every point both ways; otherwise
// FERRY_CRASH_BAKE_SAMPLE cells (default 1), each a point and a command
// picked with FERRY_CRASH_SEED as TestCrashMatrix does.
// FERRY_CRASH_BAKE_KIND=bake or =deploy kills that command alone.

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
	kills := bakeKills
	if v := os.Getenv("FERRY_CRASH_BAKE_KIND"); v != "" {
		if !slices.Contains(bakeKills, bakeKill(v)) {
			t.Fatalf("FERRY_CRASH_BAKE_KIND=%q: want %q or %q", v, killBake, killDeploy)
		}
		kills = []bakeKill{bakeKill(v)}
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
	// Every point killed in each command; a sample draws from them all.
	var cells []bakeCell
	for _, pt := range points {
		for _, k := range kills {
			cells = append(cells, bakeCell{pt, k})
		}
	}
	if !all && sample < len(cells) {
		t.Logf("a sample of %d of the %d bake cells (%d points, killed in %v), FERRY_CRASH_SEED=%d", sample, len(cells), len(points), kills, seed)
		every := cells
		cells = nil
		for _, i := range rand.New(rand.NewPCG(seed, 0)).Perm(len(every))[:sample] {
			cells = append(cells, every[i])
		}
	}
	report := newCrashReport()
	for i, cell := range cells {
		t.Run(cell.name(), func(t *testing.T) {
			outcome := ""
			defer func() { report.add(cell.kill.kind(), cell.pt, outcome, !t.Failed()) }()
			outcome = crashBakeCell(t, sim, bin, fmt.Sprintf("c%d", i+1), cell)
		})
	}
}

// bakeKill is the command a bake cell kills in its bake, and runs again.
type bakeKill string

const (
	killBake   bakeKill = "bake"   // ferry bake
	killDeploy bakeKill = "deploy" // ferry deploy, whose first step bakes
)

var bakeKills = []bakeKill{killBake, killDeploy}

// kind is the cell's kind in the crash report.
func (k bakeKill) kind() string {
	if k == killDeploy {
		return "bake in deploy"
	}
	return "bake"
}

// args is the command line of the command for p's environment.
func (k bakeKill) args(p *bakeProject) []string {
	if k == killDeploy {
		return []string{"deploy", "-c", p.config, p.name, "--yes"}
	}
	return []string{"bake", "-c", p.config, p.name}
}

// bakeCell is one cell: a point of the bake, and the command killed there.
type bakeCell struct {
	pt   bakePoint
	kill bakeKill
}

// name is the subtest's: the point, with "in-deploy_" before it when the
// command killed is ferry deploy.
func (c bakeCell) name() string {
	n := strings.ReplaceAll(c.pt.String(), " ", "_")
	if c.kill == killDeploy {
		n = "in-deploy_" + n
	}
	return n
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
	remote        string // the bare git remote, where the notes are
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
	p.remote = remote
	testutil.InitBareRepo(t, remote)
	work.Git("remote", "add", "origin", remote)
	if err := simenv.Create(sim.Ctx, sim.SDK, simenv.Spec{
		Project: "shop", Env: name, LaunchTemplate: p.group, ImageID: sim.Image, KeyName: sim.KeyName,
		Groups:         []simenv.Group{{Name: p.group, Size: 1, MaxSize: 2, ClassicLB: p.lb}},
		DeployedCommit: p.first, Now: time.Now().Add(-time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	// The group's machines stop with the (sub)test: every cell of a run
	// shares one simulator, where the machines of all of them (each
	// point twice with FERRY_CRASH_MATRIX=all) would otherwise keep
	// running to its end.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := sim.SDK.ASG.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(p.group), ForceDelete: aws.Bool(true)}); err != nil {
			t.Logf("the group %s, deleted at the end: %v", p.group, err)
		}
	})
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

// groupOf returns the group as it is now, its instances' state in the
// balancer too.
func (p *bakeProject) groupOf(c *cloud.Client) *cloud.Group {
	p.t.Helper()
	g, err := c.Group(p.sim.Ctx, p.group, []string{p.lb}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return g
}

// groupState is what a bake must not change of the group.
func (p *bakeProject) groupState(c *cloud.Client) string {
	p.t.Helper()
	g := p.groupOf(c)
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

// crashBakeCell kills the cell's command (`ferry bake`, or `ferry
// deploy` in its first step, bake-image) at its point, runs the same
// command again on the same state dir and checks what the two left; after
// two bakes it deploys the commit. Either way it ends checking that the
// group runs the commit from its one image. It returns how the bake after
// the kill ended: rebaked (the killed bake's builder and half-made image
// removed, a bake of its own), reused (the killed bake had tagged its
// image, which the second finds), or bake-failed; for a killed deploy
// whose recovery did not run it to the end (succeeded), "recovery
// OUTCOME, " before it.
func crashBakeCell(t *testing.T, sim *machinetest.Env, bin, name string, cell bakeCell) string {
	pt, kill := cell.pt, cell.kill
	p := newBakeProject(t, sim, bin, name)
	c := sim.Cloud()
	before := p.groupState(c)
	sizes := p.groupOf(c)
	short := commit.MustParse(p.next).Short()
	t.Logf("environment %s: group %s on %s, the commit %s pushed; ferry %s killed at %s (FERRY_FAULT=%s), then run again",
		p.name, p.group, commit.MustParse(p.first).Short(), short, kill, pt, pt.fault())

	// Each command's log, shown when the cell fails, wherever it does.
	var out testutil.Buffer
	var again, deployed string
	defer func() {
		if !t.Failed() {
			return
		}
		t.Logf("the killed ferry %s's log:\n%s", kill, out.String())
		if again != "" {
			t.Logf("the ferry %s after the kill:\n%s", kill, again)
		}
		if deployed != "" {
			t.Logf("the ferry deploy after the bakes:\n%s", deployed)
		}
	}()

	p.env = []string{"FERRY_FAULT=" + pt.fault()}
	killed := p.command(sim.Ctx, kill.args(p)...)
	killed.Stdout, killed.Stderr = &out, &out
	err := killed.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !signaled(ee, syscall.SIGKILL) {
		t.Fatalf("ferry %s was not killed at %s: %v", kill, pt, err)
	}
	p.env = nil
	journal := bake.Store{Dir: p.state}
	// Killed before its first record, a bake has no journal yet.
	first := pt.phase == "bake-"+string(bake.PhasePrepare) && pt.where == "before-record"
	if rec, err := journal.Load(p.name); err != nil || (rec == nil) != first || rec != nil && rec.Finished {
		t.Fatalf("the killed bake's journal: %+v %v; want it unfinished, or none before its first record", rec, err)
	}
	if now := p.groupState(c); now != before {
		t.Errorf("the killed ferry %s changed the group:\n got %s\nwant %s", kill, now, before)
	}
	deploys := execute.JournalStore{Dir: filepath.Join(p.state, "journal")}
	wantRecovery := ""
	if kill == killDeploy {
		j, err := deploys.Load(p.name)
		if err != nil || j == nil || j.Finished {
			t.Fatalf("the killed deploy's journal: %s; want it left unfinished", deployJournal(j, err))
		}
		// What Executor.drive does with it: a deploy killed before the
		// journal recorded its first step done runs on, as one past the
		// point of no return does; one in between is rolled back (and
		// the next ferry deploy deploys the commit anew).
		wantRecovery = string(execute.Succeeded)
		if j.Next > 0 && !j.PastNoReturn && j.Next < len(j.Plan.Steps) {
			wantRecovery = string(execute.RolledBack)
		}
		t.Logf("the killed deploy's journal: %s; its recovery must end %s", deployJournal(j, nil), wantRecovery)
	}

	code, again := p.ferry(kill.args(p)...)
	if code != 0 {
		t.Errorf("the ferry %s after the kill: exit %d, want 0", kill, code)
	}
	var outcome string
	switch kill {
	case killBake:
		outcome = bakeEnded(again)
		if code != 0 {
			outcome = bake.OutcomeFailed
		}
	case killDeploy:
		// The killed deploy's recovery, then (rolled back) a deploy anew.
		i := strings.Index(again, "recovering an interrupted deploy")
		if i < 0 {
			t.Fatalf("the ferry deploy after the kill did not recover the killed deploy's journal (no %q in its log)", "recovering an interrupted deploy")
		}
		recovered := recoveredOutcome(again)
		outcome = bakeEnded(again[i:])
		if recovered != string(execute.Succeeded) {
			outcome = fmt.Sprintf("recovery %s, %s", cmp.Or(recovered, "unfinished"), outcome)
		}
		if recovered != wantRecovery {
			t.Errorf("the recovery of the killed deploy ended %q, want %q (its bake: %s)", recovered, wantRecovery, bakeEnded(again[i:]))
		}
	}
	imgs := p.images(c, p.next)
	switch {
	case code == 0 && (len(imgs) != 1 || imgs[0].State != "available"):
		t.Errorf("images of %s: %+v, want one, available", short, imgs)
	case code != 0 && kill == killBake && len(imgs) != 0:
		t.Errorf("a failed bake left images of %s: %+v", short, imgs)
	}
	if b := p.builders(c); len(b) > 0 {
		t.Errorf("builders left running: %v", b)
	}
	if code == 0 {
		p.checkBakeJournal(t, "after the ferry "+string(kill))
	}
	if kill == killBake {
		if after := p.groupState(c); after != before {
			t.Errorf("the bakes changed the group:\n got %s\nwant %s", after, before)
		}
	}
	if t.Failed() {
		return outcome
	}

	if kill == killBake {
		// The commit's deploy: its image, found, launches the new instance.
		if code, deployed = p.ferry("deploy", "-c", p.config, p.name, "--yes"); code != 0 {
			t.Fatalf("the deploy after the bakes: exit %d", code)
		}
	}
	p.checkDeployed(t, c, sizes, imgs[0].ID)
	return outcome
}

// checkDeployed checks that a deploy of the commit ran to its end from
// the image img: the group launches it and is tagged with the commit, its
// instances serve, its sizes are those of before (sizes) with nothing
// suspended, no other image of the commit nor any builder exists, the
// bake's journal is finished, no deploy journal is left, and the commit's
// note ends with the deploy's success, every attempt with its outcome.
func (p *bakeProject) checkDeployed(t *testing.T, c *cloud.Client, sizes *cloud.Group, img string) {
	t.Helper()
	ctx := p.sim.Ctx
	if err := simenv.WaitServing(ctx, p.sim.SDK, p.group, 1); err != nil {
		t.Errorf("after the deploy the group's instance does not serve: %v", err)
	}
	g := p.groupOf(c)
	v, err := c.LaunchTemplateVersion(ctx, *g.LaunchTemplate)
	if err != nil || v.ImageID != img || g.Tags[plan.TagCommit] != p.next {
		t.Errorf("after the deploy the group launches %+v (%v) tagged %s, want the image %s of %s", v, err, g.Tags[plan.TagCommit], img, p.next)
	}
	if g.MinSize != sizes.MinSize || g.MaxSize != sizes.MaxSize || g.DesiredCapacity != sizes.DesiredCapacity {
		t.Errorf("after the deploy the group's min/max/desired are %d/%d/%d, want %d/%d/%d as before",
			g.MinSize, g.MaxSize, g.DesiredCapacity, sizes.MinSize, sizes.MaxSize, sizes.DesiredCapacity)
	}
	if len(g.SuspendedProcesses) > 0 {
		t.Errorf("after the deploy processes are suspended: %v", g.SuspendedProcesses)
	}
	if imgs := p.images(c, p.next); len(imgs) != 1 || imgs[0].ID != img {
		t.Errorf("after the deploy, images of the commit: %+v, want the one baked, %s", imgs, img)
	}
	if b := p.builders(c); len(b) > 0 {
		t.Errorf("after the deploy, builders running: %v", b)
	}
	p.checkBakeJournal(t, "after the deploy")
	deploys := execute.JournalStore{Dir: filepath.Join(p.state, "journal")}
	if j, err := deploys.Load(p.name); err != nil || j != nil {
		t.Errorf("after the deploy, its journal: %s; want none (removed once finished)", deployJournal(j, err))
	}
	attempts, note := noteAttempts(t, p.remote, p.next)
	var last *status.Record
	for i := range attempts {
		if attempts[i].Env == p.name {
			last = &attempts[i]
		}
	}
	if last == nil || last.Outcome != status.Succeeded {
		t.Errorf("the note on %s does not end with a deploy to %s that succeeded:\n%s", commit.MustParse(p.next).Short(), p.name, note)
	}
}

// checkBakeJournal checks that the bake journal records the commit baked,
// its builder removed.
func (p *bakeProject) checkBakeJournal(t *testing.T, when string) {
	t.Helper()
	rec, err := bake.Store{Dir: p.state}.Load(p.name)
	if err != nil || rec == nil || !rec.Finished || rec.Outcome != bake.OutcomeBaked || !rec.CleanedUp || rec.Commit != commit.MustParse(p.next) {
		t.Errorf("the bake journal %s: %+v %v, want %s baked and cleaned up", when, rec, err, p.next)
	}
}

// deployJournal says what a deploy journal holds, for a failure's message.
func deployJournal(j *execute.Journal, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case j == nil:
		return "none"
	}
	s := fmt.Sprintf("deploy %s, finished %v, next step %d of %d", j.DeployID, j.Finished, j.Next+1, len(j.Plan.Steps))
	if j.Next < len(j.Plan.Steps) {
		s += " (" + string(j.Plan.Steps[j.Next].Name) + ")"
	}
	return s + fmt.Sprintf(", past the point of no return %v, image %q, suspended %v", j.PastNoReturn, j.Image, j.Suspended)
}

// bakeEnded is how the first bake a log shows ended: reused (the image
// of the commit found), rebaked, or bake-failed; "no bake" when the log
// shows none.
func bakeEnded(log string) string {
	outcome, at := "no bake", len(log)
	for marker, o := range map[string]string{
		`msg="bake: image of the commit exists, reused"`: "reused",
		`msg="bake: baked"`:  "rebaked",
		`msg="bake: failed;`: bake.OutcomeFailed,
	} {
		if i := strings.Index(log, marker); i >= 0 && i < at {
			outcome, at = o, i
		}
	}
	return outcome
}

// signaled reports whether the process ended of sig.
func signaled(ee *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

package e2e

import (
	"bufio"
	"bytes"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/status"
)

// The crash matrix (docs/reliability.md): for each kind of deploy, every
// point the fault hook (internal/faultpoint, build tag ferryfault) can
// kill at — each step's before-record, after-record, and after each of
// its AWS calls that change something — one deploy SIGKILLed there, then
// restarted on the same state dir, then checked whole.
//
// FERRY_CRASH_MATRIX=all runs every cell; otherwise a sample of
// FERRY_CRASH_SAMPLE cells per kind (default 2), picked with
// FERRY_CRASH_SEED (default: the time, logged so a run can be repeated).
// FERRY_CRASH_REPORT=FILE appends one line per cell, for the tables.

// crashKind is a kind of deploy the matrix kills.
type crashKind struct {
	name   string
	size   int
	policy string
	change map[string]string
}

var crashKinds = []crashKind{
	{"full", 2, "", map[string]string{".ferry/schema-version": "2\n"}},
	// Three batches of one: batches 1 and 2 are before the point of no
	// return, batch 3 is it.
	{"serial-surge", 3, "", map[string]string{"app.py": "2\n"}},
	{"serial-replace-unhealthy", 3, `serial_mode = "replace-unhealthy"`, map[string]string{"app.py": "2\n"}},
}

// crashPoint is one point of a deploy, as the hook traces it: "STEP WHERE"
// or "STEP after-call N OPERATION".
type crashPoint struct {
	step  int
	name  plan.StepName
	where string
	call  int
	op    string
}

// fault is the FERRY_FAULT value that kills at the point.
func (c crashPoint) fault() string {
	if c.call > 0 {
		return fmt.Sprintf("%d:%s:%d", c.step, c.where, c.call)
	}
	return fmt.Sprintf("%d:%s", c.step, c.where)
}

func (c crashPoint) String() string {
	if c.call > 0 {
		return fmt.Sprintf("step %d %s after call %d %s", c.step, c.name, c.call, c.op)
	}
	return fmt.Sprintf("step %d %s %s", c.step, c.name, c.where)
}

func parseTrace(t *testing.T, path string) []crashPoint {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	defer f.Close()
	var out []crashPoint
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		var c crashPoint
		c.step, err = strconv.Atoi(fields[0])
		if err != nil {
			t.Fatalf("trace line %q: %v", sc.Text(), err)
		}
		c.where = fields[1]
		if len(fields) == 4 {
			c.call, _ = strconv.Atoi(fields[2])
			c.op = fields[3]
		}
		out = append(out, c)
	}
	return out
}

// TestCrashMatrix runs the crash matrix (a sample of it unless
// FERRY_CRASH_MATRIX=all).
func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulator and several deploys per cell")
	}
	all := os.Getenv("FERRY_CRASH_MATRIX") == "all"
	sample := 2
	if v := os.Getenv("FERRY_CRASH_SAMPLE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("FERRY_CRASH_SAMPLE: %v", err)
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
	if !all {
		t.Logf("a sample of %d cells per kind, FERRY_CRASH_SEED=%d", sample, seed)
	}
	rnd := rand.New(rand.NewPCG(seed, 0))
	report := newCrashReport()
	for _, kind := range crashKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			points := tracePoints(t, kind)
			cells := points
			if !all && sample < len(points) {
				cells = nil
				for _, i := range rnd.Perm(len(points))[:sample] {
					cells = append(cells, points[i])
				}
			}
			for _, pt := range cells {
				t.Run(strings.ReplaceAll(pt.String(), " ", "_"), func(t *testing.T) {
					t.Parallel()
					outcome := ""
					defer func() { report.add(kind.name, pt, outcome, !t.Failed()) }()
					outcome = crashCell(t, kind, pt)
				})
			}
		})
	}
}

// tracePoints runs the kind's deploy once with the hook tracing, killing
// nothing, and returns the points it reached in order.
func tracePoints(t *testing.T, kind crashKind) []crashPoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, _ := newProjectWith(t, kind.size, kind.policy)
	p.bin = faultBinary(t)
	trace := filepath.Join(t.TempDir(), "trace")
	p.env = []string{"FERRY_FAULT_TRACE=" + trace}
	p.push("Change", kind.change)
	steps := p.plannedSteps(ctx)
	code, stdout, stderr := p.ferry(ctx, "--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
	if code != 0 {
		t.Fatalf("the traced deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	points := parseTrace(t, trace)
	if len(points) == 0 {
		t.Fatal("the traced deploy reached no fault point: is the binary built with -tags ferryfault?")
	}
	for i := range points {
		if points[i].step < 1 || points[i].step > len(steps) {
			t.Fatalf("the trace names step %d of a plan of %d", points[i].step, len(steps))
		}
		points[i].name = steps[points[i].step-1]
	}
	t.Logf("%d points", len(points))
	return points
}

// crashCell kills one deploy at pt, restarts it and checks the end state.
// It returns how the restarted agent settled the deploy.
func crashCell(t *testing.T, kind crashKind, pt crashPoint) string {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, old := newProjectWith(t, kind.size, kind.policy)
	p.bin = faultBinary(t)
	next := p.push("Change", kind.change)
	before := p.state(ctx).g

	p.env = []string{"FERRY_FAULT=" + pt.fault()}
	agent := p.start("--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
	if signaled := agent.wait(); !signaled {
		t.Fatalf("the deploy was not killed at %s:\n%s", pt, agent.stderr.String())
	}
	p.env = nil
	if _, err := os.Stat(filepath.Join(p.stateDir, "journal", "journal-staging.json")); err != nil {
		t.Fatalf("a killed deploy must leave its journal: %v", err)
	}

	// Restarted pinned to the old commit: after the recovery there is
	// nothing to deploy (rolled back) or a rollback it refuses (finished
	// forward), so what is checked is what the recovery left.
	_, stdout, stderr := p.ferry(ctx, "--log-format", "text", "deploy", "-c", p.config, "staging", "--yes", "--commit", old)
	outcome := recoveredOutcome(stderr)
	want := old
	switch outcome {
	case "rolled-back":
	case "succeeded":
		want = next
	default:
		t.Fatalf("recovery ended %q, want rolled back or succeeded\n%s\n%s\nkilled agent's log:\n%s", outcome, stdout, stderr, agent.stderr.String())
	}
	s := p.assertConsistent(ctx, before, want)
	if *s.g.LaunchTemplate != *before.LaunchTemplate && want == old {
		t.Errorf("launch template %+v, want the old %+v", *s.g.LaunchTemplate, *before.LaunchTemplate)
	}
	p.assertNoOrphans(ctx, s.g)
	p.assertNotesComplete(next)
	if t.Failed() {
		t.Logf("killed agent's log:\n%s\nrestarted agent's log:\n%s", agent.stderr.String(), stderr)
	}
	return outcome
}

// wait waits for a process to end, and reports whether a signal ended it.
func (r *running) wait() bool {
	<-r.done
	err := r.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal() == syscall.SIGKILL
		}
	}
	return false
}

// assertNoOrphans checks that every instance running in the account is
// one of the group's: nothing launched or detached was left behind.
func (p *project) assertNoOrphans(ctx context.Context, g *cloud.Group) {
	p.t.Helper()
	ms, err := p.cloud.MachinesTagged(ctx, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, m := range ms {
		if (m.State == "pending" || m.State == "running") && !slices.Contains(ids(g), m.ID) {
			p.t.Errorf("instance %s (%s) runs outside the group %v", m.ID, m.State, ids(g))
		}
	}
}

// assertNotesComplete checks that every deploy attempt the notes on c
// record as started has an outcome.
func (p *project) assertNotesComplete(c string) {
	p.t.Helper()
	noteAttempts(p.t, p.remote, c)
}

// noteAttempts returns the deploy attempts (status.Attempts) the note on
// c in the bare repository gitDir records, in the note's order, and the
// note's text; it fails t when there is no note or when an attempt
// recorded as started has no outcome.
func noteAttempts(t *testing.T, gitDir, c string) ([]status.Record, string) {
	t.Helper()
	out, err := testutil.GitCommand("", "--git-dir", gitDir, "notes", "--ref=ferry", "show", c).CombinedOutput()
	if err != nil {
		t.Errorf("no note on %s: %v\n%s", c, err, out)
		return nil, ""
	}
	recs, err := status.ParseNote(string(out))
	if err != nil {
		t.Fatalf("note on %s: %v", c, err)
	}
	attempts := status.Attempts(recs)
	for _, r := range attempts {
		if r.Outcome == status.Started {
			t.Errorf("the attempt started %s has no outcome:\n%s", r.Started, out)
		}
	}
	return attempts, string(out)
}

// crashReport collects the cells' outcomes and, with FERRY_CRASH_REPORT,
// appends them to a file: "kind<TAB>point<TAB>outcome<TAB>pass|fail".
type crashReport struct {
	mu   sync.Mutex
	path string
}

func newCrashReport() *crashReport {
	return &crashReport{path: os.Getenv("FERRY_CRASH_REPORT")}
}

func (r *crashReport) add(kind string, pt fmt.Stringer, outcome string, pass bool) {
	if r.path == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	res := "pass"
	if !pass {
		res = "fail"
	}
	fmt.Fprintf(f, "%s\t%s\t%s\t%s\n", kind, pt, outcome, res)
}

// TestShippedBinaryHasNoFaultHook: the binary as built for release holds
// neither the fault hook's code nor the name of its variable; the test
// build holds both (so that this test can fail).
func TestShippedBinaryHasNoFaultHook(t *testing.T) {
	goTool := testutil.RequireTool(t, "go")
	for _, tc := range []struct {
		bin  string
		hook bool
	}{
		{ferryBinary(t), false},
		{faultBinary(t), true},
	} {
		out, err := exec.Command(goTool, "tool", "nm", tc.bin).Output()
		if err != nil {
			t.Fatalf("go tool nm %s: %v", tc.bin, err)
		}
		syms := strings.Contains(string(out), "internal/faultpoint.")
		data, err := os.ReadFile(tc.bin)
		if err != nil {
			t.Fatal(err)
		}
		env := bytes.Contains(data, []byte("FERRY_FAULT"))
		if syms != tc.hook || env != tc.hook {
			t.Errorf("%s: faultpoint symbols %v, FERRY_FAULT %v; want both %v", filepath.Base(tc.bin), syms, env, tc.hook)
		}
	}
}

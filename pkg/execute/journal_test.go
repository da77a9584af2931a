package execute_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

func (f *fixture) journalPath() string { return filepath.Join(f.stateDir, "journal-staging.json") }

// interruptAt runs p until hook is about to run, then stops the deploy as
// SIGTERM would: the journal stays for Recover.
func (f *fixture) interruptAt(p *plan.Plan, hook roles.Hook) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	f.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == hook {
			cancel()
			return context.Canceled
		}
		return nil
	}
	if _, err := f.executor().Run(ctx, p, "staging-20261123T093000-"+f.new[:8]); !errors.Is(err, execute.ErrInterrupted) {
		f.t.Fatalf("%v, want interrupted at %s", err, hook)
	}
	f.hooks.onRun = nil
}

// progress is what a journal says of how far a deploy got and what it
// changed, without the plan.
type progress struct {
	Next         int                        `json:"next"`
	PastNoReturn bool                       `json:"past_no_return"`
	Before       map[string]json.RawMessage `json:"before"`
	Suspended    map[string][]string        `json:"suspended"`
	PageOn       bool                       `json:"page_on"`
	Sources      map[string]json.RawMessage `json:"sources"`
	Plan         struct {
		Target, Deployed struct{ Commit string }
	} `json:"plan"`
}

func readProgress(t *testing.T, data []byte) progress {
	t.Helper()
	var p progress
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRecoverJournalOfPreviousVersion: an agent upgraded while a deploy
// was interrupted recovers it from the journal the earlier Ferry wrote
// (journal version 1, plan schema 1 with string params; testdata written
// by that Ferry at the same points of the same deploys, which the
// fixture's fixed commits and the simulator's ids make the same).
func TestRecoverJournalOfPreviousVersion(t *testing.T) {
	for _, tc := range []struct {
		file string
		full bool
		stop roles.Hook
		want execute.Outcome
	}{
		{"full-page-on.json", true, roles.UpgradePageOn, execute.RolledBack},
		{"full-page-off.json", true, roles.UpgradePageOff, execute.Succeeded},
		{"serial-post-deploy.json", false, roles.PostDeploy, execute.Succeeded},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := newFixture(t, 2, tc.full, "")
			p := f.plan()
			old, err := os.ReadFile(filepath.Join("testdata", "journal-v1", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			was := readProgress(t, old)
			if was.Plan.Target.Commit != f.new || was.Plan.Deployed.Commit != f.old {
				t.Fatalf("testdata/journal-v1/%s deploys %s over %s, the fixture %s over %s: the fixture's history changed",
					tc.file, was.Plan.Target.Commit, was.Plan.Deployed.Commit, f.new, f.old)
			}
			// This version stops at the same point with the same record.
			f.interruptAt(p, tc.stop)
			now, err := os.ReadFile(f.journalPath())
			if err != nil {
				t.Fatal(err)
			}
			if is := readProgress(t, now); !reflect.DeepEqual(is, was) {
				t.Errorf("interrupted at %s, this version's journal says\n%+v\nthe previous one's\n%+v", tc.stop, is, was)
			}
			// The earlier Ferry's journal takes its place, as after an upgrade.
			if err := os.WriteFile(f.journalPath(), old, 0o640); err != nil {
				t.Fatal(err)
			}
			r, err := f.executor().Recover(f.ctx, "staging")
			if r == nil || r.Outcome != tc.want {
				t.Fatalf("recover: %+v, %v; want %s", r, err, tc.want)
			}
			if tc.want == execute.RolledBack {
				f.assertOldVersion()
			} else {
				f.assertNewVersion(p)
			}
		})
	}
}

// TestJournalOfUnknownVersionRefused: a journal this Ferry cannot read is
// left in place, with what to do about it.
func TestJournalOfUnknownVersionRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, data, want string
	}{
		{"a later journal", `{"version": 3, "plan": {"schema_version": 3}}`, "version 3, this Ferry reads 1 and 2"},
		{"a later plan", `{"version": 2, "plan": {"schema_version": 3}}`, "plan schema version 3"},
		{"a version 1 plan missing a count", v1WithoutCount(t), "step 6 (wait-in-service): params: no count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "journal-staging.json")
			if err := os.WriteFile(path, []byte(tc.data), 0o640); err != nil {
				t.Fatal(err)
			}
			e := &execute.Executor{Journal: execute.JournalStore{Dir: dir}}
			_, err := e.Recover(t.Context(), "staging")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "remove the file") {
				t.Errorf("got %v; want an error saying %q and what to do", err, tc.want)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the journal is gone: %v", err)
			}
		})
	}
}

func v1WithoutCount(t *testing.T) string {
	data, err := os.ReadFile(filepath.Join("testdata", "journal-v1", "full-page-on.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	for _, s := range j["plan"].(map[string]any)["steps"].([]any) {
		if s := s.(map[string]any); s["name"] == string(plan.StepWaitInService) {
			delete(s["params"].(map[string]any), "count")
		}
	}
	out, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestInvalidPlanChangesNothing: a plan missing a value a step acts on is
// refused before anything changes, whether it is given to Run or found in
// a journal (edited by hand).
func TestInvalidPlanChangesNothing(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	for i := range p.Steps {
		if p.Steps[i].Name == plan.StepWaitInService {
			p.Steps[i].Count = 0 // once "wait for 0", which passed at once
		}
	}
	f.sim.ResetCounts()
	_, err := f.executor().Run(f.ctx, p, "d1")
	if !errors.Is(err, plan.ErrInvalid) || !strings.Contains(err.Error(), "no count") {
		t.Fatalf("Run: %v; want the plan refused for its missing count", err)
	}
	for action, n := range f.sim.Counts() {
		if !strings.Contains(action, ":Describe") {
			t.Errorf("%d %s call(s) for a refused plan", n, action)
		}
	}
	if _, err := os.Stat(f.journalPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused plan left a journal: %v", err)
	}

	// The same plan in the journal of an interrupted deploy.
	good := f.plan()
	f.interruptAt(good, roles.UpgradePageOn)
	data, err := os.ReadFile(f.journalPath())
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	for _, s := range j["plan"].(map[string]any)["steps"].([]any) {
		delete(s.(map[string]any), "count")
	}
	if data, err = json.Marshal(j); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.journalPath(), data, 0o640); err != nil {
		t.Fatal(err)
	}
	f.sim.ResetCounts()
	rec, err := f.executor().Recover(f.ctx, "staging")
	if rec != nil || !errors.Is(err, plan.ErrInvalid) || !strings.Contains(err.Error(), "remove the file") {
		t.Fatalf("Recover: %+v, %v; want the journal's plan refused, saying what to do", rec, err)
	}
	for action, n := range f.sim.Counts() {
		if !strings.Contains(action, ":Describe") {
			t.Errorf("%d %s call(s) recovering a refused plan", n, action)
		}
	}
	if _, err := os.Stat(f.journalPath()); err != nil {
		t.Errorf("the journal of a refused plan is gone: %v", err)
	}
}

// TestNoReturnIsThePlans: pkg/execute finishes forward from the step the
// plan marks, whatever its name. Here the plan puts the point of no
// return at the worker's deploy step, which fails: the deploy finishes
// forward (the new version serves) and says it failed, where the same
// failure otherwise rolls back (TestFailuresRollBack).
func TestNoReturnIsThePlans(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	for i := range p.Steps {
		p.Steps[i].NoReturn = p.Steps[i].Name == plan.StepWorkerDeploy
	}
	f.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == roles.Deploy {
			return errors.New("migrate: exit status 1")
		}
		return nil
	}
	r, err := f.executor().Run(f.ctx, p, "d1")
	if r.Outcome != execute.Failed || err == nil || !strings.Contains(r.Reason, "migrate") {
		t.Fatalf("outcome %s (%v), reason %q; want failed, finished forward", r.Outcome, err, r.Reason)
	}
	f.assertNewVersion(p)
}

// TestJournalWriteFailureIsNotDropped: when the journal can no longer be
// written mid-deploy, the deploy stops, every write that failed is in the
// outcome's error and logged at error level, and the group is put back.
func TestJournalWriteFailureIsNotDropped(t *testing.T) {
	f := newFixture(t, 2, true, "")
	p := f.plan()
	var log testutil.Buffer
	e := f.executor()
	e.Log = slog.New(slog.NewTextHandler(&log, nil))
	f.hooks.onRun = func(run execute.HookRun) error {
		if run.Hook == roles.UpgradePageOn {
			// A directory where the journal goes: every later write fails.
			if err := os.Remove(f.journalPath()); err != nil {
				return err
			}
			return os.Mkdir(f.journalPath(), 0o750)
		}
		return nil
	}
	r, err := e.Run(f.ctx, p, "d1")
	if r.Outcome == execute.Succeeded || err == nil {
		t.Fatalf("outcome %s (%v); want the deploy stopped by its journal", r.Outcome, err)
	}
	if !strings.Contains(err.Error(), "after step 7 (upgrade-page-on): journal:") {
		t.Errorf("error %q does not say the journal was not written after step 7", err)
	}
	if n := strings.Count(log.String(), `level=ERROR msg="journal not written"`); n < 2 {
		t.Errorf("%d journal write failure(s) logged at error level, want one per write (the step's, the rollback's, the outcome's):\n%s", n, log.String())
	}
	if err := os.Remove(f.journalPath()); err != nil {
		t.Fatal(err)
	}
	f.settled()
	f.assertOldVersion()
}

// TestStartedIsTheCallers: the time the caller says the deploy started
// (its "started" note) is the journal's and the report's, so that the
// outcome a recovery records pairs with that note, even when the note was
// written in an earlier second than Run was called.
func TestStartedIsTheCallers(t *testing.T) {
	f := newFixture(t, 2, false, "")
	p := f.plan()
	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	e := f.executor()
	e.Started = started
	r, err := e.Run(f.ctx, p, "d1")
	if err != nil || r.Outcome != execute.Succeeded {
		t.Fatalf("outcome %s: %v", r.Outcome, err)
	}
	if !r.Started.Equal(started) {
		t.Errorf("report started %s, want the caller's %s", r.Started, started)
	}
}

package execute_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

func (f *fixture) journalPath() string { return filepath.Join(f.stateDir, "journal-staging.json") }

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

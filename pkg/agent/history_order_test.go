package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/status"
)

// TestNewestFirst: records of one second (notes keep whole seconds) come
// in the order they happened: the deploy that ended last first, a record
// not ended after those that did.
func TestNewestFirst(t *testing.T) {
	at := time.Date(2026, 11, 30, 16, 14, 2, 0, time.UTC)
	rec := func(outcome status.Outcome, started, ended time.Time) PastDeploy {
		return PastDeploy{Record: status.Record{Outcome: outcome, Started: started, Ended: ended}}
	}
	awaiting := rec(status.AwaitingApproval, at, time.Time{})
	approved := rec(status.Approved, at, at)
	succeeded := rec(status.Succeeded, at, at.Add(2*time.Second))
	earlier := rec(status.Rejected, at.Add(-time.Minute), at.Add(-time.Minute))
	later := rec(status.RolledBack, at.Add(time.Minute), at.Add(2*time.Minute))
	for _, in := range [][]PastDeploy{
		{awaiting, approved, succeeded, earlier, later},
		{earlier, succeeded, approved, later, awaiting},
		{approved, awaiting, later, earlier, succeeded},
	} {
		got := slices.Clone(in)
		slices.SortFunc(got, newestFirst)
		var outcomes []status.Outcome
		for _, d := range got {
			outcomes = append(outcomes, d.Outcome)
		}
		want := []status.Outcome{status.RolledBack, status.Succeeded, status.Approved, status.AwaitingApproval, status.Rejected}
		if !slices.Equal(outcomes, want) {
			t.Errorf("sorted %v; want %v", outcomes, want)
		}
	}
}

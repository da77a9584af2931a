package agent

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

func TestDecide(t *testing.T) {
	c := Control{Dir: t.TempDir()}
	awaiting := commit.MustParse("4f1c0d2e9a7b3c5d6e8f0a1b2c3d4e5f6a7b8c9d")
	at := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	if _, err := c.Decide("production", awaiting.String(), Decision{Approved: true, By: "ann@bastion", At: at}); !errors.Is(err, ErrNotAwaiting) {
		t.Fatalf("nothing awaiting: err = %v", err)
	}
	if err := c.write(c.path("awaiting", "production"), Awaiting{Commit: awaiting, Method: plan.Full, Summary: "full deploy", Since: at}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sha string
		ok  bool
	}{
		{"4f1c0d2", true},
		{"4F1C0D2E9A7B", true},
		{awaiting.String(), true},
		{"4f1c0d", false}, // too short to name a commit
		{"0aa1bb2cc3dd", false},
		{"", false},
	} {
		d, err := c.Decide("production", tc.sha, Decision{Approved: true, By: "ann@bastion", At: at})
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrNotAwaiting)) {
			t.Errorf("Decide(%q): err = %v, want ok=%v", tc.sha, err, tc.ok)
			continue
		}
		if tc.ok && d.Commit != awaiting {
			t.Errorf("Decide(%q) recorded %s", tc.sha, d.Commit)
		}
	}
	got, err := c.DecisionState("production")
	if err != nil || got == nil || got.Commit != awaiting || !got.Approved || got.By != "ann@bastion" || !got.At.Equal(at) {
		t.Fatalf("decision = %+v, %v", got, err)
	}
	if err := c.clearApproval("production"); err != nil {
		t.Fatal(err)
	}
	if a, _ := c.AwaitingState("production"); a != nil {
		t.Errorf("awaiting left after clearApproval: %+v", a)
	}
	if d, _ := c.DecisionState("production"); d != nil {
		t.Errorf("decision left after clearApproval: %+v", d)
	}
}

func TestPlanSummary(t *testing.T) {
	p := &plan.Plan{
		Environment: "production", Action: plan.Deploy, Method: plan.Full, Downtime: true,
		Target:   plan.Revision{Commit: commit.MustParse("4f1c0d2e9a7b3c5d6e8f0a1b2c3d4e5f6a7b8c9d")},
		Deployed: plan.Revision{Commit: commit.MustParse("0aa1bb2cc3dd4ee5ff60718293a4b5c6d7e8f901")},
		Groups: []plan.GroupPlan{
			{Role: "web", Replace: []string{"i-1", "i-2"}},
			{Role: "worker", Replace: []string{"i-3"}},
		},
	}
	want := "full deploy of production to 4f1c0d2e9a7b from 0aa1bb2cc3dd: web, worker, 3 instances replaced, downtime (upgrade page)"
	if got := planSummary(p); got != want {
		t.Errorf("summary = %q\nwant      %q", got, want)
	}
	if got := planSummary(&plan.Plan{Action: plan.NoOp}); got != "nothing to do" {
		t.Errorf("no-op summary = %q", got)
	}
}

type bakerFunc func(context.Context, commit.ID) (string, error)

func (f bakerFunc) Bake(ctx context.Context, c commit.ID) (string, error) { return f(ctx, c) }

// A failed bake is reported (bake-failed); one stopped with the deploy, or
// one that worked, is not.
func TestReportingBaker(t *testing.T) {
	c := commit.MustParse("4f1c0d2e9a7b3c5d6e8f0a1b2c3d4e5f6a7b8c9d")
	var reported []string
	b := reportingBaker{
		Baker: bakerFunc(func(ctx context.Context, _ commit.ID) (string, error) {
			return "", errors.Join(ctx.Err(), errors.New("build hook exited 2"))
		}),
		failed: func(got commit.ID, err error) { reported = append(reported, got.Short()+": "+err.Error()) },
	}
	if _, err := b.Bake(context.Background(), c); err == nil {
		t.Fatal("the bake's error was lost")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = b.Bake(ctx, c)
	ok := reportingBaker{Baker: bakerFunc(func(context.Context, commit.ID) (string, error) { return "ami-1", nil }), failed: b.failed}
	if img, err := ok.Bake(context.Background(), c); img != "ami-1" || err != nil {
		t.Fatalf("Bake = %q, %v", img, err)
	}
	if want := []string{"4f1c0d2e9a7b: build hook exited 2"}; !slices.Equal(reported, want) {
		t.Errorf("reported %q, want %q", reported, want)
	}
}

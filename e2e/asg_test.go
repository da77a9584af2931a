package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// TestASGSuspendResume runs ferry asg suspend and resume as processes:
// the group's processes change, ferry status shows them and who changed
// them, a deploy keeps them as found, and a held lock refuses the change.
func TestASGSuspendResume(t *testing.T) {
	p, _ := newProject(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	suspended := func() []string {
		t.Helper()
		g, err := p.cloud.Group(ctx, group, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return g.SuspendedProcesses
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"asg", "suspend", "-c", p.config, "staging", "Nope"}, 64, `no Auto Scaling process "Nope"`},
		{[]string{"asg", "suspend", "-c", p.config, "nowhere"}, 64, `no environment "nowhere"`},
		{[]string{"asg", "suspend", "-c", p.config}, 64, "name an environment"},
		{[]string{"asg", "frobnicate"}, 64, "unknown command"},
		{[]string{"help", "nosuch"}, 64, `unknown help topic "nosuch"`},
		{[]string{"help", "asg", "frobnicate"}, 64, `unknown help topic "asg frobnicate"`},
	} {
		code, _, stderr := p.ferry(ctx, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("ferry %s: exit %d, stderr %q; want %d saying %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
	if got := suspended(); len(got) != 0 {
		t.Fatalf("wrong command lines suspended %v", got)
	}

	code, stdout, stderr := p.ferry(ctx, "asg", "suspend", "-c", p.config, "staging", "azrebalance", "ScheduledActions")
	if code != 0 || !strings.Contains(stdout, group+": suspended now: AZRebalance, ScheduledActions") {
		t.Fatalf("suspend: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "audit: Auto Scaling processes suspended by a person") {
		t.Errorf("no audit line in the log:\n%s", stderr)
	}
	if got := suspended(); !slices.Equal(got, []string{"AZRebalance", "ScheduledActions"}) {
		t.Errorf("suspended %v after ferry asg suspend", got)
	}
	_, stdout, _ = p.ferry(ctx, "status", "-c", p.config, "staging")
	for _, want := range []string{group + ": AZRebalance, ScheduledActions", "last suspend of AZRebalance, ScheduledActions by "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("ferry status lacks %q:\n%s", want, stdout)
		}
	}

	// A deploy leaves them as found.
	next := p.push("Second", map[string]string{"app.py": "2\n"})
	code, stdout, stderr = p.ferry(ctx, "deploy", "-c", p.config, "staging", "--yes")
	if code != 0 || !strings.Contains(stdout, "kept suspended") {
		t.Fatalf("deploy of %s: exit %d\n%s\n%s", next[:12], code, stdout, stderr)
	}
	if got := suspended(); !slices.Equal(got, []string{"AZRebalance", "ScheduledActions"}) {
		t.Errorf("after a deploy, suspended %v; want AZRebalance, ScheduledActions as found", got)
	}

	// A deploy holds the lock: refused, nothing changed.
	m, err := watch.OpenMirror(watch.MirrorOptions{Dir: filepath.Join(t.TempDir(), "mirror"), URL: "file://" + p.remote})
	if err != nil {
		t.Fatal(err)
	}
	locker := &lock.Locker{Remote: m, Holder: "other-host/pid 1"}
	lease, err := locker.Acquire(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = p.ferry(ctx, "asg", "resume", "-c", p.config, "staging")
	if code != 1 || !strings.Contains(stderr, "a deploy holds the environment's lock (other-host/pid 1") {
		t.Errorf("resume under a held lock: exit %d\n%s", code, stderr)
	}
	if got := suspended(); len(got) != 2 {
		t.Errorf("a refused resume changed the processes: %v", got)
	}
	if err := locker.Release(ctx, lease); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr = p.ferry(ctx, "asg", "resume", "-c", p.config, "staging")
	if code != 0 || !strings.Contains(stdout, group+": suspended now: -") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := suspended(); len(got) != 0 {
		t.Errorf("suspended %v after ferry asg resume", got)
	}
}

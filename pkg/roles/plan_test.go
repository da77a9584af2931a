package roles

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

const oldSHA = "0123456789abcdef0123456789abcdef01234567"

func ids(ins []Instance) []string {
	var s []string
	for _, in := range ins {
		s = append(s, in.ID)
	}
	return s
}

// fleet is a full deploy midway: old and new web servers and workers, and
// the long-lived servers.
func fleet() []Instance {
	return []Instance{
		{ID: "i-0c", Role: Web, Addr: "10.0.1.12", Commit: sha},
		{ID: "i-0a", Role: Web, Addr: "10.0.1.10", Commit: oldSHA},
		{ID: "i-0b", Role: Web, Addr: "10.0.1.11", Commit: oldSHA},
		{ID: "i-0d", Role: Web, Addr: "10.0.1.13", Commit: sha},
		{ID: "i-1b", Role: Worker, Addr: "10.0.2.11", Commit: sha},
		{ID: "i-1a", Role: Worker, Addr: "10.0.2.10", Commit: oldSHA},
		{ID: "i-1c", Role: Worker, Addr: "10.0.2.12", Commit: sha},
		{ID: "i-2a", Role: Cache, Addr: "10.0.3.10"},
		{ID: "i-3a", Role: DBPrimary, Addr: "10.0.4.10"},
	}
}

func TestPlanUpgradePageOnEveryWebServer(t *testing.T) {
	v, _ := NewVars("production", commit.MustParse(sha))
	for _, hook := range []Hook{UpgradePageOn, UpgradePageOff} {
		steps, err := PlanHook(hook, Defaults(), fleet(), v)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 1 || steps[0].Role != Web || steps[0].Hook != hook {
			t.Fatalf("%s: steps %+v, want one web step", hook, steps)
		}
		// Old and new alike, in a stable order.
		if got, want := ids(steps[0].Instances), []string{"i-0a", "i-0b", "i-0c", "i-0d"}; !slices.Equal(got, want) {
			t.Errorf("%s on %v, want %v", hook, got, want)
		}
		if !slices.Equal(steps[0].Commands, Defaults()[Web][hook]) {
			t.Errorf("%s commands %q", hook, steps[0].Commands)
		}
	}
}

func TestPlanDeployStepOnExactlyOneWorker(t *testing.T) {
	v, _ := NewVars("production", commit.MustParse(sha))
	for _, tc := range []struct {
		name      string
		instances []Instance
		want      string
		wantWhy   string
	}{
		{"prefers a worker on the target commit", fleet(), "i-1b", "running 716084f7bf3d"},
		{"same pick whatever the input order", reversed(fleet()), "i-1b", "running 716084f7bf3d"},
		{
			"lowest ID when none runs the commit",
			[]Instance{{ID: "i-9", Role: Worker, Commit: oldSHA}, {ID: "i-4", Role: Worker}, {ID: "i-7", Role: Worker, Commit: oldSHA}},
			"i-4", "none reports running",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps, err := PlanHook(Deploy, Defaults(), tc.instances, v)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != 1 || steps[0].Role != Worker {
				t.Fatalf("steps %+v, want one worker step", steps)
			}
			got := ids(steps[0].Instances)
			if !slices.Equal(got, []string{tc.want}) {
				t.Errorf("deploy step on %v, want exactly [%s]", got, tc.want)
			}
			if !strings.Contains(steps[0].Why, tc.want) || !strings.Contains(steps[0].Why, tc.wantWhy) {
				t.Errorf("Why = %q, should name %s and say %q", steps[0].Why, tc.want, tc.wantWhy)
			}
			if !strings.Contains(strings.Join(steps[0].Commands, "\n"), "/srv/app/releases/"+sha) {
				t.Errorf("commands not rendered for the commit: %q", steps[0].Commands)
			}
		})
	}
}

func reversed(in []Instance) []Instance {
	out := slices.Clone(in)
	slices.Reverse(out)
	return out
}

func TestPlanHookErrors(t *testing.T) {
	v, _ := NewVars("production", commit.MustParse(sha))
	webOnly := []Instance{{ID: "i-0a", Role: Web}}
	if _, err := PlanHook(Deploy, Defaults(), webOnly, v); err == nil || !strings.Contains(err.Error(), "no worker instance") {
		t.Errorf("deploy with no worker: %v, want an error (migrations must not be skipped silently)", err)
	}
	dup := append(fleet(), Instance{ID: "i-0a", Role: Web})
	if _, err := PlanHook(UpgradePageOn, Defaults(), dup, v); err == nil || !strings.Contains(err.Error(), "i-0a listed twice") {
		t.Errorf("duplicate instance: %v", err)
	}
	if _, err := PlanHook("pre_deploy", Defaults(), fleet(), v); err == nil {
		t.Error("unknown hook accepted")
	}
	bad := map[Role]Commands{Web: {UpgradePageOn: {"echo {{.Nope}}"}}}
	if _, err := PlanHook(UpgradePageOn, bad, fleet(), v); err == nil || !strings.Contains(err.Error(), "role web hook upgrade_page_on") {
		t.Errorf("bad template: %v", err)
	}
}

func TestPlanSkipsRolesWithoutCommands(t *testing.T) {
	v, _ := NewVars("production", commit.MustParse(sha))
	cmds := map[Role]Commands{
		Worker: {Deploy: {}}, // disabled by an override
		Cache:  {PostDeploy: {"redis-cli FLUSHDB"}},
	}
	steps, err := PlanHook(Deploy, cmds, nil, v)
	if err != nil || len(steps) != 0 {
		t.Errorf("disabled deploy step: %+v, %v; want no steps and no error", steps, err)
	}
	steps, err = PlanHook(PostDeploy, cmds, fleet(), v)
	if err != nil || len(steps) != 1 || steps[0].Role != Cache || !slices.Equal(ids(steps[0].Instances), []string{"i-2a"}) {
		t.Errorf("post_deploy: %+v, %v; want the cache server only", steps, err)
	}
}

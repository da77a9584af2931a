package plan_test

import (
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

func TestCommitOfLaunchSource(t *testing.T) {
	const sha = "80db5afabb96c0ffee0123456789abcdef012345"
	name := plan.LaunchSourceName("shop", "staging", commit.MustParse(sha), time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC))
	for _, tc := range []struct {
		name, source, want string
	}{
		{"as named", name, sha[:12]},
		{"one group's launch configuration", plan.RoleLaunchConfigurationName(name, "worker"), sha[:12]},
		{"a hyphenated role's", plan.RoleLaunchConfigurationName(name, "db-primary"), sha[:12]},
		{"made by hand", "shop-staging-web-lc-2", ""},
		{"sha too short", "shop-staging-80db5afabb9-20261122T093000", ""},
		{"not lowercase hex", "shop-staging-80DB5AFABB96-20261122T093000", ""},
		{"suffix after the role", plan.RoleLaunchConfigurationName(name, "web") + "-copy", ""},
		{"not a role", name + "-copy", ""},
		{"no timestamp", "shop-staging-80db5afabb96", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan.CommitOfLaunchSource(tc.source); got != tc.want {
				t.Errorf("CommitOfLaunchSource(%q) = %q, want %q", tc.source, got, tc.want)
			}
		})
	}
	if name != "shop-staging-80db5afabb96-20261122T093000" {
		t.Errorf("LaunchSourceName = %q", name)
	}
}

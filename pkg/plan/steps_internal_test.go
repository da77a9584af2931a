package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// In a serial deploy the worker's deploy step runs where the new commit's
// code already is: after the worker group's batches (which go first), or
// with no worker group after the first web batch; never before any new
// instance exists.
func TestSerialWorkerDeployFollowsNewCode(t *testing.T) {
	web := GroupPlan{Role: "web", Name: "shop-web", Balanced: true, Replace: []string{"i-w1", "i-w2"},
		Capacity: Capacity{MinBefore: 2, MaxBefore: 3, DesiredBefore: 2, MaxDuring: 3, DesiredDuring: 3, DesiredAfter: 2}}
	worker := GroupPlan{Role: "worker", Name: "shop-worker", Replace: []string{"i-k1"},
		Capacity: Capacity{MinBefore: 1, MaxBefore: 2, DesiredBefore: 1, MaxDuring: 2, DesiredDuring: 2, DesiredAfter: 1}}
	env := &config.Environment{Policy: config.Policy{SerialBatchSize: 1, SerialMode: config.SerialSurge}}
	for _, tc := range []struct {
		name   string
		groups []GroupPlan
		want   []string
	}{
		{"worker group", []GroupPlan{web, worker}, []string{
			"prepare-launch-source", "suspend-processes shop-worker", "install-launch-source shop-worker", "replace-batch shop-worker",
			"restore-capacity shop-worker", "resume-processes shop-worker", "worker-deploy",
			"suspend-processes shop-web", "install-launch-source shop-web", "replace-batch shop-web", "replace-batch shop-web",
			"restore-capacity shop-web", "resume-processes shop-web", "post-deploy"}},
		{"no worker group", []GroupPlan{web}, []string{
			"prepare-launch-source", "suspend-processes shop-web", "install-launch-source shop-web", "replace-batch shop-web",
			"worker-deploy", "replace-batch shop-web", "restore-capacity shop-web", "resume-processes shop-web", "post-deploy"}},
		{"nothing to replace", []GroupPlan{{Role: "web", Name: "shop-web", Balanced: true}}, []string{
			"prepare-launch-source", "suspend-processes shop-web", "install-launch-source shop-web",
			"restore-capacity shop-web", "resume-processes shop-web", "worker-deploy", "post-deploy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{Method: Serial, Target: Revision{Commit: commit.MustParse(strings.Repeat("ab", 20))}, Groups: tc.groups}
			var got []string
			var noReturn []string
			for _, s := range steps(p, env) {
				got = append(got, strings.TrimSpace(string(s.Name)+" "+s.Group))
				if s.NoReturn {
					noReturn = append(noReturn, string(s.Name)+" "+s.Group)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("steps:\n%q\nwant\n%q", got, tc.want)
			}
			if i := slices.Index(got, "replace-batch shop-web"); i >= 0 && (len(noReturn) != 1 || noReturn[0] != "restore-capacity shop-web") {
				t.Errorf("no_return on %q, want the web group's restore-capacity alone", noReturn)
			}
		})
	}
}

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// An agent stopped in the middle of a deploy, by SIGKILL (a crash, the OOM
// killer) or by SIGTERM (systemctl stop), leaves a journal; the agent
// started again on the same state dir recovers the deploy, and the group
// ends consistent: the pushed commit serving on every instance, nothing
// suspended, capacity as before, and the outcome in the note.
func TestStoppedMidDeployRecovers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sig    syscall.Signal
		change map[string]string
		// midway says, from the web group, that the deploy is under way.
		midway func(w *world) (bool, string)
	}{
		{
			name:   "SIGKILL while a full deploy has processes suspended",
			sig:    syscall.SIGKILL,
			change: map[string]string{".ferry/schema-version": "2\n"},
			midway: func(w *world) (bool, string) {
				g := w.group(staging().webGroup())
				s := suspended(g)
				return len(s) > 0, fmt.Sprintf("suspended %v", s)
			},
		},
		{
			name:   "SIGKILL while a serial deploy has added a replacement",
			sig:    syscall.SIGKILL,
			change: map[string]string{"app.py": "print('shop 2')\n"},
			midway: func(w *world) (bool, string) {
				g := w.group(staging().webGroup())
				return aws.ToInt32(g.DesiredCapacity) > int32(staging().web), fmt.Sprintf("desired %d", aws.ToInt32(g.DesiredCapacity))
			},
		},
		{
			name:   "SIGTERM during a full deploy",
			sig:    syscall.SIGTERM,
			change: map[string]string{".ferry/schema-version": "2\n"},
			midway: func(w *world) (bool, string) {
				g := w.group(staging().webGroup())
				return aws.ToInt32(g.DesiredCapacity) > int32(staging().web), fmt.Sprintf("desired %d", aws.ToInt32(g.DesiredCapacity))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, staging())
			state := stateDir(t)
			config := w.writeConfig(t.TempDir()+"/ferry.toml", settings{stateDir: state})
			a := w.startAgent("ferry run", config)
			a.waitState(deployTimeout, "staging", w.first, "idle")

			c := w.push("Change", tc.change, "main:staging")
			testutil.Eventually(t, deployTimeout, "the deploy to be under way", func() (bool, string) { return tc.midway(w) })
			a.signal(tc.sig)
			code := a.exitCode(time.Minute)
			if tc.sig == syscall.SIGTERM && code != 0 {
				t.Errorf("ferry run exited %d after SIGTERM mid-deploy, want 0", code)
			}
			journal := filepath.Join(state, "journal", "journal-staging.json")
			if _, err := os.Stat(journal); err != nil {
				t.Fatalf("the stopped agent left no journal (%v): it was not stopped mid-deploy", err)
			}
			if tc.sig == syscall.SIGTERM {
				// A safe point: what the deploy suspended is resumed.
				if s := suspended(w.group(staging().webGroup())); len(s) > 0 {
					t.Errorf("after SIGTERM the group still has %v suspended", s)
				}
			}

			a = w.startAgent("ferry run (restarted)", config)
			testutil.Eventually(t, deployTimeout, "the pushed commit to serve, consistently", func() (bool, string) { return w.settled(staging(), c) })
			got := w.waitOutcome(deployTimeout, c, "staging", "succeeded")
			// Every attempt has its outcome: the interrupted one was
			// recorded when the restarted agent recovered it.
			started := 0
			for _, o := range got {
				if strings.HasSuffix(o, " started") {
					started++
				}
			}
			if started < 1 || 2*started != len(got) {
				t.Errorf("staging outcomes on %.12s: %q; want each start followed by its outcome", c, got)
			}
			a.waitState(deployTimeout, "staging", c, "idle")
			if _, err := os.Stat(journal); err == nil {
				t.Errorf("the journal is still there after recovery")
			}
		})
	}
}

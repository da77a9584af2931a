package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// lockedBuffer is a log's destination the agent's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAgentLogsLaunchDrift: the running agent, in sync, notices that a
// [launch] setting of the config is not in the launch source (no push
// deploys it) and says so once in its log and in its view (the dashboard
// card), not at every look.
func TestAgentLogsLaunchDrift(t *testing.T) {
	p := newProjectSim(t, 2, awssim.Options{App: awssim.DemoApp})
	doc, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.Replace(string(doc), "ssh.user = \"deploy\"\n", "ssh.user = \"deploy\"\nlaunch.instance_type = \"m5.large\"\n", 1))
	if err := os.WriteFile(p.config, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	a := startAgentLogging(t, p, 50*time.Millisecond, slog.New(slog.NewTextHandler(&out, nil)))

	const said = "[launch] settings drift"
	testutil.Eventually(t, 30*time.Second, "the drift in the log", func() (bool, string) {
		return strings.Contains(out.String(), said), ""
	})
	// Three more looks at the launch source, each finding the same drift.
	looks := func() int64 { return p.sim.Counts()["ec2:DescribeLaunchTemplateVersions"] }
	first := looks()
	testutil.Eventually(t, 30*time.Second, "three more looks", func() (bool, string) {
		return looks() >= first+3, fmt.Sprintf("%d looks", looks()-first)
	})
	logged := out.String()
	if n := strings.Count(logged, said); n != 1 {
		t.Errorf("the drift logged %d times; want once:\n%s", n, logged)
	}
	if !strings.Contains(logged, `launch.instance_type is \"m5.large\"`) || !strings.Contains(logged, "redeploy=\"ferry redeploy staging\"") || !strings.Contains(logged, "level=INFO") {
		t.Errorf("the drift's log line lacks the setting or the command:\n%s", logged)
	}
	var drift []string
	for _, v := range a.Views() {
		if v.Env == "staging" {
			drift = v.Drift
		}
	}
	if len(drift) != 1 || !strings.Contains(drift[0], `launch.instance_type is "m5.large"`) {
		t.Errorf("the view's drift is %q; want the instance type", drift)
	}
}

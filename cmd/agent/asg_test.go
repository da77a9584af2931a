package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// TestASGAuditInTheAgentsLog: a person's ferry asg suspend, run beside a
// running agent, is written to the agent's log as an audit line.
func TestASGAuditInTheAgentsLog(t *testing.T) {
	p := newProject(t, 1)
	var log testutil.Buffer
	startAgentLogging(t, p, time.Hour, slog.New(slog.NewTextHandler(&log, nil)))
	if code, out, errOut := runFerry(t, "asg", "suspend", "-c", p.config, "staging", "ScheduledActions"); code != exitOK {
		t.Fatalf("asg suspend: exit %d\n%s\n%s", code, out, errOut)
	}
	testutil.Eventually(t, 30*time.Second, "the agent's audit line", func() (bool, string) {
		for _, line := range strings.Split(log.String(), "\n") {
			if strings.Contains(line, `msg="audit: Auto Scaling processes suspended by a person"`) &&
				strings.Contains(line, "env=staging") && strings.Contains(line, "processes=ScheduledActions") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("agent log:\n%s", log.String())
	})
}

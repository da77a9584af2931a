package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNoteKeptWhileRemoteGone: the git remote disappears as the deploy
// starts its steps, after the started note was pushed. The deploy goes
// on (AWS is all it needs); its outcome note cannot be pushed, and is
// kept in the state dir. Once the remote is back, the next run pushes it:
// the note has the attempt's outcome, and nothing is kept any more.
func TestNoteKeptWhileRemoteGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, _ := newProject(t, 2)
	next := p.push("Speed up the cart", map[string]string{"app.py": "2\n"})
	before := p.state(ctx).g

	agent := p.start("--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
	if _, err := agent.waitLine(ctx, func(l string) bool { return stepLine.MatchString(l) }); err != nil {
		t.Fatalf("waiting for the first step: %v\n%s", err, agent.stderr.String())
	}
	gone := p.remote + ".gone"
	if err := os.Rename(p.remote, gone); err != nil {
		t.Fatal(err)
	}
	<-agent.done
	_ = agent.cmd.Wait()
	log := agent.stderr.String()
	if !strings.Contains(log, "outcome=succeeded") {
		t.Fatalf("the deploy did not succeed without its remote:\n%s", log)
	}
	pending := filepath.Join(p.stateDir, "notes", "pending-staging.json")
	data, err := os.ReadFile(pending)
	if err != nil || !strings.Contains(string(data), "succeeded") {
		t.Fatalf("the outcome record was not kept: %v\n%s\n%s", err, data, log)
	}
	p.assertConsistent(ctx, before, next)

	if err := os.Rename(gone, p.remote); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := p.ferry(ctx, "--log-format", "text", "deploy", "-c", p.config, "staging", "--yes")
	if code != 0 || !strings.Contains(stderr, "kept note record pushed") {
		t.Fatalf("the next run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(pending); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("records still kept after the push: %v", err)
	}
	p.assertNotesComplete(next)
}

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// An operator's sessions with the real AWS clients people use — Debian's
// AWS CLI and boto3 — against `ferry sim`, as `ferry sim -- CMD` runs them
// (internal/awssim/clients: run.sh gives each session an environment of
// its own: no HOME, dotfiles or AWS config of the invoking user). Each
// session checks what AWS documents; a divergence fails it with the call
// and what came back.
func TestRealClientsAgainstSim(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI and boto3 (about a minute of CPU)")
	}
	var missing []string
	if _, err := os.Stat("/usr/bin/aws"); err != nil {
		missing = append(missing, "awscli")
	}
	if err := exec.Command("/usr/bin/python3", "-I", "-c", "import boto3").Run(); err != nil {
		missing = append(missing, "python3-boto3")
	}
	if len(missing) > 0 {
		msg := "needs Debian's " + strings.Join(missing, " and ") + " (scripts/install-test-deps.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "internal", "awssim", "clients", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// The sessions' shell reads no startup file of the invoking user.
	t.Setenv("BASH_ENV", "")
	for _, session := range []string{"cli", "boto3"} {
		t.Run(session, func(t *testing.T) {
			t.Setenv("WORK", t.TempDir())
			// Every wait in the sessions is bounded; this bounds a hung
			// client too.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			var out, errOut testutil.Buffer // written by the simulator and the session at once
			code := run(ctx, []string{"sim", "--listen", "127.0.0.1:0", "--boot-delay", "100ms", "--second", "10ms",
				"--image-build-time", "100ms", "--shutdown-delay", "50ms", "--tick", "10ms",
				"--", "/bin/bash", "--noprofile", "--norc", script, session}, &out, &errOut)
			if code != 0 || !strings.Contains(out.String(), session+": ok") {
				t.Fatalf("ferry sim -- run.sh %s: exit %d\n%s\n%s", session, code, out.String(), lastLines(errOut.String(), 40))
			}
		})
	}
}

// lastLines is the end of a long output.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

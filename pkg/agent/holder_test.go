package agent

import (
	"os"
	"os/exec"
	"testing"
)

func TestExitedHolder(t *testing.T) {
	// A process that has run and been reaped: its pid no longer runs (a
	// reuse in the moments between would make the check say "running",
	// the safe answer, and fail this test rather than pass wrongly).
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	exited := exitedHolder("bastion-1", processRunning)
	for _, tc := range []struct {
		holder string
		want   bool
	}{
		{holderName("bastion-1", dead), true},
		{holderName("bastion-1", os.Getpid()), false}, // this very process
		{holderName("bastion-1", 1), false},           // init: runs, owned by root
		{holderName("bastion-2", dead), false},        // another host: cannot tell
		{"ferry status", false},
		{"bastion-1/pid x", false},
		{"bastion-1/pid -1", false},
		{"bastion-1/pid 0", false},
	} {
		if got := exited(tc.holder); got != tc.want {
			t.Errorf("exited(%q) = %v, want %v", tc.holder, got, tc.want)
		}
	}
	if exitedHolder("", processRunning)(holderName("", dead)) {
		t.Error("with no host name, no holder may look exited")
	}
}

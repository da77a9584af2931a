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
	const ns = "pid:[4026531836]"
	exited := exitedHolder("bastion-1", ns, processRunning)
	for _, tc := range []struct {
		holder string
		want   bool
	}{
		{holderName("bastion-1", dead, ns), true},
		{holderName("bastion-1", os.Getpid(), ns), false},          // this very process
		{holderName("bastion-1", 1, ns), false},                    // init: runs, owned by root
		{holderName("bastion-2", dead, ns), false},                 // another host: cannot tell
		{holderName("bastion-1", dead, "pid:[4026532000]"), false}, // a container sharing the host name
		{holderName("bastion-1", dead, ""), false},                 // namespace unknown
		{"ferry status", false},
		{"bastion-1/pid x " + ns, false},
		{"bastion-1/pid -1 " + ns, false},
		{"bastion-1/pid 0 " + ns, false},
	} {
		if got := exited(tc.holder); got != tc.want {
			t.Errorf("exited(%q) = %v, want %v", tc.holder, got, tc.want)
		}
	}
	if exitedHolder("", ns, processRunning)(holderName("", dead, ns)) {
		t.Error("with no host name, no holder may look exited")
	}
	if exitedHolder("bastion-1", "", processRunning)(holderName("bastion-1", dead, "")) {
		t.Error("with no pid namespace, no holder may look exited")
	}
}

// This process's holder name, as a lease would carry it, is exited only
// once the process is gone: HolderExited agrees with holderName.
func TestHolderExitedOnThisHost(t *testing.T) {
	if pidNamespace() == "" {
		t.Skip("no /proc/self/ns/pid here")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if !HolderExited(holderName(thisHost(), cmd.Process.Pid, pidNamespace())) {
		t.Error("a reaped process of this host is not seen as exited")
	}
	if HolderExited(holderName(thisHost(), os.Getpid(), pidNamespace())) {
		t.Error("this running process is seen as exited")
	}
}

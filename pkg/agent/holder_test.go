package agent

import (
	"os"
	"os/exec"
	"testing"
)

// reaped returns the pid of a process that has run and been reaped: it
// no longer runs (a reuse in the moments between would make the check say
// "running", the safe answer, and fail a test rather than pass it wrongly).
func reaped(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestExitedHolder(t *testing.T) {
	dead := reaped(t)
	here := procSpace{host: "bastion-1", boot: "3f2a1b4c5d6e", ns: "pid:[4026531836]"}
	exited := here.exited(processRunning)
	elsewhere := func(f func(*procSpace)) procSpace { s := here; f(&s); return s }
	for _, tc := range []struct {
		name   string
		holder string
		want   bool
	}{
		{"exited here", here.holder(dead), true},
		{"this very process", here.holder(os.Getpid()), false},
		{"init: runs, owned by root", here.holder(1), false},
		{"another host", elsewhere(func(s *procSpace) { s.host = "bastion-2" }).holder(dead), false},
		{"another machine with the same host name", elsewhere(func(s *procSpace) { s.boot = "0123456789ab" }).holder(dead), false},
		{"a container sharing the host name", elsewhere(func(s *procSpace) { s.ns = "pid:[4026532000]" }).holder(dead), false},
		{"the machine did not say", elsewhere(func(s *procSpace) { s.boot = "" }).holder(dead), false},
		{"not a holder name", "ferry status", false},
		{"bad pid", "bastion-1/pid x boot 3f2a1b4c5d6e pid:[4026531836]", false},
		{"negative pid", "bastion-1/pid -1 boot 3f2a1b4c5d6e pid:[4026531836]", false},
		{"pid 0", "bastion-1/pid 0 boot 3f2a1b4c5d6e pid:[4026531836]", false},
		{"extra words", here.holder(dead) + " x", false},
	} {
		if got := exited(tc.holder); got != tc.want {
			t.Errorf("%s: exited(%q) = %v, want %v", tc.name, tc.holder, got, tc.want)
		}
	}
	for _, unknown := range []procSpace{{boot: "b", ns: "n"}, {host: "h", ns: "n"}, {host: "h", boot: "b"}} {
		if unknown.exited(processRunning)(unknown.holder(dead)) {
			t.Errorf("%+v: where the system does not say, no holder may look exited", unknown)
		}
	}
}

// This machine's own names: a reaped process's lease is exited, this
// process's is not.
func TestHolderExitedOnThisMachine(t *testing.T) {
	if !thisSpace().known() {
		t.Skipf("this system does not name its boot or pid namespace: %+v", thisSpace())
	}
	if dead := reaped(t); !HolderExited(ProcessHolder(dead)) {
		t.Errorf("a reaped process of this machine (%s) is not seen as exited", ProcessHolder(dead))
	}
	if HolderExited(ProcessHolder(os.Getpid())) {
		t.Error("this running process is seen as exited")
	}
}

package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// holderName names this process in leases and notes: "HOST/pid N".
func holderName(host string, pid int) string {
	return fmt.Sprintf("%s/pid %d", host, pid)
}

// exitedHolder returns the lock's Exited check for an agent on host: a
// holder named by holderName on the same host whose process no longer
// runs has exited (killed, crashed, the machine rebooted), and its lease
// need not be waited out. A holder on another host, a name in another
// form, or a pid that runs (even one reused by another program) is never
// taken as exited: only a certain answer frees a lease early.
func exitedHolder(host string, running func(pid int) bool) func(string) bool {
	return func(holder string) bool {
		h, pidText, ok := strings.Cut(holder, "/pid ")
		if !ok || h != host || host == "" {
			return false
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			return false
		}
		return !running(pid)
	}
}

// HolderExited reports whether a lease holder is a process of this host
// that no longer runs, whose lease the next deploy takes over at once.
func HolderExited(holder string) bool {
	return exitedHolder(thisHost(), processRunning)(holder)
}

// processRunning reports whether a process with pid exists on this
// machine. Signal 0 checks without signalling: ESRCH means no such
// process; EPERM means one exists that belongs to another user.
func processRunning(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || !errors.Is(err, syscall.ESRCH)
}

// thisHost is the host name used in holder names; "" when the system does
// not say, which makes no holder look exited.
func thisHost() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

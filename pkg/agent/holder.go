package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// holderName names this process in leases: "HOST/pid N NAMESPACE", the
// namespace being the pid namespace the pid is counted in (as
// /proc/self/ns/pid names it, e.g. "pid:[4026531836]"), or nothing where
// it cannot be read.
func holderName(host string, pid int, ns string) string {
	name := fmt.Sprintf("%s/pid %d", host, pid)
	if ns != "" {
		name += " " + ns
	}
	return name
}

// pidNamespace names this process's pid namespace, or "" where the system
// does not say.
func pidNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return ns
}

// exitedHolder returns the lock's Exited check for an agent on host in pid
// namespace ns: a holder named by holderName on the same host and in the
// same pid namespace whose process no longer runs has exited (killed,
// crashed), and its lease need not be waited out. A holder on another
// host or in another pid namespace (a container sharing the host name), a
// name in another form, or a pid that runs (even one reused by another
// program) is never taken as exited: only a certain answer frees a lease
// early.
func exitedHolder(host, ns string, running func(pid int) bool) func(string) bool {
	return func(holder string) bool {
		if host == "" || ns == "" {
			return false
		}
		rest, ok := strings.CutPrefix(holder, host+"/pid ")
		if !ok {
			return false
		}
		pidText, holderNS, ok := strings.Cut(rest, " ")
		if !ok || holderNS != ns {
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
	return exitedHolder(thisHost(), pidNamespace(), processRunning)(holder)
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

package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procSpace is where a pid names one process: a machine, told by its host
// name and the kernel's boot id (two machines that share a host name never
// share a boot id), and a pid namespace (containers on one machine each
// count their own pids).
type procSpace struct {
	host, boot, ns string
}

// thisSpace is where this process runs; a part the system does not say is
// empty.
func thisSpace() procSpace {
	return procSpace{host: thisHost(), boot: bootID(), ns: pidNamespace()}
}

func (s procSpace) known() bool { return s.host != "" && s.boot != "" && s.ns != "" }

// holder names process pid in leases: "HOST/pid N boot B NAMESPACE", e.g.
// "bastion-1/pid 4242 boot 3f2a1b4c5d6e pid:[4026531836]"; only
// "HOST/pid N" where the rest is unknown.
func (s procSpace) holder(pid int) string {
	if !s.known() {
		return fmt.Sprintf("%s/pid %d", s.host, pid)
	}
	return fmt.Sprintf("%s/pid %d boot %s %s", s.host, pid, s.boot, s.ns)
}

// exited returns the lock's Exited check for an agent in s: a holder
// named by s.holder, so on this machine, in this boot and this pid
// namespace, whose process no longer runs has exited (killed, crashed),
// and its lease need not be waited out. A holder anywhere else (another
// machine, even one with the same host name; a container sharing the host
// name; an earlier boot), a name in another form, or a pid that runs (even
// one reused by another program) is never taken as exited: only a certain
// answer frees a lease early.
func (s procSpace) exited(running func(pid int) bool) func(string) bool {
	return func(holder string) bool {
		if !s.known() {
			return false
		}
		rest, ok := strings.CutPrefix(holder, s.host+"/pid ")
		f := strings.Split(rest, " ")
		if !ok || len(f) != 4 || f[1] != "boot" || f[2] != s.boot || f[3] != s.ns {
			return false
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid <= 0 {
			return false
		}
		return !running(pid)
	}
}

// ProcessHolder is the name the lease of process pid on this machine
// carries (see procSpace.holder).
func ProcessHolder(pid int) string { return thisSpace().holder(pid) }

// HolderExited reports whether a lease holder is a process of this
// machine that no longer runs, whose lease the next deploy takes over at
// once.
func HolderExited(holder string) bool {
	return thisSpace().exited(processRunning)(holder)
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

// bootID is the first 12 hex digits of the kernel's random boot id, or ""
// where the system does not say.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	id := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	if len(id) < 12 {
		return ""
	}
	return id[:12]
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

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// proc is a child process the benchmark started, in its own process group
// so that it and whatever it starts can be stopped together.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs path with args, its output appended to logPath.
func start(name string, env []string, logPath string, path string, args ...string) (*proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child holds its own descriptor
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace for the process to exit, then
// kills its whole process group (its own children included).
func (p *proc) stop(grace time.Duration) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			logf("%s (pid %d) did not stop within %s after SIGTERM: killing it", p.name, p.pid(), grace)
		}
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		logf("%s (pid %d) still not reaped after SIGKILL", p.name, p.pid())
	}
}

// waitExited blocks until the child pid has exited, without reaping it:
// its /proc/PID/stat then still holds its final CPU times. It is
// waitid(P_PID, pid, WEXITED|WNOWAIT), which package syscall lacks.
func waitExited(pid int) error {
	const (
		pPID    = 1
		wExited = 0x4
		wNoWait = 0x1000000
	)
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return fmt.Errorf("waitid %d: %w", pid, errno)
		}
	}
}

// cpuTicks are a process's CPU times from /proc/PID/stat, in clock ticks.
type cpuTicks struct {
	self     int64 // utime + stime
	children int64 // cutime + cstime: children it waited for
}

func readCPU(pid int) (cpuTicks, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTicks{}, err
	}
	return parseStat(b)
}

// parseStat reads utime, stime, cutime and cstime (fields 14-17) from a
// /proc/PID/stat line; the command name in parentheses may hold spaces.
func parseStat(b []byte) (cpuTicks, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTicks{}, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 15 {
		return cpuTicks{}, fmt.Errorf("/proc stat: %d fields", len(f))
	}
	var v [4]int64
	for j := range v {
		n, err := strconv.ParseInt(f[11+j], 10, 64)
		if err != nil {
			return cpuTicks{}, fmt.Errorf("/proc stat field %d: %w", 14+j, err)
		}
		v[j] = n
	}
	return cpuTicks{self: v[0] + v[1], children: v[2] + v[3]}, nil
}

// readHWM returns VmHWM, the peak resident set size, in KiB.
func readHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseHWM(f)
}

func parseHWM(r io.Reader) (int64, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM (process gone?)")
}

// clockTicks is the kernel's USER_HZ, by which /proc/PID/stat counts.
func clockTicks(ctx context.Context) float64 {
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && v > 0 {
			return float64(v)
		}
	}
	return 100
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// waitFor calls ok every interval until it reports true, fails, or ctx
// ends.
func waitFor(ctx context.Context, interval time.Duration, what string, ok func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

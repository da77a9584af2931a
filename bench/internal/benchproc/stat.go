package benchproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// CPUTicks are a process's CPU times from /proc/PID/stat, in clock ticks.
type CPUTicks struct {
	Self     int64 // utime + stime
	Children int64 // cutime + cstime: children it waited for
}

// ReadCPU reads pid's CPU times.
func ReadCPU(pid int) (CPUTicks, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPUTicks{}, err
	}
	return ParseStat(b)
}

// ParseStat reads utime, stime, cutime and cstime (fields 14-17) from a
// /proc/PID/stat line; the command name in parentheses may hold spaces.
func ParseStat(b []byte) (CPUTicks, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return CPUTicks{}, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 15 {
		return CPUTicks{}, fmt.Errorf("/proc stat: %d fields", len(f))
	}
	var v [4]int64
	for j := range v {
		n, err := strconv.ParseInt(f[11+j], 10, 64)
		if err != nil {
			return CPUTicks{}, fmt.Errorf("/proc stat field %d: %w", 14+j, err)
		}
		v[j] = n
	}
	return CPUTicks{Self: v[0] + v[1], Children: v[2] + v[3]}, nil
}

// ReadStatusKiB reads a memory field of /proc/PID/status in KiB: "VmRSS"
// (resident now) or "VmHWM" (the peak).
func ReadStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParseStatusKiB(f, field)
}

// ParseStatusKiB finds field in a /proc/PID/status text.
func ParseStatusKiB(r io.Reader, field string) (int64, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s (process gone?)", field)
}

// ClockTicks is the kernel's USER_HZ, by which /proc/PID/stat counts.
func ClockTicks(ctx context.Context) float64 {
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && v > 0 {
			return float64(v)
		}
	}
	return 100
}

// LoadAverage is the first three fields of /proc/loadavg.
func LoadAverage() string {
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

// FreePort finds a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitFor calls ok every interval until it reports true, fails, or ctx
// ends.
func WaitFor(ctx context.Context, interval time.Duration, what string, ok func() (bool, error)) error {
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

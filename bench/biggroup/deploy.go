package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
)

// result is one run's figures.
type result struct {
	Size    int    `json:"instances"`
	Method  string `json:"method"`
	Batch   int    `json:"batch_size,omitempty"` // serial only
	Batches int    `json:"batches"`
	Outcome string `json:"outcome"` // from ferry deploy's last line
	Exit    int    `json:"exit_code"`

	Wall   time.Duration `json:"wall_ns"`
	Waits  time.Duration `json:"waits_ns"` // the log's "done waiting" elapsed, summed
	NWaits int           `json:"waits"`
	// BodyFails counts the SDK's "failed to discard remaining HTTP
	// response body" warnings: an attempt whose response body could not
	// be read, retried after the retryer's backoff.
	BodyFails int           `json:"sdk_body_read_failures"`
	Overhead  time.Duration `json:"own_time_ns"` // Wall - Waits

	CPUSelf     time.Duration `json:"cpu_self_ns"`     // utime+stime of ferry deploy
	CPUChildren time.Duration `json:"cpu_children_ns"` // of the git processes it waited for
	PeakRSSKiB  int64         `json:"peak_rss_kib"`    // VmHWM

	Calls     map[string]int `json:"aws_calls"` // by service:Action during the deploy
	Changes   int            `json:"aws_changes"`
	Describes int            `json:"aws_describes"`
	Looks     int            `json:"looks"` // autoscaling:DescribeAutoScalingGroups

	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

// deploy runs `ferry deploy` once, sampling its peak RSS until it exits,
// reads its CPU times before reaping it, then reads the simulator's counts
// and the deploy's log.
func (w *world) deploy(ctx context.Context) (result, error) {
	r := result{Size: w.n, Method: w.method, Batches: 1, LoadBefore: benchproc.LoadAverage()}
	if w.method == methodSerial {
		r.Batch = w.o.batch
		r.Batches = (w.n + w.o.batch - 1) / w.o.batch
	}
	if err := w.simCall(ctx, http.MethodPost, "/_awssim/counts/reset", nil); err != nil {
		return r, err
	}
	logPath, outPath := filepath.Join(w.dir, "deploy.log"), filepath.Join(w.dir, "deploy.out")
	m, err := w.measure(ctx, logPath, outPath, "deploy", "-c", w.config, envName, "--yes", "--method", w.method, "--log-format", "json")
	if err != nil {
		return r, err
	}
	r.LoadAfter = benchproc.LoadAverage()
	hz := benchproc.ClockTicks(ctx)
	ticks := func(n int64) time.Duration { return time.Duration(float64(n) / hz * float64(time.Second)) }
	r.Exit, r.Wall, r.PeakRSSKiB = m.exit, m.wall, m.peakKiB
	r.CPUSelf, r.CPUChildren = ticks(m.cpu.Self), ticks(m.cpu.Children)
	if r.Outcome, err = outcome(outPath); err != nil {
		return r, err
	}
	if err := w.simCall(ctx, http.MethodGet, "/_awssim/counts", &r.Calls); err != nil {
		return r, err
	}
	r.Changes, r.Describes, r.Looks = classify(r.Calls)
	f, err := os.Open(logPath)
	if err != nil {
		return r, err
	}
	defer f.Close()
	if r.Waits, r.NWaits, r.BodyFails, err = parseLog(f); err != nil {
		return r, err
	}
	r.Overhead = r.Wall - r.Waits
	if r.Exit != 0 {
		return r, fmt.Errorf("ferry deploy exited %d (%s); see %s (run with -keep)", r.Exit, r.Outcome, logPath)
	}
	return r, nil
}

// measured is what the process's own figures were.
type measured struct {
	exit    int
	wall    time.Duration
	peakKiB int64
	cpu     benchproc.CPUTicks
}

// measure runs ferry with args, stdout to outPath and stderr to logPath,
// in its own process group (killed with it if ctx ends first).
func (w *world) measure(ctx context.Context, logPath, outPath string, args ...string) (measured, error) {
	var m measured
	logf, err := os.Create(logPath)
	if err != nil {
		return m, err
	}
	defer logf.Close()
	outf, err := os.Create(outPath)
	if err != nil {
		return m, err
	}
	defer outf.Close()
	cmd := exec.Command(w.o.ferry, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = w.env(), outf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("start ferry deploy: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- benchproc.WaitExited(pid) }()
	reap := func() { _ = syscall.Kill(-pid, syscall.SIGKILL); <-exited; _ = cmd.Wait() }
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		if hwm, err := benchproc.ReadStatusKiB(pid, "VmHWM"); err == nil {
			m.peakKiB = max(m.peakKiB, hwm)
		}
		select {
		case err := <-exited:
			m.wall = time.Since(t0)
			if err != nil {
				_ = cmd.Wait()
				return m, err
			}
			done = true
		case <-ctx.Done():
			reap()
			return m, fmt.Errorf("ferry deploy: %w", ctx.Err())
		case <-tick.C:
		}
	}
	// Exited, not yet reaped: its final CPU times are still in /proc.
	m.cpu, err = benchproc.ReadCPU(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL) // anything it left behind in its group
	werr := cmd.Wait()
	if err != nil {
		return m, fmt.Errorf("CPU times of ferry deploy: %w", err)
	}
	if ee, ok := werr.(*exec.ExitError); ok {
		m.exit = ee.ExitCode()
	} else if werr != nil {
		return m, werr
	}
	return m, nil
}

// outcome is the deploy's last line: "ENV: OUTCOME SHA12 (METHOD) in D".
func outcome(outPath string) (string, error) {
	b, err := os.ReadFile(outPath)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, envName+": "); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return f[0], nil
			}
		}
	}
	return "unknown", nil
}

// classify splits the calls into changes and describes (Describe*, and
// the other read-only calls), and counts the looks at the group.
func classify(calls map[string]int) (changes, describes, looks int) {
	for action, n := range calls {
		_, name, _ := strings.Cut(action, ":")
		if strings.HasPrefix(name, "Describe") || strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") {
			describes += n
		} else {
			changes += n
		}
	}
	return changes, describes, calls["autoscaling:DescribeAutoScalingGroups"]
}

// parseLog sums the "elapsed" of the deploy log's "done waiting" lines:
// the time the deploy waited for AWS state (instances to boot and enter
// service, to pass the balancers' checks, to drain and terminate). It also
// counts the SDK's warnings that a response body could not be read.
func parseLog(r io.Reader) (total time.Duration, n, bodyFails int, err error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for s.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Elapsed *int64 `json:"elapsed"` // slog's JSON writes a duration in nanoseconds
		}
		if json.Unmarshal(s.Bytes(), &line) != nil {
			continue
		}
		if strings.HasPrefix(line.Msg, "aws-sdk-go-v2: failed to discard remaining HTTP response body") {
			bodyFails++
		}
		if line.Msg == "done waiting" && line.Elapsed != nil {
			total += time.Duration(*line.Elapsed)
			n++
		}
	}
	return total, n, bodyFails, s.Err()
}

// simCall calls one of the simulator's own endpoints.
func (w *world) simCall(ctx context.Context, method, path string, into any) error {
	return benchproc.SimCall(ctx, w.simURL, method, path, into)
}

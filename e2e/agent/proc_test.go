package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/simenv"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// proc is one child process of a test, with its output kept for the
// test's failure message.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *output
	done chan struct{} // closed when the process has exited
}

// childEnv is the environment of every child: the test's own, without
// anything that would reach a real AWS account, an SSH agent or systemd's
// journal, plus credentials the simulator accepts (and checks not at all).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || k == "SSH_AUTH_SOCK" || k == "JOURNAL_STREAM" || k == "FERRY_CONFIG" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+simenv.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+simenv.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// startFerry starts the ferry binary with args. The process is killed when
// the test ends, if it still runs; when the test failed its output is
// logged.
func startFerry(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: &output{}, done: make(chan struct{})}
	p.cmd = exec.Command(ferryBinary(t), args...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", name)
		}
		if t.Failed() {
			t.Logf("output of %s (%s):\n%s", name, strings.Join(args, " "), p.out.tail(300))
		}
		if dir := os.Getenv("FERRY_E2E_LOGS"); dir != "" {
			file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()+"-"+name)+".log")
			if err := os.WriteFile(file, []byte(p.out.String()), 0o644); err != nil {
				t.Errorf("keep the output of %s: %v", name, err)
			}
		}
	})
	return p
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would,
// and waits for it.
func (p *proc) kill() {
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// exitCode waits up to d for the process to exit and returns its status.
func (p *proc) exitCode(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		p.t.Fatalf("%s still running %s after it was asked to stop", p.name, d)
		return -1
	}
}

// waitLog waits until the process has logged a JSON line for which match
// is true, and returns it. It fails the test when the process exits or d
// passes first.
func (p *proc) waitLog(d time.Duration, what string, match func(logLine) bool) logLine {
	p.t.Helper()
	return p.waitNth(d, what, match, 1)
}

// waitNth is waitLog for the nth line match is true for. Each look scans
// the whole log again, so match must not count on its own.
func (p *proc) waitNth(d time.Duration, what string, match func(logLine) bool, nth int) logLine {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := 0
		for _, l := range p.out.logLines() {
			if match(l) {
				if n++; n == nth {
					return l
				}
			}
		}
		if !p.running() {
			p.t.Fatalf("%s exited (%v) before it logged %s", p.name, p.cmd.ProcessState, what)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not log %s within %s", p.name, what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLine is one line of a JSON log (--log-format json).
type logLine map[string]any

func (l logLine) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// msg matches log lines by message.
func msg(m string) func(logLine) bool {
	return func(l logLine) bool { return l.str("msg") == m }
}

// output collects a child's stdout and stderr.
type output struct {
	testutil.Buffer
}

func (o *output) tail(n int) string {
	lines := strings.Split(strings.TrimRight(o.String(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// logLines parses the JSON lines written so far; other lines are skipped.
func (o *output) logLines() []logLine {
	var out []logLine
	for _, s := range strings.Split(o.String(), "\n") {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(s), &l); err == nil {
			out = append(out, l)
		}
	}
	return out
}

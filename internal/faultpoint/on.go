//go:build ferryfault

package faultpoint

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether this build has the fault hook.
const Enabled = true

// Env names the point to kill at, "STEP:WHERE" or "STEP:after-call:N"
// (STEP 1-based, as the executor logs it; N 1-based, default 1).
const Env = "FERRY_FAULT"

// TraceEnv names a file to which every point reached is appended, one
// "STEP WHERE [N OPERATION]" line each: the harness lists a deploy's
// points from a run that kills nothing.
const TraceEnv = "FERRY_FAULT_TRACE"

type stepKey struct{}

// step is the step a context runs, and how many AWS calls that change
// something it made.
type step struct {
	n     int
	mu    sync.Mutex
	calls int
}

// Step returns a context that runs step n (1-based).
func Step(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, stepKey{}, &step{n: n})
}

// Reached kills the process if FERRY_FAULT names this point of ctx's step.
func Reached(ctx context.Context, w Where) {
	s, ok := ctx.Value(stepKey{}).(*step)
	if !ok {
		return
	}
	hit(fmt.Sprintf("%d %s", s.n, w), s.n, w, 0)
}

// Called is told that an AWS call returned without error. Calls that only
// read (Describe, Get, List) are not points.
func Called(ctx context.Context, operation string) {
	s, ok := ctx.Value(stepKey{}).(*step)
	if !ok {
		return
	}
	for _, p := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(operation, p) {
			return
		}
	}
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	hit(fmt.Sprintf("%d %s %d %s", s.n, AfterCall, n, operation), s.n, AfterCall, n)
}

func hit(trace string, stepN int, w Where, call int) {
	if path := os.Getenv(TraceEnv); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprintln(f, trace)
			f.Close()
		}
	}
	want := os.Getenv(Env)
	if want == "" {
		return
	}
	parts := strings.Split(want, ":")
	if len(parts) < 2 || parts[0] != strconv.Itoa(stepN) || parts[1] != string(w) {
		return
	}
	if w == AfterCall {
		n := 1
		if len(parts) > 2 {
			n, _ = strconv.Atoi(parts[2])
		}
		if n != call {
			return
		}
	}
	fmt.Fprintf(os.Stderr, "faultpoint: killing the process at %s\n", want)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

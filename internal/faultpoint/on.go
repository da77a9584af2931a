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
// (STEP 1-based, as the executor logs it, or a phase's name as Phases
// and Enter give it, e.g. "bake-image"; N 1-based, default 1).
const Env = "FERRY_FAULT"

// TraceEnv names a file to which every point reached is appended, one
// "STEP WHERE [N OPERATION]" line each (STEP a phase's name in a bake): the harness lists a deploy's
// points from a run that kills nothing.
const TraceEnv = "FERRY_FAULT_TRACE"

type stepKey struct{}

// step is the step (or phase) a context runs, and how many AWS calls that
// change something it made.
type step struct {
	mu    sync.Mutex
	name  string
	calls int
}

func (s *step) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// Step returns a context that runs step n (1-based).
func Step(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, stepKey{}, &step{name: strconv.Itoa(n)})
}

// Phases returns a context whose phase Enter moves on: a bake's, whose
// phases follow one another on one context.
func Phases(ctx context.Context) context.Context {
	return context.WithValue(ctx, stepKey{}, &step{})
}

// Enter makes name the phase ctx (from Phases) runs; its AWS calls are
// counted afresh.
func Enter(ctx context.Context, name string) {
	s, ok := ctx.Value(stepKey{}).(*step)
	if !ok {
		return
	}
	s.mu.Lock()
	s.name, s.calls = name, 0
	s.mu.Unlock()
}

// Reached kills the process if FERRY_FAULT names this point of ctx's step.
func Reached(ctx context.Context, w Where) {
	s, ok := ctx.Value(stepKey{}).(*step)
	if !ok {
		return
	}
	name := s.current()
	if name == "" {
		return
	}
	hit(fmt.Sprintf("%s %s", name, w), name, w, 0)
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
	name, n := s.name, s.calls
	s.mu.Unlock()
	if name == "" {
		return
	}
	hit(fmt.Sprintf("%s %s %d %s", name, AfterCall, n, operation), name, AfterCall, n)
}

func hit(trace string, stepName string, w Where, call int) {
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
	if len(parts) < 2 || parts[0] != stepName || parts[1] != string(w) {
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

package lock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

var _ Remote = (*watch.Mirror)(nil)

func newRemote(t *testing.T) string {
	t.Helper()
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	d := srv.StartDaemon()
	w := gittest.NewWork(t, d.URL("app.git"))
	w.Commit("one", nil)
	w.Push("main")
	return d.URL("app.git")
}

func mirror(t testing.TB, url, dir string) *watch.Mirror {
	t.Helper()
	m, err := watch.OpenMirror(watch.MirrorOptions{Dir: dir, URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan chan time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), waits: make(chan chan time.Time, 4)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- ch
	return ch
}

func TestLeaseLifecycle(t *testing.T) {
	url := newRemote(t)
	clock := newClock()
	a := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "agent-a", TTL: time.Minute, Clock: clock}
	b := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "agent-b", TTL: time.Minute, Clock: clock}
	ctx := t.Context()

	la, err := a.Acquire(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, "production"); err != nil {
		t.Errorf("another environment's lock is independent: %v", err)
	}

	clock.advance(30 * time.Second)
	_, err = b.Acquire(ctx, "staging")
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) || held.Holder != "agent-a" || !held.Expires.Equal(la.Expires) {
		t.Fatalf("acquire of a held lock: %v", err)
	}
	if err := a.Renew(ctx, la); err != nil {
		t.Fatal(err)
	}
	if cur, _ := b.Inspect(ctx, "staging"); cur == nil || !cur.Expires.Equal(clock.Now().Add(time.Minute)) {
		t.Errorf("renewal not visible to others: %+v", cur)
	}

	clock.advance(61 * time.Second) // past the renewed expiry
	lb, err := b.Acquire(ctx, "staging")
	if err != nil {
		t.Fatalf("steal after expiry: %v", err)
	}
	if err := a.Renew(ctx, la); !errors.Is(err, ErrLost) {
		t.Errorf("renew of a stolen lease: %v, want ErrLost", err)
	}
	if err := a.Release(ctx, la); !errors.Is(err, ErrLost) {
		t.Errorf("release of a stolen lease: %v, want ErrLost", err)
	}
	if cur, _ := a.Inspect(ctx, "staging"); cur == nil || cur.Holder != "agent-b" {
		t.Errorf("a stale release removed the new holder's lease: %+v", cur)
	}
	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if cur, err := a.Inspect(ctx, "staging"); cur != nil || err != nil {
		t.Errorf("after release: %+v, %v", cur, err)
	}
	if _, err := a.Acquire(ctx, "staging"); err != nil {
		t.Errorf("acquire after release: %v", err)
	}
}

// TestExitedHolderIsTakenOver: a lease whose holder is known to have
// exited is taken at once; a live holder's is not, whatever Exited says of
// others.
func TestExitedHolderIsTakenOver(t *testing.T) {
	url := newRemote(t)
	clock := newClock()
	gone := map[string]bool{"host/pid 1": true}
	exited := func(h string) bool { return gone[h] }
	crashed := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "host/pid 1", TTL: time.Hour, Clock: clock}
	live := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "host/pid 2", TTL: time.Hour, Clock: clock}
	restarted := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "host/pid 3", TTL: time.Hour, Clock: clock, Exited: exited}
	ctx := t.Context()

	if _, err := crashed.Acquire(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	l, err := restarted.Acquire(ctx, "staging")
	if err != nil {
		t.Fatalf("the lease of an exited holder, an hour before it expires: %v", err)
	}
	if err := restarted.Release(ctx, l); err != nil {
		t.Fatal(err)
	}

	if _, err := live.Acquire(ctx, "production"); err != nil {
		t.Fatal(err)
	}
	var held *HeldError
	if _, err := restarted.Acquire(ctx, "production"); !errors.As(err, &held) || held.Holder != "host/pid 2" {
		t.Errorf("a live holder's lease: %v, want held by host/pid 2", err)
	}
}

func TestKeepAliveRenewsAndReportsLoss(t *testing.T) {
	url := newRemote(t)
	clock := newClock()
	a := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "a", TTL: 3 * time.Minute, Clock: clock}
	b := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "b", TTL: 3 * time.Minute, Clock: clock}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	lease, err := a.Acquire(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	lost := a.KeepAlive(ctx, lease)

	for range 3 { // each tick: one minute passes, the lease is renewed
		tick := <-clock.waits
		clock.advance(time.Minute)
		tick <- clock.Now()
		deadline := time.Now().Add(10 * time.Second)
		for {
			cur, err := b.Inspect(ctx, "staging")
			if err == nil && cur.Expires.Equal(clock.Now().Add(3*time.Minute)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lease not renewed: %+v %v", cur, err)
			}
			time.Sleep(10 * time.Millisecond) // waiting on a real server, not on a schedule
		}
	}
	if _, err := b.Acquire(ctx, "staging"); !errors.Is(err, ErrHeld) {
		t.Fatalf("a renewed lease was taken: %v", err)
	}

	// The holder stalls past expiry; b steals; the next renewal sees it.
	tick := <-clock.waits
	clock.advance(4 * time.Minute)
	if _, err := b.Acquire(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	tick <- clock.Now()
	if err := <-lost; !errors.Is(err, ErrLost) {
		t.Errorf("KeepAlive reported %v, want ErrLost", err)
	}
}

const helperEnv = "FERRY_LOCK_HELPER"

// TestHelperProcess is not a test: it is one racing agent, started by
// TestTwoProcessesRace as a separate process.
func TestHelperProcess(t *testing.T) {
	args := os.Getenv(helperEnv)
	if args == "" {
		t.Skip("helper process only")
	}
	parts := strings.SplitN(args, "|", 3)
	if len(parts) != 3 {
		t.Fatalf("bad %s=%q", helperEnv, args)
	}
	url, dir, holder := parts[0], parts[1], parts[2]
	l := &Locker{Remote: mirror(t, url, dir), Holder: holder, TTL: time.Hour}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() { // one line per round: the environment to race for
		env := in.Text()
		if _, err := l.Remote.Sync(t.Context(), Ref(env)); err != nil { // warm up the connection path
			fmt.Printf("error %v\n", err)
			continue
		}
		fmt.Println("ready")
		if !in.Scan() {
			return
		}
		_, err := l.Acquire(t.Context(), env)
		var held *HeldError
		switch {
		case errors.As(err, &held) && held.LostRace:
			fmt.Println("held race")
		case err == nil:
			fmt.Println("won")
		case errors.Is(err, ErrHeld):
			fmt.Println("held")
		default:
			fmt.Printf("error %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
}

type agentProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// TestTwoProcessesRace starts two agent processes that race for the same
// lock, round after round: exactly one wins each time, and the lock names
// the winner.
func TestTwoProcessesRace(t *testing.T) {
	url := newRemote(t)
	var procs []*agentProc
	for i := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|agent-%d", helperEnv, url, filepath.Join(t.TempDir(), "mirror"), i))
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
		procs = append(procs, &agentProc{cmd: cmd, in: in, out: bufio.NewScanner(out)})
	}
	read := func(p *agentProc) string {
		if !p.out.Scan() {
			t.Fatalf("agent exited: %v", p.out.Err())
		}
		return p.out.Text()
	}
	checker := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "checker"}
	const rounds = 8
	races := 0
	defer func() { t.Logf("%d of %d rounds were decided by the server's compare-and-swap", races, rounds) }()
	for r := range rounds {
		env := fmt.Sprintf("env%d", r)
		for _, p := range procs {
			fmt.Fprintln(p.in, env)
		}
		for _, p := range procs {
			if got := read(p); got != "ready" {
				t.Fatalf("round %d: agent said %q", r, got)
			}
		}
		for _, p := range procs { // release both as close together as we can
			fmt.Fprintln(p.in, "go")
		}
		var results []string
		winner := ""
		for i, p := range procs {
			res := read(p)
			results = append(results, res)
			if res == "won" {
				winner = fmt.Sprintf("agent-%d", i)
			}
		}
		if strings.Contains(strings.Join(results, " "), "race") {
			races++
		}
		won := strings.Count(strings.Join(results, " "), "won")
		held := strings.Count(strings.Join(results, " "), "held")
		if won != 1 || held != 1 {
			t.Fatalf("round %d: results %v, want exactly one winner", r, results)
		}
		cur, err := checker.Inspect(t.Context(), env)
		if err != nil || cur == nil || cur.Holder != winner {
			t.Fatalf("round %d: lock names %+v (%v), winner %s", r, cur, err, winner)
		}
	}
}

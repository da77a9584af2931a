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
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

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

// The lock tests run in testing/synctest bubbles: leases expire and are
// renewed on the bubble's clock, while the git server, started outside the
// bubble, is real.
func TestLeaseLifecycle(t *testing.T) {
	url := newRemote(t)
	synctest.Test(t, func(t *testing.T) { leaseLifecycle(t, url) })
}

func leaseLifecycle(t *testing.T, url string) {
	a := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "agent-a", TTL: time.Minute}
	b := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "agent-b", TTL: time.Minute}
	ctx := t.Context()

	la, err := a.Acquire(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, "production"); err != nil {
		t.Errorf("another environment's lock is independent: %v", err)
	}

	time.Sleep(30 * time.Second)
	_, err = b.Acquire(ctx, "staging")
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) || held.Holder != "agent-a" || !held.Expires.Equal(la.Expires) {
		t.Fatalf("acquire of a held lock: %v", err)
	}
	if err := a.Renew(ctx, la); err != nil {
		t.Fatal(err)
	}
	if cur, _ := b.Inspect(ctx, "staging"); cur == nil || !cur.Expires.Equal(time.Now().UTC().Add(time.Minute)) {
		t.Errorf("renewal not visible to others: %+v", cur)
	}

	time.Sleep(61 * time.Second) // past the renewed expiry
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
	gone := map[string]bool{"host/pid 1": true}
	exited := func(h string) bool { return gone[h] }
	crashed := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "host/pid 1", TTL: time.Hour}
	live := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "host/pid 2", TTL: time.Hour}
	restarted := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "host/pid 3", TTL: time.Hour, Exited: exited}
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
	synctest.Test(t, func(t *testing.T) { keepAliveRenewsAndReportsLoss(t, url) })
}

// stalling holds a locker's pushes while stall is set: a holder that stops
// answering past its lease's expiry.
type stalling struct {
	Remote
	stall   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *stalling) PushCAS(ctx context.Context, name plumbing.ReferenceName, oldHash, newHash plumbing.Hash) (bool, error) {
	if s.stall.Load() {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Remote.PushCAS(ctx, name, oldHash, newHash)
}

func keepAliveRenewsAndReportsLoss(t *testing.T, url string) {
	remote := &stalling{Remote: mirror(t, url, t.TempDir()), entered: make(chan struct{}), release: make(chan struct{})}
	a := &Locker{Remote: remote, Holder: "a", TTL: 3 * time.Minute}
	b := &Locker{Remote: mirror(t, url, t.TempDir()), Holder: "b", TTL: 3 * time.Minute}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	lease, err := a.Acquire(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC()
	lost := a.KeepAlive(ctx, lease)

	for i := range 3 { // each minute the lease is renewed for three more
		time.Sleep(time.Minute)
		synctest.Wait() // the renewal has been pushed
		cur, err := b.Inspect(ctx, "staging")
		if want := start.Add(time.Duration(i+1)*time.Minute + 3*time.Minute); err != nil || cur == nil || !cur.Expires.Equal(want) {
			t.Fatalf("renewal %d: %+v %v; want it to expire at %s", i+1, cur, err, want)
		}
	}
	if _, err := b.Acquire(ctx, "staging"); !errors.Is(err, ErrHeld) {
		t.Fatalf("a renewed lease was taken: %v", err)
	}

	// The holder stalls past expiry; b steals; the next renewal sees it.
	remote.stall.Store(true)
	<-remote.entered // the fourth renewal hangs
	time.Sleep(4 * time.Minute)
	if _, err := b.Acquire(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	remote.stall.Store(false)
	close(remote.release)
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

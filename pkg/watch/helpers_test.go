package watch

import (
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/go-git/go-git/v5/plumbing"
)

// fixture is a real git server with one repository, a working clone that
// pushes to it with the git CLI, and a mirror of it.
type fixture struct {
	srv    *gittest.Server
	daemon *gittest.Daemon
	work   *gittest.Work
	mirror *Mirror
	logs   *testutil.Buffer
	log    *slog.Logger
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	d := srv.StartDaemon()
	f := &fixture{srv: srv, daemon: d, work: gittest.NewWork(t, d.URL("app.git")), logs: &testutil.Buffer{}}
	f.log = slog.New(slog.NewTextHandler(f.logs, nil))
	f.mirror = f.openMirror(t, d.URL("app.git"), Auth{})
	return f
}

func (f *fixture) openMirror(t *testing.T, url string, auth Auth) *Mirror {
	t.Helper()
	m, err := OpenMirror(MirrorOptions{Dir: filepath.Join(t.TempDir(), "mirror"), URL: url, Auth: auth, Logger: f.log})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) watcher(t *testing.T, stateDir string, rules ...Rule) *Watcher {
	t.Helper()
	w, err := New(Options{Mirror: f.mirror, Rules: rules, StateDir: stateDir, Logger: f.log})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func poll(t *testing.T, w *Watcher) []Target {
	t.Helper()
	ts, err := w.Poll(t.Context())
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return ts
}

func hash(s string) plumbing.Hash { return plumbing.NewHash(s) }

// id is the commit.ID of a full hex id the test's git wrote.
func id(s string) commit.ID { return commit.MustParse(s) }

// fakeClock hands each wait to the test, which checks its length and fires
// it: Run's schedule and backoff are tested without sleeping.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), waits: make(chan fakeWait, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- fakeWait{d: d, fire: ch}
	return ch
}

// next returns the next wait Run started, failing if none comes in time.
func (c *fakeClock) next(t *testing.T) fakeWait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(30 * time.Second):
		t.Fatal("no wait started")
		return fakeWait{}
	}
}

// elapse moves the clock by the wait's length and fires it.
func (c *fakeClock) elapse(w fakeWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.fire <- now
}

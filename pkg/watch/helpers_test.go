package watch

import (
	"log/slog"
	"path/filepath"
	"testing"

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

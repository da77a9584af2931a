package watch_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/lock"
	"github.com/ferry-deploy/ferry/pkg/status"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// TestMirrorSharedByWatcherNotesAndLocks uses one mirror the way the agent
// does: the watcher polls (and compacts) while a deploy holds its lock and
// writes notes. Run with -race; afterwards git checks the mirror and every
// note is there.
func TestMirrorSharedByWatcherNotesAndLocks(t *testing.T) {
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	d := srv.StartDaemon()
	work := gittest.NewWork(t, d.URL("app.git"))
	first := work.Commit("first", nil)
	work.Push("main")
	dir := filepath.Join(t.TempDir(), "mirror")
	m, err := watch.OpenMirror(watch.MirrorOptions{Dir: dir, URL: d.URL("app.git")})
	if err != nil {
		t.Fatal(err)
	}
	w, err := watch.New(watch.Options{Mirror: m, Rules: []watch.Rule{{Env: "staging", Branch: "main"}},
		Compact: watch.CompactPolicy{MaxPacks: 2, MaxLoose: 5}})
	if err != nil {
		t.Fatal(err)
	}
	notes := &status.Notes{Remote: m, Ref: "refs/notes/ferry", Attempts: 20}
	locker := &lock.Locker{Remote: m, Holder: "agent", TTL: time.Hour}
	ctx := t.Context()
	const rounds = 8

	var wg sync.WaitGroup
	errs := make(chan error, 3*rounds)
	wg.Add(3)
	go func() { // a person pushing, the watcher polling
		defer wg.Done()
		for i := range rounds {
			work.Commit(fmt.Sprint("c", i), map[string]string{"f": fmt.Sprint(i)})
			work.Push("main")
			if _, err := w.Poll(ctx); err != nil {
				errs <- fmt.Errorf("poll: %w", err)
			}
		}
	}()
	go func() { // a deploy writing its outcome
		defer wg.Done()
		for i := range rounds {
			r := status.Record{Env: "staging", Outcome: status.Succeeded, Host: fmt.Sprint("h", i)}
			if err := notes.Append(ctx, commit.MustParse(first), r); err != nil {
				errs <- fmt.Errorf("append: %w", err)
			}
		}
	}()
	go func() { // the deploy's lock
		defer wg.Done()
		for range rounds {
			l, err := locker.Acquire(ctx, "staging")
			if err != nil {
				errs <- fmt.Errorf("acquire: %w", err)
				continue
			}
			if err := locker.Renew(ctx, l); err != nil {
				errs <- fmt.Errorf("renew: %w", err)
			}
			if err := locker.Release(ctx, l); err != nil {
				errs <- fmt.Errorf("release: %w", err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	recs, err := notes.Read(commit.MustParse(first))
	if err != nil || len(recs) != rounds {
		t.Errorf("notes: %d records, %v; want %d", len(recs), err, rounds)
	}
	// Past the grace period, the lock commits of the released leases are
	// gone: nothing in the mirror is unreachable.
	if _, err := m.Compact(watch.CompactPolicy{Force: true}, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Stats(); st.Packs > 2 || st.Loose != 0 {
		t.Errorf("mirror not compact: %+v", st)
	}
	gittest.Git(t, dir, "fsck", "--no-progress", "--no-dangling")
	if out := gittest.Git(t, dir, "fsck", "--no-progress", "--unreachable", "--no-reflogs"); strings.Contains(out, "unreachable") {
		t.Errorf("unreachable objects left after compaction:\n%s", out)
	}
	head := strings.Fields(gittest.Git(t, dir, "rev-parse", "refs/heads/main"))[0]
	if want := work.Git("rev-parse", "HEAD"); head != want {
		t.Errorf("mirror main = %s, want %s", head, want)
	}
}

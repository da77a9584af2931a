package watch

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// TestCompactBoundsTheMirror polls many times (one pack per fetch), writes
// loose objects, compacts, and has the git CLI check the result.
func TestCompactBoundsTheMirror(t *testing.T) {
	f := newFixture(t)
	w, err := New(Options{Mirror: f.mirror, Rules: []Rule{{Env: "staging", Branch: "main"}}, Compact: CompactPolicy{MaxPacks: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for i := range 12 {
		last = f.work.Commit(fmt.Sprintf("c%d", i), map[string]string{"f.txt": fmt.Sprint(i)})
		f.work.Push("main")
		poll(t, w)
	}
	stray := commitObject(t, f.mirror, "unreferenced") // as if a notes write never got pushed
	before, err := f.mirror.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if before.Packs < 12 || before.Loose == 0 {
		t.Fatalf("expected one pack per fetch and a loose object: %+v", before)
	}

	policy := CompactPolicy{MaxPacks: 4}
	now := time.Now()
	if did, err := f.mirror.Compact(policy, now); err != nil || !did {
		t.Fatalf("Compact = %v, %v", did, err)
	}
	after, _ := f.mirror.Stats()
	if after.Packs > 2 || after.Loose != 0 {
		t.Errorf("after compaction: %+v, want the first fetch's pack and one merged pack, no loose objects", after)
	}
	if !hasObject(f.mirror, stray) {
		t.Errorf("an unreferenced object (maybe not pushed yet) was dropped")
	}
	if did, _ := f.mirror.Compact(policy, now); did {
		t.Errorf("compacted again with nothing to do")
	}
	// A full repack drops it: inside the grace period, nothing; past it,
	// the unreachable object goes.
	stray2 := commitObject(t, f.mirror, "unreferenced, loose")
	if _, err := f.mirror.Compact(CompactPolicy{Force: true, Full: true}, now); err != nil {
		t.Fatal(err)
	}
	if !hasObject(f.mirror, stray2) {
		t.Errorf("a fresh loose object was dropped inside the grace period")
	}
	if st, _ := f.mirror.Stats(); st.Packs != 1 {
		t.Errorf("after a full repack: %+v, want one pack", st)
	}
	if _, err := f.mirror.Compact(CompactPolicy{Force: true, Full: true, Grace: time.Nanosecond}, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if hasObject(f.mirror, stray2) {
		t.Errorf("unreachable loose object survived a full repack past the grace period")
	}

	// Everything still reads, polls and fetches; real git agrees.
	if b, err := f.mirror.ReadFile(hash(last), "f.txt"); err != nil || string(b) != "11" {
		t.Errorf("ReadFile after compaction = %q, %v", b, err)
	}
	next := f.work.Commit("after", nil)
	f.work.Push("main")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != hash(next) {
		t.Errorf("poll after compaction = %+v", got)
	}
	gittest.Git(t, f.mirror.opts.Dir, "fsck", "--no-progress", "--no-dangling")
}

func TestPollCompactsWhenPacksPileUp(t *testing.T) {
	f := newFixture(t)
	w, err := New(Options{Mirror: f.mirror, Rules: []Rule{{Env: "staging", Branch: "main"}}, Compact: CompactPolicy{MaxPacks: 3}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		f.work.Commit(fmt.Sprint(i), nil)
		f.work.Push("main")
		poll(t, w)
		if st, _ := f.mirror.Stats(); st.Packs > 4 {
			t.Fatalf("after poll %d the mirror has %d packs (policy: 3)", i, st.Packs)
		}
	}
}

// hasObject reads the object: go-git v5.19's HasEncodedObject was seen to
// miss objects in a pack its own PackfileWriter wrote, which EncodedObject
// and git find.
func hasObject(m *Mirror, h plumbing.Hash) bool {
	err := m.WithRepository(func(r *git.Repository) error {
		_, err := r.Storer.EncodedObject(plumbing.AnyObject, h)
		return err
	})
	return err == nil
}

// TestMirrorSeededByGitClone: an operator may create the mirror with
// `git clone --mirror` (faster and leaner than go-git for a first copy of a
// big repository); Ferry then polls it as its own.
func TestMirrorSeededByGitClone(t *testing.T) {
	f := newFixture(t)
	c1 := f.work.Commit("one", nil)
	f.work.Push("main")
	dir := filepath.Join(t.TempDir(), "mirror")
	gittest.Git(t, "", "clone", "-q", "--mirror", f.daemon.URL("app.git"), dir)
	m, err := OpenMirror(MirrorOptions{Dir: dir, URL: f.daemon.URL("app.git")})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Mirror: m, Rules: []Rule{{Env: "staging", Branch: "main"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := poll(t, w); len(got) != 1 || got[0].Commit != hash(c1) {
		t.Fatalf("first poll of a git-made mirror: %+v", got)
	}
	c2 := f.work.Commit("two", map[string]string{"x": "y"})
	f.work.Push("main")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != hash(c2) || got[0].Forced {
		t.Fatalf("poll after a new commit: %+v", got)
	}
	if b, err := m.ReadFile(hash(c2), "x"); err != nil || string(b) != "y" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	gittest.Git(t, dir, "fsck", "--no-progress")
}

package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	if after.Packs > 2 {
		t.Errorf("after compaction: %+v, want the first fetch's pack and one merged pack", after)
	}
	if !hasObject(f.mirror, stray) {
		t.Errorf("an unreferenced object (maybe not pushed yet) was dropped")
	}
	if did, _ := f.mirror.Compact(policy, now); did {
		t.Errorf("compacted again with nothing to do")
	}
	// Past the grace period the tidy compaction drops it, and nothing is
	// left loose.
	if did, err := f.mirror.Compact(CompactPolicy{Tidy: true}, now.Add(2*time.Hour)); err != nil || !did {
		t.Fatalf("tidy Compact = %v, %v", did, err)
	}
	if hasObject(f.mirror, stray) {
		t.Errorf("an unreferenced object past the grace period survived")
	}
	if st, _ := f.mirror.Stats(); st.Loose != 0 || st.Packs > 2 {
		t.Errorf("after a tidy compaction: %+v", st)
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
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(next) {
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
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(c1) {
		t.Fatalf("first poll of a git-made mirror: %+v", got)
	}
	c2 := f.work.Commit("two", map[string]string{"x": "y"})
	f.work.Push("main")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(c2) || got[0].Forced {
		t.Fatalf("poll after a new commit: %+v", got)
	}
	if b, err := m.ReadFile(hash(c2), "x"); err != nil || string(b) != "y" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	gittest.Git(t, dir, "fsck", "--no-progress")
}

// TestCompactDropsWhatNoRefReaches: another agent's lease, fetched in a
// pack of its own while it held the lock, is garbage once released; so is
// a loose notes commit that lost its race. A tidy compaction drops both,
// keeps everything a ref reaches, and git finds nothing unreachable.
func TestCompactDropsWhatNoRefReaches(t *testing.T) {
	for _, tc := range []struct {
		name         string
		base, legacy bool
	}{
		{name: "small mirror, no base"},
		{name: "big mirror, first fetch is the base", base: true},
		{name: "big mirror of an older Ferry", base: true, legacy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.base {
				f.mirror.baseMin = 1 // as if the first fetch were big
			}
			w, err := New(Options{Mirror: f.mirror, Rules: []Rule{{Env: "staging", Branch: "main"}}, Compact: CompactPolicy{MaxPacks: 1000}})
			if err != nil {
				t.Fatal(err)
			}
			head := f.work.Commit("one", map[string]string{"a.txt": "1"})
			f.work.Push("main")
			poll(t, w)
			// A lease of another agent: a commit only the lock ref reaches.
			tree := f.work.Git("write-tree")
			lease := f.work.Git("commit-tree", "-m", "ferry lock: staging", tree)
			f.work.Git("push", "-q", "origin", lease+":refs/ferry/locks/staging")
			poll(t, w)
			if !hasObject(f.mirror, hash(lease)) {
				t.Fatal("the lease was not fetched")
			}
			f.work.Git("push", "-q", "origin", ":refs/ferry/locks/staging")
			poll(t, w)
			lost := commitObject(t, f.mirror, "notes commit that lost its race")
			if tc.legacy {
				// A mirror made by an older Ferry names no base pack.
				if err := os.Remove(filepath.Join(f.mirror.opts.Dir, baseFile)); err != nil {
					t.Fatal(err)
				}
			}

			if did, err := f.mirror.Compact(CompactPolicy{Tidy: true}, time.Now().Add(2*time.Hour)); err != nil || !did {
				t.Fatalf("Compact = %v, %v", did, err)
			}
			for name, h := range map[string]string{"released lease": lease, "lost notes commit": lost.String()} {
				if hasObject(f.mirror, hash(h)) {
					t.Errorf("%s %s survived compaction", name, h)
				}
			}
			if b, err := f.mirror.ReadFile(hash(head), "a.txt"); err != nil || string(b) != "1" {
				t.Errorf("ReadFile after compaction = %q, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(f.mirror.opts.Dir, baseFile)); tc.base != (err == nil) {
				t.Errorf("base pack named: %v, want %v", err == nil, tc.base)
			}
			dir := f.mirror.opts.Dir
			gittest.Git(t, dir, "fsck", "--no-progress", "--no-dangling")
			if out := gittest.Git(t, dir, "fsck", "--no-progress", "--unreachable", "--no-reflogs"); strings.Contains(out, "unreachable") {
				t.Errorf("unreachable objects left:\n%s", out)
			}
			// The mirror goes on: a new commit is polled and read.
			next := f.work.Commit("two", map[string]string{"a.txt": "2"})
			f.work.Push("main")
			if got := poll(t, w); len(got) != 1 || got[0].Commit != id(next) {
				t.Fatalf("poll after compaction = %+v", got)
			}
			if did, err := f.mirror.Compact(CompactPolicy{Force: true}, time.Now().Add(2*time.Hour)); err != nil || !did {
				t.Fatalf("second Compact = %v, %v", did, err)
			}
			if b, err := f.mirror.ReadFile(hash(next), "a.txt"); err != nil || string(b) != "2" {
				t.Errorf("ReadFile after the second compaction = %q, %v", b, err)
			}
			gittest.Git(t, dir, "fsck", "--no-progress", "--no-dangling")
		})
	}
}

package watch

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
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
	if after.Packs != 1 {
		t.Errorf("after compaction: %+v, want one pack", after)
	}
	if f.mirror.Repository().Storer.HasEncodedObject(stray) != nil {
		t.Errorf("a fresh unreferenced object was dropped inside the grace period")
	}
	if did, _ := f.mirror.Compact(policy, now); did {
		t.Errorf("compacted again with nothing to do")
	}
	// Past the grace period the stray object goes.
	if _, err := f.mirror.Compact(CompactPolicy{Force: true, Grace: time.Nanosecond}, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if f.mirror.Repository().Storer.HasEncodedObject(stray) == nil {
		t.Errorf("stray object survived past the grace period")
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

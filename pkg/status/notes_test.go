package status

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/gittest"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/watch"
	"github.com/go-git/go-git/v5/plumbing"
)

var _ Remote = (*watch.Mirror)(nil)

type env struct {
	srv  *gittest.Server
	url  string
	work *gittest.Work
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := gittest.NewServer(t)
	srv.InitRepo("app.git")
	d := srv.StartDaemon()
	return &env{srv: srv, url: d.URL("app.git"), work: gittest.NewWork(t, d.URL("app.git"))}
}

func (e *env) notes(t *testing.T, host string) *Notes {
	t.Helper()
	m, err := watch.OpenMirror(watch.MirrorOptions{Dir: filepath.Join(t.TempDir(), "mirror"), URL: e.url})
	if err != nil {
		t.Fatal(err)
	}
	return &Notes{Remote: m, Ref: "refs/notes/ferry"}
}

// cliNote is what the git CLI shows for commit's note after fetching the
// notes ref: the proof that people can read what Ferry wrote.
func (e *env) cliNote(t *testing.T, commit string) string {
	t.Helper()
	e.work.Git("fetch", "-q", "origin", "+refs/notes/ferry:refs/notes/ferry")
	return e.work.Git("log", "--notes=ferry", "-1", "--format=%N", commit)
}

func rec(env string, o Outcome, host string) Record {
	return Record{Env: env, Method: "serial", Outcome: o, Host: host,
		Started: time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)}
}

func TestAppendIsReadableByGitAndByFerry(t *testing.T) {
	e := newEnv(t)
	c1 := e.work.Commit("one", nil)
	e.work.Push("main")
	n := e.notes(t, "a")
	ctx := t.Context()

	first, second := rec("staging", Started, "a"), rec("staging", Succeeded, "a")
	second.Ended = second.Started.Add(3 * time.Minute)
	for _, r := range []Record{first, second, second} { // the repeat is a no-op
		if err := n.Append(ctx, commit.MustParse(c1), r); err != nil {
			t.Fatal(err)
		}
	}
	note := e.cliNote(t, c1)
	if strings.Count(note, "ferry deploy: staging") != 2 || !strings.Contains(note, "ferry deploy: staging succeeded (serial)") {
		t.Errorf("git log --notes=ferry shows:\n%s", note)
	}
	if n := e.work.Git("rev-list", "--count", "refs/notes/ferry"); n != "2" {
		t.Errorf("notes ref has %s commits, want 2 (repeat must not write)", n)
	}
	got, err := n.Read(commit.MustParse(c1))
	if err != nil || len(got) != 2 || got[1].Outcome != Succeeded || !got[1].Ended.Equal(second.Ended) {
		t.Errorf("Read = %+v, %v", got, err)
	}
	if all, err := n.All(); err != nil || len(all) != 1 || len(all[commit.MustParse(c1)]) != 2 {
		t.Errorf("All = %v, %v", all, err)
	}
	if recs, err := n.Read(commit.MustParse(strings.Repeat("1", 40))); err != nil || len(recs) != 0 {
		t.Errorf("Read of a commit without a note = %+v, %v", recs, err)
	}
}

// TestFanOutNotes has git build a notes tree with many notes (fast-import fans
// it out into ab/cdef… directories), then reads and appends with Ferry and
// reads back with git.
func TestFanOutNotes(t *testing.T) {
	e := newEnv(t)
	const count = 600
	var stream strings.Builder
	for i := 1; i <= count; i++ {
		fmt.Fprintf(&stream, "commit refs/heads/main\nmark :%d\ncommitter T <t@example.com> %d +0000\ndata <<EOF\nc%d\nEOF\n", i, 1700000000+i, i)
		if i > 1 {
			fmt.Fprintf(&stream, "from :%d\n", i-1)
		}
		stream.WriteString("\n")
	}
	stream.WriteString("commit refs/notes/ferry\ncommitter T <t@example.com> 1700009999 +0000\ndata <<EOF\nnotes\nEOF\n")
	for i := 1; i <= count; i++ {
		fmt.Fprintf(&stream, "N inline :%d\ndata <<EOF\n%sEOF\n", i, rec(fmt.Sprintf("env%d", i), Succeeded, "git").Format())
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = e.work.Dir
	cmd.Env = gittest.GitEnv()
	cmd.Stdin = strings.NewReader(stream.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v: %s", err, out)
	}
	e.work.Git("push", "-q", "origin", "main", "refs/notes/ferry")
	top := e.work.Git("ls-tree", "refs/notes/ferry")
	if !strings.Contains(top, "tree ") {
		t.Fatalf("git did not fan the notes out:\n%.300s", top)
	}

	n := e.notes(t, "a")
	ctx := t.Context()
	if err := n.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c300 := e.work.Git("rev-parse", fmt.Sprintf("main~%d", count-300))
	got, err := n.Read(commit.MustParse(c300))
	if err != nil || len(got) != 1 || got[0].Env != "env300" {
		t.Fatalf("Read of a fanned-out note = %+v, %v", got, err)
	}
	if err := n.Append(ctx, commit.MustParse(c300), rec("staging", Failed, "a")); err != nil {
		t.Fatal(err)
	}
	newC := e.work.Commit("new", nil)
	e.work.Push("main")
	if err := n.Append(ctx, commit.MustParse(newC), rec("staging", Succeeded, "a")); err != nil {
		t.Fatal(err)
	}
	if note := e.cliNote(t, c300); !strings.Contains(note, "env300") || !strings.Contains(note, "ferry deploy: staging failed") {
		t.Errorf("git shows for the appended fanned-out note:\n%s", note)
	}
	if note := e.cliNote(t, newC); !strings.Contains(note, "ferry deploy: staging succeeded") {
		t.Errorf("git shows for the new note:\n%s", note)
	}
	all, err := n.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != count+1 || len(all[commit.MustParse(c300)]) != 2 || all[commit.MustParse(newC)][0].Env != "staging" {
		t.Errorf("All: %d notes (want %d), c300 has %d records", len(all), count+1, len(all[commit.MustParse(c300)]))
	}
	prefix := newC[:2]
	if sub := e.work.Git("ls-tree", "--name-only", "refs/notes/ferry:"+prefix); !strings.Contains(sub, newC[2:]) {
		t.Errorf("new note not placed in fan-out dir %s/:\n%s", prefix, sub)
	}
	e.work.Git("fsck", "--no-progress")
}

// TestConcurrentWritersKeepEveryRecord has agents with their own mirrors
// append to the same note at once; compare-and-swap losers merge and retry,
// and no record is lost.
func TestConcurrentWritersKeepEveryRecord(t *testing.T) {
	e := newEnv(t)
	c := commit.MustParse(e.work.Commit("one", nil))
	e.work.Push("main")
	const agents, each = 3, 4
	var wg sync.WaitGroup
	errs := make(chan error, agents*each)
	for a := range agents {
		n := e.notes(t, fmt.Sprint(a))
		n.Attempts = 50
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- n.Append(t.Context(), c, rec("staging", Started, fmt.Sprintf("agent%d-%d", a, i)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	note := e.cliNote(t, c.String())
	note += "\n" // the CLI helper trims the last newline
	for a := range agents {
		for i := range each {
			if !strings.Contains(note, fmt.Sprintf("host: agent%d-%d\n", a, i)) {
				t.Errorf("record of agent%d-%d lost; note:\n%s", a, i, note)
			}
		}
	}
}

// racingRemote loses every compare-and-swap, as if other agents kept
// pushing.
type racingRemote struct {
	Remote
	pushes int
}

func (r *racingRemote) PushCAS(context.Context, plumbing.ReferenceName, plumbing.Hash, plumbing.Hash) (bool, error) {
	r.pushes++
	return false, nil
}

func TestAppendGivesUpAfterBoundedConflicts(t *testing.T) {
	e := newEnv(t)
	c := commit.MustParse(e.work.Commit("one", nil))
	e.work.Push("main")
	n := e.notes(t, "a")
	rr := &racingRemote{Remote: n.Remote}
	n.Remote, n.Attempts = rr, 3
	err := n.Append(t.Context(), c, rec("s", Started, "a"))
	if !errors.Is(err, ErrConflict) || rr.pushes != 3 {
		t.Errorf("err = %v after %d pushes, want ErrConflict after 3", err, rr.pushes)
	}
}

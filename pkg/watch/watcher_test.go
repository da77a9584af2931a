package watch

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/pkg/backoff"
)

func TestPollFetchesOnlyWhenAWatchedRefMoved(t *testing.T) {
	srv := newFixture(t)
	h := srv.srv.StartHTTP("")
	srv.mirror = srv.openMirror(t, h.URL("app.git"), Auth{})
	c1 := srv.work.Commit("one", map[string]string{"a.txt": "1"})
	srv.work.Push("main")
	srv.work.Git("push", "-q", "origin", "main:other") // not watched
	w := srv.watcher(t, "", Rule{Env: "staging", Branch: "main"})

	got := poll(t, w)
	if len(got) != 1 || got[0].Commit != id(c1) || got[0].Ref != "refs/heads/main" || got[0].Env != "staging" {
		t.Fatalf("first poll = %+v, want staging at %s", got, c1)
	}
	if srv.mirror.LocalRef("refs/heads/other") != hash("") {
		t.Errorf("unwatched branch was fetched")
	}
	fetches := h.Requests("upload-pack")
	if fetches == 0 {
		t.Fatal("first poll did not fetch")
	}

	t.Run("nothing new: no fetch", func(t *testing.T) {
		lists := h.Requests("ls-upload-pack")
		if got := poll(t, w); len(got) != 0 {
			t.Errorf("poll with nothing new = %+v", got)
		}
		if n := h.Requests("upload-pack"); n != fetches {
			t.Errorf("poll with nothing new fetched (%d upload-pack requests, was %d)", n, fetches)
		}
		if h.Requests("ls-upload-pack") != lists+1 {
			t.Errorf("poll did not list the remote's refs exactly once")
		}
	})

	t.Run("unwatched branch moved: no fetch", func(t *testing.T) {
		srv.work.Commit("elsewhere", nil)
		srv.work.Git("push", "-q", "origin", "HEAD:other")
		srv.work.Git("reset", "-q", "--hard", c1)
		if got := poll(t, w); len(got) != 0 {
			t.Errorf("poll = %+v", got)
		}
		if n := h.Requests("upload-pack"); n != fetches {
			t.Errorf("an unwatched ref's move caused a fetch")
		}
	})

	t.Run("one new commit: fetched and emitted", func(t *testing.T) {
		c2 := srv.work.Commit("two", map[string]string{"a.txt": "2"})
		srv.work.Push("main")
		got := poll(t, w)
		if len(got) != 1 || got[0].Commit != id(c2) || got[0].Forced {
			t.Fatalf("poll = %+v, want %s not forced", got, c2)
		}
		if h.Requests("upload-pack") == fetches {
			t.Errorf("new commit was not fetched")
		}
		b, err := srv.mirror.ReadFile(hash(c2), "a.txt")
		if err != nil || string(b) != "2" {
			t.Errorf("ReadFile after fetch = %q, %v", b, err)
		}
	})
}

func TestPollTagsPicksHighestSemver(t *testing.T) {
	f := newFixture(t)
	tag := func(name string, annotated bool) string {
		c := f.work.Commit("release "+name, map[string]string{"VERSION": name})
		if annotated {
			f.work.Git("tag", "-a", "-m", "release "+name, name)
		} else {
			f.work.Git("tag", name)
		}
		f.work.Push(name)
		return c
	}
	tag("v1.0.0", false)
	tag("v1.2.0", true)
	c110 := tag("v1.10.0", true)
	tag("v2", false)          // not major.minor.patch
	tag("vnext", false)       // not a version
	tag("v2.0.0-rc.1", false) // prerelease
	tag("x9.0.0", false)      // does not match the pattern
	f.work.Push("main")
	w := f.watcher(t, t.TempDir(), Rule{Env: "production", TagPattern: "v*"})

	got := poll(t, w)
	if len(got) != 1 || got[0].Ref != "refs/tags/v1.10.0" || got[0].Commit != id(c110) {
		t.Fatalf("poll = %+v, want v1.10.0 at %s (annotated tag peeled)", got, c110)
	}
	for _, bad := range []string{"vnext", "tag=v2 "} {
		if !strings.Contains(f.logs.String(), bad) {
			t.Errorf("no warning for invalid tag %q in logs:\n%s", bad, f.logs.String())
		}
	}

	t.Run("deleted highest tag: older one is not a target", func(t *testing.T) {
		f.work.Git("push", "-q", "origin", ":refs/tags/v1.10.0")
		if got := poll(t, w); len(got) != 0 {
			t.Errorf("poll after deleting the highest tag = %+v, want none", got)
		}
		if !strings.Contains(f.logs.String(), "older than the previous target") {
			t.Errorf("no warning about an older tag:\n%s", f.logs.String())
		}
		if cur, _ := w.Current("production"); cur.Ref != "refs/tags/v1.10.0" {
			t.Errorf("current target changed to %+v", cur)
		}
		if f.mirror.LocalRef("refs/tags/v1.10.0") != hash("") {
			t.Errorf("deleted tag still in the mirror")
		}
	})

	t.Run("newer tag is a target", func(t *testing.T) {
		c := tag("v1.11.0", false)
		got := poll(t, w)
		if len(got) != 1 || got[0].Ref != "refs/tags/v1.11.0" || got[0].Commit != id(c) {
			t.Errorf("poll = %+v, want v1.11.0", got)
		}
	})

	t.Run("prerelease allowed by the rule", func(t *testing.T) {
		w2 := f.watcher(t, "", Rule{Env: "beta", TagPattern: "v*", Prerelease: true})
		got := poll(t, w2)
		if len(got) != 1 || got[0].Ref != "refs/tags/v2.0.0-rc.1" {
			t.Errorf("poll = %+v, want v2.0.0-rc.1", got)
		}
	})
}

func TestPollForcePushAndDeletedBranch(t *testing.T) {
	f := newFixture(t)
	c1 := f.work.Commit("one", nil)
	f.work.Push("main:staging")
	w := f.watcher(t, "", Rule{Env: "staging", Branch: "staging"})
	poll(t, w)

	// Rewrite history: a new root commit that does not descend from c1.
	f.work.Git("checkout", "-q", "--orphan", "rewrite")
	c2 := f.work.Commit("rewritten", map[string]string{"b": "x"})
	f.work.Git("push", "-q", "--force", "origin", "rewrite:staging")
	got := poll(t, w)
	if len(got) != 1 || got[0].Commit != id(c2) || !got[0].Forced {
		t.Fatalf("after force-push poll = %+v, want %s forced (was %s)", got, c2, c1)
	}
	if !strings.Contains(f.logs.String(), "force-pushed") {
		t.Errorf("no force-push warning")
	}

	f.work.Git("push", "-q", "origin", ":staging")
	if got := poll(t, w); len(got) != 0 {
		t.Fatalf("after deleting the branch poll = %+v, want none", got)
	}
	if !strings.Contains(f.logs.String(), "branch is missing") {
		t.Errorf("no warning for the deleted branch:\n%s", f.logs.String())
	}
	if cur, ok := w.Current("staging"); !ok || cur.Commit != id(c2) {
		t.Errorf("last target lost after deletion: %+v", cur)
	}
	if f.mirror.LocalRef("refs/heads/staging") != hash("") {
		t.Errorf("deleted branch still in the mirror")
	}

	// Recreated at the same commit: nothing to do; then a new commit.
	f.work.Git("push", "-q", "origin", "rewrite:staging")
	if got := poll(t, w); len(got) != 0 {
		t.Errorf("recreated at the same commit: %+v", got)
	}
	c3 := f.work.Commit("three", nil)
	f.work.Git("push", "-q", "origin", "rewrite:staging")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(c3) || got[0].Forced {
		t.Errorf("after recreation poll = %+v, want %s", got, c3)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	f.work.Commit("one", nil)
	f.work.Push("main")
	state := t.TempDir()
	rule := Rule{Env: "staging", Branch: "main"}
	if got := poll(t, f.watcher(t, state, rule)); len(got) != 1 {
		t.Fatalf("first watcher: %+v", got)
	}
	if got := poll(t, f.watcher(t, state, rule)); len(got) != 0 {
		t.Errorf("restarted watcher re-emitted %+v", got)
	}
}

func TestUnreachableRemoteKeepsStateAndRecovers(t *testing.T) {
	f := newFixture(t)
	c1 := f.work.Commit("one", nil)
	f.work.Push("main")
	w := f.watcher(t, "", Rule{Env: "staging", Branch: "main"})
	poll(t, w)

	f.daemon.Stop()
	_, err := w.Poll(t.Context())
	if err == nil {
		t.Fatal("poll of a stopped server succeeded")
	}
	if !IsTransient(err) || !errors.Is(err, ErrTransient) {
		t.Errorf("unreachable remote error is not transient: %v", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Op != "list" {
		t.Errorf("error is not a RemoteError from list: %#v", err)
	}
	if st := w.Status(); st.Failures != 1 || st.LastError == nil {
		t.Errorf("status = %+v", st)
	}
	if cur, _ := w.Current("staging"); cur.Commit != id(c1) {
		t.Errorf("target lost: %+v", cur)
	}

	f.daemon.Restart()
	c2 := f.work.Commit("two", nil)
	f.work.Push("main")
	got := poll(t, w)
	if len(got) != 1 || got[0].Commit != id(c2) {
		t.Errorf("after recovery poll = %+v", got)
	}
	if st := w.Status(); st.Failures != 0 || st.LastError != nil {
		t.Errorf("status after recovery = %+v", st)
	}
}

// TestRunBacksOffThenFollowsSchedule runs Run in a synctest bubble: failed
// polls wait a jittered, doubling delay; a good poll emits and waits for
// the schedule; a trigger polls at once. The git daemon is an outside
// process, stopped and restarted from outside the bubble: a goroutine of
// the bubble waiting on a process would keep its clock from moving.
func TestRunBacksOffThenFollowsSchedule(t *testing.T) {
	f := newFixture(t)
	c1 := f.work.Commit("one", nil)
	f.work.Push("main")
	f.daemon.Stop()
	// The mirror's own retries of a failed listing pause for fixed times.
	m, err := OpenMirror(MirrorOptions{Dir: filepath.Join(t.TempDir(), "mirror"), URL: f.daemon.URL("app.git"), Logger: f.log,
		Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	restart, restarted := make(chan struct{}), make(chan struct{})
	go func() {
		if _, ok := <-restart; ok {
			f.daemon.Restart()
			close(restarted)
		}
	}()
	defer close(restart)

	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var failedAt []time.Time // when each failed poll ended (Rand draws its jitter then)
		w, err := New(Options{
			Mirror: m, Rules: []Rule{{Env: "staging", Branch: "main"}},
			Schedule: Every(time.Minute),
			Backoff:  backoff.Backoff{Base: 2 * time.Second, Max: 10 * time.Second},
			Rand: func() float64 {
				mu.Lock()
				defer mu.Unlock()
				failedAt = append(failedAt, time.Now())
				return 0.5
			},
			Logger: f.log,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan Target, 4)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, out) }()
		failed := func() []time.Time {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(failedAt)
		}

		// Five failed polls, then the remote is back. Jitter 0.5 puts each
		// delay at 3/4 of the doubled base, capped at Max.
		for len(failed()) < 5 {
			synctest.Wait()
			if len(out) != 0 {
				t.Fatal("target emitted while the remote is down")
			}
			time.Sleep(time.Second)
		}
		restart <- struct{}{}
		<-restarted
		tgt := <-out
		if tgt.Commit != id(c1) {
			t.Fatalf("target = %+v", tgt)
		}
		// A failed poll lasts as long as the mirror's own retries of the
		// listing (the same each time): the first one shows how long.
		ends := failed()
		poll := ends[0].Sub(start)
		for i, want := range []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 7500 * time.Millisecond} {
			if got := ends[i+1].Sub(ends[i]) - poll; got != want {
				t.Errorf("backoff wait %d = %v, want %v", i+1, got, want)
			}
		}
		// The remote came back during the fifth wait of 7.5s.
		if got := w.Status().LastSuccess.Sub(ends[4]); got != 7500*time.Millisecond {
			t.Errorf("good poll %v after the fifth failure, want 7.5s", got)
		}

		// The next poll is the schedule's, a minute later.
		ok := w.Status().LastSuccess
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if got := w.Status().LastSuccess; got != ok {
			t.Fatalf("polled %v after a good poll, before the 1m schedule", got.Sub(ok))
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := w.Status().LastSuccess.Sub(ok); got != time.Minute {
			t.Fatalf("wait after a good poll = %v, want the 1m schedule", got)
		}

		c2 := f.work.Commit("two", nil)
		f.work.Push("main")
		at := time.Now()
		w.Trigger()
		if tgt := <-out; tgt.Commit != id(c2) {
			t.Fatalf("triggered poll target = %+v", tgt)
		}
		if waited := time.Since(at); waited != 0 {
			t.Errorf("a trigger polled after %v, want at once", waited)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
}

func TestCronSchedule(t *testing.T) {
	tests := []struct {
		spec    string
		from    time.Time
		want    time.Time
		wantErr bool
	}{
		{"*/15 * * * *", time.Date(2026, 1, 1, 10, 7, 0, 0, time.UTC), time.Date(2026, 1, 1, 10, 15, 0, 0, time.UTC), false},
		{"@hourly", time.Date(2026, 1, 1, 10, 7, 0, 0, time.UTC), time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC), false},
		{"@every 90s", time.Date(2026, 1, 1, 10, 7, 0, 0, time.UTC), time.Date(2026, 1, 1, 10, 8, 30, 0, time.UTC), false},
		{"every minute", time.Time{}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := CronSchedule(tt.spec)
			if tt.wantErr {
				if !errors.Is(err, ErrPermanent) {
					t.Fatalf("err = %v, want permanent", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(tt.from); !got.Equal(tt.want) {
				t.Errorf("Next = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuleValidate(t *testing.T) {
	tests := []struct {
		rule Rule
		ok   bool
	}{
		{Rule{Env: "s", Branch: "main"}, true},
		{Rule{Env: "p", TagPattern: "v*"}, true},
		{Rule{Branch: "main"}, false},
		{Rule{Env: "x", Branch: "main", TagPattern: "v*"}, false},
		{Rule{Env: "x"}, false},
		{Rule{Env: "x", TagPattern: "v["}, false},
	}
	for _, tt := range tests {
		err := tt.rule.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v", tt.rule, err)
		}
	}
}

// TestMatchTags: tag patterns use the config's glob syntax (doublestar:
// braces, classes), and of the matching tags only full semver versions are
// candidates, highest first.
func TestMatchTags(t *testing.T) {
	refs := map[plumbing.ReferenceName]RemoteRef{}
	for _, tag := range []string{"v1.2.0", "v1.10.0", "release-2.0.0", "v2", "V3.0.0", "v1.11.0-rc.1", "docs/v9.0.0"} {
		name := plumbing.NewTagReferenceName(tag)
		refs[name] = RemoteRef{Name: name}
	}
	refs["refs/heads/v5.0.0"] = RemoteRef{Name: "refs/heads/v5.0.0"} // a branch, never a tag target
	for _, tc := range []struct {
		pattern       string
		prerelease    bool
		want, invalid string
	}{
		{pattern: "v*", want: "v1.10.0 v1.2.0", invalid: "v2"},
		{pattern: "v*", prerelease: true, want: "v1.11.0-rc.1 v1.10.0 v1.2.0", invalid: "v2"},
		// Matched, but only a lowercase v prefix makes a version.
		{pattern: "{v,release-}*", want: "v1.10.0 v1.2.0", invalid: "release-2.0.0 v2"},
		{pattern: "[vV][0-9]*", want: "v1.10.0 v1.2.0", invalid: "V3.0.0 v2"},
		{pattern: "v1.1*", want: "v1.10.0"},
		{pattern: "**/v*", want: "v1.10.0 v1.2.0", invalid: "docs/v9.0.0 v2"},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			r := Rule{Env: "production", TagPattern: tc.pattern, Prerelease: tc.prerelease}
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			tags, invalid := r.matchTags(refs)
			var got []string
			for _, c := range tags {
				got = append(got, c.ref.Name.Short())
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("candidates %q, want %q", g, tc.want)
			}
			if g := strings.Join(invalid, " "); g != tc.invalid {
				t.Errorf("invalid %q, want %q", g, tc.invalid)
			}
		})
	}
}

// TestForcedIsDecidedCorrectly covers the pushes the force-push check sees:
// several commits at once, a merge of an old branch, a move back to a commit
// the mirror already has (nothing to fetch), and forward again.
func TestForcedIsDecidedCorrectly(t *testing.T) {
	f := newFixture(t)
	c1 := f.work.Commit("one", nil)
	f.work.Git("branch", "side")
	f.work.Push("main")
	w := f.watcher(t, "", Rule{Env: "staging", Branch: "main"})
	poll(t, w)

	f.work.Commit("two", nil)
	c3 := f.work.Commit("three", nil)
	f.work.Push("main")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(c3) || got[0].Forced {
		t.Fatalf("two commits pushed at once: %+v", got)
	}

	f.work.Git("checkout", "-q", "side")
	f.work.Commit("side work", map[string]string{"s": "1"})
	f.work.Git("checkout", "-q", "main")
	f.work.Git("merge", "-q", "--no-ff", "-m", "merge side", "side")
	m := f.work.Git("rev-parse", "HEAD")
	f.work.Push("main")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(m) || got[0].Forced {
		t.Fatalf("merge pushed: %+v", got)
	}

	f.work.Git("push", "-q", "--force", "origin", c1+":refs/heads/main")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(c1) || !got[0].Forced {
		t.Fatalf("moved back to an old commit: %+v, want forced", got)
	}
	f.work.Push("main")
	if got := poll(t, w); len(got) != 1 || got[0].Commit != id(m) || got[0].Forced {
		t.Fatalf("forward again: %+v", got)
	}
}

// TestForcedFallsBackToHistory: the new commit's parent came with an earlier
// fetch (another environment's branch), so the check must read history.
func TestForcedFallsBackToHistory(t *testing.T) {
	f := newFixture(t)
	f.work.Commit("one", nil)
	f.work.Push("main", "main:dev")
	w := f.watcher(t, "", Rule{Env: "staging", Branch: "main"}, Rule{Env: "dev", Branch: "dev"})
	poll(t, w)
	y := f.work.Commit("two", nil)
	f.work.Push("main:dev")
	if got := poll(t, w); len(got) != 1 || got[0].Env != "dev" || got[0].Commit != id(y) {
		t.Fatalf("dev moved: %+v", got)
	}
	z := f.work.Commit("three", nil)
	f.work.Push("main")
	got := poll(t, w)
	if len(got) != 1 || got[0].Env != "staging" || got[0].Commit != id(z) || got[0].Forced {
		t.Fatalf("main moved two commits, one already mirrored: %+v", got)
	}
}

func TestRunWaitsForTheCronSchedule(t *testing.T) {
	f := newFixture(t)
	f.work.Commit("one", nil)
	f.work.Push("main")
	sched, err := CronSchedule("*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(4*time.Minute + 5*time.Second) // the bubble's clock: 00:04:05
		w, err := New(Options{Mirror: f.mirror, Rules: []Rule{{Env: "staging", Branch: "main"}},
			Schedule: sched, Logger: f.log})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan Target, 1)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, out) }()
		<-out
		// Polls at 00:05:00 (55s later, on the schedule, not 5m later),
		// then every 5 minutes.
		for _, wait := range []time.Duration{55 * time.Second, 5 * time.Minute} {
			last := w.Status().LastSuccess
			time.Sleep(wait - time.Nanosecond)
			synctest.Wait()
			if got := w.Status().LastSuccess; got != last {
				t.Fatalf("polled %v after %v, before the schedule", got.Sub(last), last.Format(time.TimeOnly))
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait()
			if got := w.Status().LastSuccess.Sub(last); got != wait {
				t.Errorf("polled %v after %v, want %v", got, last.Format(time.TimeOnly), wait)
			}
		}
		cancel()
		<-done
	})
}

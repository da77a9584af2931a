package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

// await lets the bubble's clock run, a minute at a time, until cond holds:
// the Queue goes through every wait a test sets up, in no real time.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 24 * 60 {
		synctest.Wait()
		if cond() {
			return
		}
		time.Sleep(time.Minute)
	}
	t.Fatalf("a day passed waiting for %s", what)
}

// runQueue runs q until the test ends and returns a channel closed when
// Run has returned.
func runQueue(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
	})
}

// sentStates lists the (commit prefix, state) of every request that the
// forge accepted, in order.
func sentStates(f *fakeForge, accepted []bool) []string {
	var out []string
	for i, req := range f.requests() {
		if accepted != nil && !accepted[i] {
			continue
		}
		var body giteaStatus
		json.Unmarshal(req.body, &body)
		out = append(out, req.path[len(req.path)-40:][:7]+" "+string(body.State))
	}
	return out
}

// A forge that hangs, then fails for a while, never holds up the caller;
// the newest status is delivered once it is back.
func TestQueueOutageDoesNotBlockCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, cfg := newGiteaForge(t, "")
		counters := new(Counters)
		r, logs := newTestReporter(t, f, cfg, Options{Counters: counters})
		q := NewQueue(r, QueueOptions{Counters: counters, Logger: testLogger(logs), Jitter: noJitter})
		runQueue(t, q)

		arrived, release := f.holdNext()
		// The first status reaches a forge that doesn't answer.
		if err := q.Set(t.Context(), Status{Commit: commitA, State: StatePending, Description: "Deploying"}); err != nil {
			t.Fatal(err)
		}
		<-arrived
		// Meanwhile the deploy goes on and ends: these calls return although
		// the forge has not answered yet (it answers only after release below).
		returned := make(chan error, 1)
		go func() {
			for _, st := range []Status{
				{Commit: commitA, State: StatePending, Description: "Deploying (1/2)"},
				{Commit: commitA, State: StatePending, Description: "Deploying (2/2)"},
				{Commit: commitA, State: StateSuccess, Description: "Deployed"},
			} {
				if err := q.Set(t.Context(), st); err != nil {
					returned <- err
					return
				}
			}
			returned <- nil
		}()
		select {
		case err := <-returned:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second): // a guard against a hang, not a timing
			release()
			t.Fatal("Queue.Set waited for the forge")
		}
		// The forge answers 503 to the held request and to the next several,
		// then recovers.
		outage := make([]reply, 7)
		for i := range outage {
			outage[i] = reply{code: 503, body: `{"message":"Service Unavailable","url":""}`}
		}
		f.queue(outage...)
		release()

		await(t, "the queue to drain", func() bool { return q.Len() == 0 })
		got := f.requests()
		if n := len(got); n != len(outage)+1 {
			t.Fatalf("%d requests, want %d: the outage, then one success", n, len(outage)+1)
		}
		var last giteaStatus
		json.Unmarshal(got[len(got)-1].body, &last)
		if last.State != StateSuccess || last.Description != "Deployed" {
			t.Errorf("delivered %+v, want the newest status (success, Deployed)", last)
		}
		for _, req := range got[1:] {
			var b giteaStatus
			json.Unmarshal(req.body, &b)
			if b.State != StateSuccess {
				t.Errorf("sent superseded status %+v after the outage", b)
			}
		}
		if c := counters; c.Sent.Load() != 1 || c.Dropped.Load() != 0 || c.Failed.Load() == 0 {
			t.Errorf("counters: sent %d dropped %d failed %d", c.Sent.Load(), c.Dropped.Load(), c.Failed.Load())
		}
		if !strings.Contains(logs.String(), "forge is back") {
			t.Errorf("recovery not logged:\n%s", logs)
		}
	})
}

// Statuses are delivered in the order first set; a newer status for the
// same commit and context replaces the waiting one in its place.
func TestQueueOrderNewestWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, cfg := newGiteaForge(t, "")
		r, _ := newTestReporter(t, f, cfg, Options{})
		q := NewQueue(r, QueueOptions{})

		arrived, release := f.holdNext()
		runQueue(t, q)
		set := func(c commit.ID, state State) {
			t.Helper()
			if err := q.Set(t.Context(), Status{Commit: c, State: state}); err != nil {
				t.Fatal(err)
			}
		}
		set(commitA, StatePending) // in flight, held
		<-arrived
		set(commitB, StatePending)
		set(commitA, StateSuccess) // replaces A's waiting entry, still first
		set(commitB, StateFailure) // replaces B's
		set(commit.MustParse(commitA.String()+strings.Repeat("0", 24)), StatePending)
		release()
		await(t, "the queue to drain", func() bool { return q.Len() == 0 })

		want := []string{"6dcb09b pending", "6dcb09b success", "0123456 failure", "0000000 pending"}
		got := sentStates(f, nil)
		got[3] = "0000000 " + strings.Fields(got[3])[1] // the SHA-256 commit's last 40 digits
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
}

func TestQueueDrops(t *testing.T) {
	t.Run("oldest when full", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, cfg := newGiteaForge(t, "")
			r, logs := newTestReporter(t, f, cfg, Options{})
			q := NewQueue(r, QueueOptions{MaxLen: 2, Counters: r.Counters(), Logger: testLogger(logs)})
			for _, c := range []commit.ID{commitA, commitB, commit.MustParse(strings.Repeat("c", 40))} {
				q.Set(t.Context(), Status{Commit: c, State: StateSuccess})
			}
			if q.Len() != 2 || r.Counters().Dropped.Load() != 1 {
				t.Fatalf("len %d dropped %d, want 2 and 1", q.Len(), r.Counters().Dropped.Load())
			}
			if !strings.Contains(logs.String(), "commit status dropped") || !strings.Contains(logs.String(), "queue full") || !strings.Contains(logs.String(), commitA.String()) {
				t.Errorf("drop not logged with its commit:\n%s", logs)
			}
			runQueue(t, q)
			await(t, "the queue to drain", func() bool { return q.Len() == 0 })
			if got := sentStates(f, nil); fmt.Sprint(got) != "[0123456 success ccccccc success]" {
				t.Errorf("delivered %v", got)
			}
		})
	})
	t.Run("after max age", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, cfg := newGiteaForge(t, "")
			down := make([]reply, 100)
			for i := range down {
				down[i] = reply{code: 502}
			}
			f.queue(down...)
			r, logs := newTestReporter(t, f, cfg, Options{})
			q := NewQueue(r, QueueOptions{MaxAge: 10 * time.Minute, BaseDelay: time.Minute, MaxDelay: 4 * time.Minute, Counters: r.Counters(), Logger: testLogger(logs), Jitter: noJitter})
			q.Set(t.Context(), Status{Commit: commitA, State: StateFailure, Description: "Rolled back"})
			runQueue(t, q)
			await(t, "the status to be dropped", func() bool { return r.Counters().Dropped.Load() == 1 })
			// 1m, 2m, 4m between the four tries, then 4m more: past 10m
			// after the fourth wait (the log says 11m), dropped untried.
			if got := fmt.Sprint(f.gaps()); got != "[1m0s 2m0s 4m0s]" {
				t.Errorf("waited %s", got)
			}
			if n := len(f.requests()); n != 4 {
				t.Errorf("%d requests, want 4", n)
			}
			if !strings.Contains(logs.String(), "forge unavailable for 11m0s") {
				t.Errorf("drop reason not logged:\n%s", logs)
			}
		})
	})
	t.Run("rejected by the forge", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, cfg := newGiteaForge(t, "")
			f.queue(giteaErrors[2].reply) // 404
			r, logs := newTestReporter(t, f, cfg, Options{})
			q := NewQueue(r, QueueOptions{Counters: r.Counters(), Logger: testLogger(logs)})
			q.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
			q.Set(t.Context(), Status{Commit: commitB, State: StateSuccess})
			runQueue(t, q)
			await(t, "the queue to drain", func() bool { return q.Len() == 0 })
			c := r.Counters()
			if c.Dropped.Load() != 1 || c.Sent.Load() != 1 || c.Failed.Load() != 1 {
				t.Errorf("dropped %d sent %d failed %d, want 1 1 1", c.Dropped.Load(), c.Sent.Load(), c.Failed.Load())
			}
			if g := f.gaps(); len(g) != 1 || g[0] != 0 {
				t.Errorf("waited %v after a refusal", g)
			}
			if !strings.Contains(logs.String(), "404") || !strings.Contains(logs.String(), "repository does not exist") {
				t.Errorf("refusal not logged with the forge's reason:\n%s", logs)
			}
		})
	})
}

func TestQueueRefusesInvalidStatus(t *testing.T) {
	q := NewQueue(nil, QueueOptions{})
	if err := q.Set(t.Context(), Status{State: StateSuccess}); err == nil {
		t.Error("queued a status no forge would take")
	}
	if q.Len() != 0 {
		t.Error("the invalid status is waiting")
	}
}

// The Queue honours a Retry-After longer than its backoff, up to MaxAge.
func TestQueueHonoursLongRetryAfter(t *testing.T) {
	tests := []struct {
		retryAfter string
		want       string
	}{
		{"900", "[15m0s]"},
		{"86400", "[1h0m0s]"},
	}
	for _, tt := range tests {
		t.Run(tt.retryAfter, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, cfg := newGiteaForge(t, "")
				f.queue(reply{code: 429, header: map[string]string{"Retry-After": tt.retryAfter}})
				r, _ := newTestReporter(t, f, cfg, Options{})
				q := NewQueue(r, QueueOptions{Jitter: noJitter, MaxAge: time.Hour})
				q.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
				runQueue(t, q)
				await(t, "the queue to drain", func() bool { return q.Len() == 0 })
				if got := fmt.Sprint(f.gaps()); got != tt.want {
					t.Errorf("waited %s, want %s", got, tt.want)
				}
				if n := r.Counters().Sent.Load(); n != 1 {
					t.Errorf("Sent = %d, want 1", n)
				}
			})
		})
	}
}

// Callers on several goroutines (several environments deploying at once)
// share a Queue; each commit's last status is the one that lands.
func TestQueueConcurrentCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, cfg := newGiteaForge(t, "")
		r, _ := newTestReporter(t, f, cfg, Options{})
		q := NewQueue(r, QueueOptions{})
		runQueue(t, q)
		commits := []commit.ID{commitA, commitB, commit.MustParse(strings.Repeat("a", 40)), commit.MustParse(strings.Repeat("b", 40))}
		done := make(chan struct{})
		for _, c := range commits {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range 20 {
					q.Set(context.Background(), Status{Commit: c, State: StatePending, Description: fmt.Sprintf("step %d", i)})
				}
				q.Set(context.Background(), Status{Commit: c, State: StateSuccess, Description: "Deployed"})
			}()
		}
		for range commits {
			<-done
		}
		await(t, "the queue to drain", func() bool { return q.Len() == 0 })
		last := map[string]giteaStatus{}
		for _, req := range f.requests() {
			var b giteaStatus
			json.Unmarshal(req.body, &b)
			last[req.path[len(req.path)-40:]] = b
		}
		for _, c := range commits {
			if b := last[c.String()]; b.State != StateSuccess || b.Description != "Deployed" {
				t.Errorf("%s: last delivered %+v, want success", c.Short(), b)
			}
		}
	})
}

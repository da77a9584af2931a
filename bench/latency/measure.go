package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/bench/internal/benchproc"
	"github.com/ferry-deploy/ferry/pkg/watch"
)

// sample is one push.
type sample struct {
	Commit string        `json:"commit"`
	Pause  time.Duration `json:"pause"`  // the random wait before the push
	Push   time.Duration `json:"push"`   // how long `git push` took
	Hook   time.Duration `json:"hook"`   // the webhook's request, from the push returning to its answer
	Seen   time.Duration `json:"seen"`   // push returned → the agent's "new target"
	Step   time.Duration `json:"step"`   // push returned → the deploy's first step
	Call   time.Duration `json:"call"`   // push returned → the first mutating AWS call: the latency
	Action string        `json:"action"` // that call
	Deploy time.Duration `json:"deploy"` // push returned → the agent idle at the commit
}

// result is one mode's run.
type result struct {
	Mode    string   `json:"mode"`
	Samples []sample `json:"samples"`
}

// measure pushes o.pushesFor(mode) commits, one at a time, each at a
// random moment, and measures each.
func (w *world) measure(ctx context.Context, seed int64) (result, error) {
	r := result{Mode: w.mode}
	rnd := rand.New(rand.NewPCG(uint64(seed), 0x1a7e))
	n := w.o.pushesFor(w.mode)
	limit := w.o.interval(w.mode) + 2*time.Minute
	var logOff int64
	for i := range n {
		s := sample{Pause: time.Duration(rnd.Int64N(int64(w.o.interval(w.mode))))}
		select {
		case <-time.After(s.Pause):
		case <-ctx.Done():
			return r, ctx.Err()
		}
		if err := os.WriteFile(filepath.Join(w.work, "app.py"), fmt.Appendf(nil, "print(%d)\n", i+1), 0o644); err != nil {
			return r, err
		}
		if _, err := w.git(ctx, w.work, "commit", "-q", "-am", fmt.Sprintf("The app, version %d", i+1)); err != nil {
			return r, err
		}
		commit, err := w.git(ctx, w.work, "rev-parse", "HEAD")
		if err != nil {
			return r, err
		}
		s.Commit = commit
		start := time.Now()
		if _, err := w.git(ctx, w.work, "push", "-q", "origin", "HEAD:refs/heads/"+envName); err != nil {
			return r, err
		}
		t0 := time.Now()
		s.Push = t0.Sub(start)
		if w.mode == modeWebhook {
			if err := w.sendHook(ctx, commit); err != nil {
				return r, err
			}
			s.Hook = time.Since(t0)
		}
		call, err := w.firstChange(ctx, t0, limit)
		if err != nil {
			return r, fmt.Errorf("push %d (%s): %w", i+1, commit[:12], err)
		}
		s.Call, s.Action = call.Time.Sub(t0), call.Action
		if err := w.waitIdle(ctx, commit, limit); err != nil {
			return r, fmt.Errorf("push %d (%s): %w", i+1, commit[:12], err)
		}
		s.Deploy = time.Since(t0)
		var seen, step time.Time
		if logOff, seen, step, err = scanLog(w.agentLog, logOff, commit); err != nil {
			return r, err
		}
		if !seen.IsZero() {
			s.Seen = seen.Sub(t0)
		}
		if !step.IsZero() {
			s.Step = step.Sub(t0)
		}
		r.Samples = append(r.Samples, s)
		if (i+1)%10 == 0 || i+1 == n {
			logf("%s: %d/%d pushes; last: call after %s (%s), deploy done after %s", w.mode, i+1, n,
				s.Call.Round(time.Millisecond), s.Action, s.Deploy.Round(time.Millisecond))
		}
	}
	return r, nil
}

// sendHook posts a GitHub push event for commit to the agent's
// /hooks/git, signed as GitHub signs it (X-Hub-Signature-256, HMAC-SHA256
// of the body).
func (w *world) sendHook(ctx context.Context, commit string) error {
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/" + envName, "after": commit,
		"repository": map[string]any{"full_name": "bench/" + project, "clone_url": w.url},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.agentURL+"/hooks/git", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", watch.SignBody([]byte(w.secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("webhook: %s", resp.Status)
	}
	return nil
}

// call is one request as GET /_awssim/calls lists it.
type call struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Group  string    `json:"group"`
}

// mutating reports whether an action changes something: everything but
// the reads (Describe*, Get*, List*).
func mutating(action string) bool {
	_, name, _ := strings.Cut(action, ":")
	for _, read := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(name, read) {
			return false
		}
	}
	return name != ""
}

// firstChange waits for the first mutating call the simulator received
// after t0.
func (w *world) firstChange(ctx context.Context, t0 time.Time, limit time.Duration) (call, error) {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var found call
	path := "/_awssim/calls?since=" + url.QueryEscape(t0.Format(time.RFC3339Nano))
	err := benchproc.WaitFor(wctx, 5*time.Millisecond, "the deploy's first AWS call", func() (bool, error) {
		if w.agent.Exited() {
			return false, fmt.Errorf("ferry run exited: %v (see %s)", w.agent.Err(), w.agentLog)
		}
		var calls []call
		if err := benchproc.SimCall(ctx, w.simURL, http.MethodGet, path, &calls); err != nil {
			return false, err
		}
		for _, c := range calls {
			if mutating(c.Action) {
				found = c
				return true, nil
			}
		}
		return false, nil
	})
	return found, err
}

// scanLog reads the agent's JSON log from off and returns the new offset
// and the times of the first "new target" for commit and of the first
// deploy step after it.
func scanLog(path string, off int64, commit string) (next int64, seen, step time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return off, seen, step, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, seen, step, err
	}
	return parseLog(f, off, commit)
}

func parseLog(r io.Reader, off int64, commit string) (next int64, seen, step time.Time, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	next = off
	for sc.Scan() {
		next += int64(len(sc.Bytes())) + 1
		var line struct {
			Time   time.Time `json:"time"`
			Msg    string    `json:"msg"`
			Commit string    `json:"commit"`
			N      int       `json:"n"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Msg == "new target" && line.Commit == commit && seen.IsZero():
			seen = line.Time
		case line.Msg == "step" && line.N == 1 && !seen.IsZero() && step.IsZero():
			step = line.Time
		}
	}
	return next, seen, step, sc.Err()
}

package ui

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/agent"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/execute"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// state is the agent's side of the page as a test sets it: views that
// change, and the channel Changed hands out, closed at each change as the
// agent's is.
type state struct {
	mu      sync.Mutex
	views   []agent.EnvView
	changed chan struct{}
	token   string         // "": actions off
	acted   []agent.Action // as asked
	refuse  error          // what Act answers
}

func (s *state) ActionsEnabled() bool { return s.token != "" }

func (s *state) Authorized(token string) bool { return s.token != "" && token == s.token }

func (s *state) Act(a agent.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acted = append(s.acted, a)
	return s.refuse
}

func newState(v ...agent.EnvView) *state { return &state{views: v, changed: make(chan struct{})} }

func (s *state) set(v ...agent.EnvView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.views = v
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *state) Views() []agent.EnvView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.views
}

func (s *state) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *state) Commit(_ string, c commit.ID) (agent.CommitInfo, error) {
	return agent.CommitInfo{ID: c, Subject: "Fix <the> login", Author: "Ada"}, nil
}

func (s *state) History(context.Context, string, int) ([]agent.PastDeploy, error) { return nil, nil }
func (s *state) Logs(string) ([]agent.DeployLogs, error)                          { return nil, nil }
func (s *state) Log(env, id, file string) ([]byte, error) {
	if env == "staging" && id == "d1" && file == "web-i-1.log" {
		return []byte("<script>alert(1)</script> done\n"), nil
	}
	return nil, errors.New("no log")
}

func deploying(now time.Time) agent.EnvView {
	c := commit.MustParse("0123456789abcdef0123456789abcdef01234567")
	return agent.EnvView{
		EnvState: agent.EnvState{Env: "staging", State: "deploying", Detail: "full", Target: c},
		Deploy: &execute.Progress{
			DeployID: "d1", Env: "staging", Commit: c, Method: plan.Full, Started: now.Add(-90 * time.Second),
			Steps:   []string{"suspend-processes web", "raise-capacity web", "wait-healthy web", "terminate-old web"},
			Current: 2, StepStarted: now.Add(-40 * time.Second),
			Done: []execute.StepTime{
				{Step: 0, Name: "suspend-processes web", Started: now.Add(-90 * time.Second), Ended: now.Add(-80 * time.Second)},
				{Step: 1, Name: "raise-capacity web", Started: now.Add(-80 * time.Second), Ended: now.Add(-40 * time.Second)},
			},
			Wait: &execute.Wait{For: "4 new instance(s) of web healthy", Progress: "healthy 2/4", Started: now.Add(-40 * time.Second), Limit: 10 * time.Minute},
		},
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestPageShowsTheRunningDeploy(t *testing.T) {
	srv := httptest.NewServer(New(newState(deploying(time.Now())), Options{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	code, body := get(t, srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d", code)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`, // JavaScript off
		`<li class="step current" aria-current="step">wait-healthy web`,
		`healthy 2/4</span>, <span class="elapsed">40 s</span> of 10 m`,
		`<svg class="timeline"`,
		`Fix &lt;the&gt; login`,
		`<span class="badge">deploying</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the page refers to an outside address:\n%s", body)
	}
	for _, asset := range []string{"/static/style.css", "/static/live.js"} {
		if code, _ := get(t, srv.URL+asset); code != http.StatusOK {
			t.Errorf("GET %s: %d", asset, code)
		}
	}
}

func TestLogIsEscaped(t *testing.T) {
	srv := httptest.NewServer(New(newState(), Options{}))
	defer srv.Close()
	code, body := get(t, srv.URL+"/logs/staging/d1/web-i-1.log")
	if code != http.StatusOK || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt; done") {
		t.Errorf("GET log: %d\n%s", code, body)
	}
	if code, _ := get(t, srv.URL+"/logs/staging/d1/..%2f..%2fetc%2fpasswd"); code != http.StatusNotFound {
		t.Errorf("a path out of the logs: %d, want 404", code)
	}
}

// TestEventsFollowChanges: the stream sends every card at once, then a
// card again only when a change altered it.
func TestEventsFollowChanges(t *testing.T) {
	now := time.Now()
	st := newState(deploying(now))
	srv := httptest.NewServer(New(st, Options{MinInterval: time.Millisecond}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text() + "\n")
		}
		close(events)
	}()
	first := <-events
	if !strings.HasPrefix(first, "event: card\n") || !strings.Contains(first, "healthy 2/4") {
		t.Fatalf("first event:\n%s", first)
	}
	next := deploying(now)
	next.Deploy.Wait.Progress = "healthy 3/4"
	st.set(next)
	if ev := <-events; !strings.Contains(ev, "healthy 3/4") {
		t.Fatalf("event after the change:\n%s", ev)
	}
}

func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.0 s"}, {400 * time.Millisecond, "0.4 s"}, {9940 * time.Millisecond, "9.9 s"}, {40 * time.Second, "40 s"}, {10 * time.Minute, "10 m"},
		{125 * time.Second, "2 m 5 s"}, {time.Hour + 3*time.Minute, "1 h 3 m"}, {2 * time.Hour, "2 h"},
	} {
		if got := human(tc.d); got != tc.want {
			t.Errorf("human(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// post posts form to url, not following a redirect.
func post(t *testing.T, url string, form url.Values) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(url, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestActions(t *testing.T) {
	const token = "s3cret-token-for-tests"
	for _, tc := range []struct {
		name   string
		on     string // the agent's token; "": actions off
		token  string
		action string
		want   int
		acted  bool
	}{
		{"off", "", token, "pause", http.StatusNotFound, false},
		{"no token", token, "", "pause", http.StatusForbidden, false},
		{"wrong token", token, "s3cret-token-for-test", "pause", http.StatusForbidden, false},
		{"pause", token, token, "pause", http.StatusSeeOther, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(deploying(time.Now()))
			st.token = tc.on
			srv := httptest.NewServer(New(st, Options{}))
			defer srv.Close()
			if got, _ := post(t, srv.URL+"/actions/staging/"+tc.action, url.Values{"token": {tc.token}}); got != tc.want {
				t.Errorf("POST: %d, want %d", got, tc.want)
			}
			if acted := len(st.acted) > 0; acted != tc.acted {
				t.Errorf("acted %q; want an action: %v", st.acted, tc.acted)
			}
			_, body := get(t, srv.URL+"/")
			form := strings.Contains(body, `formaction="/actions/staging/pause"`)
			if form != (tc.on != "") {
				t.Errorf("the page offers actions: %v; want %v", form, tc.on != "")
			}
			if strings.Contains(body, token) {
				t.Error("the page shows the token")
			}
		})
	}
}

// TestApproval: a card awaiting approval offers approve and reject (and
// pause), each carrying the commit the card shows; the answer reaches the
// agent with the commit and the reason, and a refusal (a newer commit
// awaits meanwhile) is shown, not swallowed.
func TestApproval(t *testing.T) {
	const token = "s3cret-token-for-tests"
	c := commit.MustParse("4f1c0d2e9a7b3c5d6e8f0a1b2c3d4e5f6a7b8c9d")
	st := newState(agent.EnvView{EnvState: agent.EnvState{Env: "production", State: agent.StateAwaitingApproval,
		Detail: "full deploy of production to 4f1c0d2e9a7b; ferry approve production 4f1c0d2e9a7b", Target: c}})
	st.token = token
	srv := httptest.NewServer(New(st, Options{}))
	defer srv.Close()
	_, body := get(t, srv.URL+"/")
	for _, want := range []string{
		`<span class="badge">awaiting approval</span>`,
		`class="card state-awaiting"`,
		`<input type="hidden" name="commit" value="` + c.String() + `">`,
		`name="reason"`,
		`formaction="/actions/production/approve"`,
		`formaction="/actions/production/reject"`,
		`formaction="/actions/production/pause"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	code, _ := post(t, srv.URL+"/actions/production/reject", url.Values{"token": {token}, "commit": {c.String()}, "reason": {" not during the sale "}})
	if code != http.StatusSeeOther {
		t.Fatalf("reject: %d", code)
	}
	want := agent.Action{Env: "production", Name: agent.ActionReject, Commit: c.String(), Reason: "not during the sale"}
	if len(st.acted) != 1 || st.acted[0].Env != want.Env || st.acted[0].Name != want.Name || st.acted[0].Commit != want.Commit ||
		st.acted[0].Reason != want.Reason || !strings.HasPrefix(st.acted[0].By, "dashboard (127.0.0.1:") {
		t.Errorf("acted %+v; want %+v by the dashboard", st.acted, want)
	}
	st.refuse = errors.New("production: not awaiting approval of \"4f1c0d2e9a7b\": the deploy waiting is of 0aa1bb2cc3dd")
	code, body = post(t, srv.URL+"/actions/production/approve", url.Values{"token": {token}, "commit": {c.String()}})
	if code != http.StatusBadRequest || !strings.Contains(body, "approve production: production: not awaiting approval of &#34;4f1c0d2e9a7b&#34;") || !strings.Contains(body, `<a href="/">`) {
		t.Errorf("a refused approve: %d\n%s", code, body)
	}
	if strings.Contains(body, token) {
		t.Error("the error page shows the token")
	}
}

// TestTimeline: the steps done, then the one running (to now) or the one
// the deploy stopped at (to its end), placed on the deploy's whole span.
func TestTimeline(t *testing.T) {
	now := time.Now()
	running := deploying(now).Deploy
	failed := *running
	failed.Outcome, failed.Ended, failed.Wait = execute.RolledBack, now.Add(-10*time.Second), nil
	succeeded := *running
	succeeded.Done = append(slices.Clone(running.Done),
		execute.StepTime{Step: 2, Name: "wait-healthy web", Started: now.Add(-40 * time.Second), Ended: now.Add(-20 * time.Second)},
		execute.StepTime{Step: 3, Name: "terminate-old web", Started: now.Add(-20 * time.Second), Ended: now.Add(-10 * time.Second)})
	succeeded.Current, succeeded.Outcome, succeeded.Ended, succeeded.Wait = 4, execute.Succeeded, now.Add(-10*time.Second), nil
	type row struct {
		label, took, class string
		x, w               float64
	}
	for _, tc := range []struct {
		name string
		p    execute.Progress
		want []row
	}{
		// 90 s so far: 10 s, 40 s, then 40 s running.
		{"running", *running, []row{
			{"1. suspend-processes web", "10 s", "done", 0, 400 * 10 / 90.0},
			{"2. raise-capacity web", "40 s", "done", 400 * 10 / 90.0, 400 * 40 / 90.0},
			{"3. wait-healthy web", "40 s", "current", 400 * 50 / 90.0, 400 * 40 / 90.0},
		}},
		// Ended after 80 s, stopped at step 3 after 30 s of it.
		{"rolled back", failed, []row{
			{"1. suspend-processes web", "10 s", "done", 0, 400 * 10 / 80.0},
			{"2. raise-capacity web", "40 s", "done", 400 * 10 / 80.0, 400 * 40 / 80.0},
			{"3. wait-healthy web", "30 s", "failed", 400 * 50 / 80.0, 400 * 30 / 80.0},
		}},
		{"succeeded", succeeded, []row{
			{"1. suspend-processes web", "10 s", "done", 0, 400 * 10 / 80.0},
			{"2. raise-capacity web", "40 s", "done", 400 * 10 / 80.0, 400 * 40 / 80.0},
			{"3. wait-healthy web", "20 s", "done", 400 * 50 / 80.0, 400 * 20 / 80.0},
			{"4. terminate-old web", "10 s", "done", 400 * 70 / 80.0, 400 * 10 / 80.0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTimeline(tc.p, now)
			if tl == nil || len(tl.Rows) != len(tc.want) {
				t.Fatalf("timeline %+v; want %d rows", tl, len(tc.want))
			}
			for i, r := range tl.Rows {
				w := tc.want[i]
				if r.Label != w.label || r.Took != w.took || r.Class != w.class || math.Abs(r.X-w.x) > 0.5 || math.Abs(r.W-w.w) > 0.5 {
					t.Errorf("row %d = %+v; want %+v", i, r, w)
				}
				if r.X+r.W > float64(tl.Width)+0.01 {
					t.Errorf("row %d ends at %.1f, past the chart's %d", i, r.X+r.W, tl.Width)
				}
			}
		})
	}
}

// TestActionsWithoutJavaScript: the page that refreshes itself hides the
// actions' form (noscript.css) and links each card to its actions on a
// page that does not refresh, so that a token can be typed.
func TestActionsWithoutJavaScript(t *testing.T) {
	st := newState(deploying(time.Now()))
	srv := httptest.NewServer(New(st, Options{}))
	defer srv.Close()
	if code, _ := get(t, srv.URL+"/actions/staging"); code != http.StatusNotFound {
		t.Errorf("GET /actions/staging with actions off: %d, want 404", code)
	}
	st.token = "s3cret-token-for-tests"
	_, body := get(t, srv.URL+"/")
	for _, want := range []string{
		`<noscript><meta http-equiv="refresh" content="5"><link rel="stylesheet" href="/static/noscript.css"></noscript>`,
		`<a class="act-link" href="/actions/staging">actions: pause</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	code, body := get(t, srv.URL+"/actions/staging")
	if code != http.StatusOK || !strings.Contains(body, `formaction="/actions/staging/pause"`) || !strings.Contains(body, "<body data-single>") {
		t.Errorf("GET /actions/staging: %d, want the card's form:\n%s", code, body)
	}
	if strings.Contains(body, "http-equiv") || strings.Contains(body, "noscript.css") {
		t.Errorf("the actions page refreshes itself or hides its form:\n%s", body)
	}
	if code, _ := get(t, srv.URL+"/actions/production"); code != http.StatusNotFound {
		t.Errorf("GET /actions/production: %d, want 404", code)
	}
	if code, css := get(t, srv.URL+"/static/noscript.css"); code != http.StatusOK || !strings.Contains(css, ".actions { display: none; }") {
		t.Errorf("GET /static/noscript.css: %d\n%s", code, css)
	}
}

type forgeState struct{ *state }

func (forgeState) Commit(_ string, c commit.ID) (agent.CommitInfo, error) {
	return agent.CommitInfo{ID: c, Subject: "Fix the login", Author: "Ada", URL: "https://github.com/acme/shop/commit/" + c.String()}, nil
}

// TestCommitLinksToTheForge: with a forge configured, a commit's id links
// to its page there.
func TestCommitLinksToTheForge(t *testing.T) {
	srv := httptest.NewServer(New(forgeState{newState(deploying(time.Now()))}, Options{}))
	defer srv.Close()
	_, body := get(t, srv.URL+"/")
	want := `<a href="https://github.com/acme/shop/commit/0123456789abcdef0123456789abcdef01234567"><code>0123456789ab</code></a> Fix the login <span class="muted">— Ada</span>`
	if !strings.Contains(body, want) {
		t.Errorf("the page lacks %q:\n%s", want, body)
	}
}

// TestDriftOnTheCard: [launch] drift the agent saw shows on the card,
// each setting escaped, with the command that applies it; once the launch
// sources have the settings again, the card says nothing of it.
func TestDriftOnTheCard(t *testing.T) {
	c := commit.MustParse("0123456789abcdef0123456789abcdef01234567")
	idle := agent.EnvView{EnvState: agent.EnvState{Env: "staging", State: "idle", Detail: "in sync", Target: c}, Deployed: c}
	drifted := idle
	drifted.Drift = []string{"instance_type: config t3.large, launch source shop-staging-v7 t3.small", "user_data <changed>"}
	st := newState(drifted)
	srv := httptest.NewServer(New(st, Options{}))
	defer srv.Close()
	_, body := get(t, srv.URL+"/")
	for _, want := range []string{
		`<div class="drift">`,
		`the launch sources lack these settings; no push deploys them, <code>ferry redeploy staging</code> does`,
		`<li>instance_type: config t3.large, launch source shop-staging-v7 t3.small</li>`,
		`<li>user_data &lt;changed&gt;</li>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	st.set(idle)
	if _, body := get(t, srv.URL+"/"); strings.Contains(body, "drift") {
		t.Errorf("the page still shows drift once there is none:\n%s", body)
	}
}

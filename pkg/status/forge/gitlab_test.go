package forge

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"unicode/utf8"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// GitLab's documented request: POST /projects/:id/statuses/:sha, :id the
// numeric ID or URL-encoded path, PRIVATE-TOKEN, and these attributes.
var (
	gitlabPathRE  = regexp.MustCompile(`^/api/v4/projects/([^/]+)/statuses/([0-9a-f]{40}|[0-9a-f]{64})$`)
	gitlabFields  = []string{"state", "ref", "name", "context", "target_url", "description", "coverage", "pipeline_id"}
	gitlabStates  = []string{"pending", "running", "success", "failed", "canceled", "skipped"}
	gitlabMaxText = 255
)

func checkGitLabRequest(project string) func(*http.Request, []byte) []string {
	return func(r *http.Request, body []byte) []string {
		var problems []string
		if r.Method != http.MethodPost {
			problems = append(problems, "method "+r.Method)
		}
		m := gitlabPathRE.FindStringSubmatch(r.URL.EscapedPath())
		switch {
		case m == nil:
			problems = append(problems, "path "+r.URL.EscapedPath()+" is not /api/v4/projects/:id/statuses/:sha")
		case m[1] != strings.ReplaceAll(project, "/", "%2F"):
			problems = append(problems, fmt.Sprintf("project id %s: want the URL-encoded path of %s", m[1], project))
		}
		if r.Header.Get("PRIVATE-TOKEN") != testToken {
			problems = append(problems, "no PRIVATE-TOKEN header with the token")
		}
		if r.Header.Get("Authorization") != "" {
			problems = append(problems, "Authorization header sent to GitLab")
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			problems = append(problems, "Content-Type "+ct)
		}
		var fields map[string]any
		if err := json.Unmarshal(body, &fields); err != nil {
			return append(problems, "body is not a JSON object: "+err.Error())
		}
		for name, v := range fields {
			if !slices.Contains(gitlabFields, name) {
				problems = append(problems, "undocumented attribute "+name)
			}
			if s, ok := v.(string); !ok && name != "coverage" && name != "pipeline_id" {
				problems = append(problems, fmt.Sprintf("attribute %s is %T, not a string", name, v))
			} else if (name == "description" || name == "ref" || name == "target_url") && utf8.RuneCountInString(s) > gitlabMaxText {
				problems = append(problems, fmt.Sprintf("%s longer than %d characters", name, gitlabMaxText))
			}
		}
		if s, _ := fields["state"].(string); !slices.Contains(gitlabStates, s) {
			problems = append(problems, fmt.Sprintf("state %q is not one of GitLab's %v", s, gitlabStates))
		}
		return problems
	}
}

// gitlabCreated answers like GitLab's 201: the commit status entity.
func gitlabCreated(body []byte) reply {
	var in gitlabStatus
	json.Unmarshal(body, &in)
	out := map[string]any{
		"id": 93, "sha": commitA, "ref": in.Ref, "status": in.State, "name": in.Name,
		"target_url": nullable(in.TargetURL), "description": nullable(in.Description),
		"created_at": "2016-01-19T09:05:50.355Z", "started_at": nil, "finished_at": nil,
		"allow_failure": false, "coverage": nil,
		"author": map[string]any{"id": 1, "username": "ferry-bot", "name": "Ferry", "state": "active"},
	}
	b, _ := json.Marshal(out)
	return reply{code: http.StatusCreated, body: string(b)}
}

// gitlabJobs answers like GitLab's commit status service: a status is a
// job, found again by commit, name and ref while it is pending or running,
// and its state machine refuses to run a running job or enqueue a pending
// one. Other answers are gitlabCreated's.
func gitlabJobs() func([]byte) reply {
	open := map[string]string{} // "name ref" → pending or running (one commit per fake)
	return func(body []byte) reply {
		var in gitlabStatus
		json.Unmarshal(body, &in)
		k := in.Name + " " + in.Ref
		if prev := open[k]; prev != "" && prev == in.State {
			event := map[string]string{"running": "run", "pending": "enqueue"}[prev]
			return reply{code: 400, body: fmt.Sprintf(`{"message":"Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via \"%s\")"}`, event, prev, event)}
		}
		if in.State == "pending" || in.State == "running" {
			open[k] = in.State
		} else {
			delete(open, k)
		}
		return gitlabCreated(body)
	}
}

func newGitLabForge(t testing.TB, project string) (*fakeForge, config.Forge) {
	f := newFakeForge(t, checkGitLabRequest(project), gitlabJobs())
	return f, config.Forge{Provider: config.ForgeGitLab, APIURL: f.URL + "/api/v4", Repository: project}
}

func TestGitLabRequestsMatchDocumentation(t *testing.T) {
	tests := []struct {
		state     State
		wantState string
	}{
		{StatePending, "running"},
		{StateSuccess, "success"},
		{StateFailure, "failed"},
		{StateError, "failed"},
	}
	for _, project := range []string{"platform/deploy/website", "4242"} {
		t.Run(project, func(t *testing.T) {
			f, cfg := newGitLabForge(t, project)
			r, _ := newTestReporter(t, f, cfg, Options{})
			long := strings.Repeat("é", 300)
			longURL := "https://ferry.example.com/d/" + strings.Repeat("x", 300)
			for i, tt := range tests {
				st := Status{Commit: commitA, State: tt.state, Description: long, Ref: "v1.4.0", TargetURL: "https://ferry.example.com/d/1"}
				if i == len(tests)-1 {
					st.TargetURL = longURL // over GitLab's limit: left out, not cut
				}
				if err := r.Set(t.Context(), st); err != nil {
					t.Fatalf("Set(%s): %v", tt.state, err)
				}
			}
			got := f.requests()
			if len(got) != len(tests) {
				t.Fatalf("%d requests, want %d", len(got), len(tests))
			}
			for i, req := range got {
				var body gitlabStatus
				json.Unmarshal(req.body, &body)
				if body.State != tests[i].wantState || body.Name != "ferry/staging" || body.Ref != "v1.4.0" {
					t.Errorf("%s sent as %+v, want state %s, name ferry/staging, ref v1.4.0", tests[i].state, body, tests[i].wantState)
				}
				wantURL := "https://ferry.example.com/d/1"
				if i == len(got)-1 {
					wantURL = ""
				}
				if body.TargetURL != wantURL {
					t.Errorf("%s: target_url %q, want %q", tests[i].state, body.TargetURL, wantURL)
				}
			}
		})
	}
}

// gitlabErrors are GitLab's documented error answers.
var gitlabErrors = []struct {
	name     string
	reply    reply
	wantCode int
	message  string
}{
	{"unauthorized", reply{code: 401, body: `{"message":"401 Unauthorized"}`}, 401, "401 Unauthorized"},
	{"forbidden", reply{code: 403, body: `{"message":"403 Forbidden"}`}, 403, "403 Forbidden"},
	{"no project", reply{code: 404, body: `{"message":"404 Project Not Found"}`}, 404, "404 Project Not Found"},
	{"no commit", reply{code: 404, body: `{"message":"404 Commit Not Found"}`}, 404, "404 Commit Not Found"},
	{"no branch holds the commit", reply{code: 404, body: `{"message":"404 References for commit Not Found"}`}, 404, "References for commit"},
	{"no state", reply{code: 400, body: `{"message":"State is required"}`}, 400, "State is required"},
	{"too many jobs", reply{code: 422, body: `{"message":"The number of jobs has exceeded the limit"}`}, 422, "exceeded the limit"},
	{"bad attribute", reply{code: 400, body: `{"error":"state does not have a valid value"}`}, 400, "state does not have a valid value"},
	{"invalid transition", reply{code: 400, body: `{"message":"Cannot transition status via :run from :running"}`}, 400, "Cannot transition status"},
	{"validation", reply{code: 422, body: `{"message":{"description":["is too long (maximum is 255 characters)"]}}`}, 422, "description [is too long (maximum is 255 characters)]"},
}

func TestGitLabErrors(t *testing.T) {
	for _, tt := range gitlabErrors {
		t.Run(tt.name, func(t *testing.T) {
			f, cfg := newGitLabForge(t, "platform/website")
			f.queue(tt.reply)
			r, _ := newTestReporter(t, f, cfg, Options{})
			err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
			checkRejected(t, err, "gitlab", "platform/website", tt.wantCode, tt.message)
			if n := len(f.requests()); n != 1 {
				t.Errorf("a refusal was sent %d times", n)
			}
		})
	}
	t.Run("transient", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, cfg := newGitLabForge(t, "platform/website")
			f.queue(
				reply{code: 429, header: map[string]string{"Retry-After": "12", "RateLimit-Remaining": "0"}, body: "Retry later\n"},
				reply{code: 409, body: `{"message":"Another update to this commit status is in progress"}`},
				reply{code: 500, body: `{"message":"500 Internal Server Error"}`},
				reply{code: 502, body: "<html><body><h1>502 Bad Gateway</h1></body></html>"},
			)
			r, _ := newTestReporter(t, f, cfg, Options{Retry: RetryPolicy{MaxAttempts: 5}})
			if err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess}); err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(f.gaps()), "[12s 2s 4s 8s]"; got != want {
				t.Errorf("waited %s, want %s (Retry-After, then backoff)", got, want)
			}
		})
	})
}

// checkRejected wants err to be a permanent *APIError naming the forge,
// repository and status code, with the forge's message.
func checkRejected(t *testing.T, err error, forge, repo string, code int, message string) {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) || !errors.Is(err, ErrRejected) {
		t.Fatalf("got %v; want a permanent *APIError", err)
	}
	if ae.Forge != forge || ae.Repository != repo || ae.StatusCode != code || !strings.Contains(ae.Message, message) {
		t.Errorf("got %#v; want %s %s %d %q", ae, forge, repo, code, message)
	}
	for _, want := range []string{forge, repo, fmt.Sprint(code), message} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// GitLab cannot show progress within a running status: a second running
// status would be refused, so it is skipped, and the outcome still lands.
func TestGitLabSkipsRunningToRunning(t *testing.T) {
	f, cfg := newGitLabForge(t, "platform/website")
	r, _ := newTestReporter(t, f, cfg, Options{})
	for i, st := range []Status{
		{Commit: commitA, State: StatePending, Description: "Deploying 0/4", Ref: "main"},
		{Commit: commitA, State: StatePending, Description: "Deploying 2/4", Ref: "main"},
		{Commit: commitA, State: StateSuccess, Description: "Deployed", Ref: "main"},
		{Commit: commitA, State: StatePending, Description: "Redeploying", Ref: "main"}, // a new job
		{Commit: commitA, State: StateFailure, Description: "Rolled back", Ref: "main"},
		{Commit: commitA, State: StateError, Description: "Lock held", Ref: "main"}, // failed again, a new message
	} {
		if err := r.Set(t.Context(), st); err != nil {
			t.Fatalf("status %d: %v", i, err)
		}
	}
	var got []string
	for _, req := range f.requests() {
		var b gitlabStatus
		json.Unmarshal(req.body, &b)
		got = append(got, b.State+" "+b.Description)
	}
	want := "[running Deploying 0/4 success Deployed running Redeploying failed Rolled back failed Lock held]"
	if fmt.Sprint(got) != want {
		t.Errorf("sent %v\nwant %s", got, want)
	}
	if n := r.Counters().Skipped.Load(); n != 1 {
		t.Errorf("Skipped = %d, want 1", n)
	}
}

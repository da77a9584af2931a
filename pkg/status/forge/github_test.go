package forge

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/ferry-deploy/ferry/pkg/config"
)

// githubDeployments are the two GitHubs Ferry supports, each checked
// against its own official description.
var githubDeployments = []struct {
	name, description, basePath string
}{
	{"github.com", githubDotCom, ""},
	{"GitHub Enterprise Server 3.19", githubServer319, "/api/v3"},
}

// newGitHubForge starts a fake GitHub that validates every request and
// reply against the description.
func newGitHubForge(t testing.TB, description, basePath string) (*fakeForge, config.Forge) {
	t.Helper()
	var contract *githubContract
	f := newFakeForge(t, func(r *http.Request, body []byte) []string {
		return contract.checkRequest(r, body)
	}, githubCreated)
	contract = newGitHubContract(t, description, f.URL+basePath)
	f.checkReply = contract.checkReply
	return f, config.Forge{Provider: config.ForgeGitHub, APIURL: f.URL + basePath, Repository: "octo-org/hello.world"}
}

func TestGitHubRequestsMatchOpenAPIDescription(t *testing.T) {
	long := strings.Repeat("Rolled back: ", 10) + "the new instances never turned healthy — 健康チェック失敗"
	statuses := []Status{
		{Commit: commitA, State: StatePending, Description: "Deploying (serial) to staging", TargetURL: "https://ferry.example.com/deploys/42"},
		{Commit: commitA, State: StateSuccess, Description: "Deployed to staging in 4m12s"},
		{Commit: commitA, State: StateFailure, Description: long},
		{Commit: commitB, State: StateError, Context: "ferry/production"},
	}
	for _, d := range githubDeployments {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel() // each loads its own description: seconds under -race
			f, cfg := newGitHubForge(t, d.description, d.basePath)
			cfg.TargetURL = "https://ferry.example.com/"
			r, _ := newTestReporter(t, f, cfg, Options{})
			for _, st := range statuses {
				if err := r.Set(t.Context(), st); err != nil {
					t.Fatalf("Set(%s): %v", st.State, err)
				}
			}
			got := f.requests()
			if len(got) != len(statuses) {
				t.Fatalf("forge got %d requests, want %d", len(got), len(statuses))
			}
			for i, req := range got {
				st := statuses[i]
				if want := d.basePath + "/repos/octo-org/hello.world/statuses/" + st.Commit.String(); req.path != want {
					t.Errorf("request %d: path %s, want %s", i, req.path, want)
				}
				var body githubStatus
				if err := json.Unmarshal(req.body, &body); err != nil {
					t.Fatal(err)
				}
				wantContext := cmp.Or(st.Context, "ferry/staging")
				wantURL := cmp.Or(st.TargetURL, "https://ferry.example.com/")
				if body.State != st.State || body.Context != wantContext || body.TargetURL != wantURL {
					t.Errorf("request %d: sent %+v, want state %s, context %s, target_url %s", i, body, st.State, wantContext, wantURL)
				}
				if n := utf8.RuneCountInString(body.Description); n > githubMaxDescription {
					t.Errorf("request %d: description of %d characters, GitHub takes %d", i, n, githubMaxDescription)
				}
				if !strings.HasPrefix(st.Description, strings.TrimSuffix(body.Description, "…")) {
					t.Errorf("request %d: description %q is not a prefix of %q", i, body.Description, st.Description)
				}
			}
			if c := r.Counters(); c.Sent.Load() != int64(len(statuses)) || c.Failed.Load() != 0 {
				t.Errorf("counters: sent %d failed %d", c.Sent.Load(), c.Failed.Load())
			}
		})
	}
}

// The contract check must be able to fail: requests GitHub would refuse
// or misread are caught.
func TestGitHubContractCatchesBadRequests(t *testing.T) {
	f, cfg := newGitHubForge(t, githubDotCom, "")
	good := func(r *http.Request) {
		r.Header.Set("Accept", "application/vnd.github+json")
		r.Header.Set("X-GitHub-Api-Version", githubAPIVersion)
		r.Header.Set("Authorization", "Bearer "+testToken)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("User-Agent", "test")
	}
	statusURL := cfg.APIURL + "/repos/octo-org/hello.world/statuses/" + commitA.String()
	tests := []struct {
		name, url, body string
		header          func(*http.Request)
	}{
		{"state GitHub doesn't know", statusURL, `{"state":"running","context":"ferry/x"}`, good},
		{"no state", statusURL, `{"context":"ferry/x"}`, good},
		{"description not a string", statusURL, `{"state":"success","description":5}`, good},
		{"field GitHub doesn't document", statusURL, `{"state":"success","name":"ferry/x"}`, good},
		{"not JSON", statusURL, `state=success`, good},
		{"wrong path", cfg.APIURL + "/repos/octo-org/statuses/" + commitA.String(), `{"state":"success"}`, good},
		{"no API version", statusURL, `{"state":"success"}`, func(r *http.Request) { good(r); r.Header.Del("X-GitHub-Api-Version") }},
		{"GitLab's token header", statusURL, `{"state":"success"}`, func(r *http.Request) {
			good(r)
			r.Header.Del("Authorization")
			r.Header.Set("PRIVATE-TOKEN", testToken)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tt.url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.header(req)
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if v := f.takeViolations(); len(v) == 0 {
				t.Errorf("the contract check let %s through", tt.name)
			} else {
				t.Logf("caught: %v", v)
			}
		})
	}
	t.Run("fake replies GitHub wouldn't send", func(t *testing.T) {
		f.queue(reply{code: http.StatusUnprocessableEntity, body: `{"message":"Validation Failed"}`}) // no documentation_url
		r, _ := newTestReporter(t, f, cfg, Options{})
		r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
		if v := f.takeViolations(); len(v) == 0 {
			t.Error("the reply check let an undocumented 422 through")
		}
	})
}

// GitHub's error answers, shaped as documented (basic-error and
// validation-error); the fake checks each against the description.
func githubError(code int, message string, header map[string]string) reply {
	body := fmt.Sprintf(`{"message":%q,"documentation_url":"https://docs.github.com/rest/commits/statuses#create-a-commit-status","status":"%d"}`, message, code)
	return reply{code: code, header: header, body: body}
}

func TestGitHubErrors(t *testing.T) {
	now := bubbleStart
	validation := reply{code: http.StatusUnprocessableEntity, body: `{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","field":"state","message":"state is not included in the list"}],"documentation_url":"https://docs.github.com/rest/commits/statuses#create-a-commit-status","status":"422"}`}
	tests := []struct {
		name    string
		replies []reply
		// a permanent error wants the code and the forge's message; a
		// transient one, the waits before the request that succeeds.
		wantCode    int
		wantMessage string
		wantSleeps  []time.Duration
	}{
		{name: "bad credentials", replies: []reply{githubError(401, "Bad credentials", nil)}, wantCode: 401, wantMessage: "Bad credentials"},
		{name: "no such repository", replies: []reply{githubError(404, "Not Found", nil)}, wantCode: 404, wantMessage: "Not Found"},
		{name: "validation failed", replies: []reply{validation}, wantCode: 422, wantMessage: "state is not included in the list"},
		{name: "forbidden without rate limit", replies: []reply{githubError(403, "Resource not accessible by integration", map[string]string{"X-RateLimit-Remaining": "4999"})}, wantCode: 403, wantMessage: "Resource not accessible by integration"},
		{name: "primary rate limit", replies: []reply{githubError(403, "API rate limit exceeded for installation ID 1.", map[string]string{
			"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(now.Add(90 * time.Second).Unix()),
		})}, wantSleeps: []time.Duration{91 * time.Second}},
		{name: "secondary rate limit", replies: []reply{githubError(403, "You have exceeded a secondary rate limit.", map[string]string{"Retry-After": "60"})}, wantSleeps: []time.Duration{time.Minute}},
		{name: "429 with Retry-After", replies: []reply{githubError(429, "Too Many Requests", map[string]string{"Retry-After": "7"})}, wantSleeps: []time.Duration{7 * time.Second}},
		{name: "429 with an HTTP date", replies: []reply{githubError(429, "Too Many Requests", map[string]string{"Retry-After": now.Add(20 * time.Second).Format(http.TimeFormat)})}, wantSleeps: []time.Duration{20 * time.Second}},
		{name: "server errors back off", replies: []reply{githubError(500, "Server Error", nil), githubError(502, "Bad Gateway", nil), {code: 503}}, wantSleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, cfg := newGitHubForge(t, githubDotCom, "")
				f.queue(tt.replies...)
				r, _ := newTestReporter(t, f, cfg, Options{})
				start := time.Now()
				err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess, Description: "Deployed"})
				if tt.wantCode == 0 {
					if err != nil {
						t.Fatalf("Set: %v", err)
					}
					if got := f.gaps(); fmt.Sprint(got) != fmt.Sprint(tt.wantSleeps) {
						t.Errorf("waited %v, want %v", got, tt.wantSleeps)
					}
					if n := len(f.requests()); n != len(tt.replies)+1 {
						t.Errorf("%d requests, want %d", n, len(tt.replies)+1)
					}
					return
				}
				var ae *APIError
				if !errors.As(err, &ae) || !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
					t.Fatalf("Set: %v; want a permanent *APIError", err)
				}
				if ae.Forge != "github" || ae.Repository != "octo-org/hello.world" || ae.StatusCode != tt.wantCode || !strings.Contains(ae.Message, tt.wantMessage) {
					t.Errorf("got %#v, want github octo-org/hello.world %d %q", ae, tt.wantCode, tt.wantMessage)
				}
				for _, want := range []string{"github", "octo-org/hello.world", fmt.Sprint(tt.wantCode), tt.wantMessage} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if n := len(f.requests()); n != 1 {
					t.Errorf("a refusal was sent %d times", n)
				}
				if waited := time.Since(start); waited != 0 {
					t.Errorf("waited %s before giving up on a refusal", waited)
				}
			})
		})
	}
}

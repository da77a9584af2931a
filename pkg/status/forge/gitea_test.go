package forge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// Gitea's (and Forgejo's) documented request: CreateCommitStatus, POST
// /api/v1/repos/{owner}/{repo}/statuses/{sha} with a CreateStatusOption.
var (
	giteaFields = []string{"state", "target_url", "description", "context"}
	giteaStates = []string{"pending", "success", "error", "failure", "warning"}
)

func isID(s string) bool { _, err := commit.Parse(s); return err == nil }

func checkGiteaRequest(owner, repo string) func(*http.Request, []byte) []string {
	return func(r *http.Request, body []byte) []string {
		var problems []string
		if r.Method != http.MethodPost {
			problems = append(problems, "method "+r.Method)
		}
		prefix := "/api/v1/repos/" + owner + "/" + repo + "/statuses/"
		if sha, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix); !ok || !isID(sha) {
			problems = append(problems, "path "+r.URL.EscapedPath()+" is not "+prefix+"{sha}")
		}
		if r.Header.Get("Authorization") != "token "+testToken {
			problems = append(problems, `no "Authorization: token ..." header with the token`)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			problems = append(problems, "Content-Type "+ct)
		}
		var fields map[string]any
		if err := json.Unmarshal(body, &fields); err != nil {
			return append(problems, "body is not a JSON object: "+err.Error())
		}
		for name, v := range fields {
			if !slices.Contains(giteaFields, name) {
				problems = append(problems, "CreateStatusOption has no "+name)
			}
			if _, ok := v.(string); !ok {
				problems = append(problems, fmt.Sprintf("%s is %T, not a string", name, v))
			}
		}
		if s, _ := fields["state"].(string); !slices.Contains(giteaStates, s) {
			problems = append(problems, fmt.Sprintf("state %q is not a CommitStatusState %v", s, giteaStates))
		}
		return problems
	}
}

// giteaCreated answers like Gitea's 201: a CommitStatus.
func giteaCreated(body []byte) reply {
	var in giteaStatus
	json.Unmarshal(body, &in)
	out := map[string]any{
		"id": 7, "status": in.State, "context": in.Context, "description": in.Description,
		"target_url": in.TargetURL, "url": "https://gitea.example.com/api/v1/repos/ops/site/statuses/" + commitA.String(),
		"creator":    map[string]any{"id": 1, "login": "ferry"},
		"created_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z",
	}
	b, _ := json.Marshal(out)
	return reply{code: http.StatusCreated, body: string(b)}
}

func newGiteaForge(t testing.TB, apiPath string) (*fakeForge, config.Forge) {
	f := newFakeForge(t, checkGiteaRequest("ops", "site"), giteaCreated)
	return f, config.Forge{Provider: config.ForgeGitea, APIURL: f.URL + apiPath, Repository: "ops/site"}
}

func TestGiteaRequestsMatchDocumentation(t *testing.T) {
	// api_url is the server's URL; the API's own URL works too.
	for _, apiPath := range []string{"", "/", "/api/v1", "/api/v1/"} {
		t.Run("api_url"+apiPath, func(t *testing.T) {
			f, cfg := newGiteaForge(t, apiPath)
			r, _ := newTestReporter(t, f, cfg, Options{})
			states := []State{StatePending, StateSuccess, StateFailure, StateError}
			for _, s := range states {
				if err := r.Set(t.Context(), Status{Commit: commitB, State: s, Description: "deploy " + string(s)}); err != nil {
					t.Fatalf("Set(%s): %v", s, err)
				}
			}
			got := f.requests()
			if len(got) != len(states) {
				t.Fatalf("%d requests, want %d", len(got), len(states))
			}
			for i, req := range got {
				var body giteaStatus
				json.Unmarshal(req.body, &body)
				if body.State != states[i] || body.Context != "ferry/staging" {
					t.Errorf("sent %+v, want state %s context ferry/staging", body, states[i])
				}
			}
		})
	}
}

// giteaErrors are Gitea's documented error answers (APIError,
// APINotFound, APIValidationError).
var giteaErrors = []struct {
	name     string
	reply    reply
	wantCode int
	message  string
}{
	{"unauthorized", reply{code: 401, body: `{"message":"token is required","url":"https://gitea.example.com/api/swagger"}`}, 401, "token is required"},
	{"forbidden", reply{code: 403, body: `{"message":"user should have a permission to write to a repo","url":"https://gitea.example.com/api/swagger"}`}, 403, "permission to write"},
	{"not found", reply{code: 404, body: `{"errors":["repository does not exist [id: 0, uid: 0, owner_name: ops, name: site]"],"message":"The target couldn't be found.","url":"https://gitea.example.com/api/swagger"}`}, 404, "repository does not exist"},
	{"validation", reply{code: 422, body: `{"message":"[State]: invalid commit status state","url":"https://gitea.example.com/api/swagger"}`}, 422, "invalid commit status state"},
}

func TestGiteaErrors(t *testing.T) {
	for _, tt := range giteaErrors {
		t.Run(tt.name, func(t *testing.T) {
			f, cfg := newGiteaForge(t, "")
			f.queue(tt.reply)
			r, _ := newTestReporter(t, f, cfg, Options{})
			err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
			checkRejected(t, err, "gitea", "ops/site", tt.wantCode, tt.message)
			if n := len(f.requests()); n != 1 {
				t.Errorf("a refusal was sent %d times", n)
			}
		})
	}
	t.Run("transient", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, cfg := newGiteaForge(t, "")
			f.queue(
				reply{code: 503, body: "no healthy upstream"},
				reply{code: 429, header: map[string]string{"Retry-After": "3"}, body: `{"message":"rate limited","url":""}`},
				reply{code: 500, body: `{"message":"internal error","url":"https://gitea.example.com/api/swagger"}`},
			)
			r, _ := newTestReporter(t, f, cfg, Options{})
			if err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess}); err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(f.gaps()), "[1s 3s 4s]"; got != want {
				t.Errorf("waited %s, want %s", got, want)
			}
		})
	})
}

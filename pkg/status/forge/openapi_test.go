package forge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-deploy/ferry/internal/forgetest"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// GitHub's official OpenAPI descriptions, from the npm package
// @octokit/openapi (scripts/install-npm-test-deps.sh installs it from
// testdata/openapi/package-lock.json).
const (
	octokitDir      = "testdata/openapi/node_modules/@octokit/openapi/generated"
	statusesPath    = "/repos/{owner}/{repo}/statuses/{sha}"
	githubDotCom    = "api.github.com.json"
	githubServer319 = "ghes-3.19.json"
)

// githubDescription is one description, cut down to the statuses
// operation and what it references.
type githubDescription struct {
	doc *openapi3.T
	err error
}

// The descriptions are 11–13 MB each; load each once per test binary.
var githubDescriptions sync.Map // file name → func() githubDescription

func loadGitHubDescription(t testing.TB, file string) *openapi3.T {
	t.Helper()
	path := filepath.Join(octokitDir, file)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required and CI=true: run scripts/install-npm-test-deps.sh (%v)", path, err)
		}
		t.Skipf("%s not installed (run scripts/install-npm-test-deps.sh): %v", path, err)
	}
	once, _ := githubDescriptions.LoadOrStore(file, sync.OnceValue(func() githubDescription {
		doc, err := forgetest.LoadOperation(path, statusesPath)
		return githubDescription{doc, err}
	}))
	d := once.(func() githubDescription)()
	if d.err != nil {
		t.Fatalf("loading %s: %v", path, d.err)
	}
	return d.doc
}

// githubContract validates requests and replies against doc, served at
// serverURL (the test server's URL plus GitHub Enterprise's /api/v3, if
// any).
type githubContract struct {
	doc    *openapi3.T
	router routers.Router
}

func newGitHubContract(t testing.TB, file, serverURL string) *githubContract {
	t.Helper()
	src := loadGitHubDescription(t, file)
	// A shallow copy with the test server as the only server: the router
	// matches requests by server URL and path.
	doc := *src
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	router, err := gorillamux.NewRouter(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return &githubContract{doc: &doc, router: router}
}

// checkRequest: the request is the documented operation, its parameters
// and body validate against the description, it sends only documented
// fields, and it carries the headers GitHub's REST documentation asks for.
func (c *githubContract) checkRequest(r *http.Request, body []byte) []string {
	var problems []string
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		return []string{fmt.Sprintf("%s %s: no such operation in GitHub's description: %v", r.Method, r.URL.Path, err)}
	}
	if route.Operation.OperationID != "repos/create-commit-status" {
		problems = append(problems, "operation "+route.Operation.OperationID)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		problems = append(problems, "request does not validate: "+err.Error())
	}
	schema := route.Operation.RequestBody.Value.Content.Get("application/json").Schema.Value
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err == nil {
		for name := range fields {
			if _, ok := schema.Properties[name]; !ok {
				problems = append(problems, "undocumented body field "+name)
			}
		}
	}
	for name, want := range map[string]string{
		"Accept":               "application/vnd.github+json",
		"X-GitHub-Api-Version": githubAPIVersion,
		"Authorization":        "Bearer " + testToken,
		"Content-Type":         "application/json",
	} {
		if got := r.Header.Get(name); got != want {
			if name == "Authorization" {
				want, got = "Bearer <the token>", "(not shown)"
			}
			problems = append(problems, fmt.Sprintf("header %s = %q, want %q", name, got, want))
		}
	}
	if r.Header.Get("User-Agent") == "" {
		problems = append(problems, "no User-Agent: GitHub refuses requests without one")
	}
	return problems
}

// checkReply: the fake's replies are shaped like GitHub's: a success
// validates against the operation's documented response, an error body
// against GitHub's error schemas.
func (c *githubContract) checkReply(r *http.Request, rep reply) []string {
	if rep.code == http.StatusCreated {
		route, params, err := c.router.FindRoute(r)
		if err != nil {
			return nil // checkRequest reported it
		}
		header := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
			Status:                 rep.code,
			Header:                 header,
			Body:                   io.NopCloser(strings.NewReader(rep.body)),
			Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(r.Context(), in); err != nil {
			return []string{"fake's 201 reply is not GitHub's: " + err.Error()}
		}
		return nil
	}
	if rep.body == "" {
		return nil
	}
	name := "basic-error"
	if rep.code == http.StatusUnprocessableEntity {
		name = "validation-error"
	}
	var v any
	if err := json.Unmarshal([]byte(rep.body), &v); err != nil {
		return []string{fmt.Sprintf("fake's %d reply is not JSON: %v", rep.code, err)}
	}
	if err := c.doc.Components.Schemas[name].Value.VisitJSON(v); err != nil {
		return []string{fmt.Sprintf("fake's %d reply is not a GitHub %s: %v", rep.code, name, err)}
	}
	return nil
}

// githubCreated answers like GitHub's 201, echoing the status sent.
func githubCreated(body []byte) reply {
	var in githubStatus
	json.Unmarshal(body, &in)
	out := map[string]any{
		"url":         "https://api.github.com/repos/octocat/Hello-World/statuses/" + commitA.String(),
		"avatar_url":  "https://github.com/images/error/hubot_happy.gif",
		"id":          1,
		"node_id":     "MDY6U3RhdHVzMQ==",
		"state":       in.State,
		"description": nullable(in.Description),
		"target_url":  nullable(in.TargetURL),
		"context":     in.Context,
		"created_at":  "2012-07-20T01:19:13Z",
		"updated_at":  "2012-07-20T01:19:13Z",
		"creator":     nil,
	}
	b, _ := json.Marshal(out)
	return reply{code: http.StatusCreated, body: string(b)}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Package forgetest serves a fake GitHub commit-status API that validates
// every request against GitHub's official OpenAPI description (the npm
// package @octokit/openapi, installed by scripts/install-npm-test-deps.sh),
// for tests beyond pkg/status/forge that want to see the statuses a deploy
// sets.
package forgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// StatusesPath is the commit-status operation's path in the description.
const StatusesPath = "/repos/{owner}/{repo}/statuses/{sha}"

// OctokitDir is where the npm package's descriptions are, relative to the
// repository's root.
const OctokitDir = "pkg/status/forge/testdata/openapi/node_modules/@octokit/openapi/generated"

var refRE = regexp.MustCompile(`"\$ref"\s*:\s*"#/components/([^/"]+)/([^"]+)"`)

// LoadOperation cuts the description at path down to the path opPath and
// the components it references, transitively, plus the error schemas
// GitHub answers with, and loads that with kin-openapi. Loading the whole
// description takes seconds and hundreds of MB under the race detector;
// the cut takes a fraction of that and validates the same way.
func LoadOperation(path, opPath string) (*openapi3.T, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	var paths map[string]json.RawMessage
	if err := json.Unmarshal(top["paths"], &paths); err != nil {
		return nil, err
	}
	var components map[string]map[string]json.RawMessage
	if err := json.Unmarshal(top["components"], &components); err != nil {
		return nil, err
	}
	item, ok := paths[opPath]
	if !ok {
		return nil, fmt.Errorf("no path %s", opPath)
	}
	kept := map[string]map[string]json.RawMessage{}
	todo := []json.RawMessage{item}
	for _, name := range []string{"basic-error", "validation-error"} {
		todo = append(todo, json.RawMessage(fmt.Sprintf(`{"$ref":"#/components/schemas/%s"}`, name)))
	}
	for len(todo) > 0 {
		next := todo[0]
		todo = todo[1:]
		for _, m := range refRE.FindAllSubmatch(next, -1) {
			kind, name := string(m[1]), string(m[2])
			if _, done := kept[kind][name]; done {
				continue
			}
			c, ok := components[kind][name]
			if !ok {
				return nil, fmt.Errorf("dangling $ref #/components/%s/%s", kind, name)
			}
			if kept[kind] == nil {
				kept[kind] = map[string]json.RawMessage{}
			}
			kept[kind][name] = c
			todo = append(todo, c)
		}
	}
	cut, err := json.Marshal(map[string]any{
		"openapi":    top["openapi"],
		"info":       top["info"],
		"paths":      map[string]json.RawMessage{opPath: item},
		"components": kept,
	})
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(cut)
	if err != nil {
		return nil, err
	}
	// GitHub's examples don't all match their schemas; they don't matter here.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("the cut description is invalid: %w", err)
	}
	return doc, nil
}

// Status is one commit status the fake received.
type Status struct {
	SHA, State, Context, Description string
}

// GitHub is a fake api.github.com for commit statuses.
type GitHub struct {
	URL    string
	router routers.Router

	mu       sync.Mutex
	statuses []Status
	problems []string
}

// NewGitHub serves the fake until the test ends. repoRoot locates the
// description; a missing one skips the test, or fails it under CI=true.
func NewGitHub(t testing.TB, repoRoot string) *GitHub {
	t.Helper()
	return NewGitHubOn(t, repoRoot, nil)
}

// Installed reports whether the description NewGitHub needs is there.
func Installed(repoRoot string) bool {
	_, err := os.Stat(filepath.Join(repoRoot, OctokitDir, "api.github.com.json"))
	return err == nil
}

// NewGitHubOn is NewGitHub serving on l (nil: a new listener on the
// loopback), e.g. one opened in the network namespace the deploys run in.
func NewGitHubOn(t testing.TB, repoRoot string, l net.Listener) *GitHub {
	t.Helper()
	path := filepath.Join(repoRoot, OctokitDir, "api.github.com.json")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required and CI=true: run scripts/install-npm-test-deps.sh (%v)", path, err)
		}
		t.Skipf("%s not installed (run scripts/install-npm-test-deps.sh): %v", path, err)
	}
	doc, err := LoadOperation(path, StatusesPath)
	if err != nil {
		t.Fatal(err)
	}
	g := &GitHub{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	if l != nil {
		_ = srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	if g.router, err = gorillamux.NewRouter(doc); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *GitHub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var problems []string
	route, params, err := g.router.FindRoute(r)
	if err != nil {
		g.fail(fmt.Sprintf("%s %s: no such operation in GitHub's description: %v", r.Method, r.URL.Path, err))
		http.NotFound(w, r)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		problems = append(problems, "request does not validate: "+err.Error())
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		problems = append(problems, "no bearer token")
	}
	var st struct{ State, Context, Description string }
	if err := json.Unmarshal(body, &st); err != nil {
		problems = append(problems, "body is not JSON: "+err.Error())
	}
	g.mu.Lock()
	g.problems = append(g.problems, problems...)
	g.statuses = append(g.statuses, Status{SHA: params["sha"], State: st.State, Context: st.Context, Description: st.Description})
	g.mu.Unlock()
	if len(problems) > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"message":"Validation Failed","documentation_url":"https://docs.github.com/rest"}`))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	out, _ := json.Marshal(map[string]any{
		"url": "https://api.github.com/repos/acme/shop/statuses/" + params["sha"], "avatar_url": nil, "id": 1,
		"node_id": "MDY6U3RhdHVzMQ==", "state": st.State, "description": st.Description, "target_url": nil,
		"context": st.Context, "created_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z", "creator": nil,
	})
	_, _ = w.Write(out)
}

func (g *GitHub) fail(p string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.problems = append(g.problems, p)
}

// Statuses returns what was received, in order.
func (g *GitHub) Statuses() []Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Status(nil), g.statuses...)
}

// Problems returns every way a request strayed from the description.
func (g *GitHub) Problems() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.problems...)
}

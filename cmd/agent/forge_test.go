package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// githubStatuses is a GitHub-shaped endpoint that records the commit
// statuses it is sent (the request shapes themselves are validated against
// GitHub's OpenAPI description in pkg/status/forge).
type githubStatuses struct {
	mu     sync.Mutex
	states []string
	auth   []string
}

func (g *githubStatuses) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/repos/acme/shop/statuses/") {
		http.NotFound(w, r)
		return
	}
	var body struct {
		State   string `json:"state"`
		Context string `json:"context"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.states = append(g.states, body.State+" "+body.Context+" "+strings.TrimPrefix(r.URL.Path, "/repos/acme/shop/statuses/"))
	g.auth = append(g.auth, r.Header.Get("Authorization"))
	g.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"id":1,"state":"` + body.State + `"}`))
}

func TestDeployReportsCommitStatus(t *testing.T) {
	gh := &githubStatuses{}
	srv := httptest.NewServer(gh)
	defer srv.Close()
	p := newProject(t, 1)
	const token = "ghp_test_token_never_logged"
	t.Setenv("FERRY_TEST_GH_TOKEN", token)
	data, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte(`
[[environments.staging.status.forge]]
provider = "github"
api_url = "`+srv.URL+`"
repository = "acme/shop"
token_env = "FERRY_TEST_GH_TOKEN"
`)...)
	if err := os.WriteFile(p.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	next := p.push("Change", map[string]string{"app.py": "2\n"})
	code, stdout, stderr := runFerry(t, "deploy", "-c", p.config, "staging", "--log-level", "debug")
	if code != exitOK {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	gh.mu.Lock()
	defer gh.mu.Unlock()
	want := []string{"pending ferry/staging " + next, "success ferry/staging " + next}
	if strings.Join(gh.states, "|") != strings.Join(want, "|") {
		t.Errorf("statuses %q, want %q", gh.states, want)
	}
	for _, a := range gh.auth {
		if a != "Bearer "+token {
			t.Errorf("Authorization %q", a)
		}
	}
	if strings.Contains(stdout+stderr, token) {
		t.Error("the forge token reached the output")
	}
}

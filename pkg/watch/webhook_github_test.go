package watch

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// GitHub's official webhook descriptions, from the npm package
// @octokit/openapi-webhooks (scripts/install-npm-test-deps.sh installs it
// from testdata/webhooks/package-lock.json).
const githubWebhooks = "testdata/webhooks/node_modules/@octokit/openapi-webhooks/generated/api.github.com.json"

// loadWebhookSchemas cuts the description down to the named component
// schemas and what they reference, and loads that: the whole description
// is megabytes, slow under the race detector.
func loadWebhookSchemas(t *testing.T, names ...string) (*openapi3.T, map[string]json.RawMessage) {
	t.Helper()
	raw, err := os.ReadFile(githubWebhooks)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: run scripts/install-npm-test-deps.sh", err)
		}
		t.Skipf("%v: run scripts/install-npm-test-deps.sh", err)
	}
	var top struct {
		OpenAPI    json.RawMessage                       `json:"openapi"`
		Info       json.RawMessage                       `json:"info"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`"#/components/schemas/([^"]+)"`)
	kept := map[string]json.RawMessage{}
	var todo []string
	todo = append(todo, names...)
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		if _, done := kept[name]; done {
			continue
		}
		s, ok := top.Components["schemas"][name]
		if !ok {
			t.Fatalf("the description has no schema %q", name)
		}
		kept[name] = s
		for _, m := range ref.FindAllSubmatch(s, -1) {
			todo = append(todo, string(m[1]))
		}
	}
	cut, err := json.Marshal(map[string]any{"openapi": top.OpenAPI, "info": top.Info, "paths": map[string]any{},
		"components": map[string]any{"schemas": kept}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(cut)
	if err != nil {
		t.Fatal(err)
	}
	return doc, top.Components["examples"]
}

// sample builds the smallest value the schema accepts: every required
// property, the first enum value, a value of the right format. It lets the
// test send a push event shaped exactly as GitHub documents it.
func sample(s *openapi3.Schema, depth int) any {
	if depth > 40 {
		return nil
	}
	if len(s.AllOf) > 0 {
		out := map[string]any{}
		for _, r := range s.AllOf {
			if m, ok := sample(r.Value, depth+1).(map[string]any); ok {
				for k, v := range m {
					out[k] = v
				}
			}
		}
		return out
	}
	for _, alt := range [][]*openapi3.SchemaRef{s.OneOf, s.AnyOf} {
		if len(alt) > 0 {
			return sample(alt[0].Value, depth+1)
		}
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch {
	case s.Type.Is("object") || (s.Type == nil && len(s.Properties) > 0):
		out := map[string]any{}
		for _, name := range s.Required {
			if p, ok := s.Properties[name]; ok && p.Value != nil {
				out[name] = sample(p.Value, depth+1)
			}
		}
		return out
	case s.Type.Is("array"):
		if s.MinItems > 0 && s.Items != nil {
			return []any{sample(s.Items.Value, depth+1)}
		}
		return []any{}
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return false
	case s.Type.Is("string"):
		switch s.Format {
		case "date-time":
			return "2026-11-23T12:00:00Z"
		case "uri", "uri-template":
			return "https://github.com/acme/shop"
		case "email":
			return "dev@example.com"
		}
		return "x"
	case s.Type.Is("null"):
		return nil
	}
	return nil
}

func TestWebhookWithGitHubsOfficialPayloads(t *testing.T) {
	doc, examples := loadWebhookSchemas(t, "webhook-push")
	schema := doc.Components.Schemas["webhook-push"].Value

	push := func(ref, after string) []byte {
		p := sample(schema, 0).(map[string]any)
		p["ref"], p["before"], p["after"] = ref, "0000000000000000000000000000000000000000", after
		if err := schema.VisitJSON(p); err != nil {
			t.Fatalf("the push payload is not what GitHub documents: %v", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var ping []byte
	if ex, ok := examples["ping"]; ok {
		var e struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(ex, &e); err != nil || len(e.Value) == 0 {
			t.Fatalf("ping example: %v", err)
		}
		ping = e.Value
	} else {
		t.Fatal("the description has no ping example")
	}

	secret := []byte("webhook-secret-for-tests")
	var polls atomic.Int32
	h, err := NewHookHandler(HookOptions{Projects: []HookProject{{Name: "shop", Secret: secret, Trigger: func() { polls.Add(1) }}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	send := func(event string, body []byte, signature string) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/hooks/git", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "GitHub-Hookshot/123abc")
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", "0b989ba4-242f-11e5-81e1-c7b6966d2516")
		if signature != "" {
			req.Header.Set("X-Hub-Signature-256", signature)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	branch := push("refs/heads/staging", "6dcb09b5b57875f334f61aebed695e2e4193db5e")
	tag := push("refs/tags/v1.0.0", "6dcb09b5b57875f334f61aebed695e2e4193db5e")
	other := []byte("another secret")
	for _, tc := range []struct {
		name      string
		event     string
		body      []byte
		signature string
		status    int
		polled    bool
	}{
		{"signed branch push", "push", branch, SignBody(secret, branch), http.StatusAccepted, true},
		{"signed tag push", "push", tag, SignBody(secret, tag), http.StatusAccepted, true},
		{"GitHub's ping example", "ping", ping, SignBody(secret, ping), http.StatusAccepted, true},
		{"signed with another secret", "push", branch, SignBody(other, branch), http.StatusUnauthorized, false},
		{"signature of another body", "push", tag, SignBody(secret, branch), http.StatusUnauthorized, false},
		{"unsigned", "push", branch, "", http.StatusUnauthorized, false},
		{"malformed signature", "push", branch, "sha256=zz", http.StatusUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := polls.Load()
			if got := send(tc.event, tc.body, tc.signature); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			if polled := polls.Load() > before; polled != tc.polled {
				t.Errorf("polled %v, want %v", polled, tc.polled)
			}
		})
	}
}

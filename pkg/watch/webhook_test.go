package watch

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestWebhook(t *testing.T) {
	secret := []byte("hook-secret")
	body := `{"ref":"refs/heads/main","repository":{"full_name":"acme/app"}}`
	good := SignBody(secret, []byte(body))
	bad := SignBody([]byte("other"), []byte(body))
	big := strings.Repeat("x", 2048)

	tests := []struct {
		name    string
		method  string
		query   string
		body    string
		header  map[string]string
		code    int
		trigger int
	}{
		{"github", "POST", "", body, map[string]string{"X-Hub-Signature-256": good, "X-GitHub-Event": "push"}, 202, 1},
		{"github bad signature", "POST", "", body, map[string]string{"X-Hub-Signature-256": bad}, 401, 0},
		{"github body changed", "POST", "", body + " ", map[string]string{"X-Hub-Signature-256": good}, 401, 0},
		{"github without prefix", "POST", "", body, map[string]string{"X-Hub-Signature-256": strings.TrimPrefix(good, "sha256=")}, 401, 0},
		{"gitea", "POST", "", body, map[string]string{"X-Gitea-Signature": strings.TrimPrefix(good, "sha256=")}, 202, 1},
		{"gitlab", "POST", "", body, map[string]string{"X-Gitlab-Token": string(secret)}, 202, 1},
		{"gitlab wrong token", "POST", "", body, map[string]string{"X-Gitlab-Token": "nope"}, 401, 0},
		{"generic", "POST", "?project=app", body, map[string]string{"X-Ferry-Signature": good}, 202, 1},
		{"generic not hex", "POST", "", body, map[string]string{"X-Ferry-Signature": "sha256=zz"}, 401, 0},
		{"no signature", "POST", "", body, nil, 401, 0},
		{"body too large", "POST", "", big, map[string]string{"X-Hub-Signature-256": SignBody(secret, []byte(big))}, 413, 0},
		{"GET", "GET", "", "", nil, 405, 0},
		{"unknown project", "POST", "?project=other", body, map[string]string{"X-Hub-Signature-256": good}, 404, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			h, err := NewHookHandler(HookOptions{MaxBody: 1024, Projects: []HookProject{
				{Name: "app", Secret: secret, Trigger: func() { n.Add(1) }},
			}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+"/hooks/git"+tt.query, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code || int(n.Load()) != tt.trigger {
				t.Errorf("status %d, %d triggers; want %d, %d", resp.StatusCode, n.Load(), tt.code, tt.trigger)
			}
		})
	}
}

func TestWebhookNamesProjectWhenSeveral(t *testing.T) {
	var a, b atomic.Int32
	h, err := NewHookHandler(HookOptions{Projects: []HookProject{
		{Name: "a", Secret: []byte("sa"), Trigger: func() { a.Add(1) }},
		{Name: "b", Secret: []byte("sb"), Trigger: func() { b.Add(1) }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(query, secret string) int {
		req := httptest.NewRequest("POST", "/hooks/git"+query, strings.NewReader("{}"))
		req.Header.Set("X-Hub-Signature-256", SignBody([]byte(secret), []byte("{}")))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := send("", "sa"); c != 404 {
		t.Errorf("no project named with two configured: %d", c)
	}
	if c := send("?project=b", "sa"); c != 401 || b.Load() != 0 {
		t.Errorf("project b with a's secret: %d", c)
	}
	if c := send("?project=b", "sb"); c != 202 || b.Load() != 1 || a.Load() != 0 {
		t.Errorf("project b: %d, triggers a=%d b=%d", c, a.Load(), b.Load())
	}
}

func TestWebhookOptionsValidated(t *testing.T) {
	for _, p := range []HookProject{{Name: "x", Trigger: func() {}}, {Name: "x", Secret: []byte("s")}, {Secret: []byte("s"), Trigger: func() {}}} {
		if _, err := NewHookHandler(HookOptions{Projects: []HookProject{p}}); err == nil {
			t.Errorf("accepted %+v", p)
		}
	}
}

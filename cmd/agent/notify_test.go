package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
	"github.com/ferry-deploy/ferry/pkg/notify"
)

// syncBuffer is a log the agent writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAgentNotifies: the agent's deploy reaches a signed webhook (a real
// HTTP server) and an exec'd command, filtered by event; a webhook that
// is down changes nothing about the deploy; the shared secret is in no
// event and no log line.
func TestAgentNotifies(t *testing.T) {
	const secret = "whsec-never-logged-0123"
	var mu sync.Mutex
	var hooked []notify.Event
	var badSig int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get(notify.SignatureHeader) != notify.Sign([]byte(secret), body) || strings.Contains(string(body), secret) {
			badSig++
		}
		var ev notify.Event
		_ = json.Unmarshal(body, &ev)
		hooked = append(hooked, ev)
	}))
	defer srv.Close()
	p := newProject(t, 1)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "events.jsonl")
	data, err := os.ReadFile(p.config)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte(`
[[notify]]
name = "ops"
kind = "webhook"
url = "`+srv.URL+`/ferry"
secret_file = "`+secretFile+`"

[[notify]]
kind = "exec"
command = ["sh", "-c", "cat >> \"$0\"; echo >> \"$0\"", "`+events+`"]
events = ["succeeded", "failed", "rolled-back"]

[[notify]]
name = "down"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
secret_file = "`+secretFile+`"
`)...)
	if err := os.WriteFile(p.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	a := startAgentLogging(t, p, time.Hour, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	next := p.push("Change", map[string]string{"app.py": "2\n"})
	p.waitState(a, "idle", next)

	testutil.Eventually(t, 30*time.Second, "the webhook to get started and succeeded", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		var kinds []string
		for _, ev := range hooked {
			if ev.Commit == next {
				kinds = append(kinds, ev.Event)
			}
		}
		return strings.Join(kinds, ",") == "started,succeeded", strings.Join(kinds, ",")
	})
	mu.Lock()
	if badSig != 0 {
		t.Errorf("%d webhook requests were not signed right", badSig)
	}
	last := hooked[len(hooked)-1]
	mu.Unlock()
	if last.Project != "shop" || last.Environment != "staging" || last.Method != "serial" || !strings.Contains(last.Summary, "serial deploy of staging") {
		t.Errorf("succeeded event = %+v", last)
	}

	testutil.Eventually(t, 30*time.Second, "the command to get succeeded", func() (bool, string) {
		data, _ := os.ReadFile(events)
		return strings.Contains(string(data), `"event":"succeeded"`), string(data)
	})
	data, _ = os.ReadFile(events)
	if strings.Contains(string(data), `"started"`) {
		t.Errorf("the exec target got an event it filtered out:\n%s", data)
	}
	testutil.Eventually(t, 30*time.Second, "the down webhook to be retried", func() (bool, string) {
		return strings.Contains(logs.String(), "notification failed; retrying"), ""
	})
	if strings.Contains(logs.String(), secret) {
		t.Error("the webhook secret reached the log")
	}
}

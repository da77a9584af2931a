package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ferry-deploy/ferry/pkg/backoff"
	"github.com/ferry-deploy/ferry/pkg/config"
)

func TestSkipsStatusIdenticalToLastSent(t *testing.T) {
	f, cfg := newGiteaForge(t, "")
	r, _ := newTestReporter(t, f, cfg, Options{})
	pending := Status{Commit: commitA, State: StatePending, Description: "Deploying"}
	steps := []struct {
		st       Status
		wantSent bool
	}{
		{pending, true},
		{pending, false},
		{Status{Commit: commitA, State: StatePending, Description: "Deploying", Context: "ferry/staging"}, false}, // the default context, spelled out
		{Status{Commit: commitA, State: StatePending, Description: "Deploying (2/4)"}, true},
		{pending, true}, // differs from the last one sent
		{Status{Commit: commitA, State: StatePending, Description: "Deploying", Context: "ferry/production"}, true},
		{Status{Commit: commitB, State: StatePending, Description: "Deploying"}, true},
		{Status{Commit: commitA, State: StateSuccess, Description: "Deployed"}, true},
		{Status{Commit: commitA, State: StateSuccess, Description: "Deployed"}, false},
	}
	wantRequests, wantSkipped := 0, 0
	for i, s := range steps {
		if err := r.Set(t.Context(), s.st); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if s.wantSent {
			wantRequests++
		} else {
			wantSkipped++
		}
		if n := len(f.requests()); n != wantRequests {
			t.Fatalf("step %d (%+v): forge has %d requests, want %d", i, s.st, n, wantRequests)
		}
	}
	if got := r.Counters().Skipped.Load(); got != int64(wantSkipped) {
		t.Errorf("Skipped = %d, want %d", got, wantSkipped)
	}
}

// A failed send is not remembered: the same status is sent again.
func TestRetriesStatusThatFailed(t *testing.T) {
	f, cfg := newGiteaForge(t, "")
	f.queue(reply{code: 401, body: `{"message":"token is required","url":""}`})
	r, _ := newTestReporter(t, f, cfg, Options{})
	st := Status{Commit: commitA, State: StateSuccess}
	if err := r.Set(t.Context(), st); err == nil {
		t.Fatal("Set succeeded against a 401")
	}
	if err := r.Set(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRetryIsBounded(t *testing.T) {
	down := reply{code: 503, body: `{"message":"Service Unavailable"}`}
	tests := []struct {
		name         string
		policy       RetryPolicy
		replies      []reply
		wantRequests int
		wantSleeps   string
		wantAfter    time.Duration
	}{
		{
			name:         "attempts",
			policy:       RetryPolicy{MaxAttempts: 3},
			replies:      []reply{down, down, down, down},
			wantRequests: 3, wantSleeps: "[1s 2s]",
		},
		{
			name:         "total wait",
			policy:       RetryPolicy{MaxAttempts: 10, MaxWait: 10 * time.Second},
			replies:      []reply{down, down, down, down, down, down},
			wantRequests: 4, wantSleeps: "[1s 2s 4s]", // 8s more would pass 10s
		},
		{
			name:         "Retry-After beyond the total wait",
			policy:       RetryPolicy{MaxWait: time.Minute},
			replies:      []reply{{code: 429, header: map[string]string{"Retry-After": "3600"}}},
			wantRequests: 1, wantSleeps: "[]", wantAfter: time.Hour,
		},
		{
			name:         "backoff is capped",
			policy:       RetryPolicy{MaxAttempts: 5, BaseDelay: 10 * time.Second, MaxDelay: 15 * time.Second, MaxWait: time.Hour},
			replies:      []reply{down, down, down, down, down},
			wantRequests: 5, wantSleeps: "[10s 15s 15s 15s]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, cfg := newGiteaForge(t, "")
				f.queue(tt.replies...)
				r, _ := newTestReporter(t, f, cfg, Options{Retry: tt.policy})
				err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRejected) {
					t.Fatalf("Set: %v, want ErrUnavailable", err)
				}
				if n := len(f.requests()); n != tt.wantRequests {
					t.Errorf("%d requests, want %d", n, tt.wantRequests)
				}
				if got := fmt.Sprint(f.gaps()); got != tt.wantSleeps {
					t.Errorf("waited %s, want %s", got, tt.wantSleeps)
				}
				if got := retryAfter(err); got != tt.wantAfter {
					t.Errorf("error asks to wait %s, want %s", got, tt.wantAfter)
				}
				c := r.Counters()
				if c.Failed.Load() != 1 || c.Sent.Load() != 0 || c.Retries.Load() != int64(tt.wantRequests-1) {
					t.Errorf("counters: failed %d sent %d retries %d", c.Failed.Load(), c.Sent.Load(), c.Retries.Load())
				}
			})
		})
	}
}

func TestJitterSpreadsBackoff(t *testing.T) {
	b := retryDelay{Backoff: backoff.Backoff{Base: time.Second, Max: time.Minute}}
	for attempt := 1; attempt <= 8; attempt++ {
		full := min(time.Second<<(attempt-1), time.Minute)
		for range 50 {
			if d := b.delay(attempt); d < full/2 || d >= full {
				t.Fatalf("attempt %d: delay %s outside [%s, %s)", attempt, d, full/2, full)
			}
		}
	}
}

// A context canceled while Set waits to retry ends the wait and the call.
func TestCanceledContextStopsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, cfg := newGiteaForge(t, "")
		f.queue(reply{code: 503}, reply{code: 503})
		ctx, cancel := context.WithCancel(t.Context())
		r, _ := newTestReporter(t, f, cfg, Options{})
		done := make(chan error, 1)
		go func() { done <- r.Set(ctx, Status{Commit: commitA, State: StateSuccess}) }()
		synctest.Wait() // Set waits after the first 503
		start := time.Now()
		cancel()
		err := <-done
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Set: %v, want context.Canceled", err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("Set returned %s after the cancel, want at once", waited)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests after cancel, want 1", n)
		}
	})
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer other.Close()
	f, cfg := newGitLabForge(t, "platform/website")
	f.queue(reply{code: http.StatusPermanentRedirect, header: map[string]string{"Location": other.URL + "/api/v4/projects/1/statuses/" + commitA.String()}})
	r, _ := newTestReporter(t, f, cfg, Options{})
	err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "redirected to "+other.URL) {
		t.Errorf("Set: %v; want a refusal saying where the repository went", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed (%d requests, with the token)", n)
	}
}

func TestInvalidStatusIsRefusedWithoutRequest(t *testing.T) {
	f, cfg := newGiteaForge(t, "")
	r, _ := newTestReporter(t, f, cfg, Options{})
	for _, st := range []Status{
		{State: StateSuccess}, // no commit
		{Commit: commitA, State: "running"},
		{Commit: commitA},
	} {
		if err := r.Set(t.Context(), st); err == nil {
			t.Errorf("Set(%+v) succeeded", st)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for invalid statuses", n)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 140, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven chars", 10, "eleven ch…"},
		{"trailing space cut", 10, "trailing…"},
		{"ééééééééééé", 5, "éééé…"},
		{"日本語のテキストです", 4, "日本語…"},
		{"bad \xff utf-8", 100, "bad \uFFFD utf-8"},
		{"anything", 0, "anything"},
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	token := tokenFile(t)
	tests := []struct {
		name string
		cfg  config.Forge
		want string
	}{
		{"unknown provider", config.Forge{Provider: "bitbucket", Repository: "o/r"}, `provider "bitbucket"`},
		{"credentials in api_url", config.Forge{Provider: "github", APIURL: "https://bot:hunter2@ghe.example.com/api/v3", Repository: "o/r"}, "must not carry credentials"},
		{"api_url not http", config.Forge{Provider: "github", APIURL: "ftp://example.com", Repository: "o/r"}, "http:// or https://"},
		{"github repository without owner", config.Forge{Provider: "github", Repository: "website"}, `"owner/name"`},
		{"gitea repository too deep", config.Forge{Provider: "gitea", APIURL: "https://gitea.example.com", Repository: "a/b/c"}, `"owner/name"`},
		{"gitlab repository with slash", config.Forge{Provider: "gitlab", Repository: "group/"}, "project's path"},
		{"gitea without api_url", config.Forge{Provider: "gitea", Repository: "o/r"}, "required for gitea"},
		{"no context", config.Forge{Provider: "github", Repository: "o/r", Context: "-"}, "empty context"},
		{"no token", config.Forge{Provider: "github", Repository: "o/r", TokenFile: "-"}, "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			switch cfg.Context {
			case "":
				cfg.Context = "ferry/staging"
			case "-":
				cfg.Context = ""
			}
			switch cfg.TokenFile {
			case "":
				cfg.TokenFile = token
			case "-":
				cfg.TokenFile = ""
			}
			_, err := New(cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the URL's password: %v", err)
			}
		})
	}
}

func TestLoadToken(t *testing.T) {
	env := map[string]string{"FERRY_FORGE_TOKEN": testToken + "\n", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name      string
		content   *string // written to a token file when set
		file, env string
		wantErr   string
	}{
		{name: "file with newline", content: ptr(testToken + "\n")},
		{name: "file with CRLF", content: ptr(testToken + "\r\n")},
		{name: "environment", env: "FERRY_FORGE_TOKEN"},
		{name: "missing file", file: "does-not-exist", wantErr: "reading token_file"},
		{name: "empty file", content: ptr("\n"), wantErr: "is empty"},
		{name: "two lines", content: ptr(testToken + "\nsecond\n"), wantErr: "several lines"},
		{name: "unset variable", env: "UNSET", wantErr: "token_env UNSET is not set"},
		{name: "empty variable", env: "EMPTY", wantErr: "token_env EMPTY is not set"},
		{name: "both", content: ptr(testToken), env: "FERRY_FORGE_TOKEN", wantErr: "only one"},
		{name: "neither", wantErr: "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file != "" {
				file = filepath.Join(t.TempDir(), file)
			}
			if tt.content != nil {
				file = filepath.Join(t.TempDir(), "token")
				if err := os.WriteFile(file, []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tok, err := loadToken(file, tt.env, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadToken: %v, want an error saying %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "second") {
					t.Errorf("the error shows the token file's content: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.value != testToken {
				t.Errorf("token %q, want it trimmed", tok.value)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// The token appears nowhere but in the request's header: not when the
// reporter is printed or logged, not in an error, even when the forge
// echoes it back.
func TestTokenIsNeverShown(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"message":"bad token %s","url":""}`, strings.TrimPrefix(r.Header.Get("Authorization"), "token "))
	}))
	defer echo.Close()
	r, logs := newTestReporter(t, nil, config.Forge{Provider: "gitea", APIURL: echo.URL, Repository: "ops/site", TokenEnv: "FERRY_FORGE_TOKEN"},
		// One quick retry: its log line must not show the token either.
		Options{Getenv: func(string) string { return testToken }, Retry: RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond}})

	var shown []string
	holder := struct {
		R *Reporter
		T *secret
	}{r, r.token}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		shown = append(shown, fmt.Sprintf(format, r), fmt.Sprintf(format, holder), fmt.Sprintf(format, r.token), fmt.Sprintf(format, *r.token))
	}
	slog.New(slog.NewJSONHandler(logs, nil)).Info("reporter", "r", r, "token", r.token, "holder", holder)

	err := r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
	if err == nil {
		t.Fatal("Set succeeded against a 401")
	}
	shown = append(shown, err.Error(), fmt.Sprintf("%#v", err))
	echo.Close()
	err = r.Set(t.Context(), Status{Commit: commitA, State: StateSuccess})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set to a closed server: %v, want ErrUnavailable", err)
	}
	shown = append(shown, err.Error())
	for _, s := range append(shown, logs.String()) {
		if strings.Contains(s, testToken) || strings.Contains(s, fmt.Sprintf("%x", testToken)) {
			t.Errorf("token shown in %q", s)
		}
	}
	if !strings.Contains(shown[len(shown)-3], "bad token "+redacted) {
		t.Errorf("the forge's message was lost along with the token: %s", shown[len(shown)-3])
	}
}

func TestTargetURL(t *testing.T) {
	tests := []struct {
		name, configured string
		st               Status
		want             string
	}{
		{"configured", "https://dash.example.com/", Status{}, "https://dash.example.com/"},
		{"placeholders", "https://dash.example.com/deploys/{deploy}?commit={commit}", Status{DeployID: "staging 42"}, "https://dash.example.com/deploys/staging%2042?commit=" + commitA.String()},
		{"the status's own wins", "https://dash.example.com/{deploy}", Status{TargetURL: "https://ci.example.com/1", DeployID: "42"}, "https://ci.example.com/1"},
		{"none", "", Status{DeployID: "42"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, cfg := newGiteaForge(t, "")
			cfg.TargetURL = tt.configured
			r, _ := newTestReporter(t, f, cfg, Options{})
			st := tt.st
			st.Commit, st.State = commitA, StateSuccess
			if err := r.Set(t.Context(), st); err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			json.Unmarshal(f.requests()[0].body, &body)
			if body["target_url"] != tt.want {
				t.Errorf("target_url %q, want %q", body["target_url"], tt.want)
			}
		})
	}
}

func TestPlainHTTPIsWarnedAbout(t *testing.T) {
	for _, tt := range []struct {
		apiURL string
		warn   bool
	}{
		{"http://gitea.example.com", true},
		{"https://gitea.example.com", false},
	} {
		_, logs := newTestReporter(t, nil, config.Forge{Provider: "gitea", APIURL: tt.apiURL, Repository: "ops/site"}, Options{})
		if got := strings.Contains(logs.String(), "plain http"); got != tt.warn {
			t.Errorf("%s: warned %v, want %v:\n%s", tt.apiURL, got, tt.warn, logs)
		}
	}
}

package forge

import (
	"bytes"
	"context"
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
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// A token shaped like GitHub's, so a leak is easy to grep for.
const testToken = "ghp_TESTtoken0123456789abcdefABCDEF0123"

var (
	commitA = commit.MustParse("6dcb09b5b57875f334f61aebed695e2e4193db5e")
	commitB = commit.MustParse("0123456789abcdef0123456789abcdef01234567")
)

// fakeClock never sleeps: Sleep moves Now forward and records the wait.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// noJitter makes backoff delays exact, so tests can check them.
func noJitter(d time.Duration) time.Duration { return d }

// reply is one canned answer of a fake forge.
type reply struct {
	code   int
	header map[string]string
	body   string
}

// received is one request a fake forge got.
type received struct {
	method, path, rawPath string
	header                http.Header
	body                  []byte
}

// fakeForge is an httptest server on 127.0.0.1 that checks every request
// against a provider's documented contract, answers the canned replies in
// order, then success. Contract violations fail the test at cleanup.
type fakeForge struct {
	t   testing.TB
	srv *httptest.Server
	// check returns the contract violations of one request.
	check func(r *http.Request, body []byte) []string
	// checkReply returns the ways a canned reply differs from the forge's
	// documented replies (only the GitHub fake knows them precisely).
	checkReply func(r *http.Request, rep reply) []string
	success    func(body []byte) reply

	mu         sync.Mutex
	replies    []reply
	got        []received
	violations []string
	// hold, when set, keeps the next request waiting until it is closed;
	// holding is signalled when that request has arrived.
	hold, holding chan struct{}
}

func newFakeForge(t testing.TB, check func(*http.Request, []byte) []string, success func([]byte) reply) *fakeForge {
	f := &fakeForge{t: t, check: check, success: success}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		for _, v := range f.contractViolations() {
			t.Errorf("contract violation: %s", v)
		}
	})
	return f
}

func (f *fakeForge) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	hold, holding := f.hold, f.holding
	f.hold, f.holding = nil, nil
	f.mu.Unlock()
	if hold != nil {
		close(holding)
		<-hold
	}
	problems := f.check(r, body)
	f.mu.Lock()
	f.got = append(f.got, received{r.Method, r.URL.Path, r.URL.RawPath, r.Header.Clone(), body})
	f.violations = append(f.violations, problems...)
	var rep reply
	switch {
	case len(problems) > 0:
		msg, _ := json.Marshal("contract violation: " + strings.Join(problems, "; "))
		rep = reply{code: http.StatusBadRequest, body: `{"message":` + string(msg) + `}`}
	case len(f.replies) > 0:
		rep = f.replies[0]
		f.replies = f.replies[1:]
	default:
		rep = f.success(body)
	}
	f.mu.Unlock()
	if f.checkReply != nil {
		if problems := f.checkReply(r, rep); len(problems) > 0 {
			f.mu.Lock()
			f.violations = append(f.violations, problems...)
			f.mu.Unlock()
		}
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(rep.code)
	io.WriteString(w, rep.body)
}

// queue adds canned replies, answered before the default success.
func (f *fakeForge) queue(replies ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies = append(f.replies, replies...)
}

// holdNext makes the next request wait until release is called; arrived
// is closed when it has reached the server.
func (f *fakeForge) holdNext() (arrived <-chan struct{}, release func()) {
	hold, holding := make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.hold, f.holding = hold, holding
	f.mu.Unlock()
	return holding, func() { close(hold) }
}

func (f *fakeForge) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

// takeViolations returns the violations so far and forgets them.
func (f *fakeForge) takeViolations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.violations
	f.violations = nil
	return v
}

func (f *fakeForge) contractViolations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.violations...)
}

// tokenFile writes the test token, with a trailing newline as editors
// leave it, to a fresh directory.
func tokenFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testLogger logs into buf, so tests can check what is (and isn't) logged.
func testLogger(buf *testutil.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestReporter builds a Reporter for f with a fake clock, exact
// backoff and a captured log.
func newTestReporter(t testing.TB, cfg config.Forge, opts Options) (*Reporter, *fakeClock, *testutil.Buffer) {
	t.Helper()
	clock := newFakeClock()
	logs := new(testutil.Buffer)
	if cfg.TokenFile == "" && cfg.TokenEnv == "" {
		cfg.TokenFile = tokenFile(t)
	}
	if cfg.Context == "" {
		cfg.Context = config.DefaultForgeContext + "staging"
	}
	if opts.Clock == nil {
		opts.Clock = clock
	}
	if opts.Jitter == nil {
		opts.Jitter = noJitter
	}
	opts.Logger = testLogger(logs)
	r, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the token was logged:\n%s", logs)
		}
	})
	return r, clock, logs
}

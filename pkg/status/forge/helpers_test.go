package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

// testNow is a fixed "now" for the tests of Retry-After dates.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// bubbleStart is the time a testing/synctest bubble's clock starts at.
var bubbleStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

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
	at                    time.Time // when it arrived
}

// forgeHost is where a fake forge answers; its client reaches it over an
// in-memory network (net.Pipe), loopback addresses over the real one, and
// nothing else: a test never sends a packet (not even a DNS lookup) off
// this machine.
const forgeHost = "forge.test"

// fakeForge is an HTTP server that checks every request against a
// provider's documented contract, answers the canned replies in order,
// then success. Contract violations fail the test at cleanup. Its client
// reaches it over net.Pipe connections rather than a socket: in a
// testing/synctest bubble the server and the client then wait durably, so
// the bubble's clock jumps over a Reporter's or a Queue's waits, and the
// gaps between the requests (in the bubble's time) are those waits.
type fakeForge struct {
	t      testing.TB
	srv    *http.Server
	ln     *pipeListener
	client *http.Client
	URL    string // http://forge.test
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
	f := &fakeForge{t: t, check: check, success: success, URL: "http://" + forgeHost, ln: newPipeListener()}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: time.Minute}
	served := make(chan struct{})
	go func() {
		defer close(served)
		f.srv.Serve(f.ln)
	}()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == forgeHost+":80" {
			return f.ln.dial(ctx)
		}
		if host, _, err := net.SplitHostPort(addr); err != nil || !isLoopback(host) {
			return nil, fmt.Errorf("the fake forge's client reaches only %s and loopback, not %s", forgeHost, addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	f.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		f.srv.Close()
		<-served
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
	f.got = append(f.got, received{r.Method, r.URL.Path, r.URL.RawPath, r.Header.Clone(), body, time.Now()})
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

// gaps are the times between the requests' arrivals: in a synctest
// bubble, the waits between them.
func (f *fakeForge) gaps() []time.Duration {
	got := f.requests()
	var out []time.Duration
	for i := 1; i < len(got); i++ {
		out = append(out, got[i].at.Sub(got[i-1].at))
	}
	return out
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

// newTestReporter builds a Reporter for f (nil: cfg's api_url over the
// real network) with exact backoff and a captured log.
func newTestReporter(t testing.TB, f *fakeForge, cfg config.Forge, opts Options) (*Reporter, *testutil.Buffer) {
	t.Helper()
	logs := new(testutil.Buffer)
	if cfg.TokenFile == "" && cfg.TokenEnv == "" {
		cfg.TokenFile = tokenFile(t)
	}
	if cfg.Context == "" {
		cfg.Context = config.DefaultForgeContext + "staging"
	}
	if f != nil && opts.HTTPClient == nil {
		opts.HTTPClient = f.client
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
	return r, logs
}

// pipeListener is an in-memory listener: each dial is one net.Pipe.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return forgeHost + ":80" }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/pkg/backoff"
)

// delivered collects the outcome of each event and target.
type delivered struct {
	mu  sync.Mutex
	got []error
	ch  chan struct{}
}

func newDelivered() *delivered { return &delivered{ch: make(chan struct{}, 100)} }

func (d *delivered) add(_ string, _ Event, err error) {
	d.mu.Lock()
	d.got = append(d.got, err)
	d.mu.Unlock()
	d.ch <- struct{}{}
}

func (d *delivered) wait(t *testing.T, n int) []error {
	t.Helper()
	for range n {
		<-d.ch
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.got...)
}

func start(t *testing.T, routes []Route, opts Options) *Notifier {
	t.Helper()
	if opts.Backoff.Base == 0 {
		opts.Backoff = backoff.Backoff{Base: time.Millisecond, Max: 4 * time.Millisecond}
	}
	n := New(routes, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

var ev = Event{Event: Succeeded, Project: "shop", Environment: "production", Commit: "0123456789abcdef0123456789abcdef01234567", Method: "serial", Summary: "serial deploy of web"}

func TestWebhookSignedAndRetried(t *testing.T) {
	secret := []byte("s3cret-shared")
	var calls atomic.Int32
	var body []byte
	var sig, event string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		body, _ = io.ReadAll(r.Body)
		sig, event = r.Header.Get(SignatureHeader), r.Header.Get(EventHeader)
	}))
	defer srv.Close()
	d := newDelivered()
	n := start(t, []Route{{Name: "hook", Target: &Webhook{URL: srv.URL + "/x", Secret: secret}}}, Options{Delivered: d.add})
	n.Notify(ev)
	if errs := d.wait(t, 1); errs[0] != nil {
		t.Fatalf("delivery: %v", errs[0])
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d, want 3 (two failures retried)", calls.Load())
	}
	if sig != Sign(secret, body) || !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("signature %q does not match the body", sig)
	}
	if event != Succeeded {
		t.Errorf("%s = %q", EventHeader, event)
	}
	var got Event
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Commit != ev.Commit || got.Environment != "production" || got.At.IsZero() {
		t.Errorf("event = %+v", got)
	}
	if strings.Contains(string(body), string(secret)) {
		t.Error("the body carries the secret")
	}
}

func TestSlackGivesUpAfterAttempts(t *testing.T) {
	var calls atomic.Int32
	var text string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		text = m["text"]
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	token := "/services/T000/B000/XXXXtokenXXXX"
	d := newDelivered()
	n := start(t, []Route{{Name: "slack", Target: &Slack{URL: srv.URL + token}}}, Options{Attempts: 3, Delivered: d.add})
	n.Notify(ev)
	err := d.wait(t, 1)[0]
	if err == nil {
		t.Fatal("want an error after three 500s")
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d, want 3", calls.Load())
	}
	if strings.Contains(err.Error(), "XXXXtoken") {
		t.Errorf("error %q names the webhook's token", err)
	}
	if !strings.Contains(text, "shop/production: succeeded at 0123456789ab (serial)") {
		t.Errorf("text = %q", text)
	}
}

func TestExecGetsEventOnStdin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "event.json")
	d := newDelivered()
	n := start(t, []Route{
		{Name: "ok", Target: &Exec{Argv: []string{"sh", "-c", `cat > "$0"`, out}}},
		{Name: "fails", Target: &Exec{Argv: []string{"sh", "-c", "echo boom >&2; exit 3"}}},
	}, Options{Attempts: 1, Delivered: d.add})
	n.Notify(ev)
	errs := d.wait(t, 2)
	var failed error
	for _, err := range errs {
		if err != nil {
			failed = err
		}
	}
	if failed == nil || !strings.Contains(failed.Error(), "exit status 3") || !strings.Contains(failed.Error(), "boom") {
		t.Errorf("failing command's error = %v", failed)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Event != Succeeded || got.Summary != ev.Summary {
		t.Errorf("event on stdin = %+v", got)
	}
}

func TestFilterAndDrop(t *testing.T) {
	release := make(chan struct{})
	var got atomic.Int32
	blocking := targetFunc(func(ctx context.Context, e Event) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		got.Add(1)
		return nil
	})
	var mu sync.Mutex
	dropped := map[string]int{}
	d := newDelivered()
	n := start(t, []Route{
		{Name: "prod-failures", Target: blocking, Environments: []string{"production"}, Events: []string{Failed, RolledBack}},
	}, Options{QueueSize: 1, Delivered: d.add, Timeout: time.Hour, Dropped: func(name string) {
		mu.Lock()
		dropped[name]++
		mu.Unlock()
	}})
	n.Notify(Event{Event: Succeeded, Environment: "production"}) // not wanted
	n.Notify(Event{Event: Failed, Environment: "staging"})       // not wanted
	// The first is taken by the sender (which blocks), the second waits in
	// the queue of one, the third finds it full... unless the sender has
	// not taken the first yet, in which case two are dropped.
	for range 3 {
		n.Notify(Event{Event: Failed, Environment: "production"})
	}
	mu.Lock()
	drops := dropped["prod-failures"]
	mu.Unlock()
	if drops < 1 || drops > 2 {
		t.Fatalf("dropped = %d, want 1 or 2", drops)
	}
	close(release)
	d.wait(t, 3-drops)
	if int(got.Load()) != 3-drops {
		t.Errorf("sent %d, want %d", got.Load(), 3-drops)
	}
}

type targetFunc func(context.Context, Event) error

func (f targetFunc) Send(ctx context.Context, e Event) error { return f(ctx, e) }

func TestNotifyNeverBlocks(t *testing.T) {
	// No Run: nothing sends, yet Notify returns and counts every drop.
	var drops atomic.Int32
	n := New([]Route{{Name: "t", Target: targetFunc(func(context.Context, Event) error { return errors.New("x") })}},
		Options{QueueSize: 2, Dropped: func(string) { drops.Add(1) }})
	for range 10 {
		n.Notify(ev)
	}
	if drops.Load() != 8 {
		t.Errorf("drops = %d, want 8", drops.Load())
	}
	var nilN *Notifier
	nilN.Notify(ev) // no targets
}

// TestSendDeliversBeforeReturning: Send, for a command about to exit,
// returns once every route that wants the event has it (retried when it
// failed), and says which gave up; routes that do not want it get nothing.
func TestSendDeliversBeforeReturning(t *testing.T) {
	var calls atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer down.Close()
	var other atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { other.Add(1) }))
	defer elsewhere.Close()
	n := New([]Route{
		{Name: "ok", Target: &Webhook{URL: ok.URL, Secret: []byte("s")}},
		{Name: "down", Target: &Slack{URL: down.URL}},
		{Name: "elsewhere", Target: &Webhook{URL: elsewhere.URL, Secret: []byte("s")}, Events: []string{Succeeded}},
	}, Options{Attempts: 2, Backoff: backoff.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond}})
	err := n.Send(context.Background(), Event{Event: BakeFailed, Project: "shop", Environment: "production", Commit: ev.Commit})
	if calls.Load() != 2 {
		t.Errorf("the webhook was called %d times; want a failure then the delivery", calls.Load())
	}
	if err == nil || !strings.Contains(err.Error(), "notify down") || strings.Contains(err.Error(), "notify ok") {
		t.Errorf("Send: %v; want the route that gave up named, only it", err)
	}
	if other.Load() != 0 {
		t.Errorf("a route that wants only %s got a bake-failed event", Succeeded)
	}
	var none *Notifier
	if err := none.Send(context.Background(), ev); err != nil {
		t.Errorf("Send on no notifier: %v", err)
	}
}

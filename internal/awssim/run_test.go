package awssim

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// urlCatcher is a slog handler that remembers the url the simulator logs.
type urlCatcher struct {
	mu  sync.Mutex
	url string
}

func (c *urlCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (c *urlCatcher) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *urlCatcher) WithGroup(string) slog.Handler            { return c }
func (c *urlCatcher) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "awssim: serving AWS APIs" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "url" {
			c.mu.Lock()
			c.url = a.Value.String()
			c.mu.Unlock()
		}
		return true
	})
	return nil
}

func (c *urlCatcher) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

// Run, the entry point of `ferry sim`, serves until its context ends, then
// saves the state file.
func TestRun_ServesUntilCanceledAndSaves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "account.json")
	catcher := &urlCatcher{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	opts := fastOptions()
	opts.StateFile = path
	opts.SaveInterval = time.Hour // only the final save
	go func() { done <- Run(ctx, opts, slog.New(catcher)) }()

	e := &env{t: t, ctx: t.Context()}
	e.eventually("the simulator to log its URL", func() bool { return catcher.get() != "" })
	e.srv = &Server{URL: catcher.get()}
	e.connect(3)
	e.lc("lc-1", DebianImage)
	try(e.as.DescribeLaunchConfigurations(e.ctx, &autoscaling.DescribeLaunchConfigurationsInput{})).must(t)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("state not saved: %v", err)
	}
	st := newState()
	if err := json.Unmarshal(b, st); err != nil || st.LaunchConfigs["lc-1"] == nil {
		t.Errorf("saved state lacks lc-1: %v", err)
	}
}

package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// TestDemoMachines plays the whole walk-through on machines (ferry demo
// --machines): nginx on each instance serves the page user data put in
// place for the deployed commit, and the upgrade page and the worker's
// step go over SSH with the CreateKeyPair key, trusting the host keys of
// each console. It takes about two minutes with the image cached.
func TestDemoMachines(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tool := range []string{"git", "debootstrap", "systemd-nspawn", "nsenter", "ssh"} {
		testutil.RequireTool(t, tool)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	// The simulator's and the agent's warnings (a machine that fails to
	// boot, a failed step) show with a failure.
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	err := Run(ctx, Options{Dir: t.TempDir(), Out: &out, Machines: true, Log: log,
		Status: func(context.Context, string, io.Writer) error { return nil }})
	text := out.String()
	if err != nil {
		t.Fatalf("demo --machines: %v\n%s", err, text)
	}
	t.Logf("ferry demo --machines took %s", time.Since(start).Round(100*time.Millisecond))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?s)==> 1\..*worker deploy step over ssh admin@172\.31\.[0-9.]+: manage.py migrate.*\[staging\] idle after .*curl .* 200 <h1>Shop</h1> \(faster\) \| commit ([0-9a-f]{12}) \| i-[0-9a-f]+ 172\.31\.`),
		regexp.MustCompile(`(?s)==> 2\..*"upgrade in progress" page up on 6 web servers \(old and new\), over ssh admin@172\.31\..*worker deploy step over ssh.*upgrade page down on 3 web servers, over ssh`),
		regexp.MustCompile(`saw the upgrade page [1-9][0-9]* times`),
		regexp.MustCompile(`(?s)==> 3\..*page up on 4 web servers.*\[production\] idle after`),
		regexp.MustCompile(`(?s)==> 4\..*\[staging\] blocked: [0-9a-f]{12} rolled-back`),
		regexp.MustCompile(`outcome: rolled-back`),
		regexp.MustCompile(`(?s)ferry deploy: production succeeded \(full\)`),
	} {
		if !want.MatchString(text) {
			t.Errorf("narration does not match %s:\n%s", want, text)
		}
	}
	// The pages after steps 1 and 2 name the commits they deployed.
	for _, msg := range []string{"Speed up the product page", "Add the orders table"} {
		m := regexp.MustCompile(`(?s)git commit -m "` + msg + `" → ([0-9a-f]{12}).*?curl \S+ → 200 [^|]*\| commit ([0-9a-f]{12})`).FindStringSubmatch(text)
		if m == nil || m[1] != m[2] {
			t.Errorf("the page after %q does not show its commit: %q", msg, m)
		}
	}
}

package demo

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/testutil"
)

// TestDemo plays the whole walk-through quickly and checks that each step
// ended the way its narration promises.
func TestDemo(t *testing.T) {
	testutil.RequireTool(t, "git")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	statusCalled := false
	err := Run(ctx, Options{Dir: t.TempDir(), Out: &out, Fast: true,
		Status: func(_ context.Context, path string, w io.Writer) error {
			statusCalled = strings.HasSuffix(path, "ferry.toml")
			return nil
		}})
	text := out.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, text)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?s)==> 1\..*\[staging\] idle after .*curl .* 200 <h1>Shop</h1> \(faster\) \| commit`),
		regexp.MustCompile(`(?s)==> 2\..*"upgrade in progress" page up on 6 web servers.*worker deploy step.*upgrade page down on 3 web servers`),
		regexp.MustCompile(`saw the upgrade page [1-9][0-9]* times`),
		regexp.MustCompile(`(?s)==> 3\..*\[production\] idle after`),
		regexp.MustCompile(`(?s)==> 4\..*\[staging\] blocked: [0-9a-f]{12} rolled-back`),
		regexp.MustCompile(`outcome: rolled-back`),
		regexp.MustCompile(`(?s)ferry deploy: production succeeded \(full\)`),
	} {
		if !want.MatchString(text) {
			t.Errorf("narration does not match %s:\n%s", want, text)
		}
	}
	if !statusCalled {
		t.Error("the demo did not end with ferry status")
	}
}

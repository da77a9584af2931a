package agent

import (
	"testing"

	"github.com/ferry-deploy/ferry/pkg/watch"
)

// TestNewestReplacesStaleTargets: targets that arrive while a worker is
// busy never queue; it takes the newest one.
func TestNewestReplacesStaleTargets(t *testing.T) {
	n := &newest{ch: make(chan watch.Target, 1)}
	for _, ref := range []string{"refs/tags/v1.0.0", "refs/tags/v1.1.0", "refs/tags/v1.2.0"} {
		n.put(watch.Target{Env: "production", Ref: ref})
	}
	if got := <-n.ch; got.Ref != "refs/tags/v1.2.0" {
		t.Errorf("worker took %s, want the newest, v1.2.0", got.Ref)
	}
	select {
	case got := <-n.ch:
		t.Errorf("a stale target queued: %s", got.Ref)
	default:
	}
}

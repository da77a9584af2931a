package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test with what cond
// last said if it does not within timeout. The timeout only guards against
// a hung test: no result may depend on how long anything takes. Polls start
// 1 ms apart and back off to 50 ms, so a quick condition is seen at once
// and a slow one costs little.
//
// It is the one such helper of Ferry's tests; a test that waits on a
// schedule rather than on another process uses testing/synctest instead.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

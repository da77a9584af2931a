// Package traffic plays the users of a deploy: it sends requests through a
// load balancer while the deploy runs and counts what they met, so that
// tests and the demo can say whether the "upgrade in progress" page was
// served and whether any request failed.
package traffic

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// What a request met.
const (
	// OK is a 200 from an instance.
	OK = "ok"
	// UpgradePage is a 503 whose body says "Upgrade in progress", as the
	// seed's nginx serves during a full deploy.
	UpgradePage = "upgrade page"
	// Failed is anything else: a connection error, a timeout, another
	// status.
	Failed = "failed"
)

// Counts is how many requests met each answer.
type Counts map[string]int

// Start sends GET url every interval, one request at a time, until the
// returned stop is called; stop waits for the request in flight and
// returns the counts.
func Start(url string, interval time.Duration) (stop func() Counts) {
	counts := Counts{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-time.After(interval):
			}
			counts[classify(client.Get(url))]++
		}
	}()
	return func() Counts {
		close(done)
		wg.Wait()
		return counts
	}
}

func classify(resp *http.Response, err error) string {
	if err != nil {
		return Failed
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return Failed
	case resp.StatusCode == http.StatusOK:
		return OK
	case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "Upgrade in progress"):
		return UpgradePage
	default:
		return Failed
	}
}

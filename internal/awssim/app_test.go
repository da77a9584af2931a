package awssim

import (
	"context"
	"fmt"
	"net/http"
	"sync"
)

// fakeApps is the app every test instance runs: /healthcheck.html answers
// 200 (or 500 once the instance is set failing) and counts the checks; every
// other path answers with the instance id and image.
type fakeApps struct {
	mu      sync.Mutex
	passed  map[string]int
	failed  map[string]int
	failing map[string]bool
}

func newFakeApps() *fakeApps {
	return &fakeApps{passed: map[string]int{}, failed: map[string]int{}, failing: map[string]bool{}}
}

func (f *fakeApps) app(_ context.Context, inst Instance) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthcheck.html", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		bad := f.failing[inst.ID]
		if bad {
			f.failed[inst.ID]++
		} else {
			f.passed[inst.ID]++
		}
		f.mu.Unlock()
		if bad {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", inst.ID, inst.ImageID)
	})
	return mux, nil
}

func (f *fakeApps) setFailing(id string, bad bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing[id] = bad
	f.passed[id], f.failed[id] = 0, 0
}

func (f *fakeApps) counts(id string) (passed, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passed[id], f.failed[id]
}

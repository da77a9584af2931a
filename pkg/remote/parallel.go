package remote

import (
	"context"
	"errors"
	"sync"
)

// Result is the outcome of Run on one host.
type Result struct {
	Host Host
	Err  error
}

// RunAll runs cmds on every host, at most limit hosts at a time (all at
// once when limit < 1), and returns one Result per host in the order of
// hosts. A failure on one host does not stop the others: the "upgrade in
// progress" page belongs on every server that can show it, and the caller
// decides what a partial failure means.
func (r *Runner) RunAll(ctx context.Context, hosts []Host, limit int, cmds ...Command) []Result {
	if limit < 1 || limit > len(hosts) {
		limit = len(hosts)
	}
	results := make([]Result, len(hosts))
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i, h := range hosts {
		results[i].Host = h
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i].Err = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i].Err = r.Run(ctx, h, cmds...)
		})
	}
	wg.Wait()
	return results
}

// Failed joins the errors of the results that failed; nil when none did.
func Failed(results []Result) error {
	var errs []error
	for _, res := range results {
		if res.Err != nil {
			errs = append(errs, res.Err)
		}
	}
	return errors.Join(errs...)
}

package cloud

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/ferry-deploy/ferry/pkg/backoff"
)

// firstRetry is the wait before the first retry of a throttled or failed
// call (jittered to half of it at least); each retry doubles it up to
// MaxBackoff. AWS throttles per account and region with token buckets that
// refill continuously: a short first wait gets through when only some
// calls are refused, and the doubling still backs off, to seconds within
// eight attempts, from a bucket that stays empty. Under 30 % throttling a
// deploy takes 1.4-1.7x as long with it, 2-2.7x with 25 ms, and with the
// SDK's adaptive retryer (1 s, client-side rate limiting) over 100x
// (BenchmarkFaultDuration, docs/reliability.md).
const firstRetry = 10 * time.Millisecond

type pollKey struct{}

// Poll marks ctx as a poll: a read repeated on a schedule until something
// holds (an instance InService, healthy in a balancer). A poll's call that
// is throttled or fails is not retried: it returns at once, transient
// (IsTransient), and the poller asks again at its next tick. Retrying it
// would only wait as long and add load to a throttled account.
func Poll(ctx context.Context) context.Context {
	return context.WithValue(ctx, pollKey{}, true)
}

func isPoll(ctx context.Context) bool {
	v, _ := ctx.Value(pollKey{}).(bool)
	return v
}

// errPollNotRetried joins the error of a poll's call that was not retried.
var errPollNotRetried = errors.New("a poll is not retried; the next poll asks again")

// newRetryer is the SDK's standard retryer with three changes. No retry
// quota: the standard one (500 tokens, 5 a retry, given back only when a
// retried call succeeds) is spent by a few dozen calls failing through an
// outage, and then no call is retried until as many have succeeded; and no
// adaptive rate limiting, which under 30 % throttling slowed every call of
// a deploy to a crawl. Backoff from firstRetry, not 1 s. And a poll's
// calls are not retried (Poll), so a changing call gets all its attempts
// and a poll none.
func newRetryer(maxAttempts int, maxBackoff time.Duration) aws.Retryer {
	b := backoff.Backoff{Base: firstRetry, Max: maxBackoff}
	return pollRetryer{retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			return b.Delay(attempt, rand.Float64()), nil
		})
	})}
}

// pollRetryer refuses to retry a poll's calls.
type pollRetryer struct {
	*retry.Standard
}

func (r pollRetryer) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	if isPoll(ctx) {
		return nil, errPollNotRetried
	}
	return r.Standard.GetRetryToken(ctx, opErr)
}

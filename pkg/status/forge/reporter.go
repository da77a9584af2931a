package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/pkg/backoff"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// Options tune a Reporter; the zero value is ready for production.
type Options struct {
	// HTTPClient sends the requests; nil uses one with a 30s timeout.
	// Redirects are never followed, whatever the client says: a moved
	// repository is a config to fix, and a redirect could carry the token
	// to another host.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Getenv reads token_env; nil uses os.Getenv.
	Getenv   func(string) string
	Retry    RetryPolicy
	Counters *Counters
	// UserAgent identifies Ferry to the forge (GitHub requires one).
	UserAgent string
	// Jitter spreads retry delays; nil picks uniformly in [d/2, d).
	Jitter func(time.Duration) time.Duration
}

// RetryPolicy bounds the retries of one Set call; zero fields take the
// defaults shown.
type RetryPolicy struct {
	// MaxAttempts counts the first request too (4).
	MaxAttempts int
	// BaseDelay and MaxDelay bound the backoff between attempts (1s, 30s).
	BaseDelay, MaxDelay time.Duration
	// MaxWait bounds the time spent waiting between attempts (2m). A
	// Retry-After beyond it ends the call with an ErrUnavailable error
	// carrying the wait, for the Queue to honour.
	MaxWait time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 2 * time.Minute
	}
	return p
}

// maxResponse bounds how much of an answer is read: a status's answer is a
// few kilobytes, an error page from a proxy may not be.
const maxResponse = 64 << 10

// maxRemembered bounds the statuses remembered to skip repeats; an agent
// deploys a handful of commits a day.
const maxRemembered = 256

// Reporter sets commit statuses on one repository of one forge. It is safe
// for concurrent use.
type Reporter struct {
	p          provider
	repository string
	context    string
	targetURL  string
	token      *secret
	http       *http.Client
	log        *slog.Logger
	retry      RetryPolicy
	backoff    retryDelay
	userAgent  string
	counters   *Counters

	mu       sync.Mutex
	sent     map[key]Status // guarded by mu
	sentKeys []key          // guarded by mu; oldest first, to forget
}

// New returns a Reporter for one [[environments.NAME.status.forge]] entry,
// after config defaults (the context) have been applied. It reads the
// token now, so a missing token fails at start-up, not at the first deploy.
func New(f config.Forge, opts Options) (*Reporter, error) {
	p, err := newProvider(f)
	if err != nil {
		return nil, fmt.Errorf("forge %s %s: %w", f.Provider, f.Repository, err)
	}
	if f.Context == "" {
		return nil, fmt.Errorf("forge %s %s: empty context", f.Provider, f.Repository)
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	tok, err := loadToken(f.TokenFile, f.TokenEnv, getenv)
	if err != nil {
		return nil, fmt.Errorf("forge %s %s: %w", f.Provider, f.Repository, err)
	}
	r := &Reporter{
		p:          p,
		repository: f.Repository,
		context:    f.Context,
		targetURL:  f.TargetURL,
		token:      tok,
		log:        opts.Logger,
		retry:      opts.Retry.withDefaults(),
		userAgent:  opts.UserAgent,
		counters:   opts.Counters,
		sent:       make(map[key]Status),
	}
	r.backoff = retryDelay{Backoff: backoff.Backoff{Base: r.retry.BaseDelay, Max: r.retry.MaxDelay}, jitter: opts.Jitter}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("forge", p.name(), "repository", f.Repository)
	if u, err := url.Parse(p.statusURL("")); err == nil && u.Scheme == "http" {
		r.log.Warn("api_url is plain http: the token crosses the network unencrypted", "api_url", u.Scheme+"://"+u.Host)
	}
	if r.userAgent == "" {
		r.userAgent = "ferry"
	}
	if r.counters == nil {
		r.counters = new(Counters)
	}
	client := http.Client{Timeout: 30 * time.Second}
	if opts.HTTPClient != nil {
		client = *opts.HTTPClient
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r.http = &client
	return r, nil
}

// String names the reporter; it never shows the token.
func (r *Reporter) String() string { return r.p.name() + " " + r.repository }

// Counters returns the reporter's counters.
func (r *Reporter) Counters() *Counters { return r.counters }

// Set sends st to the forge unless it is identical to the last status sent
// for the same commit and context (or, on GitLab, both are running),
// retrying server errors and rate limits
// within the RetryPolicy. An empty Context or TargetURL takes the
// configured one; the description is cut to the forge's limit. Statuses
// for one commit and context should come from one goroutine (a Queue's
// does), or the last one remembered may not be the last one the forge got.
func (r *Reporter) Set(ctx context.Context, st Status) error {
	return r.set(ctx, st, r.retry.MaxAttempts)
}

// Send is Set with a single attempt, for a Queue: it retries itself, each
// time with the newest status, rather than repeat one that is superseded.
func (r *Reporter) Send(ctx context.Context, st Status) error {
	return r.set(ctx, st, 1)
}

func (r *Reporter) set(ctx context.Context, st Status, attempts int) error {
	st = r.complete(st)
	if err := st.validate(); err != nil {
		r.counters.Failed.Add(1)
		return fmt.Errorf("%s: %w", r, err)
	}
	if r.alreadySent(st) {
		r.counters.Skipped.Add(1)
		return nil
	}
	if err := r.send(ctx, st, attempts); err != nil {
		r.counters.Failed.Add(1)
		return err
	}
	r.remember(st)
	r.counters.Sent.Add(1)
	r.log.DebugContext(ctx, "commit status set", "commit", st.Commit, "context", st.Context, "state", st.State)
	return nil
}

func (r *Reporter) complete(st Status) Status {
	if st.Context == "" {
		st.Context = r.context
	}
	if st.TargetURL == "" {
		st.TargetURL = strings.NewReplacer(
			"{commit}", st.Commit.String(),
			"{deploy}", url.PathEscape(st.DeployID),
		).Replace(r.targetURL)
	}
	st.Description = truncate(st.Description, r.p.maxDescription())
	return st
}

func (r *Reporter) alreadySent(st Status) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.sent[st.key()]
	return ok && r.p.redundant(last, st)
}

func (r *Reporter) remember(st Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := st.key()
	if _, ok := r.sent[k]; !ok {
		r.sentKeys = append(r.sentKeys, k)
		if len(r.sentKeys) > maxRemembered {
			delete(r.sent, r.sentKeys[0])
			r.sentKeys = r.sentKeys[1:]
		}
	}
	r.sent[k] = st
}

// send posts st, retrying transient failures while attempts and the
// total wait allow.
func (r *Reporter) send(ctx context.Context, st Status, attempts int) error {
	body, err := json.Marshal(r.p.body(st))
	if err != nil {
		return fmt.Errorf("%s: encoding status: %w", r, err)
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		err := r.post(ctx, st.Commit.String(), body)
		if err == nil || !errors.Is(err, ErrUnavailable) || attempt >= attempts {
			return err
		}
		wait := r.backoff.delay(attempt)
		if ra := retryAfter(err); ra > 0 {
			wait = ra
		}
		if waited+wait > r.retry.MaxWait {
			return err
		}
		r.log.WarnContext(ctx, "commit status not set, retrying", "commit", st.Commit, "attempt", attempt, "in", wait, "err", err)
		r.counters.Retries.Add(1)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		waited += wait
	}
}

// post makes one request. The token goes only into the request's header;
// whatever comes back is redacted before it becomes an error.
func (r *Reporter) post(ctx context.Context, commit string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.p.statusURL(commit), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %s", r, r.token.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", r.userAgent)
	r.p.header(req.Header, r.token.value)
	resp, err := r.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%s: %w", r, ctxErr)
		}
		return &transportError{forge: r.p.name(), repository: r.repository, text: r.token.redact(err.Error())}
	}
	defer resp.Body.Close()
	// Accepted or not, a body cut short changes nothing: the status code
	// decides, and what was read is the best explanation there is.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	busy, wait := r.p.busy(resp, time.Now())
	// The token is redacted from the body as sent and from the message
	// as decoded (a JSON string may escape it), before the message is
	// cut to length: a cut token would escape redaction.
	msg := r.p.message([]byte(r.token.redact(string(data))))
	if resp.StatusCode/100 == 3 {
		msg = "redirected to " + resp.Header.Get("Location") + ": set api_url and repository to where the repository is now"
	}
	return &APIError{
		Forge:      r.p.name(),
		Repository: r.repository,
		StatusCode: resp.StatusCode,
		Message:    truncate(r.token.redact(msg), maxMessage),
		Busy:       busy,
		RetryAfter: wait,
	}
}

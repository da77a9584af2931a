package forge

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

var (
	// ErrRejected: the forge refused the status and will refuse it again
	// (bad token, no access, unknown repository or commit, invalid
	// status). Retrying does not help; fixing the config does.
	ErrRejected = errors.New("forge rejected the status")
	// ErrUnavailable: the forge could not be reached, failed, or asked us
	// to slow down. The same status may succeed later.
	ErrUnavailable = errors.New("forge unavailable")
)

// APIError is a forge's error answer to a status.
type APIError struct {
	// Forge is the provider: "github", "gitlab" or "gitea".
	Forge      string
	Repository string
	StatusCode int
	// Message is the forge's own explanation, with the token redacted.
	Message string
	// Busy: the forge asked us to try again later, beyond a server error:
	// a rate limit, or (GitLab) another update of the status in progress.
	Busy bool
	// RetryAfter is how long the forge asked us to wait; zero when it did
	// not say.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Forge, e.Repository, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// Temporary reports whether the same request may succeed later: server
// errors, rate limits and the like.
func (e *APIError) Temporary() bool {
	return e.Busy || e.StatusCode >= 500
}

// Unwrap makes errors.Is(err, ErrRejected) and errors.Is(err,
// ErrUnavailable) tell permanent from transient failures.
func (e *APIError) Unwrap() error {
	if e.Temporary() {
		return ErrUnavailable
	}
	return ErrRejected
}

// transportError is a request that got no answer (refused, reset, timed
// out); its text is redacted before it is kept.
type transportError struct {
	forge, repository string
	text              string
}

func (e *transportError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.forge, e.repository, e.text)
}

func (e *transportError) Unwrap() error { return ErrUnavailable }

// retryAfter is how long err asks the caller to wait, zero if it doesn't.
func retryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

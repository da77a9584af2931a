package watch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrPermanent marks errors that retrying will not fix (bad credentials, an
// unknown or changed host key, a missing repository, bad options). Check with
// errors.Is(err, ErrPermanent); everything else from the remote is transient.
var ErrPermanent = errors.New("permanent")

// ErrTransient marks errors that a later retry may not see (remote down,
// timeouts, a lost compare-and-swap race).
var ErrTransient = errors.New("transient")

// RemoteError is an operation on the remote that failed. Its message names
// the remote by its redacted URL and never contains a credential.
type RemoteError struct {
	Op        string // "list", "fetch", "push"
	URL       string // redacted
	Permanent bool
	Err       error
	secret    string
}

func (e *RemoteError) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Op, e.URL, e.Err)
	if e.secret != "" {
		msg = strings.ReplaceAll(msg, e.secret, "***")
	}
	return msg
}

func (e *RemoteError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermanent) and errors.Is(err, ErrTransient)
// answer from the classification.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrPermanent:
		return e.Permanent
	case ErrTransient:
		return !e.Permanent
	}
	return false
}

// IsTransient reports whether err is worth retrying later.
func IsTransient(err error) bool { return err != nil && !errors.Is(err, ErrPermanent) }

func permanent(err error) bool {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.Is(err, ErrPermanent),
		errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		errors.As(err, &keyErr), errors.As(err, &revoked):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	// go-git wraps some SSH handshake failures as plain strings; a host key
	// mismatch from knownhosts keeps its type, so only typed checks above.
	return false
}

// RedactURL removes any password or token from a URL so it can be logged.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}

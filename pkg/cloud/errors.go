package cloud

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// ErrNotFound is wrapped by errors for a group, balancer, launch template or
// instance that does not exist.
var ErrNotFound = errors.New("not found")

// APIErrorCode returns the AWS error code err carries ("ValidationError",
// "Throttling", "InvalidInstance", ...), or "" when it carries none.
func APIErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsTransient reports whether err may succeed if the call is made again
// later: throttling, AWS-side failures, contention and timeouts. The SDK has
// already retried such errors within its bounds; callers with a longer
// horizon (a deploy step) may try again.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var re interface{ RetryableError() bool }
	if errors.As(err, &re) {
		return re.RetryableError()
	}
	var max *retry.MaxAttemptsError
	if errors.As(err, &max) {
		return true
	}
	// A poll's call the retryer would have retried (a connection cut or
	// refused, too, which carries no code).
	if errors.Is(err, errPollNotRetried) {
		return true
	}
	switch APIErrorCode(err) {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "ResourceContention",
		"ScalingActivityInProgress", "ServiceUnavailable", "InternalFailure", "InternalError":
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultServer {
		return true
	}
	return false
}

// transient marks an error that may go away if the call is made again
// later, whatever its code (IsTransient).
type transient struct{ error }

func (t transient) Unwrap() error { return t.error }

// RetryableError reports the error transient.
func (transient) RetryableError() bool { return true }

// notFound wraps ErrNotFound with what was looked for.
func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
}

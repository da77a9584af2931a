package remote

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// IsTransient reports whether err is worth retrying later as it is: the
// host could not be reached, or a command ran out of time. A command that
// failed, a refused host key or refused credentials are permanent: retrying
// changes nothing until a person does.
func IsTransient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

// ExitError is a command that ran and did not succeed: it exited non-zero
// or was killed by a signal.
type ExitError struct {
	Host    string
	Command string // Command.Name, never the environment or stdin
	// Code is the exit status; 128+n when the command was killed by
	// signal n (named in Signal), as shells report it.
	Code   int
	Signal string
	// Tail holds the last lines of output, Log the full per-server log.
	Tail []string
	Log  string
}

func (e *ExitError) Error() string {
	how := fmt.Sprintf("exit status %d", e.Code)
	if e.Signal != "" {
		how = "killed by signal " + e.Signal
	}
	return fmt.Sprintf("%s on %s: %s (output in %s)", e.Command, e.Host, how, e.Log)
}

// Transient is false: running a failed command again fails again.
func (e *ExitError) Transient() bool { return false }

// TimeoutError is a command that ran past Config.CommandTimeout and was
// stopped.
type TimeoutError struct {
	Host    string
	Command string
	After   time.Duration
	Log     string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s on %s: no exit after %s, stopped (output in %s)", e.Command, e.Host, e.After, e.Log)
}

// Transient is true: a slow host or a lock held elsewhere may clear.
func (e *TimeoutError) Transient() bool { return true }

// DialError is a host that could not be reached: the TCP connect or the
// SSH handshake failed or timed out.
type DialError struct {
	Host string
	Err  error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("connect to %s: %v", e.Host, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Transient is true: instances boot, networks recover.
func (e *DialError) Transient() bool { return true }

// NoAnswerError is a connection Ferry dropped because its host stopped
// answering: a keepalive went unanswered for Silent (three keepalive
// intervals), as when the instance was terminated or a network partition
// cut it off, neither of which resets the connection. It comes wrapped in
// the error of what the connection was doing: a *DialError for a command
// under way (which may or may not have finished on the host) or one about
// to start, a *SessionError for a session being opened.
type NoAnswerError struct {
	Host   string
	Silent time.Duration
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("%s stopped answering (a keepalive unanswered for %s): connection dropped", e.Host, e.Silent)
}

// SessionError is a host that took the login but opened no session for a
// command (or dropped the connection instead): no command started.
type SessionError struct {
	Host string
	Err  error
}

func (e *SessionError) Error() string {
	return fmt.Sprintf("connect to %s: %v", e.Host, e.Err)
}

func (e *SessionError) Unwrap() error { return e.Err }

// Transient is true: a host busy with its boot opens sessions later.
func (e *SessionError) Transient() bool { return true }

// BootingError is a host that accepted the key but does not take logins
// yet: pam_nologin refuses every user but root while systemd boots (until
// systemd-user-sessions runs), as on a new EC2 instance whose sshd is up
// before its boot is done. sshd sends /run/nologin's text as a banner and
// disconnects.
type BootingError struct {
	Host    string
	Message string // the banner sshd sent
	Err     error
}

func (e *BootingError) Error() string {
	return fmt.Sprintf("%s does not take logins yet (%s): %v", e.Host, strings.TrimSpace(e.Message), e.Err)
}

func (e *BootingError) Unwrap() error { return e.Err }

// Transient is true: the boot finishes.
func (e *BootingError) Transient() bool { return true }

// AuthError is a host that refused the user and key Ferry offered.
type AuthError struct {
	Host string
	User string
	// Via names the credentials: the key file or "SSH agent".
	Via string
	Err error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s@%s refused the key from %s: check the ssh user and that the key is authorized on the instance: %v", e.User, e.Host, e.Via, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Transient is false.
func (e *AuthError) Transient() bool { return false }

// HostKeyProblem says why a host key was refused.
type HostKeyProblem int

const (
	// HostUnknown: known_hosts has no key for the host (and trust on first
	// use is off).
	HostUnknown HostKeyProblem = iota + 1
	// HostKeyChanged: known_hosts has a different key for the host. It is
	// refused whatever the settings: either the instance was rebuilt at the
	// same address or someone is in between.
	HostKeyChanged
)

// HostKeyError is a host key Ferry refused to trust.
type HostKeyError struct {
	Host        string
	File        string // the known_hosts file
	Problem     HostKeyProblem
	Fingerprint string // of the key the host presented (SHA256:...)
	// Known lists where the file holds the host's other keys ("file:line").
	Known []string
}

func (e *HostKeyError) Error() string {
	switch e.Problem {
	case HostKeyChanged:
		return fmt.Sprintf("host key of %s changed: it presented %s, which does not match %s (%s); "+
			"if the instance was rebuilt at this address, remove its line from %s; otherwise treat this as an attack",
			e.Host, e.Fingerprint, e.File, strings.Join(e.Known, ", "), e.File)
	default:
		return fmt.Sprintf("host %s is not in %s (it presented %s): add its key there, or enable trust_on_first_use",
			e.Host, e.File, e.Fingerprint)
	}
}

// Transient is false: a person has to look.
func (e *HostKeyError) Transient() bool { return false }

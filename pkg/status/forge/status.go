package forge

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ferry-deploy/ferry/pkg/commit"
)

// State is the outcome a status reports, in GitHub's vocabulary; each
// provider maps it to its own.
type State string

const (
	// StatePending: the deploy has started.
	StatePending State = "pending"
	// StateSuccess: the commit is deployed and serving.
	StateSuccess State = "success"
	// StateFailure: the deploy failed (and was rolled back, if the description
	// says so).
	StateFailure State = "failure"
	// StateError: Ferry could not attempt the deploy (bad plan, lock, config).
	StateError State = "error"
)

func (s State) valid() bool {
	switch s {
	case StatePending, StateSuccess, StateFailure, StateError:
		return true
	}
	return false
}

// Status is one commit status.
type Status struct {
	// Commit is the commit the status is set on.
	Commit commit.ID
	State  State
	// Description is a short, human sentence; it is cut to the forge's
	// limit.
	Description string
	// TargetURL links the status to details; empty uses the configured
	// target_url, with {commit} and {deploy} replaced by Commit and
	// DeployID.
	TargetURL string
	// Context tells this status from others on the commit; empty uses the
	// configured context (default "ferry/<env>").
	Context string
	// Ref is the branch or tag deployed. Only GitLab takes it (to attach
	// the status to that ref's pipeline); the others ignore it.
	Ref string
	// DeployID identifies the deploy in the configured target_url.
	DeployID string
}

// key identifies the statuses that replace each other on a forge.
type key struct {
	commit  commit.ID
	context string
}

func (s Status) key() key { return key{s.Commit, s.Context} }

func (s Status) validate() error {
	if s.Commit.IsZero() {
		return errors.New("no commit")
	}
	if !s.State.valid() {
		return fmt.Errorf("state %q: use %q, %q, %q or %q", s.State, StatePending, StateSuccess, StateFailure, StateError)
	}
	return nil
}

// truncate cuts s to at most max runes, ending with an ellipsis when cut,
// so the forge neither rejects the status nor splits a UTF-8 sequence.
func truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRight(s[:i], " ") + "…"
		}
		n++
	}
	return s
}

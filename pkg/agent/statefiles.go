package agent

import (
	"errors"
	"fmt"

	"github.com/ferry-deploy/ferry/pkg/secrets"
)

// The state files the agent and the command line read back after a
// restart are checked as they are read, so that a torn or hand-edited
// file is an error naming it (the environment then waits, with the error
// in the log and in ferry status) rather than a partial state acted on: a
// deploy awaiting approval of no commit, a decision for no commit, a
// blocked commit that is none. A pause needs nothing more than its file:
// whatever it holds, the environment is paused, the safe side.

func (b Blocked) check() error {
	if b.Commit.IsZero() {
		return errors.New("a blocked commit without its commit")
	}
	return nil
}

func (a Awaiting) check() error {
	switch {
	case a.Commit.IsZero():
		return errors.New("a deploy awaiting approval without its commit")
	case a.Method == "":
		return errors.New("a deploy awaiting approval without its method")
	case a.Since.IsZero():
		return errors.New("a deploy awaiting approval without its time")
	}
	return nil
}

func (d Decision) check() error {
	if d.Commit.IsZero() {
		return errors.New("an approval or rejection without its commit")
	}
	return nil
}

// check refuses a secrets push record that is another environment's, or
// has no run, or names what is not a secret's name (the record holds
// names and versions, never values).
func (r SecretsRecord) check(env string) error {
	switch {
	case r.Environment != env:
		return fmt.Errorf("the record is of environment %q", r.Environment)
	case r.RunID == "":
		return errors.New("no run id")
	case r.PushedAt.IsZero():
		return errors.New("no push time")
	}
	for _, n := range r.Written {
		if !secrets.ValidName(n) {
			return fmt.Errorf("written: %q is not a secret's name", n)
		}
	}
	for n, v := range r.Versions {
		if !secrets.ValidName(n) || v < 1 {
			return fmt.Errorf("versions: %q at version %d", n, v)
		}
	}
	return nil
}

package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ferry-deploy/ferry/internal/jsonfile"
	"github.com/ferry-deploy/ferry/pkg/commit"
)

// Control is the per-environment state an operator changes while the agent
// runs (ferry pause / resume / retry) and the agent reads before each
// deploy. Each fact is its own file, written atomically, so the agent and
// the command line never overwrite each other's changes.
type Control struct {
	Dir string // <state dir>/control
}

// Paused is why an environment was paused, and by whom.
type Paused struct {
	Since  time.Time `json:"since"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
}

// Blocked is a commit the agent will not deploy again on its own: its
// deploy failed or was rolled back or refused. A new commit, or ferry
// retry, clears it.
type Blocked struct {
	Commit  commit.ID `json:"commit"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

func (c Control) path(kind, env string) string {
	return filepath.Join(c.Dir, kind+"-"+env+".json")
}

// Pause stops the agent from starting deploys of env.
func (c Control) Pause(env string, p Paused) error { return c.write(c.path("paused", env), p) }

// Resume lets the agent deploy env again.
func (c Control) Resume(env string) error { return c.remove(c.path("paused", env)) }

// PausedState returns env's pause, or nil.
func (c Control) PausedState(env string) (*Paused, error) {
	var p Paused
	ok, err := c.read(c.path("paused", env), &p)
	if !ok {
		return nil, err
	}
	return &p, nil
}

// Block remembers a commit the agent must not retry on its own.
func (c Control) Block(env string, b Blocked) error { return c.write(c.path("blocked", env), b) }

// Retry forgets env's blocked commit, so the agent deploys it again.
func (c Control) Retry(env string) error { return c.remove(c.path("blocked", env)) }

// BlockedState returns env's blocked commit, or nil.
func (c Control) BlockedState(env string) (*Blocked, error) {
	var b Blocked
	ok, err := c.read(c.path("blocked", env), &b)
	if !ok {
		return nil, err
	}
	return &b, nil
}

func (c Control) write(path string, v any) error {
	if err := os.MkdirAll(c.Dir, 0o750); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(path, data, 0o640)
}

func (c Control) read(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := jsonfile.Unmarshal(path, data, v); err != nil {
		return false, err
	}
	if c, ok := v.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
	}
	return true, nil
}

func (c Control) remove(path string) error {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

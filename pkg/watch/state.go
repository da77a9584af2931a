package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-deploy/ferry/internal/jsonfile"
	"github.com/ferry-deploy/ferry/pkg/commit"
)

// targetState is what the watcher persists between runs: the last target it
// emitted per environment, so a restart does not re-emit and a deleted tag
// cannot move an environment backwards.
type targetState struct {
	Targets map[string]savedTarget `json:"targets"`
}

type savedTarget struct {
	Ref    string    `json:"ref"`
	Commit commit.ID `json:"commit"`
}

func loadState(file string) (targetState, error) {
	st := targetState{Targets: map[string]savedTarget{}}
	if file == "" {
		return st, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read watch state: %w", err)
	}
	if err := jsonfile.Unmarshal(file, b, &st); err != nil {
		return targetState{}, fmt.Errorf("parse watch state: %w", err)
	}
	if err := st.validate(); err != nil {
		return targetState{}, fmt.Errorf("watch state %s: %w", file, err)
	}
	if st.Targets == nil {
		st.Targets = map[string]savedTarget{}
	}
	return st, nil
}

// validate refuses a state that names no environment, ref or commit where
// one is due: the watcher would take it for the last target it emitted.
func (st targetState) validate() error {
	for env, t := range st.Targets {
		switch {
		case env == "":
			return errors.New("a target without an environment")
		case t.Commit.IsZero():
			return fmt.Errorf("environment %q: a target without a commit", env)
		}
		if err := checkRefName(plumbing.ReferenceName(t.Ref)); err != nil {
			return fmt.Errorf("environment %q: %w", env, err)
		}
	}
	return nil
}

// save writes the state atomically: temp file, fsync, rename.
func (st targetState) save(file string) error {
	if file == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".watch-state-*")
	if err != nil {
		return fmt.Errorf("save watch state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save watch state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save watch state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save watch state: %w", err)
	}
	return os.Rename(tmp.Name(), file)
}

func (s savedTarget) target(env string) Target {
	return Target{Env: env, Ref: s.Ref, Commit: s.Commit}
}

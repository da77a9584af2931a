package envbuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ferry-deploy/ferry/internal/jsonfile"
)

// journal is what a create remembers between runs, in
// <state_dir>/envs/<env>/create.json: the run's id (the client tokens of its
// launches), the commit whose migrations it ran, and whether it finished. A
// create that finds its journal unfinished takes up the work; a finished
// one, or none, with servers of the environment still running, means an
// earlier environment of that name.
type journal struct {
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	// Migrated is the groups' first commit once its migrations ran: a
	// create taken up again does not run them twice.
	Migrated string    `json:"migrated,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
	// SecretsStale: a run of this create changed secrets in SSM after
	// servers of an earlier run had started; they are handed the new
	// values before the create finishes.
	SecretsStale bool `json:"secrets_stale,omitempty"`
}

func journalPath(stateDir, env string) string {
	return filepath.Join(stateDir, "envs", env, "create.json")
}

// readJournal returns the journal, or nil when there is none.
func readJournal(path string) (*journal, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read create journal: %w", err)
	}
	var j journal
	if err := jsonfile.Unmarshal(path, b, &j); err != nil {
		return nil, fmt.Errorf("create journal %w; if no create of the environment is under way, remove the file", err)
	}
	// The id names the create's launches (their client tokens): taking up
	// the work under another id would launch its servers twice.
	switch {
	case j.ID == "" || strings.ContainsAny(j.ID, " \t\r\n"):
		return nil, fmt.Errorf("create journal %s: no create id (or one with white space): %q", path, j.ID)
	case j.Started.IsZero():
		return nil, fmt.Errorf("create journal %s: no start time", path)
	case !j.Finished.IsZero() && j.Finished.Before(j.Started):
		return nil, fmt.Errorf("create journal %s: finished (%s) before it started (%s)", path, j.Finished.Format(time.RFC3339), j.Started.Format(time.RFC3339))
	}
	return &j, nil
}

// write replaces the journal atomically and durably: a crash leaves the
// old journal or the new one, never an empty or torn file.
func (j *journal) write(path string) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create journal: %w", err)
	}
	if err := renameio.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("create journal: %w", err)
	}
	return nil
}

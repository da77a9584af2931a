package bake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ferry-deploy/ferry/internal/jsonfile"
	"github.com/ferry-deploy/ferry/pkg/commit"
)

// Phase is how far a bake got.
type Phase string

// The phases of a bake, in order; each is journaled before it acts.
const (
	PhasePrepare   Phase = "prepare"   // the build hook rendered, the base image found
	PhaseLaunch    Phase = "launch"    // RunInstances of the builder
	PhaseBoot      Phase = "boot"      // running, taking SSH logins
	PhaseProvision Phase = "provision" // the groups' role recipes (Baker.Provision)
	PhaseDeliver   Phase = "deliver"   // the commit's tree into /srv/app/releases/<sha>
	PhaseBuild     Phase = "build"     // the roles' build hooks
	PhaseClean     Phase = "clean"     // what an image must not carry
	PhaseImage     Phase = "image"     // CreateImage, until available
	PhaseTag       Phase = "tag"       // the image tagged with its commit
	PhaseDone      Phase = "done"      // builder terminated
)

// Outcomes of a finished bake.
const (
	OutcomeBaked  = "baked"
	OutcomeFailed = "bake-failed"
)

// recordVersion changes when Record's form does.
const recordVersion = 1

// Record is a bake's journal: written before each phase acts, so that a
// restarted agent knows what to remove. The last bake's record stays (its
// outcome and reason) until the next bake of the environment.
type Record struct {
	Version int       `json:"version"`
	ID      string    `json:"id"`
	Env     string    `json:"env"`
	Commit  commit.ID `json:"commit"`
	Started time.Time `json:"started"`
	Phase   Phase     `json:"phase"`
	// Builder is the builder instance's id, once RunInstances answered.
	Builder string `json:"builder,omitempty"`
	// Image is the image's id, once CreateImage answered.
	Image string `json:"image,omitempty"`
	// Log is the builder's log file.
	Log string `json:"log,omitempty"`
	// Cache is the earlier baked image the builder started from
	// (images.cache), empty when it started from the base image.
	Cache string `json:"cache,omitempty"`

	Finished bool   `json:"finished"`
	Outcome  string `json:"outcome,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// CleanedUp is true once a failed bake's builder and image are gone.
	CleanedUp bool `json:"cleaned_up,omitempty"`
}

// Store keeps one bake record per environment in a directory (the
// project's state dir).
type Store struct{ Dir string }

func (s Store) path(env string) string { return filepath.Join(s.Dir, "bake-"+env+".json") }

// Save writes rec atomically.
func (s Store) Save(rec *Record) error {
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return fmt.Errorf("bake journal: %w", err)
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("bake journal: %w", err)
	}
	if err := renameio.WriteFile(s.path(rec.Env), data, 0o640); err != nil {
		return fmt.Errorf("bake journal: %w", err)
	}
	return nil
}

// Load returns the environment's last bake record, or nil.
func (s Store) Load(env string) (*Record, error) {
	data, err := os.ReadFile(s.path(env))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bake journal: %w", err)
	}
	var rec Record
	if err := jsonfile.Unmarshal(s.path(env), data, &rec); err != nil {
		return nil, fmt.Errorf("bake journal %w; remove the builder and image tagged %s=%s by hand, then the file", err, "ferry:env", env)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("bake journal %s: version %d, this Ferry reads %d", s.path(env), rec.Version, recordVersion)
	}
	if err := rec.check(env); err != nil {
		return nil, fmt.Errorf("bake journal %s: %w; remove the builder and image tagged %s=%s by hand, then the file", s.path(env), err, "ferry:env", env)
	}
	return &rec, nil
}

// phases are the known phases, in order.
var phases = []Phase{PhasePrepare, PhaseLaunch, PhaseBoot, PhaseProvision, PhaseDeliver, PhaseBuild, PhaseClean, PhaseImage, PhaseTag, PhaseDone}

// check refuses a record a recovery could not act on safely: it finds the
// builders and images to remove by the record's commit, and saves the
// outcome under the record's environment, so neither may be missing or
// another's.
func (r *Record) check(env string) error {
	switch {
	case r.Env != env:
		return fmt.Errorf("the record is of environment %q", r.Env)
	case r.ID == "":
		return errors.New("no bake id")
	case r.Commit.IsZero():
		return errors.New("no commit")
	case r.Started.IsZero():
		return errors.New("no start time")
	case r.Phase != "" && !slices.Contains(phases, r.Phase):
		return fmt.Errorf("unknown phase %q", r.Phase)
	case r.Finished && r.Outcome != OutcomeBaked && r.Outcome != OutcomeFailed:
		return fmt.Errorf("finished with outcome %q, want %q or %q", r.Outcome, OutcomeBaked, OutcomeFailed)
	case !r.Finished && r.Outcome != "":
		return fmt.Errorf("outcome %q of a bake not finished", r.Outcome)
	}
	return nil
}

package execute

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/plan"
)

// journalVersion changes when the journal's form does. Version 2 holds a
// plan of schema version 2 (typed steps); Load also reads version 1, whose
// plan pkg/plan converts, so an agent upgraded mid-deploy recovers it. An
// earlier Ferry refuses version 2 rather than misread its steps.
const journalVersion = 2

// journalVersionV1 is the journal an earlier Ferry wrote: the same fields,
// with a plan of schema version 1.
const journalVersionV1 = 1

// Journal is a deploy's record on disk: the plan, what the groups looked
// like before, what Ferry changed, and how far it got. It is everything a
// restarted agent needs to roll back or finish.
type Journal struct {
	Version  int        `json:"version"`
	DeployID string     `json:"deploy_id"`
	Plan     *plan.Plan `json:"plan"`
	Started  time.Time  `json:"started"`
	// Next is the index of the first step not yet completed.
	Next int `json:"next"`
	// PastNoReturn is set as Next reaches the step the plan marks
	// NoReturn (before a full deploy terminates the first old instance,
	// once a serial deploy's last batch is replaced): from then on a
	// failure finishes forward instead of rolling back.
	PastNoReturn bool `json:"past_no_return"`
	// Before holds each group as it was before the deploy changed it.
	Before map[string]GroupSnapshot `json:"before"`
	// Suspended lists, per group, the processes Ferry suspended and has
	// not resumed yet.
	Suspended map[string][]string `json:"suspended"`
	// Detached lists, per group, the instances Ferry asked the group to
	// detach and has not terminated yet. They are recorded before the
	// DetachInstances call: a detached instance belongs to no group, so
	// only this record keeps a crash between detaching and terminating
	// from leaving it running.
	Detached map[string][]string `json:"detached,omitempty"`
	// PageOn is true while the upgrade page may be showing.
	PageOn bool `json:"page_on"`
	// Sources holds, per group, the launch source new instances start from.
	Sources map[string]Source `json:"sources"`
	// Image is the image bake-image baked (or found) for the target, which
	// prepare-launch-source's new sources name.
	Image string `json:"image,omitempty"`
	// Finished is set when the deploy reached an outcome.
	Finished bool `json:"finished"`
}

// moveTo makes step i the next to run, and records the point of no return
// as it is reached: in the same write as the completion of the step before
// it, so that no crash falls between them.
func (j *Journal) moveTo(i int) {
	j.Next = i
	if i < len(j.Plan.Steps) && j.Plan.Steps[i].NoReturn {
		j.PastNoReturn = true
	}
}

// GroupSnapshot is what a rollback restores.
type GroupSnapshot struct {
	MinSize             int                      `json:"min_size"`
	MaxSize             int                      `json:"max_size"`
	DesiredCapacity     int                      `json:"desired_capacity"`
	LaunchConfiguration string                   `json:"launch_configuration,omitempty"`
	LaunchTemplate      *cloud.LaunchTemplateRef `json:"launch_template,omitempty"`
	TerminationPolicies []string                 `json:"termination_policies"`
	CommitTag           string                   `json:"commit_tag"`
	Instances           []string                 `json:"instances"`
}

// Source is a launch source Ferry created or found.
type Source struct {
	LaunchConfiguration string                   `json:"launch_configuration,omitempty"`
	LaunchTemplate      *cloud.LaunchTemplateRef `json:"launch_template,omitempty"`
}

// JournalStore keeps one journal per environment in a directory.
type JournalStore struct {
	Dir string
}

func (s JournalStore) path(env string) string {
	return filepath.Join(s.Dir, "journal-"+env+".json")
}

// Save writes j atomically: a crash leaves the old journal or the new one,
// never a torn file.
func (s JournalStore) Save(j *Journal) error {
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := renameio.WriteFile(s.path(j.Plan.Environment), data, 0o640); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Load returns the environment's journal, or nil when there is none. A
// journal it cannot read, or whose plan is not valid, is an error that
// says what to do; the file is left as it is.
func (s JournalStore) Load(env string) (*Journal, error) {
	data, err := os.ReadFile(s.path(env))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	// The version first: a journal of another version may not decode.
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, s.unusable(env, err)
	}
	if head.Version != journalVersion && head.Version != journalVersionV1 {
		return nil, s.unusable(env, fmt.Errorf("version %d, this Ferry reads %d and %d", head.Version, journalVersionV1, journalVersion))
	}
	var j Journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, s.unusable(env, err)
	}
	if j.Plan == nil {
		return nil, s.unusable(env, errors.New("no plan"))
	}
	// Recovery acts on the groups the plan names, under env's lock: a plan
	// of another environment (a file copied or renamed by hand) must not
	// put that environment's groups back.
	if j.Plan.Environment != env {
		return nil, s.unusable(env, fmt.Errorf("the plan is of environment %q", j.Plan.Environment))
	}
	// Nothing acts on a plan this Ferry cannot carry out: the journal
	// stays, and blocks the environment, until a person acts.
	if err := j.Plan.Validate(); err != nil {
		return nil, s.unusable(env, fmt.Errorf("deploy %s: %w", j.DeployID, err))
	}
	j.Version = journalVersion // its plan was read into this version's form
	return &j, nil
}

// unusable says what to do about a journal this Ferry cannot act on. It
// is left in place: it is the only record of what to restore.
func (s JournalStore) unusable(env string, err error) error {
	return fmt.Errorf("journal %s: %w; recover the deploy with the Ferry that wrote it, or put the groups back by hand (docs/deploy.md, \"The journal\") and remove the file",
		s.path(env), err)
}

// Remove deletes the environment's journal once its deploy is finished.
func (s JournalStore) Remove(env string) error {
	err := os.Remove(s.path(env))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

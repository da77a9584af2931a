package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
)

// Repo is what the planner reads from git: pkg/agent.Repo implements it
// over the watch mirror. Given a commit the repository does not hold, each
// method returns an error that is an *UnknownCommitError naming it.
type Repo interface {
	// ReadFile returns a file's content at a commit; a missing file
	// wraps fs.ErrNotExist.
	ReadFile(ctx context.Context, c commit.ID, path string) ([]byte, error)
	// ChangedPaths lists the paths that differ between two commits.
	ChangedPaths(ctx context.Context, from, to commit.ID) ([]string, error)
	// CommitMessages returns the messages of the commits reachable from
	// to but not from from (git log from..to).
	CommitMessages(ctx context.Context, from, to commit.ID) (map[commit.ID]string, error)
	// IsAncestor reports whether ancestor is reachable from descendant.
	IsAncestor(ctx context.Context, ancestor, descendant commit.ID) (bool, error)
}

// ErrUnknownCommit matches every *UnknownCommitError (errors.Is).
var ErrUnknownCommit = errors.New("commit not in the repository")

// UnknownCommitError is a Repo's answer about a commit it does not hold:
// one never fetched, or gone from the remote's history (force-pushed away).
type UnknownCommitError struct {
	Commit commit.ID
}

func (e *UnknownCommitError) Error() string {
	return fmt.Sprintf("commit %s is not in the repository", e.Commit)
}

// Is makes errors.Is(err, ErrUnknownCommit) true.
func (e *UnknownCommitError) Is(target error) bool { return target == ErrUnknownCommit }

// Cloud is what the planner reads from AWS: pkg/cloud implements it.
type Cloud interface {
	GroupReader
	Draining(ctx context.Context, classic, targetGroups []string) ([]cloud.Draining, error)
	// ImagesTagged finds the commit's baked image (launch.image = "bake").
	ImagesTagged(ctx context.Context, tags map[string]string) ([]cloud.Image, error)
}

var _ Cloud = (*cloud.Client)(nil)

// GroupReader reads a group and the launch template version it names:
// all that Deployed needs.
type GroupReader interface {
	Group(ctx context.Context, name string, classic, targetGroups []string) (*cloud.Group, error)
	LaunchTemplateVersion(ctx context.Context, ref cloud.LaunchTemplateRef) (*cloud.LaunchTemplateVersion, error)
}

// Input is what a plan is made from.
type Input struct {
	Project         string
	SchemaMarker    string
	FullDeployGlobs []string
	Env             *config.Environment
	// Target is the commit to deploy (full SHA) and the ref it came from.
	Target Revision
	// Method, when set, is the method asked for (ferry deploy --method):
	// full may be asked for a serial change; serial for a change that
	// needs full is refused.
	Method Method
	// Redeploy deploys the target even when it is the deployed commit:
	// new instances from a new launch source (a new base image, a changed
	// [launch] setting, an instance that lost its configuration). Serial
	// unless Method asks for full.
	Redeploy bool
	// AllowRollback permits a target that is an ancestor of the deployed
	// commit.
	AllowRollback bool
	// LaunchSource names a launch configuration or launch template version
	// description prepared ahead of time (ferry prepare); empty creates one.
	LaunchSource string
	// Now names a new launch source.
	Now time.Time
}

// RefusedError is a plan that must not be carried out, with every reason.
type RefusedError struct {
	Environment string
	Reasons     []string
}

func (e *RefusedError) Error() string {
	// Worded for ferry plan as much as for a deploy: a plan is refused
	// before anything is deployed.
	if len(e.Reasons) == 1 {
		return fmt.Sprintf("%s cannot be deployed (refused): %s", e.Environment, e.Reasons[0])
	}
	return fmt.Sprintf("%s cannot be deployed (refused):\n  - %s", e.Environment, strings.Join(e.Reasons, "\n  - "))
}

// IsRefused reports whether err is a refusal (a permanent verdict on this
// target, as opposed to a failure to read state).
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

package execute

import (
	"context"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// Cloud is what a deploy changes and reads in AWS; pkg/cloud implements it.
type Cloud interface {
	Group(ctx context.Context, name string, classic, targetGroups []string) (*cloud.Group, error)
	SuspendProcesses(ctx context.Context, group string, processes []string) error
	ResumeProcesses(ctx context.Context, group string, processes []string) error
	UpdateGroup(ctx context.Context, group string, u cloud.GroupUpdate) error
	TagGroup(ctx context.Context, group string, tags map[string]string) error
	TerminateInstance(ctx context.Context, id string, decrement bool) error
	DetachInstances(ctx context.Context, group string, ids []string, decrement bool) error
	TerminateInstances(ctx context.Context, ids []string) error
	Register(ctx context.Context, classic, targetGroups, ids []string) error
	Deregister(ctx context.Context, classic, targetGroups, ids []string) error
	CreateLaunchTemplateVersion(ctx context.Context, from cloud.LaunchTemplateRef, desc string, o cloud.LaunchOverrides) (cloud.LaunchTemplateRef, error)
	FindLaunchTemplateVersion(ctx context.Context, template cloud.LaunchTemplateRef, desc string) (cloud.LaunchTemplateRef, error)
	CreateLaunchConfiguration(ctx context.Context, from, name string, o cloud.LaunchOverrides) error
	LaunchConfigurationExists(ctx context.Context, name string) (bool, error)
}

var _ Cloud = (*cloud.Client)(nil)

// Baker returns the image baked for a commit, baking it unless it exists
// (pkg/bake's Baker through pkg/agent). A failed bake has removed what it
// started and changed nothing of the environment.
type Baker interface {
	Bake(ctx context.Context, c commit.ID) (image string, err error)
}

// Hooks runs a role's commands for a deploy hook on instances; pkg/remote
// (over SSH) implements it. RunHook must bound every command it runs with
// the environment's policy.timeouts.command, and every connection it makes:
// the executor does not bound a hook as a whole, since a hook runs several
// commands in a row, each entitled to the whole timeout.
type Hooks interface {
	RunHook(ctx context.Context, run HookRun) error
}

// HookRun is one hook on a set of hosts.
type HookRun struct {
	DeployID string
	Env      string
	Commit   commit.ID
	Role     roles.Role
	Hook     roles.Hook
	Hosts    []Host
}

// Host is an instance a hook runs on.
type Host struct {
	InstanceID string
	Address    string
}

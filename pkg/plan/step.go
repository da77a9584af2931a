package plan

import (
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// StepName identifies what a step does; pkg/execute has one handler each.
type StepName string

const (
	StepBakeImage           StepName = "bake-image"
	StepPrepareLaunchSource StepName = "prepare-launch-source"
	StepSuspendProcesses    StepName = "suspend-processes"
	StepInstallLaunchSource StepName = "install-launch-source"
	StepRaiseCapacity       StepName = "raise-capacity"
	StepWaitInService       StepName = "wait-in-service"
	StepUpgradePageOn       StepName = "upgrade-page-on"
	StepWorkerDeploy        StepName = "worker-deploy"
	StepResumeProcesses     StepName = "resume-processes"
	StepRegisterInstances   StepName = "register-instances"
	StepWaitHealthy         StepName = "wait-healthy"
	StepTerminateOld        StepName = "terminate-old"
	StepUpgradePageOff      StepName = "upgrade-page-off"
	StepRestoreCapacity     StepName = "restore-capacity"
	StepReplaceBatch        StepName = "replace-batch"
	StepPostDeploy          StepName = "post-deploy"
)

// Step is one ordered action of the deploy. Name says what it does; the
// fields its kind acts on are set and the others are zero (Plan.Validate
// checks which each kind needs). pkg/execute reads the fields as they are:
// nothing in a step is text to parse again.
type Step struct {
	Name StepName `json:"name"`
	// Group is the Auto Scaling group the step changes or waits on; empty
	// for the steps that span the environment (prepare-launch-source, the
	// hooks).
	Group string `json:"group,omitempty"`

	// LaunchSource is the launch source prepare-launch-source makes (or
	// finds) and install-launch-source installs; Commit is the commit it
	// runs, which install-launch-source also tags the group with, and the
	// commit bake-image bakes.
	LaunchSource *LaunchSource `json:"launch_source,omitempty"`
	Commit       commit.ID     `json:"commit,omitzero"`
	// Image is the image prepare-launch-source's new source names: the
	// commit's baked image when it existed as the plan was made. Empty
	// when bake-image makes it, or the environment does not bake.
	Image string `json:"image,omitempty"`
	// Processes are the Auto Scaling processes suspend-processes and
	// resume-processes act on.
	Processes []string `json:"processes,omitempty"`
	// Sizes is what raise-capacity and restore-capacity set.
	Sizes *Sizes `json:"sizes,omitempty"`
	// Count is how many new instances wait-in-service waits for to be
	// InService, and wait-healthy to be healthy in every balancer.
	Count int `json:"count,omitempty"`
	// Instances are the old instances terminate-old and replace-batch
	// remove, by id, oldest first. A surged replace-batch removes as many,
	// but picks which of the group's old instances by the zones its new
	// ones landed in, so the group ends zone-balanced.
	Instances []string `json:"instances,omitempty"`
	// Mode is how replace-batch replaces them: config.SerialSurge or
	// config.SerialReplaceUnhealthy.
	Mode string `json:"mode,omitempty"`
	// Timeout bounds the wait of wait-in-service, wait-healthy,
	// terminate-old (until the old instances are gone) and replace-batch,
	// and each of bake-image's waits (builder, image).
	Timeout config.Duration `json:"timeout,omitempty"`
	// Role is the role whose hook upgrade-page-on, upgrade-page-off and
	// worker-deploy run.
	Role roles.Role `json:"role,omitempty"`

	// Hosts (the hook steps), Balancers (register-instances) and On
	// (post-deploy) say where a step acts, for people. pkg/execute finds
	// the instances as the step runs (new ones exist only then) and the
	// balancers in the environment.
	Hosts     string   `json:"hosts,omitempty"`
	Balancers []string `json:"balancers,omitempty"`
	On        string   `json:"on,omitempty"`

	Reason string `json:"reason"`
	// NoReturn marks the deploy's point of no return: from this step on,
	// the old version is gone (or every instance runs the new one) and a
	// failure finishes the deploy forward instead of rolling it back.
	// pkg/execute records it in its journal with the completion of the
	// step before. At most one step has it: a full deploy's first
	// terminate-old, or the step after a serial deploy's last replace-batch.
	NoReturn bool `json:"no_return,omitempty"`
}

// Sizes is what a capacity step sets on a group; a nil field is left as
// it is.
type Sizes struct {
	Desired *int `json:"desired,omitempty"`
	MinSize *int `json:"min_size,omitempty"`
	MaxSize *int `json:"max_size,omitempty"`
}

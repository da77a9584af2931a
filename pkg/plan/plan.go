package plan

import "github.com/ferry-deploy/ferry/pkg/commit"

// SchemaVersion is the version of the JSON form of a Plan. It changes only
// when a field changes meaning or disappears; new fields keep it. Version 2
// gave each step typed fields in place of version 1's string map, params;
// UnmarshalJSON still reads version 1 (a journal an earlier Ferry wrote).
const SchemaVersion = 2

// Method is how a deploy replaces instances.
type Method string

const (
	// Full brings up a complete new set of instances behind the upgrade
	// page, runs the worker's deploy step, then switches: downtime, but two
	// versions never serve at once.
	Full Method = "full"
	// Serial replaces instances a batch at a time while both versions
	// serve: no downtime, for backwards-compatible changes only.
	Serial Method = "serial"
)

// Action is what the plan concludes.
type Action string

const (
	// Deploy: the target differs from what is deployed.
	Deploy Action = "deploy"
	// NoOp: the target is already deployed and serving (and no redeploy
	// was asked for).
	NoOp Action = "noop"
)

// Rule names the rule that chose the method.
type Rule string

const (
	RuleUnknownDeployed Rule = "deployed-commit-unknown"
	RuleSchemaMarker    Rule = "schema-marker-changed"
	RuleGlob            Rule = "full-deploy-glob-matched"
	RuleTrailer         Rule = "commit-trailer"
	RuleRequested       Rule = "requested"
	RuleNoSchemaChange  Rule = "no-schema-change"
	RuleRedeploy        Rule = "redeploy"
)

// Plan is everything a deploy will do, decided before it starts.
type Plan struct {
	SchemaVersion int    `json:"schema_version"`
	Project       string `json:"project"`
	Environment   string `json:"environment"`
	Action        Action `json:"action"`

	Target   Revision `json:"target"`
	Deployed Revision `json:"deployed"`
	// TargetIsOlder is true when the target is an ancestor of the
	// deployed commit (allowed only when asked for: --allow-rollback).
	// This is a deploy of older code, not pkg/execute's rollback of a
	// failed deploy; the JSON name "rollback" is kept for compatibility.
	TargetIsOlder bool `json:"rollback"`

	Method Method `json:"method,omitempty"`
	// Reasons lists every rule that applied, the deciding one first.
	Reasons []Reason `json:"reasons,omitempty"`
	// Downtime is true for full deploys: the upgrade page is shown.
	Downtime bool `json:"downtime"`

	LaunchSource LaunchSource `json:"launch_source"`
	// Image is set when the environment bakes an image per commit
	// (launch.image = "bake") and the launch source is made by the deploy.
	Image    *ImagePlan  `json:"image,omitempty"`
	Groups   []GroupPlan `json:"groups"`
	Steps    []Step      `json:"steps"`
	Warnings []string    `json:"warnings,omitempty"`
	// Secrets compares the environment's secret sources with SSM, by
	// name only (`ferry plan`); nil when it has no secrets or the plan is
	// the agent's.
	Secrets *Secrets `json:"secrets,omitempty"`
}

// Secrets is what `ferry secrets push` would write before the deploy:
// names, never values.
type Secrets struct {
	// Path is the environment's SSM path, /<project>/<env>/.
	Path string `json:"path"`
	// Differ names the secrets new or changed in the sources.
	Differ []string `json:"differ"`
	// Unchanged counts the secrets SSM already holds as the sources do.
	Unchanged int `json:"unchanged"`
	// PushedByDeploy: policy.push_secrets, the deploy pushes them first.
	PushedByDeploy bool `json:"pushed_by_deploy"`
	// Error says why the sources and SSM could not be compared; the
	// plan stands without it.
	Error string `json:"error,omitempty"`
}

// Revision is a commit and the ref it came from.
type Revision struct {
	Commit commit.ID `json:"commit,omitzero"`
	Ref    string    `json:"ref,omitempty"`
	// Source says where the deployed commit was read from.
	Source string `json:"source,omitempty"`
}

// Reason is one rule's verdict, with what it saw.
type Reason struct {
	Rule   Rule   `json:"rule"`
	Method Method `json:"method"`
	Detail string `json:"detail"`
}

// LaunchSource is the launch template version or launch configuration the
// new instances start from.
type LaunchSource struct {
	Kind string `json:"kind"` // "template" or "configuration"
	// Name is the launch configuration's name, or the launch template
	// version's description; Template is the launch template's name.
	Name     string `json:"name"`
	Template string `json:"template,omitempty"`
	// Existing is true when the source was prepared ahead of time
	// (ferry prepare / --launch-config) and is reused.
	Existing bool `json:"existing"`
}

// ImagePlan is the image new instances start from when the environment
// bakes one per commit.
type ImagePlan struct {
	// ID is the commit's image when it exists already: it is reused,
	// never baked twice. Empty when the deploy bakes it (Bake).
	ID string `json:"id,omitempty"`
	// Bake is true when the deploy's first step, bake-image, makes it.
	Bake bool `json:"bake"`
	// BaseImage is what a bake's builder starts from (launch.base_image).
	BaseImage string `json:"base_image"`
}

// GroupPlan is what happens to one Auto Scaling group.
type GroupPlan struct {
	Role string `json:"role"`
	Name string `json:"name"`
	// Balanced is true when the group's instances serve behind the
	// environment's load balancers (the web role).
	Balanced bool     `json:"balanced"`
	Capacity Capacity `json:"capacity"`
	// Replace lists the instances the deploy terminates, oldest first.
	Replace []string `json:"replace"`
	// KeptSuspended lists the processes found suspended before the deploy
	// (by a person: ferry asg suspend) that the deploy leaves as found:
	// it neither suspends nor resumes them, rolling back included.
	KeptSuspended []string `json:"kept_suspended,omitempty"`
}

// Capacity is a group's sizes before, at the peak of, and after the deploy.
type Capacity struct {
	MinBefore     int `json:"min_before"`
	MaxBefore     int `json:"max_before"`
	DesiredBefore int `json:"desired_before"`
	// MaxDuring is raised above MaxBefore when the deploy needs room; it is
	// restored afterwards.
	MaxDuring     int `json:"max_during"`
	DesiredDuring int `json:"desired_during"`
	DesiredAfter  int `json:"desired_after"`
}

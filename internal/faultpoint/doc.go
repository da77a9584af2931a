// Package faultpoint lets a test kill Ferry at a chosen point of a deploy
// or a bake: before a step's (a bake phase's) journal record, after it, or
// after one of its AWS calls returned. The crash matrix (e2e, docs/reliability.md) builds
// the ferry binary with the build tag ferryfault and names the point in
// the environment (FERRY_FAULT); the process then sends itself SIGKILL
// there, as a power cut would.
//
// Without the tag, which is how Ferry ships, every function here is an
// empty stub the compiler removes: the shipped binary holds neither the
// hook nor the name of its variable (e2e's TestShippedBinaryHasNoFaultHook
// checks it). The package knows nothing of deploys; pkg/execute says
// which step runs, pkg/bake which phase, pkg/cloud when an AWS call
// returned.
package faultpoint

// Where is a point within a step.
type Where string

const (
	// BeforeRecord is after the step did its work, before the journal
	// records it done; in a bake, whose journal records each phase before
	// it acts, after the previous phase's work, before the journal names
	// this phase.
	BeforeRecord Where = "before-record"
	// AfterRecord is once the journal records the step done.
	AfterRecord Where = "after-record"
	// AfterCall is once one of the step's AWS calls that change
	// something returned (the first, or the Nth: "5:after-call:2").
	AfterCall Where = "after-call"
)

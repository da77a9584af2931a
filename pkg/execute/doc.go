// Package execute carries a plan out: full and serial deploys that never
// leave a group worse than they found it.
//
// It checks the plan (plan.Plan.Validate) before it changes anything, and
// acts on each step's typed fields as the plan set them. Each step is
// recorded in a journal in the state directory (fsync'd, atomically
// renamed) before the next begins, and a journal write that fails stops
// the deploy, so an agent that dies mid-deploy resumes from it: before the
// point of no return, which the plan marks (a full deploy terminating the
// old instances, a serial one's last batch replaced), the deploy is rolled
// back; after it, it is finished forward. Every wait is bounded by the
// environment's policy and reports progress. Every Auto Scaling process Ferry suspended is resumed on
// success, failure, rollback and interruption.
//
// The package knows nothing of git: it receives a plan and reports an
// outcome; the caller records the outcome as a note and a commit status.
package execute

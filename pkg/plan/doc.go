// Package plan decides what a deploy will do before anything changes: it
// reads what is deployed now (from the cloud, never from a local file),
// compares it with the target commit (from git), picks the method — full or
// serial — and says which rule decided it, runs the pre-flight checks, and
// lays the deploy out as ordered steps with the reason for each.
//
// A Plan is data. It renders as text for people (like `terraform plan`) and
// as JSON for scripts (schema in docs/plan-schema.md). pkg/execute carries
// it out; this package knows nothing of how.
package plan

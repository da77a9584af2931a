// Package plan decides what a deploy will do before anything changes: it
// reads what is deployed now (from the cloud, never from a local file),
// compares it with the target commit (from git), picks the method — full or
// serial — and says which rule decided it, runs the pre-flight checks, and
// lays the deploy out as ordered steps with the reason for each.
//
// A Plan is data. Each step holds, typed, what it acts on, and the plan
// marks its point of no return; it renders as text for people (like
// `terraform plan`) and as JSON for scripts (schema in docs/plan-schema.md)
// from those same fields. Validate checks a plan before it is carried out,
// and UnmarshalJSON also reads the first schema version, which journals of
// an earlier Ferry hold. pkg/execute carries it out; this package knows
// nothing of how.
package plan

// Package forge reports deploy outcomes as commit statuses on GitHub (and
// GitHub Enterprise), GitLab and Gitea/Forgejo.
//
// A [Reporter] sends one status synchronously: it fills the configured
// context and target URL, trims the description to the forge's limit, skips
// a status identical to the last one it sent for the same commit and
// context, and retries server errors and rate limits within a bounded
// number of attempts and total wait. The forge's refusals (bad token,
// unknown repository, invalid status) come back as [*APIError] wrapping
// [ErrRejected]; an unreachable or overloaded forge as [ErrUnavailable].
//
// A [Queue] puts an asynchronous front on a Reporter, so that a forge that
// is down never blocks or fails a deploy: [Queue.Set] returns at once, the
// newest status for each commit and context wins, and [Queue.Run] delivers
// them in order once the forge answers again (through [Reporter.Send], one
// attempt at a time, so that a retry always carries the newest status),
// dropping what has waited too long, with a log line and a count in
// [Counters].
//
// The token is read once from a file or an environment variable; it is
// never logged, never part of an error and never printed with a Reporter.
package forge

// Package watch keeps a persistent bare mirror of a project's git repository
// and works out, from branch and tag rules, which commit each environment
// should run. It polls on an interval or a cron schedule (or at once on a
// verified webhook), lists the remote's refs first and fetches only the refs
// that moved, and emits a Target when an environment's wanted commit
// changes. It knows nothing of AWS.
package watch

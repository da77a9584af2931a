// Package status records the outcome of each deploy attempt where people and
// other agents can read it: a git note on the deployed commit under
// refs/notes/ferry, pushed back to the remote with a compare-and-swap so no
// agent's record is ever dropped. It writes notes with go-git's plumbing (go-git
// has no notes API) and reads both the flat and the fan-out layouts that
// `git notes` produces. It knows nothing of AWS.
package status

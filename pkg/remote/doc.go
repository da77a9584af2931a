// Package remote runs commands on instances over SSH: the hook commands of
// package roles (the "upgrade in progress" page, the worker's migrations).
//
// Every connection checks the host key against a known_hosts file. With
// trust on first use an unknown host's key is recorded there; a key that
// differs from the recorded one is always refused, and there is no way to
// skip the check. Each command's output goes line by line into a log file of
// its own server (<state>/logs/<env>/<deploy-id>/<role>-<instance>.log), and
// the agent's log gets a summary: which command ran where, how it ended, and
// the last lines when it failed. Values passed in Command.Env or
// Command.Stdin are never written anywhere.
//
// Errors are typed: *ExitError (the command ran and failed: permanent),
// *TimeoutError and *DialError (transient), *HostKeyError and *AuthError
// (permanent: fix known_hosts or the credentials). IsTransient tells them
// apart for a caller deciding whether to retry.
//
// This is the only Ferry package that imports golang.org/x/crypto/ssh.
package remote

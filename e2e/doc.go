// Package e2e holds end-to-end tests that drive the built ferry binary as
// an operator would: the AWS simulator runs as its own process
// (`ferry sim --state FILE`), the project's git remote is a bare repository
// pushed to with the git CLI, and every `ferry deploy` is a separate
// process that the tests may kill with SIGKILL mid-deploy.
//
// The tests build the binary once per `go test` run (see ferryBinary) and
// need only Go and git.
package e2e

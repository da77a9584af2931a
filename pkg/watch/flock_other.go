//go:build !unix

package watch

// flock is a no-op where flock(2) does not exist: one process per mirror.
func flock(string) (func(), error) { return func() {}, nil }

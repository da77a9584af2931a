//go:build !unix

package remote

// lockFile is a no-op where flock does not exist: Ferry runs on Linux, and
// within one process hostKeys' mutex still serialises records.
func lockFile(string) (func(), error) { return func() {}, nil }

//go:build unix

package remote

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockFile takes an exclusive flock on path, creating it, and returns the
// function that releases it. flock is released by the kernel if the process
// dies, so a crash never leaves known_hosts locked.
func lockFile(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

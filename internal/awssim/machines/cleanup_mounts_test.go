package machines

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIsHostName(t *testing.T) {
	for name, want := range map[string]bool{
		"ferry-10c67d04":    true,
		"ferry-10C67D04":    false,
		"ferry-10c67d0":     false,
		"ferry-10c67d045":   false,
		"ferry-1234567g":    false,
		"ferrx-10c67d04":    false,
		"i-0a000000000000e": false,
	} {
		if got := isHostName(name); got != want {
			t.Errorf("isHostName(%q) = %v, want %v", name, got, want)
		}
	}
}

// A Host killed with its state dir elsewhere (a test's temporary
// directory), whose namespace and run directory are already gone, leaves
// only its machines' roots mounted: the next start finds them by the
// Host's name in their path and detaches them.
func TestCleanupStaleUnmountsRootsOfAnotherStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	name := Prefix + randomHex(4)
	root := filepath.Join(t.TempDir(), name, "i-0a0000000000000001", "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(root, unix.MNT_DETACH) })
	if err := CleanupStale(context.Background(), t.TempDir(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("CleanupStale: %v", err)
	}
	if mps, err := mountsOf(name); err != nil || len(mps) != 0 {
		t.Errorf("after CleanupStale, mounts of %s: %v %v, want none", name, mps, err)
	}
}

package machines

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// TestRemoveOrphans: the transient layers of a Host that is gone (killed:
// its lock file free; or closed: none) are deleted, a child before its
// parent; the base image, a layer no Host owns (a state file's image), a
// live Host's layers and a gone Host's layer a machine still runs on stay.
func TestRemoveOrphans(t *testing.T) {
	if os.Geteuid() != 0 { // the Hosts' locks are in /run/ferry
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root and CI=true: run .ci/run as root")
		}
		t.Skip("needs root")
	}
	s, err := OpenStore(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	killed, closed, live := Prefix+randomHex(4), Prefix+randomHex(4), Prefix+randomHex(4)
	// killed's lock file is left, free; closed's is gone; live's is held.
	for _, name := range []string{killed, live} {
		path := filepath.Join(lockDir, name+".lock")
		t.Cleanup(func() { os.Remove(path) })
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	held := flock.New(filepath.Join(lockDir, live+".lock"))
	if ok, err := held.TryLock(); err != nil || !ok {
		t.Fatalf("lock %s: %v", live, err)
	}
	defer held.Unlock()

	layer := func(id, parent, host string) {
		t.Helper()
		tmp, err := s.newTemp(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.commit(tmp, Layer{ID: id, Parent: parent, Host: host, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	layer("base-bookworm-0123456789abcdef", "", "")
	layer(killed+"-ami-1", "base-bookworm-0123456789abcdef", killed)
	layer(killed+"-ami-2", killed+"-ami-1", killed) // an image of an instance of ami-1
	layer(closed+"-ami-1", "base-bookworm-0123456789abcdef", closed)
	layer(closed+"-ami-2", "base-bookworm-0123456789abcdef", closed)
	layer(live+"-ami-1", "base-bookworm-0123456789abcdef", live)
	layer("ferry-00000000-ami-1", "base-bookworm-0123456789abcdef", "") // a state file's
	layer("snap-1", "base-bookworm-0123456789abcdef", "not-a-host")
	// A machine (of another Host) still runs on closed's ami-2.
	running, err := s.Acquire(closed + "-ami-2")
	if err != nil {
		t.Fatal(err)
	}

	if err := s.removeOrphans(); err != nil {
		t.Fatal(err)
	}
	want := []string{"base-bookworm-0123456789abcdef", closed + "-ami-2", live + "-ami-1", "ferry-00000000-ami-1", "snap-1"}
	if got := layerIDs(t, s); !slices.Equal(got, sorted(want)) {
		t.Errorf("layers left %v, want %v", got, sorted(want))
	}

	// Once that machine is gone, the next Open's pass deletes the layer.
	running.Release()
	if err := s.removeOrphans(); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == closed+"-ami-2" })
	if got := layerIDs(t, s); !slices.Equal(got, sorted(want)) {
		t.Errorf("layers left %v, want %v", got, sorted(want))
	}
}

func layerIDs(t *testing.T, s *Store) []string {
	t.Helper()
	ls, err := s.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return sorted(ids)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

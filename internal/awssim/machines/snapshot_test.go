package machines_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

func TestSnapshotBootsAnotherMachineWithTheFiles(t *testing.T) {
	h := openHost(t)
	store, base := baseImage(t)
	key := newKeyPair(t)
	first := bootRunning(t, h, machines.Spec{Name: "i-0first", Image: base.ID, AuthorizedKeys: []string{key.authorized}})
	// A file written and a file of the base image deleted: the new image
	// has the one and still lacks the other (overlayfs's whiteout).
	sshRun(t, h, first, key, "echo made on the first machine | sudo tee /etc/ferry-snapshot-test >/dev/null && sudo rm /var/www/html/index.nginx-debian.html && sync")
	firstConsole, err := first.Console()
	if err != nil {
		t.Fatal(err)
	}
	layer, err := first.Snapshot(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if layer.Parent != base.ID || layer.From != first.Name() {
		t.Errorf("snapshot layer = %+v, want parent %s from %s", layer, base.ID, first.Name())
	}
	if err := first.PowerOff(t.Context()); err != nil {
		t.Fatal(err)
	}

	second := bootRunning(t, h, machines.Spec{Name: "i-0second", Image: layer.ID, AuthorizedKeys: []string{key.authorized}})
	out := sshRun(t, h, second, key, "cat /etc/ferry-snapshot-test; test -e /var/www/html/index.nginx-debian.html || echo still deleted; hostname")
	want := "made on the first machine\nstill deleted\nip-" + dashed(second.Address().String()) + "\n"
	if out != want {
		t.Errorf("on the second machine: %q, want %q", out, want)
	}
	secondConsole, err := second.Console()
	if err != nil {
		t.Fatal(err)
	}
	a, b := machines.ParseHostKeys(firstConsole), machines.ParseHostKeys(secondConsole)
	for _, k := range b.Keys {
		if slices.Contains(a.Keys, k) {
			t.Errorf("the second machine has the first one's host key %s: host keys must be per machine", k)
		}
	}

	t.Run("layers in use are kept", func(t *testing.T) {
		tests := []struct {
			layer string
			want  error
		}{
			{layer.ID, machines.ErrLayerInUse},
			{base.ID, machines.ErrLayerHasChildren},
			{"snap-none", machines.ErrNoLayer},
		}
		for _, tt := range tests {
			if err := store.Delete(tt.layer); !errors.Is(err, tt.want) {
				t.Errorf("Delete(%s) = %v, want %v", tt.layer, err, tt.want)
			}
		}
	})

	t.Run("a layer no machine uses is deleted", func(t *testing.T) {
		if err := second.PowerOff(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := store.Delete(layer.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Layer(layer.ID); !errors.Is(err, machines.ErrNoLayer) {
			t.Errorf("Layer after Delete = %v, want ErrNoLayer", err)
		}
	})
}

// A machine's root may turn any directory into a symlink to a path that
// exists on the host too; snapshots and the next machine's instance files
// must resolve it inside the machine, never on the host.
func TestSymlinksInAnImageStayInside(t *testing.T) {
	h := openHost(t)
	store, base := baseImage(t)
	key := newKeyPair(t)
	canaryDir := t.TempDir() // on the host
	canary := filepath.Join(canaryDir, "90-ferry-datasource.cfg")
	if err := os.WriteFile(canary, []byte("canary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first := bootRunning(t, h, machines.Spec{Name: "i-0links", Image: base.ID, AuthorizedKeys: []string{key.authorized}})
	sshRun(t, h, first, key, "sudo rm -rf /etc/cloud/cloud.cfg.d && sudo ln -s "+canaryDir+" /etc/cloud/cloud.cfg.d && sudo ln -sf "+canary+" /etc/hosts && sync")
	layer, err := first.Snapshot(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Delete(layer.ID) })
	if err := first.PowerOff(t.Context()); err != nil {
		t.Fatal(err)
	}
	second, err := h.Boot(t.Context(), machines.Spec{Name: "i-0links2", Image: layer.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.PowerOff(t.Context()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(canaryDir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(canary); err != nil || string(b) != "canary\n" || len(entries) != 1 {
		t.Errorf("host directory %s was written through a machine's symlink: %v, %q, %d entries", canaryDir, err, b, len(entries))
	}
}

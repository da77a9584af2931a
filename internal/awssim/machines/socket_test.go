package machines_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

// TestLongStateDirBoots boots a machine whose state directory is longer
// than a unix socket's path may be (107 bytes): its sockets live under
// /run/ferry/NAME/, which Close removes.
func TestLongStateDirBoots(t *testing.T) {
	_, base := baseImage(t)
	state := filepath.Join(t.TempDir(), strings.Repeat("a-long-state-directory-", 5))
	if len(state) <= 107 {
		t.Fatalf("state dir %q is not longer than a socket path may be", state)
	}
	h, err := machines.Open(t.Context(), machines.Options{StateDir: state, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join("/run/ferry", h.Network().Name())
	m, err := h.Boot(t.Context(), machines.Spec{Name: "i-0longstatedir", Image: base.ID})
	if err != nil {
		h.Close(context.Background())
		t.Fatal(err)
	}
	if err := m.WaitRunning(t.Context()); err != nil {
		t.Error(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("close host: %v", err)
	}
	if _, err := os.Stat(run); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run directory %s left after Close: %v", run, err)
	}
}

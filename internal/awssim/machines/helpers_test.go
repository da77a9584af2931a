package machines_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
	"github.com/ferry-deploy/ferry/internal/testlog"
	"github.com/ferry-deploy/ferry/internal/testutil"
)

// requireMachines skips a test that boots machines where it cannot (not
// root, tools missing) and fails it under CI, which has them all.
func requireMachines(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	for _, tool := range []string{"debootstrap", "systemd-nspawn", "nsenter", "chroot", "ssh", "ssh-keygen"} {
		testutil.RequireTool(t, tool)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testlog.Progress(t), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// The base image is built once per test binary at most, into the fixed
// cache directory, so that CI builds it once per machine, not per run.
var base struct {
	once  sync.Once
	layer machines.Layer
	err   error
}

func baseImage(t *testing.T) (*machines.Store, machines.Layer) {
	t.Helper()
	requireMachines(t)
	store, err := machines.OpenStore(machines.DefaultCacheDir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	base.once.Do(func() {
		base.layer, base.err = store.BaseImage(context.Background(), machines.DefaultRecipe(), machines.BuildOptions{})
	})
	if base.err != nil {
		t.Fatal(base.err)
	}
	return store, base.layer
}

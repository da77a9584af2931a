package machines_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

func TestStackRecipeIsApart(t *testing.T) {
	base, stack := machines.DefaultRecipe(), machines.StackRecipe()
	if base.Key() == stack.Key() {
		t.Fatal("the stack recipe has the base recipe's key")
	}
	if !strings.HasPrefix(stack.LayerID(), "stack-bookworm-") || !strings.HasPrefix(base.LayerID(), "base-bookworm-") {
		t.Errorf("layer ids %s and %s: want stack-bookworm-… and base-bookworm-…", stack.LayerID(), base.LayerID())
	}
	edited := stack
	edited.Extra += "\n# an edit\n"
	if edited.Key() == stack.Key() {
		t.Error("editing the stack script does not change the key")
	}
}

// TestStackImage builds (once per cache) the stack image and checks that
// every role's programs are in it and that none of their services is
// enabled.
func TestStackImage(t *testing.T) {
	requireMachines(t)
	store, err := machines.OpenStore(machines.DefaultCacheDir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	layer, err := store.BaseImage(context.Background(), machines.StackRecipe(), machines.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stack image %s ready in %v", layer.ID, time.Since(start).Round(time.Second))
	for _, f := range []string{
		"usr/sbin/nginx", "usr/bin/gunicorn", "usr/lib/python3/dist-packages/django", "usr/lib/python3/dist-packages/celery",
		"usr/bin/redis-server", "usr/bin/redis-cli", "usr/sbin/rabbitmq-server", "usr/sbin/rabbitmqctl",
		"usr/lib/postgresql/15/bin/postgres", "usr/lib/postgresql/15/bin/pg_basebackup", "usr/bin/psql",
		"usr/sbin/pgbouncer", "usr/bin/stunnel4", "etc/ssl/certs/ssl-cert-snakeoil.pem",
		"usr/sbin/sshd", "usr/bin/cloud-init",
	} {
		if _, err := os.Stat(filepath.Join(layer.Dir, f)); err != nil {
			t.Errorf("stack image lacks %s: %v", f, err)
		}
	}
	for _, unit := range []string{"nginx", "postgresql", "redis-server", "rabbitmq-server", "pgbouncer"} {
		if _, err := os.Lstat(filepath.Join(layer.Dir, "etc/systemd/system/multi-user.target.wants", unit+".service")); err == nil {
			t.Errorf("%s is enabled in the stack image: a role's recipe enables it", unit)
		}
	}
	if _, err := os.Stat(filepath.Join(layer.Dir, "usr/sbin/policy-rc.d")); err == nil {
		t.Error("the stack image keeps the build's policy-rc.d: services could never start")
	}
}

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

func TestBaseImageIsCached(t *testing.T) {
	store, layer := baseImage(t)
	for _, f := range []string{"usr/lib/systemd/systemd", "usr/sbin/sshd", "usr/sbin/nginx", "usr/bin/cloud-init", "etc/sudoers.d/90-admin"} {
		if _, err := os.Stat(filepath.Join(layer.Dir, f)); err != nil {
			t.Errorf("base image lacks %s: %v", f, err)
		}
	}
	keys, _ := filepath.Glob(filepath.Join(layer.Dir, "etc/ssh/ssh_host_*"))
	if len(keys) > 0 {
		t.Errorf("base image has SSH host keys %v: every machine must make its own", keys)
	}
	// Nothing of the build host: debootstrap copied its name and resolver.
	for _, f := range []string{"etc/hostname", "etc/resolv.conf"} {
		img, err := os.ReadFile(filepath.Join(layer.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		host, _ := os.ReadFile(filepath.Join("/", f)) // absent on the host: nothing to match
		if len(host) > 0 && string(img) == string(host) || strings.Contains(string(img), "nameserver") {
			t.Errorf("base image's /%s is the build host's: %q", f, img)
		}
	}
	// A second call finds the layer instead of building it.
	start := time.Now()
	again, err := store.BaseImage(context.Background(), machines.DefaultRecipe(), machines.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != layer.ID || !again.Created.Equal(layer.Created) {
		t.Errorf("second BaseImage = %+v, want the cached %+v", again, layer)
	}
	t.Logf("cached base image found in %v", time.Since(start))
}

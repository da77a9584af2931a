package machines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// BuildOptions tune a base image build.
type BuildOptions struct {
	// Mirror is the Debian archive debootstrap downloads from; empty means
	// AptMirror("/"), the one this machine's apt uses.
	Mirror string
}

// BaseImage returns the base layer the recipe builds, building it first if
// the store does not have it. Builders in other processes wait on a lock
// file instead of building it twice. The layer is made in a hidden
// directory and renamed into place, so an interrupted build leaves no layer
// (and the next build sweeps what it left).
func (s *Store) BaseImage(ctx context.Context, r Recipe, opts BuildOptions) (Layer, error) {
	id := r.LayerID()
	if l, err := s.Layer(id); err == nil {
		return l, nil
	}
	lock := flock.New(filepath.Join(s.dir, "layers", "."+id+".build.lock"))
	ok, err := lock.TryLockContext(ctx, 250*time.Millisecond)
	if err != nil || !ok {
		return Layer{}, fmt.Errorf("wait for the build lock of %s: %w", id, err)
	}
	defer lock.Unlock()
	if l, err := s.Layer(id); err == nil {
		return l, nil // another builder finished while we waited
	}
	if err := s.sweep(id); err != nil {
		return Layer{}, fmt.Errorf("sweep earlier builds of %s: %w", id, err)
	}
	if opts.Mirror == "" {
		opts.Mirror = AptMirror("/")
	}
	tmp, err := s.newTemp(id)
	if err != nil {
		return Layer{}, err
	}
	start := time.Now()
	s.log.Info("building base image", "layer", id, "suite", r.Suite, "mirror", opts.Mirror)
	if err := buildRoot(ctx, filepath.Join(tmp, "fs"), r, opts.Mirror); err != nil {
		return Layer{}, errors.Join(fmt.Errorf("build %s: %w", id, err), removeTree(tmp))
	}
	l, err := s.commit(tmp, Layer{ID: id, Created: time.Now().UTC(), Recipe: r.Key()})
	if err != nil {
		return Layer{}, errors.Join(err, removeTree(tmp))
	}
	s.log.Info("base image built", "layer", id, "took", time.Since(start).Round(time.Second))
	s.pruneBases(r.layerPrefix(), id)
	return l, nil
}

// pruneBases deletes the base layers that earlier recipes of the same
// suite and flavor built (their IDs start with prefix), unless a machine
// runs on one or an image is built on it: the cache holds one base per
// suite and flavor, not one per edit of the recipe.
func (s *Store) pruneBases(prefix, keep string) {
	all, err := s.Layers()
	if err != nil {
		s.log.Warn("listing layers to prune", "err", err)
		return
	}
	for _, l := range all {
		if l.ID == keep || l.Parent != "" || !strings.HasPrefix(l.ID, prefix) {
			continue
		}
		if err := s.Delete(l.ID); err != nil {
			s.log.Info("old base image kept", "layer", l.ID, "why", err)
		}
	}
}

// buildRoot debootstraps root and runs the customization script in it.
func buildRoot(ctx context.Context, root string, r Recipe, mirror string) error {
	args := []string{"--variant=minbase", "--components=main"}
	if len(r.Packages) > 0 {
		args = append(args, "--include="+strings.Join(r.Packages, ","))
	}
	args = append(args, r.Suite, root, mirror)
	if err := runPrivate(ctx, "debootstrap", args...); err != nil {
		return err
	}
	script := filepath.Join(root, "tmp", "ferry-customize.sh")
	if err := os.WriteFile(script, []byte(customizeScript), 0o755); err != nil {
		return err
	}
	if err := runPrivate(ctx, "chroot", root, "/bin/sh", "/tmp/ferry-customize.sh"); err != nil {
		return fmt.Errorf("customize: %w", err)
	}
	if err := os.Remove(script); err != nil {
		return err
	}
	if r.Extra != "" {
		extra := filepath.Join(root, "tmp", "ferry-extra.sh")
		if err := os.WriteFile(extra, []byte(r.Extra), 0o755); err != nil {
			return err
		}
		if err := runPrivate(ctx, "chroot", root, "/bin/sh", "/tmp/ferry-extra.sh"); err != nil {
			return fmt.Errorf("%s script: %w", r.Flavor, err)
		}
		if err := os.Remove(extra); err != nil {
			return err
		}
	}
	return forgetBuildHost(root)
}

// forgetBuildHost replaces what debootstrap copied from the build host and
// the scripts needed until their end (its resolver, for apt): an image
// names no host or DNS server of the machine it was built on. Each machine
// gets its own of both before it boots (instanceFiles).
func forgetBuildHost(root string) error {
	for _, f := range []struct{ path, data string }{
		{"etc/hostname", "localhost\n"},
		{"etc/resolv.conf", "# Each machine's own is written before it boots.\n"},
	} {
		full, err := inRoot(root, f.path)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(full); err != nil { // a symlink too
			return err
		}
		if err := os.WriteFile(full, []byte(f.data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runPrivate runs a command in a mount namespace of its own, so that what
// it mounts (debootstrap mounts /proc and /sys in the new tree) goes away
// with it, even if it is killed. Go makes the new namespace's mounts
// private, so nothing propagates back to the host.
func runPrivate(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Setpgid: true}
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8")
	// Kill the whole process group: debootstrap runs dpkg and friends.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, tail(out.String(), 30))
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

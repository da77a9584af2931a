package machines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"golang.org/x/sys/unix"
)

// perInstance are the files a snapshot leaves out: each machine gets its
// own at boot (Boot writes them, systemd and cloud-init make them), as
// EC2 and cloud-init do for an instance launched from an AMI.
var perInstance = []string{
	"etc/machine-id",
	"etc/hostname",
	"etc/hosts",
	"etc/systemd/network/10-host0.network",
	"etc/cloud/cloud.cfg.d/90-ferry-datasource.cfg",
	"var/lib/cloud/seed",
	"home/admin/.ssh/authorized_keys",
}

// Snapshot captures the machine's filesystem as a new layer on top of its
// image's: an image later machines boot from (what CreateImage makes). id
// names the layer; empty picks "snap-" and a random suffix. The machine
// keeps running, as with CreateImage's NoReboot (files being written at
// that moment may be caught halfway); power it off first for a consistent
// image.
func (m *Machine) Snapshot(ctx context.Context, id string) (Layer, error) {
	if id == "" {
		id = "snap-" + randomHex(8)
	}
	if !validID(id) {
		return Layer{}, fmt.Errorf("layer id %q: want a-z, 0-9, '-', '_' or '.'", id)
	}
	m.mu.Lock()
	freed := m.freed
	m.mu.Unlock()
	if freed {
		return Layer{}, fmt.Errorf("snapshot %s: machine is powered off and its layer gone", m.spec.Name)
	}
	s := m.host.store
	if _, err := s.Layer(id); err == nil {
		return Layer{}, fmt.Errorf("layer %s exists", id)
	}
	// Flush what the machine wrote, so the copy sees it.
	if f, err := os.Open(m.upper()); err == nil {
		_ = unix.Syncfs(int(f.Fd())) // best effort: the copy reads the page cache anyway
		f.Close()
	}
	tmp, err := s.newTemp(id)
	if err != nil {
		return Layer{}, err
	}
	start := time.Now()
	// cp -a keeps owners, modes, xattrs (overlayfs's opaque directories)
	// and the character devices that are its whiteouts: the layer hides
	// what the machine deleted, as its upper layer did.
	cmd := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", m.upper()+"/.", filepath.Join(tmp, "fs"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return Layer{}, errors.Join(fmt.Errorf("copy %s's layer: %w: %s", m.spec.Name, err, out), removeTree(tmp))
	}
	if err := dropPerInstance(filepath.Join(tmp, "fs")); err != nil {
		return Layer{}, errors.Join(err, removeTree(tmp))
	}
	layer := Layer{ID: id, Parent: m.spec.Image, Created: time.Now().UTC(), From: m.spec.Name}
	if m.host.opts.TransientSnapshots {
		layer.Host = m.host.net.Name()
	}
	l, err := s.commit(tmp, layer)
	if err != nil {
		return Layer{}, errors.Join(err, removeTree(tmp))
	}
	m.log.Info("snapshot taken", "layer", id, "took", time.Since(start).Round(time.Millisecond))
	return l, nil
}

// dropPerInstance removes the per-instance files from a copied layer.
// Paths are resolved inside root: the machine may have made any of their
// directories a symlink, which followed from the host would lead out.
func dropPerInstance(root string) error {
	paths := slices.Clone(perInstance)
	sshDir, err := securejoin.SecureJoin(root, "etc/ssh")
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(sshDir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "ssh_host_") {
				paths = append(paths, "etc/ssh/"+e.Name())
			}
		}
	}
	for _, p := range paths {
		full, err := inRoot(root, p)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(full); err != nil {
			return err
		}
	}
	return nil
}

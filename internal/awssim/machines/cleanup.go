package machines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/vishvananda/netns"
)

// CleanupStale removes what Hosts whose process died without closing them
// left behind: their machines' processes, mounts and writable layers under
// stateDir, and their network namespaces. Only names with Prefix are
// considered, and only those whose lock no live process holds.
func CleanupStale(ctx context.Context, stateDir string, log *slog.Logger) error {
	names := map[string]bool{}
	for _, dir := range []string{netnsDir, stateDir, lockDir} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, e := range entries {
			// In lockDir, a Host's run directory (not its lock file).
			if strings.HasPrefix(e.Name(), Prefix) && (dir != lockDir || e.IsDir()) {
				names[e.Name()] = true
			}
		}
	}
	// A Host whose namespace and run directory an earlier clean-up already
	// removed can still have machine roots mounted in a state dir that was
	// not this one (a test's temporary directory): its name is in their path.
	mounted, err := mountsWhere(func(mp string) bool {
		return slices.ContainsFunc(strings.Split(mp, "/"), isHostName)
	})
	if err != nil {
		return err
	}
	for _, mp := range mounted {
		for _, el := range strings.Split(mp, "/") {
			if isHostName(el) {
				names[el] = true
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return err
	}
	var errs []error
	for name := range names {
		lock := flock.New(filepath.Join(lockDir, name+".lock"))
		ok, err := lock.TryLock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue // a live Host's
		}
		log.Info("cleaning up after a Host that did not close", "name", name)
		err = cleanupOne(ctx, name, filepath.Join(stateDir, name))
		errs = append(errs, err, os.Remove(lock.Path()), lock.Unlock())
	}
	return errors.Join(errs...)
}

func cleanupOne(ctx context.Context, name, dir string) error {
	var errs []error
	nsPath := filepath.Join(netnsDir, name)
	if _, err := os.Stat(nsPath); err == nil {
		// nspawn runs in the namespace; its machine dies with it.
		errs = append(errs, killInNetns(ctx, nsPath))
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete network namespace %s: %w", name, err))
		}
	}
	if mps, err := mountsOf(name); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, unmountAll(mps))
	}
	errs = append(errs, removeTree(dir), os.RemoveAll(runDir(name)))
	return errors.Join(errs...)
}

// isHostName tells a name New gives a Host's network: Prefix and 8 hex
// digits, so that no directory of anyone else's matches by chance.
func isHostName(s string) bool {
	hex, ok := strings.CutPrefix(s, Prefix)
	return ok && len(hex) == 8 && strings.Trim(hex, "0123456789abcdef") == ""
}

// killInNetns SIGKILLs every process in the network namespace at nsPath
// and waits (bounded by ctx) for them to go.
func killInNetns(ctx context.Context, nsPath string) error {
	var want syscall.Stat_t
	if err := syscall.Stat(nsPath, &want); err != nil {
		return err
	}
	for {
		pids := pidsInNetns(want)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // it may be gone already
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("processes %v in %s: %w", pids, nsPath, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func pidsInNetns(want syscall.Stat_t) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns/net"), &st) != nil {
			continue
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeOrphans deletes the transient layers (Layer.Host) of Hosts that
// are gone, children before parents. A layer a machine still runs on (of
// another Host, booted from it) stays until an Open after that machine.
// Layers without a Host, the cached base and stack images and the images
// a state file refers to, are never looked at.
func (s *Store) removeOrphans() error {
	gone := map[string]bool{}
	var errs []error
	for progress := true; progress; {
		progress = false
		ls, err := s.Layers()
		if err != nil {
			return err
		}
		for _, l := range ls {
			if l.Host == "" {
				continue
			}
			g, ok := gone[l.Host]
			if !ok {
				if g, err = hostGone(l.Host); err != nil {
					errs = append(errs, err)
					continue
				}
				gone[l.Host] = g
			}
			if !g {
				continue
			}
			switch err := s.Delete(l.ID); {
			case err == nil:
				s.log.Info("deleted a layer of a Host that is gone", "layer", l.ID, "host", l.Host)
				progress = true
			case errors.Is(err, ErrLayerHasChildren), errors.Is(err, ErrLayerInUse), errors.Is(err, ErrNoLayer):
				// Its children go first; one in use, at a later Open.
			default:
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// hostGone reports whether the Host named name has ended: its lock file is
// gone (Close removes it, and /run does not survive a reboot) or no
// process holds it (killed). Only a name New gives counts: another is
// nobody's to judge.
func hostGone(name string) (bool, error) {
	if !isHostName(name) {
		return false, nil
	}
	path := filepath.Join(lockDir, name+".lock")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	lock := flock.New(path)
	ok, err := lock.TryLock()
	if err != nil || !ok {
		return false, err
	}
	return true, lock.Unlock()
}

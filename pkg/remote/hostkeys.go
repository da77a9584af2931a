package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gofrs/flock"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys checks host keys against one known_hosts file and, with trust on
// first use, records unknown ones in it. The file may be shared with other
// Runners and other processes: a record is made under an exclusive lock on
// a sibling lock file, after reading the file again, and lands by atomic
// rename, so a concurrent reader sees the old file or the new one, never a
// torn line.
type hostKeys struct {
	file string
	tofu bool

	mu sync.Mutex
	db *knownhosts.HostKeyDB
}

func loadHostKeys(file string, tofu bool) (*hostKeys, error) {
	h := &hostKeys{file: file, tofu: tofu}
	if err := h.reloadLocked(); err != nil {
		return nil, err
	}
	return h, nil
}

// reloadLocked reads the file again; h.mu must be held (or h unshared).
func (h *hostKeys) reloadLocked() error {
	_, err := os.Stat(h.file)
	switch {
	case errors.Is(err, fs.ErrNotExist) && h.tofu:
		// Nothing known yet; the first record creates the file.
		db, err := knownhosts.NewDB()
		if err != nil {
			return err
		}
		h.db = db
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("known_hosts file %s does not exist: write the instances' host keys there, or enable trust_on_first_use", h.file)
	case err != nil:
		return fmt.Errorf("known_hosts: %w", err)
	}
	db, err := knownhosts.NewDB(h.file)
	if err != nil {
		return fmt.Errorf("known_hosts %s: %w", h.file, err)
	}
	h.db = db
	return nil
}

// algorithms returns the host key algorithms to ask hostport for: those of
// the keys recorded for it, so that a host with several keys shows one that
// can be checked (golang/go#29286). Empty (any) for an unknown host.
func (h *hostKeys) algorithms(hostport string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.db.HostKeyAlgorithms(hostport)
}

// callback checks the key hostname presents; instance is the EC2 instance
// the caller found at that address ("" or the address itself when it knows
// none). With trust on first use, a key is recorded with the instance's id
// (a comment "ferry-instance=ID" on its line): when another instance
// presents another key at that address later (private addresses are
// reused once an instance is gone), the lines of the instance that held
// it are replaced. A changed key at an address whose lines name this
// instance, or no instance (written by hand), is refused as ever.
func (h *hostKeys) callback(hostname string, remote net.Addr, key ssh.PublicKey, instance string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !strings.HasPrefix(instance, "i-") {
		instance = ""
	}
	err := h.db.HostKeyCallback()(hostname, remote, key)
	if err == nil || !h.tofu {
		return h.refusal(hostname, key, err)
	}
	if !knownhosts.IsHostUnknown(err) && (instance == "" || !h.heldByOthers(err, instance)) {
		return h.refusal(hostname, key, err)
	}
	return h.recordLocked(hostname, remote, key, instance)
}

// instanceMark is the known_hosts comment naming the instance a key was
// recorded for.
const instanceMark = "ferry-instance="

// heldByOthers reports whether err is a changed key whose every known line
// is in h.file and names an instance other than instance.
func (h *hostKeys) heldByOthers(err error, instance string) bool {
	var keyErr *xknownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		return false
	}
	b, rerr := os.ReadFile(h.file)
	if rerr != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	for _, k := range keyErr.Want {
		if k.Filename != h.file || k.Line < 1 || k.Line > len(lines) {
			return false
		}
		other := lineInstance(lines[k.Line-1])
		if other == "" || other == instance {
			return false
		}
	}
	return true
}

// lineInstance is the instance a known_hosts line was recorded for, "" if
// it names none.
func lineInstance(line string) string {
	for _, f := range strings.Fields(line)[min(3, len(strings.Fields(line))):] {
		if id, ok := strings.CutPrefix(f, instanceMark); ok {
			return id
		}
	}
	return ""
}

// refusal turns the known_hosts verdict into Ferry's error.
func (h *hostKeys) refusal(hostname string, key ssh.PublicKey, err error) error {
	if err == nil {
		return nil
	}
	var keyErr *xknownhosts.KeyError
	if !errors.As(err, &keyErr) {
		// A revoked key, or a file that cannot be read.
		return fmt.Errorf("host key of %s refused by %s: %w", hostname, h.file, err)
	}
	e := &HostKeyError{Host: hostname, File: h.file, Problem: HostUnknown, Fingerprint: ssh.FingerprintSHA256(key)}
	if len(keyErr.Want) > 0 {
		e.Problem = HostKeyChanged
		for _, k := range keyErr.Want {
			e.Known = append(e.Known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
		}
	}
	return e
}

func (h *hostKeys) recordLocked(hostname string, remote net.Addr, key ssh.PublicKey, instance string) error {
	// Across processes too (the agent and ferry deploy may meet a new
	// host at once); the kernel drops the flock if a process dies.
	if err := os.MkdirAll(filepath.Dir(h.file), 0o755); err != nil {
		return fmt.Errorf("record host key of %s: %w", hostname, err)
	}
	fl := flock.New(h.file + ".lock")
	if err := fl.Lock(); err != nil {
		return fmt.Errorf("record host key of %s: %w", hostname, err)
	}
	defer func() { _ = fl.Unlock() }()

	// Another Runner or process may have recorded this host meanwhile: its
	// record is checked like any other, and is never overwritten.
	if err := h.reloadLocked(); err != nil {
		return err
	}
	err := h.db.HostKeyCallback()(hostname, remote, key)
	replace := err != nil && !knownhosts.IsHostUnknown(err) && instance != "" && h.heldByOthers(err, instance)
	if err == nil || !knownhosts.IsHostUnknown(err) && !replace {
		return h.refusal(hostname, key, err)
	}
	old, err := os.ReadFile(h.file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("record host key of %s: %w", hostname, err)
	}
	if replace {
		// The lines of the instance that held the address go.
		var keyErr *xknownhosts.KeyError
		errors.As(h.db.HostKeyCallback()(hostname, remote, key), &keyErr)
		drop := map[int]bool{}
		for _, k := range keyErr.Want {
			drop[k.Line] = true
		}
		var kept []string
		for i, l := range strings.SplitAfter(string(old), "\n") {
			if !drop[i+1] {
				kept = append(kept, l)
			}
		}
		old = []byte(strings.Join(kept, ""))
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	line := knownhosts.Line([]string{hostname}, key)
	if instance != "" {
		line += " " + instanceMark + instance
	}
	line += "\n"
	if err := writeFileAtomic(h.file, append(old, line...), 0o644); err != nil {
		return fmt.Errorf("record host key of %s: %w", hostname, err)
	}
	return h.reloadLocked()
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync
// of the directory, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename this finds nothing
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

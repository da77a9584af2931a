package machines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultStateDir holds running machines' writable layers, mounts and
// consoles, one directory per Host named like its network namespace.
const DefaultStateDir = "/var/lib/ferry/machines"

// Options configure a Host.
type Options struct {
	// CacheDir is the layer store (images); default DefaultCacheDir.
	CacheDir string
	// StateDir holds the machines' writable layers; default DefaultStateDir.
	StateDir string
	// Network is the namespace to make.
	Network NetworkConfig
	// StopTimeout bounds a clean power-off before the machine is killed;
	// default 30s.
	StopTimeout time.Duration
	// TransientSnapshots marks the layers the Host's machines snapshot as
	// the Host's (Layer.Host): images that do not outlive it. Deleting
	// them while it runs is the caller's; those left once it is gone,
	// closed or killed with its process, are deleted by the next Open. A
	// caller whose images must outlive it (awssim with a state file)
	// leaves it off.
	TransientSnapshots bool
	Logger             *slog.Logger
}

// Host boots machines from the store's images on its own network
// namespace. Close powers them all off and removes what it made, except the
// images.
type Host struct {
	store *Store
	net   *Network
	dir   string
	// run holds the machines' sockets: a short path under /run, since a
	// unix socket's path is limited to 107 bytes and dir may be long.
	run  string
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	machines map[string]*Machine
	closed   bool
}

// Open cleans up what earlier Hosts killed before their Close left behind
// (their transient snapshots' layers included), then opens the store and
// makes the network.
func Open(ctx context.Context, opts Options) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if err := CleanupStale(ctx, opts.StateDir, opts.Logger); err != nil {
		return nil, err
	}
	store, err := OpenStore(opts.CacheDir, opts.Logger)
	if err != nil {
		return nil, err
	}
	if err := store.removeOrphans(); err != nil {
		// Not this Host's to fail for: the next Open tries again.
		opts.Logger.Warn("deleting the layers of Hosts that are gone", "err", err)
	}
	n, err := CreateNetwork(ctx, opts.Network, opts.Logger)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(opts.StateDir, n.Name())
	run := runDir(n.Name())
	for _, d := range []string{dir, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, errors.Join(err, removeTree(dir), os.RemoveAll(run), n.Close())
		}
	}
	return &Host{store: store, net: n, dir: dir, run: run, opts: opts, log: opts.Logger, machines: map[string]*Machine{}}, nil
}

// Store is the layer store machines boot from.
func (h *Host) Store() *Store { return h.store }

// Network is the namespace machines are on.
func (h *Host) Network() *Network { return h.net }

// Machine returns a booted machine by name.
func (h *Host) Machine(name string) (*Machine, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := h.machines[name]
	return m, ok
}

// Close powers off every machine (in parallel, each bounded by
// StopTimeout), then removes the state directory and the namespace.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	ms := make([]*Machine, 0, len(h.machines))
	for _, m := range h.machines {
		ms = append(ms, m)
	}
	h.mu.Unlock()
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { errs[i] = m.PowerOff(ctx) })
	}
	wg.Wait()
	errs = append(errs, removeTree(h.dir), os.RemoveAll(h.run), h.net.Close())
	return errors.Join(errs...)
}

func (h *Host) add(m *Machine) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host closed")
	}
	if _, ok := h.machines[m.spec.Name]; ok {
		return fmt.Errorf("machine %s exists", m.spec.Name)
	}
	h.machines[m.spec.Name] = m
	return nil
}

func (h *Host) remove(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.machines, name)
}

// runDir is where a Host whose namespace is name keeps its machines'
// sockets: /run/ferry/ferry-XXXXXXXX, beside its lock file, so that a
// socket's path (at most 26 + 64 + 5 bytes) stays within the 107 bytes a
// unix socket's path may have [unix(7)], however long StateDir is.
func runDir(name string) string { return filepath.Join(lockDir, name) }

// gateway is the router of the subnet addr is in.
func (h *Host) gateway(addr netip.Prefix) netip.Addr { return Router(addr.Masked()) }

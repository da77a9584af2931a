package machines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gofrs/flock"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

const (
	// Prefix starts the name of every namespace, lock and state directory
	// Ferry makes; stale ones are found, and only they are removed, by it.
	Prefix = "ferry-"
	// BridgeName is the bridge inside the namespace that every machine's
	// veth joins; machines reach the router and the metadata address on it.
	BridgeName = "br0"
	netnsDir   = "/run/netns"
	// lockDir holds one lock file per live namespace. It is on tmpfs, as
	// the namespaces are: a reboot ends both.
	lockDir = "/run/ferry"
)

var (
	// DefaultSubnet is the first subnet of AWS's default VPC
	// (172.31.0.0/16, one /20 per availability zone).
	DefaultSubnet = netip.MustParsePrefix("172.31.0.0/20")
	// MetadataAddr is the instance metadata service's address. It is on the
	// bridge, so Network.Listen can serve it to every machine.
	MetadataAddr = netip.MustParseAddr("169.254.169.254")
)

// Network is a network namespace of Ferry's own with a bridge that routes
// between its subnets. The host namespace has no route into it: code in
// the host reaches the machines through DialContext and serves them
// through Listen, and commands run in it through Command.
type Network struct {
	name    string
	ns      netns.NsHandle
	lock    *flock.Flock
	subnets []netip.Prefix
	log     *slog.Logger

	mu   sync.Mutex
	used map[netip.Addr]bool
}

// NetworkConfig says which namespace to make.
type NetworkConfig struct {
	// Name of the namespace; it must start with Prefix. Empty picks a
	// random one.
	Name string
	// Subnets on the bridge; the bridge holds the first usable address of
	// each (the VPC router's, base+1). Default: DefaultSubnet.
	Subnets []netip.Prefix
}

// CreateNetwork makes the namespace, its bridge with the subnets' router
// addresses and MetadataAddr, and brings loopback and the bridge up. The
// namespace is held by a lock file until Close, so that CleanupStale in
// another process leaves it alone.
func CreateNetwork(ctx context.Context, cfg NetworkConfig, log *slog.Logger) (_ *Network, err error) {
	if cfg.Name == "" {
		cfg.Name = Prefix + randomHex(4)
	}
	if !strings.HasPrefix(cfg.Name, Prefix) {
		return nil, fmt.Errorf("network name %q: must start with %q", cfg.Name, Prefix)
	}
	if len(cfg.Subnets) == 0 {
		cfg.Subnets = []netip.Prefix{DefaultSubnet}
	}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, err
	}
	lock := flock.New(filepath.Join(lockDir, cfg.Name+".lock"))
	if ok, err := lock.TryLock(); err != nil || !ok {
		return nil, fmt.Errorf("lock network %s: held elsewhere or %w", cfg.Name, err)
	}
	n := &Network{name: cfg.Name, lock: lock, subnets: cfg.Subnets, log: log, used: map[netip.Addr]bool{}}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.ns, err = newNamedNetns(cfg.Name); err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(n.ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", cfg.Name, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("loopback in %s: %w", cfg.Name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return nil, fmt.Errorf("loopback up in %s: %w", cfg.Name, err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}}
	if err := h.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("bridge in %s: %w", cfg.Name, err)
	}
	addrs := []netip.Prefix{netip.PrefixFrom(MetadataAddr, 32)}
	for _, s := range cfg.Subnets {
		addrs = append(addrs, netip.PrefixFrom(Router(s), s.Bits()))
	}
	for _, a := range addrs {
		if err := h.AddrAdd(br, &netlink.Addr{IPNet: prefixIPNet(a)}); err != nil {
			return nil, fmt.Errorf("address %s on bridge in %s: %w", a, cfg.Name, err)
		}
	}
	if err := h.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bridge up in %s: %w", cfg.Name, err)
	}
	// The namespace is the VPC's router: machines in different subnets
	// reach each other through it. A new namespace does not forward.
	if err := inNetns(n.ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		return nil, fmt.Errorf("forwarding in %s: %w", cfg.Name, err)
	}
	log.Info("network created", "netns", cfg.Name, "subnets", cfg.Subnets)
	return n, nil
}

// Name is the namespace's name, also its path's base under /run/netns.
func (n *Network) Name() string { return n.name }

// Path is the namespace's bind mount, for nsenter --net.
func (n *Network) Path() string { return filepath.Join(netnsDir, n.name) }

// Subnets are the subnets routed on the bridge.
func (n *Network) Subnets() []netip.Prefix { return n.subnets }

// Router is the VPC router's address in subnet s: its base address + 1.
func Router(s netip.Prefix) netip.Addr { return s.Masked().Addr().Next() }

// Allocate reserves the lowest free address of subnet, skipping the four
// addresses AWS reserves at its start and the broadcast address at its end.
func (n *Network) Allocate(subnet netip.Prefix) (netip.Prefix, error) {
	if !n.hasSubnet(subnet) {
		return netip.Prefix{}, fmt.Errorf("subnet %s is not on network %s", subnet, n.name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	a := subnet.Masked().Addr()
	for range 4 {
		a = a.Next()
	}
	for ; subnet.Contains(a) && subnet.Contains(a.Next()); a = a.Next() {
		if !n.used[a] {
			n.used[a] = true
			return netip.PrefixFrom(a, subnet.Bits()), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("subnet %s is full", subnet)
}

// Reserve marks addr as used, for addresses chosen by the caller.
func (n *Network) Reserve(addr netip.Prefix) error {
	if !n.hasSubnet(addr.Masked()) {
		return fmt.Errorf("address %s is in no subnet of network %s", addr, n.name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.used[addr.Addr()] {
		return fmt.Errorf("address %s is in use", addr.Addr())
	}
	n.used[addr.Addr()] = true
	return nil
}

// Release frees an address from Allocate or Reserve.
func (n *Network) Release(addr netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.used, addr)
}

func (n *Network) hasSubnet(p netip.Prefix) bool {
	for _, s := range n.subnets {
		if s.Masked() == p.Masked() {
			return true
		}
	}
	return false
}

// DialContext connects, from inside the namespace, to an IP address and
// port (no names: nothing resolves them in there). It has net.Dialer's
// signature, so it plugs into http.Transport and ssh.
func (n *Network) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if _, err := netip.ParseAddrPort(address); err != nil {
		return nil, fmt.Errorf("dial %s in %s: an IP address and port are needed: %w", address, n.name, err)
	}
	var c net.Conn
	err := inNetns(n.ns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen opens a listener inside the namespace (e.g. on MetadataAddr:80).
func (n *Network) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var l net.Listener
	err := inNetns(n.ns, func() (err error) {
		var lc net.ListenConfig
		l, err = lc.Listen(ctx, network, address)
		return err
	})
	return l, err
}

// Command runs a program inside the namespace (through nsenter, which
// leaves /sys alone, unlike ip netns exec).
func (n *Network) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.Path(), "--", name}, args...)...)
}

// Close deletes the namespace and releases its lock. Machines on it must
// be powered off first.
func (n *Network) Close() error {
	var errs []error
	if n.ns.IsOpen() {
		errs = append(errs, n.ns.Close())
		if err := netns.DeleteNamed(n.name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete network namespace %s: %w", n.name, err))
		}
	}
	// Removed while still held, so no other process finds it free first.
	errs = append(errs, os.Remove(n.lock.Path()), n.lock.Unlock())
	return errors.Join(errs...)
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

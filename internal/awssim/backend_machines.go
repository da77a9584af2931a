package awssim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

// machineBackend makes every instance a Debian machine (Options.Machines):
// systemd-nspawn on an overlayfs of its image's layers, at its
// PrivateIpAddress on the bridge of a network namespace that carries the
// default VPC's subnets. An image is a layer in the machines' store; the
// base image, built from machines.DefaultRecipe and cached, is registered
// as an AMI of the account.
//
// Its own mutex guards the machines' progress; it is taken with s.mu held
// or alone, never the other way round, so its goroutines never wait on
// the simulator.
type machineBackend struct {
	s     *Sim
	host  *machines.Host
	meta  *metadataServer
	base  machines.Layer
	stack machines.Layer // the stack image's layer (Options.StackImage), else zero
	keep  bool           // images made here outlive the simulator (a StateFile refers to them)
	log   *slog.Logger
	ctx   context.Context // the simulator's: done at Close
	wg    sync.WaitGroup
	sweep sync.Mutex // one layer sweep at a time

	mu       sync.Mutex
	vms      map[string]*vm      // by instance id
	captures map[string]*capture // CreateImage in progress, by image id
	doomed   map[string]bool     // layers of deleted snapshots, deleted once nothing uses them
}

// vm is one instance's machine as the backend follows it.
type vm struct {
	booted      chan struct{}     // closed when Boot has returned
	m           *machines.Machine // nil until booted, or if Boot failed
	state       hostState
	reason      string // why it stopped by itself
	terminating bool
}

// capture is one CreateImage's snapshot of a machine.
type capture struct {
	done bool
	err  error
}

// Tags of the base image's AMI, so that callers find it by tag as they
// would Debian's official AMI by name.
const (
	// BaseImageTag holds the Debian suite of the simulator's base image.
	BaseImageTag = "ferry:base-image"
	// RecipeTag holds the key of the recipe it was built from.
	RecipeTag = "ferry:recipe"
)

// openMachineBackend cleans up what killed simulators left, opens the
// machines' host on the default VPC's subnets, finds or builds the base
// image (debootstrap, about 90 s the first time, cached after) and
// registers it as an AMI owned by the account.
func openMachineBackend(ctx context.Context, s *Sim) (*machineBackend, error) {
	o := s.opts
	host, err := machines.Open(ctx, machines.Options{
		CacheDir: o.MachineCacheDir, StateDir: o.MachineStateDir, Logger: s.log,
		Network: machines.NetworkConfig{Subnets: o.defaultSubnets()},
		// Without a state file no account refers to the images made here
		// once the simulator ends: close deletes them, and after a kill
		// the next simulator's Open does.
		TransientSnapshots: o.StateFile == "",
	})
	if err != nil {
		return nil, fmt.Errorf("awssim: machines: %w", err)
	}
	recipe := machines.DefaultRecipe()
	base, err := host.Store().BaseImage(ctx, recipe, machines.BuildOptions{})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("awssim: base image: %w", err), host.Close(context.WithoutCancel(ctx)))
	}
	meta, err := serveMetadata(ctx, s, host.Network())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("awssim: metadata service: %w", err), host.Close(context.WithoutCancel(ctx)))
	}
	b := &machineBackend{s: s, host: host, meta: meta, base: base, keep: o.StateFile != "", log: s.log, ctx: ctx,
		vms: map[string]*vm{}, captures: map[string]*capture{}, doomed: map[string]bool{}}
	if o.StackImage {
		if b.stack, err = host.Store().BaseImage(ctx, machines.StackRecipe(), machines.BuildOptions{}); err != nil {
			return nil, errors.Join(fmt.Errorf("awssim: stack image: %w", err), meta.close(), host.Close(context.WithoutCancel(ctx)))
		}
	}
	s.mu.Lock()
	img := s.registerBaseImageLocked(base, recipe)
	if o.StackImage {
		stack := s.registerStackImageLocked(b.stack)
		s.log.Info("awssim: stack image", "image", stack.ID, "name", stack.Name, "layer", b.stack.ID)
	}
	s.mu.Unlock()
	s.log.Info("awssim: machines ready", "netns", host.Network().Name(), "subnets", host.Network().Subnets(),
		"image", img.ID, "name", img.Name, "layer", base.ID)
	return b, nil
}

// registerBaseImageLocked registers the base layer as an available AMI
// with its root snapshot, unless the account already has it.
func (s *Sim) registerBaseImageLocked(base machines.Layer, r machines.Recipe) *image {
	for _, id := range sortedKeys(s.st.Images) {
		if img := s.st.Images[id]; img.Layer == base.ID && img.State == "available" {
			return img
		}
	}
	now := s.now()
	img := &image{
		ID: s.newIDLocked("ami"), Name: "debian-" + r.Suite + "-ferry-" + r.Key()[:12],
		Description: "Debian " + r.Suite + " built by Ferry's simulator (debootstrap minbase with systemd, OpenSSH, nginx and cloud-init)",
		State:       "available", Created: now, ReadyAt: now, Layer: base.ID,
		Tags: map[string]string{BaseImageTag: r.Suite, RecipeTag: r.Key()},
	}
	s.newSnapshotLocked(img, "Root volume of "+img.Name, nil)
	s.st.Snapshots[img.Snapshot].State = "completed"
	s.st.Images[img.ID] = img
	return img
}

var _ backend = (*machineBackend)(nil)

// launchLocked checks the image and key pair as RunInstances does, picks
// the lowest free address of the zone's default subnet (past the four AWS
// reserves [vpc-sizing-ipv4]) and boots the machine on a goroutine.
func (b *machineBackend) launchLocked(inst *instance, img *image) *APIError {
	if img == nil || img.Layer == "" {
		return errf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", inst.ImageID)
	}
	var keys []string
	if inst.KeyName != "" {
		kp := b.s.st.KeyPairs[inst.KeyName]
		if kp == nil {
			return errf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", inst.KeyName)
		}
		keys = append(keys, kp.PublicKey)
	}
	addr, ok := b.freeAddressLocked(b.s.opts.subnetOf(inst.AZ))
	if !ok {
		return errf("InsufficientFreeAddressesInSubnet", "There are not enough free addresses in the subnet of %s to satisfy the requested number of instances.", inst.AZ)
	}
	inst.PrivateIP = addr.Addr().String()
	v := &vm{booted: make(chan struct{}), state: hostBooting}
	b.mu.Lock()
	b.vms[inst.ID] = v
	b.mu.Unlock()
	spec := machines.Spec{Name: inst.ID, Image: img.Layer, Address: addr, InstanceID: inst.ID,
		AuthorizedKeys: keys, UserData: decodeUserData(inst.UserData)}
	spec.Datasource, spec.UserData = datasourceFor(inst.Metadata, spec.UserData)
	b.wg.Add(1)
	go b.boot(v, spec)
	return nil
}

// freeAddressLocked returns the lowest address of subnet that no instance
// of the account holds: a machine gives its address back when it has
// powered off, before its instance is terminated.
func (b *machineBackend) freeAddressLocked(subnet netip.Prefix) (netip.Prefix, bool) {
	used := map[string]bool{}
	for _, inst := range b.s.st.Instances {
		if inst.State != stateTerminated {
			used[inst.PrivateIP] = true
		}
	}
	a := subnet.Masked().Addr()
	for range 4 {
		a = a.Next()
	}
	for ; subnet.Contains(a.Next()); a = a.Next() { // the last address is the broadcast
		if !used[a.String()] {
			return netip.PrefixFrom(a, subnet.Bits()), true
		}
	}
	return netip.Prefix{}, false
}

// boot starts the machine, waits until its systemd is ready (cloud-init
// done: user data ran, host keys on the console), then watches for it to
// stop by itself.
func (b *machineBackend) boot(v *vm, spec machines.Spec) {
	defer b.wg.Done()
	start := time.Now()
	m, err := b.host.Boot(b.ctx, spec)
	b.mu.Lock()
	v.m = m
	if err != nil && !v.terminating {
		v.state, v.reason = hostStopping, reasonInternalError
	}
	close(v.booted)
	b.mu.Unlock()
	if err != nil {
		b.log.Warn("awssim: machine failed to boot", "instance", spec.Name, "err", err)
		return
	}
	err = m.WaitRunning(b.ctx)
	b.mu.Lock()
	switch {
	case v.terminating:
	case err == nil:
		v.state = hostRunning
	case b.ctx.Err() == nil:
		v.state, v.reason = hostStopping, reasonInternalError
	}
	b.mu.Unlock()
	if err != nil {
		if b.ctx.Err() == nil {
			b.log.Warn("awssim: machine stopped while booting", "instance", spec.Name, "err", err)
		}
		return
	}
	b.log.Info("awssim: machine running", "instance", spec.Name, "address", spec.Address.Addr(), "took", time.Since(start).Round(time.Millisecond))
	select {
	case <-m.Done():
	case <-b.ctx.Done():
		return
	}
	b.mu.Lock()
	if !v.terminating {
		v.state, v.reason = hostStopping, reasonInstanceHalted
	}
	b.mu.Unlock()
}

// observeLocked: an instance without a machine (one a previous simulator
// ran, with a StateFile) has stopped.
func (b *machineBackend) observeLocked(inst *instance, _ time.Time) (hostState, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.vms[inst.ID]
	if v == nil {
		return hostStopped, "Server.InternalError: The instance's machine is gone (the simulator restarted)."
	}
	return v.state, v.reason
}

func (b *machineBackend) runningLocked(*instance) {}

// terminateLocked powers the machine off (SIGTERM to nspawn: its systemd
// stops every unit; SIGKILL after the host's stop timeout), which frees
// its writable layer, address and image lease; the instance is terminated
// once that is done.
func (b *machineBackend) terminateLocked(inst *instance, _ bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.vms[inst.ID]
	if v == nil || v.terminating {
		return
	}
	v.terminating = true
	v.state = hostStopping
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		<-v.booted
		start := time.Now()
		if v.m != nil {
			// Not cut short by Close: Host.Close powers off the same way.
			if err := v.m.PowerOff(context.WithoutCancel(b.ctx)); err != nil {
				b.log.Warn("awssim: machine power-off", "instance", inst.ID, "err", err)
			}
		}
		b.mu.Lock()
		v.state = hostStopped
		b.mu.Unlock()
		b.log.Info("awssim: machine powered off", "instance", inst.ID, "took", time.Since(start).Round(time.Millisecond))
		b.sweepLayers()
	}()
}

// captureLocked snapshots the running machine's writable layer into a new
// layer on top of its image's, named after the image and this simulator's
// namespace: image ids count from the same start in every simulator, and
// simulators running at once (parallel test packages) share the store.
func (b *machineBackend) captureLocked(img *image, inst *instance) *APIError {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.vms[inst.ID]
	if inst.State != stateRunning || v == nil || v.m == nil || v.state != hostRunning {
		return errf("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be imaged.", inst.ID)
	}
	img.Layer = b.host.Network().Name() + "-" + img.ID
	c := &capture{}
	b.captures[img.ID] = c
	m := v.m
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		_, err := m.Snapshot(b.ctx, img.Layer)
		b.mu.Lock()
		c.done, c.err = true, err
		b.mu.Unlock()
	}()
	return nil
}

func (b *machineBackend) capturedLocked(img *image, _ time.Time) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.captures[img.ID]
	if c == nil {
		return true, errors.New("Server.InternalError: the image was being made when the simulator stopped")
	}
	if !c.done {
		return false, nil
	}
	delete(b.captures, img.ID)
	if c.err != nil {
		return true, fmt.Errorf("Server.InternalError: %w", c.err)
	}
	return true, nil
}

// releaseLocked deletes the snapshot's layer once no machine runs on it
// and no other image's layer is built on it: on AWS a deleted snapshot is
// gone at once while volumes made from it live on, which here are layers
// still in use. The base image's layer is the cache's and stays.
func (b *machineBackend) releaseLocked(snap *snapshot) {
	if snap.Layer == "" || b.cached(snap.Layer) {
		return
	}
	b.mu.Lock()
	b.doomed[snap.Layer] = true
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.sweepLayers()
	}()
}

// sweepLayers deletes the doomed layers that nothing uses any more,
// children before parents.
func (b *machineBackend) sweepLayers() {
	b.sweep.Lock()
	defer b.sweep.Unlock()
	for progress := true; progress; {
		progress = false
		b.mu.Lock()
		ids := sortedKeys(b.doomed)
		b.mu.Unlock()
		for _, id := range ids {
			err := b.host.Store().Delete(id)
			switch {
			case err == nil || errors.Is(err, machines.ErrNoLayer):
				b.mu.Lock()
				delete(b.doomed, id)
				b.mu.Unlock()
				progress = true
			case errors.Is(err, machines.ErrLayerInUse), errors.Is(err, machines.ErrLayerHasChildren):
				// Later: when a machine powers off or a child goes.
			default:
				b.log.Warn("awssim: deleting a layer", "layer", id, "err", err)
			}
		}
	}
}

// endpointLocked: the machine's own port at its private address, in TLS
// for HTTPS and SSL.
func (b *machineBackend) endpointLocked(inst *instance, proto string, port int) (endpoint, probeMode) {
	if inst.PrivateIP == "" {
		return endpoint{}, probeFails
	}
	return endpoint{addr: net.JoinHostPort(inst.PrivateIP, strconv.Itoa(port)), tls: proto == "HTTPS" || proto == "SSL"}, probeReal
}

// consoleLocked returns the last 64 KB the machine wrote to its console,
// which EC2 keeps [instance-console].
func (b *machineBackend) consoleLocked(inst *instance) []byte {
	b.mu.Lock()
	v := b.vms[inst.ID]
	var m *machines.Machine
	if v != nil {
		m = v.m
	}
	b.mu.Unlock()
	if m == nil {
		return nil
	}
	out, err := m.Console()
	if err != nil {
		b.log.Debug("awssim: console", "instance", inst.ID, "err", err)
		return nil
	}
	const keep = 64 << 10
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return out
}

// dial connects from inside the machines' namespace.
func (b *machineBackend) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return b.host.Network().DialContext(ctx, network, addr)
}

// MachineNetwork is the network namespace the machines are on (nil with
// the stub backend): Network.Command runs a program there, such as ssh
// admin@172.31.0.4, and Network.DialContext connects to an instance's
// private address from Go.
func (s *Sim) MachineNetwork() *machines.Network {
	if b, ok := s.backend.(*machineBackend); ok {
		return b.host.Network()
	}
	return nil
}

// close powers every machine off and removes their mounts, writable
// layers and the namespace. Without a StateFile the layers of images made
// here go too (no account will refer to them again); the base image stays
// in the cache.
func (b *machineBackend) close(ctx context.Context) error {
	err := errors.Join(b.meta.close(), b.host.Close(ctx))
	b.wg.Wait()
	if !b.keep {
		b.s.mu.Lock()
		b.mu.Lock()
		for _, img := range b.s.st.Images {
			if img.Layer != "" && !b.cached(img.Layer) {
				b.doomed[img.Layer] = true
			}
		}
		b.mu.Unlock()
		b.s.mu.Unlock()
		b.sweepLayers()
	}
	return err
}

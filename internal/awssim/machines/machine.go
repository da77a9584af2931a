package machines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec is a machine to boot.
type Spec struct {
	// Name is the machine's name on the Host (the nspawn machine name): 1-64
	// of a-z, 0-9 and '-', e.g. an instance id.
	Name string
	// Image is the id of the image's top layer in the Host's store.
	Image string
	// Address on the Host's network, with its subnet's length; zero means
	// the next free address of the first subnet.
	Address netip.Prefix
	// Hostname defaults to EC2's form of the address, ip-172-31-0-4.
	Hostname string
	// InstanceID is what cloud-init sees as the instance id (a new one
	// runs first-boot steps again); default Name.
	InstanceID string
	// AuthorizedKeys go into admin's ~/.ssh/authorized_keys.
	AuthorizedKeys []string
	// UserData is run by cloud-init at first boot (a #! script or
	// #cloud-config).
	UserData []byte
	// Datasource is where cloud-init reads the above: NoCloud (written
	// into the machine) or Ec2 (the caller's metadata service).
	Datasource Datasource
}

// State is where a machine is in its life.
type State string

const (
	// Pending: nspawn started, the machine's systemd has not finished
	// starting up.
	Pending State = "pending"
	// Running: its systemd reached the default target (READY=1).
	Running  State = "running"
	Stopping State = "stopping"
	// Stopped: nspawn has exited (powered off from outside or inside).
	Stopped State = "stopped"
)

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Machine is a booted Debian machine: systemd-nspawn on an overlayfs of
// its image's layers and a writable layer of its own, with a veth on the
// Host's bridge.
type Machine struct {
	spec  Spec
	host  *Host
	dir   string
	lease *Lease
	cmd   *exec.Cmd
	log   *slog.Logger

	ready chan struct{} // closed at READY=1
	done  chan struct{} // closed when nspawn has exited
	// exitErr is nspawn's exit, set before done is closed.
	exitErr error

	mu       sync.Mutex
	stopping bool
	freed    bool
	offErr   error
}

func (m *Machine) root() string  { return filepath.Join(m.dir, "root") }
func (m *Machine) upper() string { return filepath.Join(m.dir, "upper") }

// notifyPath is nspawn's sd_notify socket, under the Host's short run
// directory rather than its state directory (see runDir).
func (m *Machine) notifyPath() string { return filepath.Join(m.host.run, m.spec.Name+".notify") }

// Name is the machine's name.
func (m *Machine) Name() string { return m.spec.Name }

// Address is the machine's private address on the Host's network.
func (m *Machine) Address() netip.Addr { return m.spec.Address.Addr() }

// Spec is what the machine was booted with, defaults filled in.
func (m *Machine) Spec() Spec { return m.spec }

// Image is the id of the image the machine booted from.
func (m *Machine) Image() string { return m.spec.Image }

// PID is nspawn's process id.
func (m *Machine) PID() int { return m.cmd.Process.Pid }

// Dir is the machine's state directory (writable layer, mount point,
// console log).
func (m *Machine) Dir() string { return m.dir }

// ConsolePath is the file the machine's console is written to; it stays
// after power-off, until the Host closes.
func (m *Machine) ConsolePath() string { return filepath.Join(m.dir, "console.log") }

// Console returns everything the machine has written to its console.
func (m *Machine) Console() ([]byte, error) { return os.ReadFile(m.ConsolePath()) }

// Done is closed when the machine has stopped, however it stopped (a
// poweroff inside it too); PowerOff then still frees its layer.
func (m *Machine) Done() <-chan struct{} { return m.done }

// State says where the machine is in its life.
func (m *Machine) State() State {
	select {
	case <-m.done:
		return Stopped
	default:
	}
	m.mu.Lock()
	stopping := m.stopping
	m.mu.Unlock()
	if stopping {
		return Stopping
	}
	select {
	case <-m.ready:
		return Running
	default:
		return Pending
	}
}

// WaitRunning waits until the machine's systemd has finished starting up.
func (m *Machine) WaitRunning(ctx context.Context) error {
	select {
	case <-m.ready:
		return nil
	case <-m.done:
		return fmt.Errorf("machine %s stopped before it was running: %w\nconsole:\n%s", m.spec.Name, m.exitErr, m.consoleTail(20))
	case <-ctx.Done():
		return fmt.Errorf("machine %s not running: %w", m.spec.Name, context.Cause(ctx))
	}
}

func (m *Machine) consoleTail(n int) string {
	b, _ := m.Console() // for an error message only
	return tail(string(b), n)
}

// Boot starts a machine and returns while it is Pending; WaitRunning
// waits for it to be Running.
func (h *Host) Boot(ctx context.Context, spec Spec) (_ *Machine, err error) {
	if !validName.MatchString(spec.Name) {
		return nil, fmt.Errorf("machine name %q: want 1-64 of a-z, 0-9 and -", spec.Name)
	}
	m := &Machine{host: h, dir: filepath.Join(h.dir, spec.Name), log: h.log.With("machine", spec.Name),
		ready: make(chan struct{}), done: make(chan struct{})}
	m.spec = spec
	if err := h.add(m); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.free())
		}
	}()
	if !spec.Address.IsValid() {
		if m.spec.Address, err = h.net.Allocate(h.net.Subnets()[0]); err != nil {
			return nil, err
		}
	} else if err := h.net.Reserve(spec.Address); err != nil {
		return nil, err
	}
	if m.spec.Hostname == "" {
		m.spec.Hostname = "ip-" + strings.ReplaceAll(m.spec.Address.Addr().String(), ".", "-")
	}
	if m.spec.InstanceID == "" {
		m.spec.InstanceID = m.spec.Name
	}
	if m.lease, err = h.store.Acquire(spec.Image); err != nil {
		return nil, fmt.Errorf("machine %s: %w", spec.Name, err)
	}
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.MkdirAll(filepath.Join(m.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	lowers := make([]string, len(m.lease.Layers))
	for i, l := range m.lease.Layers {
		lowers[i] = l.Dir
	}
	if err := mountOverlay(m.root(), m.upper(), filepath.Join(m.dir, "work"), lowers); err != nil {
		return nil, err
	}
	files, err := instanceFiles(m.spec, h.gateway(m.spec.Address))
	if err != nil {
		return nil, err
	}
	if err := writeFiles(m.root(), files); err != nil {
		return nil, fmt.Errorf("machine %s: instance files: %w", spec.Name, err)
	}
	if err := m.start(ctx); err != nil {
		return nil, err
	}
	m.log.Info("machine booting", "address", m.spec.Address, "image", spec.Image, "pid", m.PID())
	return m, nil
}

// start runs nspawn in the Host's namespace (through nsenter: ip netns
// exec would remount /sys, and nspawn then cannot tell the cgroup
// hierarchy). Its stdout and stderr are the console log; its notify socket
// says when the machine's systemd is ready.
func (m *Machine) start(ctx context.Context) error {
	notify, err := listenNotify(m.notifyPath())
	if err != nil {
		return err
	}
	console, err := os.OpenFile(m.ConsolePath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		notify.Close()
		return err
	}
	defer console.Close() // the child has its own copy
	m.cmd = exec.Command("nsenter", "--net="+m.host.net.Path(), "--",
		"systemd-nspawn", "--quiet", "--boot",
		"--directory="+m.root(), "--machine="+m.spec.Name,
		"--network-bridge="+BridgeName,
		"--console=read-only", "--notify-ready=yes",
		// No systemd-machined or D-Bus is needed on the host.
		"--register=no", "--keep-unit",
		"--resolv-conf=off", "--timezone=off", "--link-journal=no")
	m.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify.LocalAddr().String(), "SYSTEMD_COLORS=0")
	m.cmd.Stdout, m.cmd.Stderr = console, console
	// Its own process group, so a ^C at a terminal reaches Ferry only,
	// which powers machines off in order; and SIGTERM (a clean power-off)
	// if Ferry dies without doing so. (Linux sends it when the thread that
	// forked exits; Go ends threads only when a goroutine exits locked to
	// one, which inNetns does only if it cannot switch a thread back.)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := m.cmd.Start(); err != nil {
		notify.Close()
		return fmt.Errorf("start nspawn for %s: %w", m.spec.Name, err)
	}
	go waitReady(notify, m.ready, m.log)
	go func() {
		m.exitErr = m.cmd.Wait()
		notify.Close()
		close(m.done)
		m.log.Info("machine stopped", "exit", m.exitErr)
	}()
	return ctx.Err()
}

// PowerOff shuts the machine down in order: SIGTERM to nspawn (which asks
// the machine's systemd to halt), then SIGKILL if it has not stopped within
// the Host's StopTimeout or ctx. It then unmounts the machine's root,
// deletes its writable layer, and frees its address and image. Calling it
// again returns the first call's result.
func (m *Machine) PowerOff(ctx context.Context) error {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		<-m.done
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.offErr
	}
	m.stopping = true
	m.mu.Unlock()

	var errs []error
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		errs = append(errs, err)
	}
	timer := time.NewTimer(m.host.opts.StopTimeout)
	defer timer.Stop()
	select {
	case <-m.done:
	case <-timer.C:
		m.log.Warn("machine did not power off in time; killing it", "timeout", m.host.opts.StopTimeout)
	case <-ctx.Done():
		m.log.Warn("power-off cancelled; killing the machine", "cause", context.Cause(ctx))
	}
	select {
	case <-m.done:
	default:
		// nspawn's children die with it (their parent-death signal), and
		// the machine's processes with its PID 1.
		if err := syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
		<-m.done
	}
	errs = append(errs, m.free())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offErr = errors.Join(errs...)
	return m.offErr
}

// free undoes what Boot set up: the mount, the writable layer, the lease
// on the image and the address. The console log stays.
func (m *Machine) free() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return nil
	}
	m.freed = true
	var errs []error
	for _, d := range []string{"root", "upper", "work"} {
		errs = append(errs, removeTree(filepath.Join(m.dir, d)))
	}
	if err := os.Remove(m.notifyPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if m.lease != nil {
		m.lease.Release()
	}
	if m.spec.Address.IsValid() {
		m.host.net.Release(m.spec.Address.Addr())
	}
	m.host.remove(m.spec.Name)
	return errors.Join(errs...)
}

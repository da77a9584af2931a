package awssim

import (
	"context"
	"net"
	"time"
)

// backend is what a simulated instance is. The Sim keeps every resource's
// API state and runs the control loop; at each point of an instance's or an
// image's life it tells its backend, which makes the instance real:
//
//   - stubBackend (the default): an instance is a loopback address and,
//     with Options.App, an HTTP app served on it; it boots, shuts down and
//     is imaged on the simulator's clock (BootDelay, ShutdownDelay,
//     ImageBuildTime).
//   - machineBackend (Options.Machines): an instance is a Debian machine
//     booted with systemd-nspawn on a network namespace of Ferry's own; it
//     is running when its systemd is, terminated when it has powered off,
//     and an image is a filesystem layer.
//
// Every method but dial and close is called with s.mu held and must not
// block: slow work runs on the backend's own goroutines, and the control
// loop learns its outcome by asking (observeLocked, capturedLocked).
type backend interface {
	// launchLocked gives a new pending instance its private address and
	// starts it. img is the instance's image, nil when the account has no
	// such image (the stubs launch anything; machines need a layer). An
	// error fails the launch and the instance is never created.
	launchLocked(inst *instance, img *image) *APIError
	// observeLocked says what the instance's host is doing now: still
	// booting, running, or stopped (after terminateLocked, or by itself,
	// with a StateReason [API_StateReason]).
	observeLocked(inst *instance, now time.Time) (hostState, string)
	// runningLocked is called when the instance enters running.
	runningLocked(inst *instance)
	// terminateLocked starts shutting the instance down; graceful lets
	// requests in flight finish (Auto Scaling terminates after draining).
	terminateLocked(inst *instance, graceful bool)
	// captureLocked starts making img from inst (CreateImage).
	captureLocked(img *image, inst *instance) *APIError
	// capturedLocked reports whether img's capture has finished, and how.
	capturedLocked(img *image, now time.Time) (done bool, err error)
	// releaseLocked is called when nothing in the account uses a
	// snapshot any more (DeleteSnapshot): what held its data may go.
	releaseLocked(snap *snapshot)
	// endpointLocked says how a balancer reaches port of the instance,
	// speaking proto (HTTP, HTTPS, TCP, SSL).
	endpointLocked(inst *instance, proto string, port int) (endpoint, probeMode)
	// consoleLocked returns the instance's console output.
	consoleLocked(inst *instance) []byte
	// dial connects a balancer to an endpoint's address.
	dial(ctx context.Context, network, addr string) (net.Conn, error)
	// close stops every instance and frees what the backend made.
	close(ctx context.Context) error
}

// hostState is where an instance's host is in its life.
type hostState int

const (
	hostBooting hostState = iota
	hostRunning
	hostStopping
	hostStopped
)

// endpoint is where a balancer reaches an instance's port.
type endpoint struct {
	addr string // host:port for backend.dial
	tls  bool   // HTTPS and SSL speak TLS to the instance
}

// probeMode says how a health check of an endpoint is decided.
type probeMode int

const (
	probeReal   probeMode = iota // a real request to the endpoint
	probePasses                  // every check passes (stubs without an App)
	probeFails                   // nothing listens (an instance whose app is gone)
)

// StateReasons of instances that stop without a TerminateInstances
// [API_StateReason].
const (
	reasonInternalError  = "Server.InternalError: An internal error caused the instance to terminate during launch."
	reasonInstanceHalted = "Client.InstanceInitiatedShutdown: Instance initiated shutdown"
)

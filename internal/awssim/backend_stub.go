package awssim

import (
	"context"
	"net"
	"time"
)

// stubBackend is the fast backend: an instance is an address in
// 127.0.0.0/8 and, with Options.App, the app's HTTP handler served on it
// (apps.go). Boots, shutdowns and image builds last BootDelay,
// ShutdownDelay and ImageBuildTime on the simulator's clock.
type stubBackend struct{ s *Sim }

var _ backend = stubBackend{}

func (b stubBackend) launchLocked(inst *instance, _ *image) *APIError {
	inst.PrivateIP = b.s.allocIPLocked()
	return nil
}

func (b stubBackend) observeLocked(inst *instance, now time.Time) (hostState, string) {
	switch inst.State {
	case statePending:
		if now.Before(inst.ReadyAt) {
			return hostBooting, ""
		}
	case stateShuttingDown:
		if now.Before(inst.GoneAt) {
			return hostStopping, ""
		}
		return hostStopped, ""
	case stateTerminated:
		return hostStopped, ""
	}
	return hostRunning, ""
}

func (b stubBackend) runningLocked(inst *instance) { b.s.startAppLocked(inst.ID) }

func (b stubBackend) terminateLocked(inst *instance, graceful bool) {
	b.s.stopAppLocked(inst.ID, graceful)
}

func (b stubBackend) captureLocked(*image, *instance) *APIError { return nil }

func (b stubBackend) capturedLocked(img *image, now time.Time) (bool, error) {
	return !now.Before(img.ReadyAt), nil
}

func (b stubBackend) releaseLocked(*snapshot) {}

// endpointLocked: the app answers on its own port whatever port or
// protocol the balancer names, in plain HTTP. Without an App every check
// passes; an instance whose app is gone refuses connections.
func (b stubBackend) endpointLocked(inst *instance, _ string, _ int) (endpoint, probeMode) {
	if b.s.opts.App == nil {
		return endpoint{}, probePasses
	}
	if a := b.s.apps[inst.ID]; a != nil {
		return endpoint{addr: a.addr}, probeReal
	}
	return endpoint{addr: net.JoinHostPort(inst.PrivateIP, "1")}, probeFails
}

func (b stubBackend) consoleLocked(*instance) []byte { return nil }

func (b stubBackend) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	return d.DialContext(ctx, network, addr)
}

// close stops the apps still serving.
func (b stubBackend) close(context.Context) error {
	b.s.mu.Lock()
	apps := b.s.apps
	b.s.apps = map[string]*appServer{}
	b.s.mu.Unlock()
	for _, a := range apps {
		a.stop(false)
	}
	return nil
}

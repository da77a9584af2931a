package awssim

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// appServer is the real HTTP application of one running instance, served on
// the instance's own loopback address.
type appServer struct {
	addr string // host:port it listens on
	srv  *http.Server
}

func (a *appServer) stop(graceful bool) {
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.srv.Shutdown(ctx); err == nil {
			return
		}
	}
	_ = a.srv.Close()
}

// startAppLocked asks Options.App for the instance's handler and serves it,
// on a goroutine of its own (the App may take its time, or call the
// simulator).
func (s *Sim) startAppLocked(id string) {
	inst := s.st.Instances[id]
	if s.opts.App == nil || inst == nil || s.apps[id] != nil || inst.NeverHealthy {
		return
	}
	info := Instance{
		ID: inst.ID, PrivateIP: inst.PrivateIP, ImageID: inst.ImageID, InstanceType: inst.InstanceType,
		UserData: inst.UserData, LaunchConfig: inst.LaunchConfig, LaunchTemplate: ltLabel(inst.LaunchTemplate),
		Tags: map[string]string{},
	}
	for k, v := range inst.Tags {
		info.Tags[k] = v
	}
	ctx := s.ctx
	if s.closed {
		return
	}
	// The App runs on its own goroutine: a slow one must not hold up the
	// control loop.
	s.wg.Add(1)
	go s.runApp(ctx, info)
}

// runApp asks Options.App for the instance's handler and serves it on the
// instance's address.
func (s *Sim) runApp(ctx context.Context, info Instance) {
	defer s.wg.Done()
	h, err := s.opts.App(ctx, info)
	if err != nil {
		s.log.Warn("awssim: instance app failed to start", "instance", info.ID, "err", err)
		return
	}
	if h == nil {
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(info.PrivateIP, "0"))
	if err != nil {
		s.log.Warn("awssim: instance app cannot listen", "instance", info.ID, "ip", info.PrivateIP, "err", err)
		return
	}
	a := &appServer{addr: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	s.mu.Lock()
	cur := s.st.Instances[info.ID]
	if s.closed || cur == nil || cur.State != stateRunning || s.apps[info.ID] != nil {
		s.mu.Unlock()
		_ = ln.Close()
		return
	}
	s.apps[info.ID] = a
	s.mu.Unlock()
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("awssim: instance app stopped", "instance", info.ID, "err", err)
		}
	}()
	s.log.Debug("awssim: instance app serving", "instance", info.ID, "addr", a.addr)
}

// stopAppLocked stops the instance's app once s.mu is released: gracefully
// (requests in flight finish) or at once (connections are cut).
func (s *Sim) stopAppLocked(id string, graceful bool) {
	a := s.apps[id]
	if a == nil || s.closed { // Close stops the apps left
		return
	}
	delete(s.apps, id)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		a.stop(graceful)
	}()
}

// InstanceAddr returns the host:port an instance's app listens on, if it
// has one running.
func (s *Sim) InstanceAddr(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[id]; a != nil {
		return a.addr, true
	}
	return "", false
}

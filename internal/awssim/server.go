package awssim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/machines"
)

// Server is a simulator serving the AWS APIs over HTTP.
type Server struct {
	*Sim
	// URL is the endpoint to give the SDK clients (BaseEndpoint or
	// AWS_ENDPOINT_URL), e.g. http://127.0.0.1:41234.
	URL string
	// InstanceURL is the same API as the machines' instances reach it, on
	// the default subnet's router address (http://172.31.0.1:PORT), as an
	// instance reaches AWS's regional endpoints; empty without machines.
	InstanceURL string
	srv         *http.Server
}

// Start creates a simulator, starts its control loop and serves it on
// opts.Listen (default 127.0.0.1:0). Close stops it.
func Start(opts Options, logger *slog.Logger) (*Server, error) {
	sim, err := New(opts, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", sim.opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("awssim: listen: %w", err)
	}
	if err := sim.Start(); err != nil {
		_ = ln.Close()
		_ = sim.Close()
		return nil, fmt.Errorf("awssim: start: %w", err)
	}
	srv := &Server{Sim: sim, URL: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}}
	lns := []net.Listener{ln}
	if n := sim.MachineNetwork(); n != nil {
		// The same URL works inside the machines' namespace, for commands
		// run there (ferry sim --machines -- CMD) and, later, instances.
		nln, err := n.Listen(sim.ctx, "tcp", ln.Addr().String())
		if err != nil {
			_ = ln.Close()
			return nil, errors.Join(fmt.Errorf("awssim: listen in %s: %w", n.Name(), err), sim.Close())
		}
		lns = append(lns, nln)
		// Instances cannot reach the namespace's loopback: they reach the
		// API at their router, e.g. `ferry secrets fetch` at boot.
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		iaddr := net.JoinHostPort(machines.Router(machines.DefaultSubnet).String(), port)
		iln, err := n.Listen(sim.ctx, "tcp", iaddr)
		if err != nil {
			_ = ln.Close()
			_ = nln.Close()
			return nil, errors.Join(fmt.Errorf("awssim: listen on %s in %s: %w", iaddr, n.Name(), err), sim.Close())
		}
		lns = append(lns, iln)
		srv.InstanceURL = "http://" + iaddr
	}
	for _, l := range lns {
		go func() {
			if err := srv.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				sim.log.Error("awssim: server stopped", "err", err)
			}
		}()
	}
	sim.log.Info("awssim: serving AWS APIs", "url", srv.URL, "region", sim.opts.Region)
	return srv, nil
}

// Close stops serving, then closes the simulator (saving its state).
func (srv *Server) Close() error {
	srv.Sim.cancel() // ends requests waiting on injected latency
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.srv.Shutdown(ctx)
	if err != nil {
		_ = srv.srv.Close()
	}
	return errors.Join(err, srv.Sim.Close())
}

// Run serves a simulator until ctx is done: the entry point of
// `ferry sim --listen ADDR [--state FILE]`.
func Run(ctx context.Context, opts Options, logger *slog.Logger) error {
	srv, err := Start(opts, logger)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return srv.Close()
}

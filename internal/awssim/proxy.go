package awssim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// lbProxy is one real listener of a simulated load balancer (a Classic
// ELB, or the balancer in front of a target group): it forwards each
// request to one healthy registered instance, round robin, without
// retrying, so a client sees every request that fails.
//
// Each balancer has one plain HTTP listener, its URL (key "elb/NAME" or
// "tg/ARN"). With machines, it forwards as the balancer's first HTTP
// listener does (to that InstancePort, in the InstanceProtocol: TLS to
// the instance for HTTPS), and each other HTTP or HTTPS listener gets a
// listener of its own (key "elb/NAME:PORT"), HTTPS ones with the
// simulator's self-signed certificate. A target group's listener forwards
// to each target's port in the group's protocol.
type lbProxy struct {
	key      string // in s.proxies and GET /_awssim/balancers
	balancer string // "elb/NAME" or "tg/ARN"
	proto    string // the instance side's protocol (HTTP, HTTPS); "" for a target group's
	port     int    // the instance port; 0 for a target group's (each target's own)
	tlsFront bool   // the client side speaks TLS (an HTTPS listener)
	url      string
	srv      *http.Server
	tr       *http.Transport
	next     int
}

func (p *lbProxy) close() {
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
}

type backendKey struct{}

// startProxyLocked opens the listeners of balancer key ("elb/NAME" or
// "tg/ARN") on 127.0.0.1:0.
func (s *Sim) startProxyLocked(key string) error {
	if s.proxies[key] != nil || s.closed {
		return nil
	}
	main := &lbProxy{key: key, balancer: key, proto: "HTTP", port: 80}
	var extra []*lbProxy
	if name, ok := strings.CutPrefix(key, "elb/"); ok && s.MachineNetwork() != nil {
		if lb := s.st.ELBs[name]; lb != nil {
			first := true
			for _, l := range lb.Listeners {
				if l.Protocol != "HTTP" && l.Protocol != "HTTPS" {
					continue // TCP and SSL listeners are not simulated
				}
				if first && l.Protocol == "HTTP" {
					main.proto, main.port, first = l.InstanceProtocol, l.InstancePort, false
					continue
				}
				extra = append(extra, &lbProxy{key: key + ":" + strconv.Itoa(l.Port), balancer: key,
					proto: l.InstanceProtocol, port: l.InstancePort, tlsFront: l.Protocol == "HTTPS"})
			}
			if first && len(lb.Listeners) > 0 { // no HTTP listener: forward as the first one does
				main.proto, main.port = lb.Listeners[0].InstanceProtocol, lb.Listeners[0].InstancePort
			}
		}
	}
	if strings.HasPrefix(key, "tg/") {
		main.proto, main.port = "", 0
	}
	var errs []error
	for _, p := range append([]*lbProxy{main}, extra...) {
		errs = append(errs, s.serveProxyLocked(p))
	}
	return errors.Join(errs...)
}

// serveProxyLocked listens for p on 127.0.0.1 (and, with machines, at the
// same address inside their namespace, so commands run there reach it at
// the same URL) and serves it.
func (s *Sim) serveProxyLocked(p *lbProxy) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listener for %s: %w", p.key, err)
	}
	lns := []net.Listener{ln}
	if n := s.MachineNetwork(); n != nil {
		if nln, err := n.Listen(s.ctx, "tcp", ln.Addr().String()); err == nil {
			lns = append(lns, nln)
		} else {
			s.log.Warn("awssim: balancer listener in the machines' namespace", "balancer", p.key, "err", err)
		}
	}
	scheme := "http"
	if p.tlsFront {
		cert, err := s.balancerCertLocked()
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("certificate for %s: %w", p.key, err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		for i := range lns {
			lns[i] = tls.NewListener(lns[i], cfg)
		}
		scheme = "https"
	}
	p.url = scheme + "://" + ln.Addr().String()
	p.tr = &http.Transport{
		DialContext:         s.backend.dial,
		TLSClientConfig:     backendTLS(),
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			ep, _ := pr.In.Context().Value(backendKey{}).(endpoint)
			u := &url.URL{Scheme: "http", Host: ep.addr}
			if ep.tls {
				u.Scheme = "https"
			}
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: p.tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("awssim: balancer backend failed", "balancer", p.key, "err", err)
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ep, ok := s.pickBackend(p)
			if !ok {
				http.Error(w, "503 Service Unavailable: no healthy instances", http.StatusServiceUnavailable)
				return
			}
			rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, ep)))
		}),
	}
	s.proxies[p.key] = p
	for _, l := range lns {
		go func() {
			if err := p.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("awssim: balancer listener stopped", "balancer", p.key, "err", err)
			}
		}()
	}
	s.log.Info("awssim: balancer listening", "balancer", p.key, "url", p.url)
	return nil
}

// stopProxiesLocked closes every listener of a deleted balancer once s.mu
// is released.
func (s *Sim) stopProxiesLocked(balancer string) {
	for _, key := range sortedKeys(s.proxies) {
		if px := s.proxies[key]; px.balancer == balancer {
			delete(s.proxies, key)
			s.afterUnlock = append(s.afterUnlock, px.close)
		}
	}
}

// pickBackend returns where the next healthy instance of the balancer
// answers p's requests, false when there is none.
func (s *Sim) pickBackend(p *lbProxy) (endpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proxies[p.key] != p {
		return endpoint{}, false
	}
	ports := map[string]int{}
	switch {
	case strings.HasPrefix(p.balancer, "elb/"):
		if lb := s.st.ELBs[strings.TrimPrefix(p.balancer, "elb/")]; lb != nil {
			for id, m := range lb.Members {
				if m.State == elbInService {
					ports[id] = p.port
				}
			}
		}
	case strings.HasPrefix(p.balancer, "tg/"):
		if tg := s.st.TargetGroups[strings.TrimPrefix(p.balancer, "tg/")]; tg != nil {
			for id, t := range tg.Targets {
				if t.State == tgHealthy {
					ports[id] = orDefault(t.Port, tg.Port)
				}
			}
		}
	}
	proto := p.proto
	if strings.HasPrefix(p.balancer, "tg/") {
		if tg := s.st.TargetGroups[strings.TrimPrefix(p.balancer, "tg/")]; tg != nil {
			proto = tg.Protocol
		}
	}
	ids := sortedKeys(ports)
	var eps []endpoint
	for _, id := range ids {
		inst := s.st.Instances[id]
		if inst == nil {
			continue
		}
		// Registered and believed healthy, even if its app is gone: the
		// balancer still sends it traffic until health checks notice.
		if ep, _ := s.backend.endpointLocked(inst, proto, ports[id]); ep.addr != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return endpoint{}, false
	}
	p.next = (p.next + 1) % len(eps)
	return eps[p.next], true
}

// orDefault returns a unless it is zero, else b.
func orDefault(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// LoadBalancerURL returns the URL of a Classic ELB's real HTTP listener.
func (s *Sim) LoadBalancerURL(name string) (string, bool) {
	return s.proxyURL("elb/" + name)
}

// LoadBalancerListenerURL returns the URL of the listener that stands for
// a Classic ELB's listener on port (machines only, for listeners other
// than its first HTTP one), e.g. https://127.0.0.1:40123 for HTTPS:443.
func (s *Sim) LoadBalancerListenerURL(name string, port int) (string, bool) {
	return s.proxyURL("elb/" + name + ":" + strconv.Itoa(port))
}

// TargetGroupURL returns the URL of the real HTTP listener in front of a
// target group.
func (s *Sim) TargetGroupURL(arn string) (string, bool) {
	return s.proxyURL("tg/" + arn)
}

func (s *Sim) proxyURL(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.proxies[key]; p != nil {
		return p.url, true
	}
	return "", false
}

package awssim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"time"
)

// lbProxy is the real HTTP listener of a simulated load balancer (a Classic
// ELB, or the balancer in front of a target group): it forwards each request
// to one healthy registered instance, round robin, without retrying, so a
// client sees every request that fails.
type lbProxy struct {
	key  string
	url  string
	srv  *http.Server
	tr   *http.Transport
	next int
}

func (p *lbProxy) close() {
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
}

type backendKey struct{}

// startProxyLocked opens the listener of balancer key ("elb/NAME" or
// "tg/ARN") on 127.0.0.1:0.
func (s *Sim) startProxyLocked(key string) error {
	if s.proxies[key] != nil || s.closed {
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listener for %s: %w", key, err)
	}
	tr := &http.Transport{
		DialContext:         s.backend.dial,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			addr, _ := pr.In.Context().Value(backendKey{}).(string)
			pr.SetURL(&url.URL{Scheme: "http", Host: addr})
			pr.SetXForwarded()
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("awssim: balancer backend failed", "balancer", key, "err", err)
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		},
	}
	p := &lbProxy{key: key, url: "http://" + ln.Addr().String(), tr: tr}
	p.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr := s.pickBackend(key)
			if addr == "" {
				http.Error(w, "503 Service Unavailable: no healthy instances", http.StatusServiceUnavailable)
				return
			}
			rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, addr)))
		}),
	}
	s.proxies[key] = p
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("awssim: balancer listener stopped", "balancer", key, "err", err)
		}
	}()
	s.log.Info("awssim: balancer listening", "balancer", key, "url", p.url)
	return nil
}

// pickBackend returns the app address of the next healthy instance of the
// balancer, "" when there is none.
func (s *Sim) pickBackend(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proxies[key]
	if p == nil {
		return ""
	}
	var ids []string
	switch {
	case strings.HasPrefix(key, "elb/"):
		if lb := s.st.ELBs[strings.TrimPrefix(key, "elb/")]; lb != nil {
			for id, m := range lb.Members {
				if m.State == elbInService {
					ids = append(ids, id)
				}
			}
		}
	case strings.HasPrefix(key, "tg/"):
		if tg := s.st.TargetGroups[strings.TrimPrefix(key, "tg/")]; tg != nil {
			for id, t := range tg.Targets {
				if t.State == tgHealthy {
					ids = append(ids, id)
				}
			}
		}
	}
	sort.Strings(ids)
	var addrs []string
	for _, id := range ids {
		inst := s.st.Instances[id]
		if inst == nil {
			continue
		}
		// Registered and believed healthy, even if its app is gone: the
		// balancer still sends it traffic until health checks notice.
		if ep, _ := s.backend.endpointLocked(inst, "HTTP", 80); ep.addr != "" {
			addrs = append(addrs, ep.addr)
		}
	}
	if len(addrs) == 0 {
		return ""
	}
	p.next = (p.next + 1) % len(addrs)
	return addrs[p.next]
}

// LoadBalancerURL returns the URL of a Classic ELB's real HTTP listener.
func (s *Sim) LoadBalancerURL(name string) (string, bool) {
	return s.proxyURL("elb/" + name)
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

package awssim

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Classic ELB instance states [API_InstanceState] and ELBv2 target states
// [API_TargetHealth].
const (
	elbInService    = "InService"
	elbOutOfService = "OutOfService"

	tgInitial   = "initial"
	tgHealthy   = "healthy"
	tgUnhealthy = "unhealthy"
	tgUnused    = "unused"
	tgDraining  = "draining"

	minProbeTimeout = time.Second
)

// parseHealthTarget reads a Classic ELB health check target such as
// HTTP:80/healthcheck.html or TCP:22 [API_HealthCheck].
func parseHealthTarget(t string) (proto string, port int, path string, ok bool) {
	proto, rest, found := strings.Cut(t, ":")
	if !found {
		return "", 0, "", false
	}
	proto = strings.ToUpper(proto)
	portStr := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		portStr, path = rest[:i], rest[i:]
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, "", false
	}
	switch proto {
	case "HTTP", "HTTPS":
		if path == "" {
			return "", 0, "", false
		}
	case "TCP", "SSL":
		if path != "" {
			return "", 0, "", false
		}
	default:
		return "", 0, "", false
	}
	return proto, port, path, true
}

// firstCheckDue is when a target registered at now gets its first health
// check: at once (the control loop's next tick). AWS checks each registered
// target every Interval and documents no wait before the first one
// [elb-healthchecks; target-group-health-checks: "After your target is
// registered, it must pass one health check"]; its checkers keep their own
// cadence, so there a first check comes from at once to about an Interval
// after registration, and the simulator takes the earliest. Later checks
// are Interval apart and the thresholds count as configured.
func firstCheckDue(now time.Time) time.Time { return now }

// advanceHealthLocked runs the due health checks of every balancer and
// target group, and ends finished deregistration delays.
func (s *Sim) advanceHealthLocked(now time.Time) {
	for _, name := range sortedKeys(s.st.ELBs) {
		lb := s.st.ELBs[name]
		for _, id := range sortedKeys(lb.Members) {
			s.checkTargetLocked(lb.HealthCheck, lb.Members[id], now, false)
		}
	}
	for _, arn := range sortedKeys(s.st.TargetGroups) {
		tg := s.st.TargetGroups[arn]
		inUse := len(s.targetGroupLoadBalancersLocked(arn)) > 0
		for _, id := range sortedKeys(tg.Targets) {
			t := tg.Targets[id]
			if t.State == tgDraining {
				if !now.Before(t.DrainUntil) {
					delete(tg.Targets, id)
				}
				continue
			}
			if !inUse {
				// No load balancer sends it traffic, so nothing checks its
				// targets (they are unused, Target.NotInUse); once one
				// does, they start over as just registered.
				if t.Checked || t.State != tgInitial {
					t.probeCounter++
					t.probing = false
					*t = target{ID: t.ID, Port: t.Port, Registered: t.Registered, State: tgInitial,
						Reason: "Elb.RegistrationInProgress", probeCounter: t.probeCounter}
				}
				t.NextCheck = now
				continue
			}
			s.checkTargetLocked(tg.HealthCheck, t, now, true)
		}
	}
}

// checkTargetLocked starts a health check of t when one is due. When the
// backend knows the outcome (a stub without an App, an app that is gone)
// it is recorded at once; otherwise it is a real request made outside the
// lock and recorded when it returns.
func (s *Sim) checkTargetLocked(hc healthCheck, t *target, now time.Time, v2 bool) {
	inst := s.st.Instances[t.ID]
	// A balancer learns that an instance is gone only from its health
	// checks; once they have failed, it reports the terminated state.
	if inst == nil || inst.State == stateTerminated && t.State != elbInService && t.State != tgHealthy {
		t.Passes, t.Fails = 0, 0
		if v2 {
			t.State, t.Reason = tgUnused, "Target.InvalidState"
		} else {
			t.State, t.Reason = elbOutOfService, "Instance is in terminated state."
		}
		return
	}
	if t.probing || now.Before(t.NextCheck) {
		return
	}
	t.NextCheck = now.Add(s.opts.secs(hc.Interval))
	if inst.State != stateRunning || inst.NeverHealthy {
		t.record(false, hc, v2)
		return
	}
	port := hc.Port
	if v2 && hc.PortSpec == "traffic-port" && t.Port != 0 {
		port = t.Port // the port the target was registered on [API_CreateTargetGroup]
	}
	ep, mode := s.backend.endpointLocked(inst, hc.Protocol, port)
	switch mode {
	case probePasses:
		t.record(true, hc, v2)
		return
	case probeFails:
		t.record(false, hc, v2)
		return
	}
	if s.closed {
		return
	}
	t.probing = true
	t.probeCounter++
	gen := t.probeCounter
	timeout := max(s.opts.secs(hc.Timeout), minProbeTimeout)
	ctx := s.ctx
	dial := s.backend.dial
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ok := probe(ctx, hc, ep, dial, timeout)
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.probeCounter == gen {
			t.probing = false
			t.record(ok, hc, v2)
		}
	}()
}

// dialFunc connects to an instance: net.Dialer's, or from inside the
// machines' network namespace.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// backendTLS is how balancers speak TLS to instances: without checking
// their certificate, as ELB does unless a back-end authentication policy
// names the instances' public keys [elb-create-https-ssl-load-balancer].
func backendTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // ELB accepts any back-end certificate
}

// probe makes one health check of the endpoint: a connection (TCP), a TLS
// handshake (SSL), or a GET of the path answered with a status the
// matcher accepts (HTTP, HTTPS).
func probe(ctx context.Context, hc healthCheck, ep endpoint, dial dialFunc, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch hc.Protocol {
	case "TCP", "SSL", "TLS":
		c, err := dial(ctx, "tcp", ep.addr)
		if err != nil {
			return false
		}
		defer c.Close()
		if hc.Protocol != "TCP" && ep.tls {
			return tls.Client(c, backendTLS()).HandshakeContext(ctx) == nil
		}
		return true
	}
	scheme := "http"
	if ep.tls {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+ep.addr+hc.Path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	req.Close = true
	tr := &http.Transport{DialContext: dial, TLSClientConfig: backendTLS(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return matchCode(hc.Matcher, resp.StatusCode)
}

// matchCode checks an HTTP status against a matcher such as "200",
// "200,202" or "200-299"; Classic ELB's empty matcher means 200.
func matchCode(m string, code int) bool {
	if m == "" {
		m = "200"
	}
	for _, part := range strings.Split(m, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if code >= a && code <= b {
			return true
		}
	}
	return false
}

// record counts one check's outcome and moves the state once a threshold
// of consecutive outcomes is reached.
func (t *target) record(ok bool, hc healthCheck, v2 bool) {
	t.Checked = true
	if ok {
		t.Passes++
		t.Fails = 0
	} else {
		t.Fails++
		t.Passes = 0
	}
	if v2 {
		switch {
		case t.State == tgDraining:
		case t.Passes >= hc.Healthy && t.State != tgHealthy:
			t.State, t.Reason = tgHealthy, ""
		case t.Fails >= hc.Unhealthy && t.State != tgUnhealthy:
			t.State, t.Reason = tgUnhealthy, "Target.FailedHealthChecks"
		case t.State == tgInitial:
			t.Reason = "Elb.InitialHealthChecking"
		}
		return
	}
	switch {
	case t.Passes >= hc.Healthy && t.State != elbInService:
		t.State, t.Reason = elbInService, ""
	case t.Fails >= hc.Unhealthy && (t.State == elbInService || t.Reason == elbRegistering):
		t.State, t.Reason = elbOutOfService, elbFailedChecks
	}
}

const (
	elbRegistering  = "Instance registration is still in progress."
	elbFailedChecks = "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
	elbNotMember    = "Instance is not currently registered with the LoadBalancer."
)

func (hc healthCheck) target() string {
	if hc.Protocol == "TCP" || hc.Protocol == "SSL" {
		return fmt.Sprintf("%s:%d", hc.Protocol, hc.Port)
	}
	return fmt.Sprintf("%s:%d%s", hc.Protocol, hc.Port, hc.Path)
}

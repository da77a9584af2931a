package awssim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// handlerFunc answers one action. It runs with s.mu held.
type handlerFunc func(s *Sim, p params) ([]*node, *APIError)

// service is one AWS API: its wire dialect and actions.
type service struct {
	name     string // counter prefix and signing name
	version  string
	dialect  dialect
	actions  map[string]handlerFunc
	throttle *APIError // the error a throttling fault answers
	internal *APIError // the error a 5xx fault answers
}

// services by API version, the field every query request carries.
func services() map[string]*service {
	svcs := []*service{
		{
			name: "ec2", version: "2016-11-15",
			dialect:  dialect{xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", ec2: true},
			actions:  ec2Actions(),
			throttle: &APIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Status: http.StatusServiceUnavailable},
			internal: &APIError{Code: "InternalError", Message: "An internal error has occurred", Status: http.StatusInternalServerError},
		},
		{
			name: "autoscaling", version: "2011-01-01",
			dialect:  dialect{xmlns: "http://autoscaling.amazonaws.com/doc/2011-01-01/"},
			actions:  autoscalingActions(),
			throttle: &APIError{Code: "Throttling", Message: "Rate exceeded", Status: http.StatusBadRequest},
			internal: &APIError{Code: "InternalFailure", Message: "An internal error has occurred", Status: http.StatusInternalServerError},
		},
		{
			name: "elb", version: "2012-06-01",
			dialect:  dialect{xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/"},
			actions:  elbActions(),
			throttle: &APIError{Code: "Throttling", Message: "Rate exceeded", Status: http.StatusBadRequest},
			internal: &APIError{Code: "ServiceUnavailable", Message: "Service Unavailable", Status: http.StatusServiceUnavailable},
		},
		{
			name: "elbv2", version: "2015-12-01",
			dialect:  dialect{xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"},
			actions:  elbv2Actions(),
			throttle: &APIError{Code: "Throttling", Message: "Rate exceeded", Status: http.StatusBadRequest},
			internal: &APIError{Code: "ServiceUnavailable", Message: "Service Unavailable", Status: http.StatusServiceUnavailable},
		},
	}
	m := map[string]*service{}
	for _, s := range svcs {
		m[s.version] = s
	}
	return m
}

// ServeHTTP answers one AWS query-protocol request, or an /_awssim/ admin
// request.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_awssim/") {
		s.serveAdmin(w, r)
		return
	}
	reqID := s.requestID()
	if err := r.ParseForm(); err != nil {
		writePlainError(w, reqID, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	form := params{v: r.Form}
	version := form.str("Version")
	svc := s.services[version]
	if svc == nil {
		svc = s.serviceBySigningName(r)
	}
	if svc == nil {
		writePlainError(w, reqID, http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("unsupported API version %q", version))
		return
	}
	action := form.str("Action")
	h := svc.actions[action]
	if apiErr := s.checkInstanceCredentials(svc, r); apiErr != nil {
		svc.dialect.writeError(w, reqID, apiErr)
		return
	}

	s.mu.Lock()
	s.counts[svc.name+":"+action]++
	fault, bucketEmpty := s.faultForLocked(svc.name, action)
	injected := fault.injected(svc, bucketEmpty, s.rnd.Float64)
	s.mu.Unlock()

	if fault.Latency > 0 {
		t := time.NewTimer(fault.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.ctx.Done():
			t.Stop()
			writePlainError(w, reqID, http.StatusServiceUnavailable, "ServiceUnavailable", "simulator shutting down")
			return
		}
	}
	if injected != nil {
		svc.dialect.writeError(w, reqID, injected)
		return
	}
	if h == nil {
		svc.dialect.writeError(w, reqID, errf("InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	s.mu.Lock()
	body, apiErr := h(s, form)
	if apiErr == nil {
		s.dirty = true
	}
	s.mu.Unlock()
	s.runAfterUnlock()
	if apiErr != nil {
		s.log.Debug("awssim: request failed", "service", svc.name, "action", action, "code", apiErr.Code, "message", apiErr.Message)
		svc.dialect.writeError(w, reqID, apiErr)
		return
	}
	svc.dialect.writeResult(w, action, reqID, body)
}

// serviceBySigningName picks the service from the SigV4 credential scope
// when a request carries no Version.
func (s *Sim) serviceBySigningName(r *http.Request) *service {
	auth := r.Header.Get("Authorization")
	for _, part := range strings.Split(auth, ",") {
		part = strings.TrimSpace(part)
		i := strings.Index(part, "Credential=")
		if i < 0 {
			continue
		}
		scope := strings.Split(part[i+len("Credential="):], "/")
		if len(scope) >= 4 {
			switch scope[3] {
			case "ec2":
				return s.services["2016-11-15"]
			case "autoscaling":
				return s.services["2011-01-01"]
			}
		}
	}
	return nil
}

func (s *Sim) requestID() string {
	s.mu.Lock()
	s.reqSeq++
	n := s.reqSeq
	r := s.rnd.Uint64()
	s.mu.Unlock()
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(n), uint16(r>>48), uint16(r>>36)&0xfff, uint16(r>>24)&0xfff, r&0xffffffffffff)
}

func writePlainError(w http.ResponseWriter, reqID string, status int, code, msg string) {
	dialect{xmlns: ""}.writeError(w, reqID, &APIError{Code: code, Message: msg, Status: status})
}

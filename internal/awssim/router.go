package awssim

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// handlerFunc answers one action. It runs with s.mu held.
type handlerFunc func(s *Sim, p params) ([]*node, *APIError)

// service is one AWS API: its wire dialect and actions. A query-protocol
// service has a version and actions; an awsJson one a target prefix and
// jsonActions.
type service struct {
	name        string // counter prefix and signing name
	version     string
	target      string // awsJson: X-Amz-Target is target + "." + action
	dialect     dialect
	actions     map[string]handlerFunc
	jsonActions map[string]jsonHandlerFunc
	throttle    *APIError // the error a throttling fault answers
	internal    *APIError // the error a 5xx fault answers
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

// jsonServices are the awsJson 1.1 APIs by X-Amz-Target prefix.
func jsonServices() map[string]*service {
	svcs := []*service{
		{
			name: "ssm", target: "AmazonSSM",
			dialect:     dialect{json: true},
			jsonActions: ssmActions(),
			throttle:    &APIError{Code: "ThrottlingException", Message: "Rate exceeded", Status: http.StatusBadRequest},
			internal:    &APIError{Code: "InternalServerError", Message: "An internal error has occurred", Status: http.StatusInternalServerError},
		},
	}
	m := map[string]*service{}
	for _, s := range svcs {
		m[s.target] = s
	}
	return m
}

// maxJSONBody bounds an awsJson request document (PutParameter's largest
// value is 8 KB; no action here takes more than a few).
const maxJSONBody = 1 << 20

// ServeHTTP answers one AWS query-protocol or awsJson request, or an
// /_awssim/ admin request.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_awssim/") {
		s.serveAdmin(w, r)
		return
	}
	reqID := s.requestID()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveJSON(w, r, reqID, target)
		return
	}
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
	if !s.admit(w, r, reqID, svc, action) {
		return
	}
	h := svc.actions[action]
	if h == nil {
		svc.dialect.writeError(w, reqID, errf("InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	// EC2's DryRun checks permissions and changes nothing: with every
	// caller allowed, the answer is DryRunOperation [ec2 API
	// CommonParameters: "If you have the required permissions, the error
	// response is DryRunOperation"].
	if svc.name == "ec2" && form.boolOr("DryRun", false) {
		svc.dialect.writeError(w, reqID, &APIError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set.", Status: http.StatusPreconditionFailed})
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

// serveJSON answers an awsJson 1.1 request, routed by its X-Amz-Target
// ("AmazonSSM.PutParameter").
func (s *Sim) serveJSON(w http.ResponseWriter, r *http.Request, reqID, target string) {
	prefix, action, _ := strings.Cut(target, ".")
	svc := s.targets[prefix]
	if svc == nil {
		writeJSONError(w, reqID, errf("UnknownOperationException", "unknown target %q", target))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > maxJSONBody {
		writeJSONError(w, reqID, errf("SerializationException", "request body larger than %d bytes", maxJSONBody))
		return
	}
	if !s.admit(w, r, reqID, svc, action) {
		return
	}
	h := svc.jsonActions[action]
	if h == nil {
		writeJSONError(w, reqID, errf("UnknownOperationException", "The action %s is not valid for this web service.", action))
		return
	}
	s.mu.Lock()
	out, apiErr := h(s, body)
	if apiErr == nil {
		s.dirty = true
	}
	s.mu.Unlock()
	s.runAfterUnlock()
	if apiErr != nil {
		// The message never carries a request's values (SSM's are secrets).
		s.log.Debug("awssim: request failed", "service", svc.name, "action", action, "code", apiErr.Code, "message", apiErr.Message)
		writeJSONError(w, reqID, apiErr)
		return
	}
	writeJSONResult(w, reqID, out)
}

// admit counts a request and applies the credential check and the faults
// that cover it: false when it has been answered (an error, or the
// simulator shutting down) and must not run.
func (s *Sim) admit(w http.ResponseWriter, r *http.Request, reqID string, svc *service, action string) bool {
	if apiErr := s.checkInstanceCredentials(svc, r); apiErr != nil {
		svc.dialect.writeError(w, reqID, apiErr)
		return false
	}

	s.mu.Lock()
	s.counts[svc.name+":"+action]++
	if len(s.calls) == maxCalls {
		s.calls = slices.Delete(s.calls, 0, maxCalls/4)
	}
	s.calls = append(s.calls, Call{Time: time.Now(), Action: svc.name + ":" + action, Group: r.Form.Get("AutoScalingGroupName")})
	fault, bucketEmpty := s.faultForLocked(svc.name, action)
	injected := fault.injected(svc, bucketEmpty, s.rnd.Float64)
	s.mu.Unlock()

	if fault.Latency > 0 {
		t := time.NewTimer(fault.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-s.ctx.Done():
			t.Stop()
			svc.dialect.writeError(w, reqID, &APIError{Code: "ServiceUnavailable", Message: "simulator shutting down", Status: http.StatusServiceUnavailable})
			return false
		}
	}
	if injected != nil {
		svc.dialect.writeError(w, reqID, injected)
		return false
	}
	return true
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

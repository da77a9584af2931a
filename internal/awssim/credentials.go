package awssim

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// checkInstanceCredentialsLocked refuses, in machine mode, a request made
// with temporary credentials (an access key id starting ASIA) that the
// simulator's metadata service did not hand out, or whose session token
// is not the one handed out with them: the instance profile credentials
// instances read are valid against the simulator, and made-up or expired
// ones are not. Every other access key is accepted as before (no
// signature is verified yet; the stub backend accepts any credentials).
// The codes are each service's for credentials it cannot validate:
// EC2's AuthFailure [errors-overview], Auto Scaling's and ELB's
// InvalidClientTokenId [CommonErrors], SSM's UnrecognizedClientException.
func (s *Sim) checkInstanceCredentials(svc *service, r *http.Request) *APIError {
	if !s.opts.Machines {
		return nil
	}
	id := accessKeyID(r)
	if !strings.HasPrefix(id, "ASIA") {
		return nil
	}
	grant, ok := s.keys.Lookup(id)
	token := r.Header.Get("X-Amz-Security-Token")
	if ok && subtle.ConstantTimeCompare([]byte(token), []byte(grant.SessionToken)) == 1 {
		return nil
	}
	s.log.Warn("awssim: unknown or expired instance credentials", "access_key_id", id)
	if svc.name == "ec2" {
		return &APIError{Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials", Status: http.StatusUnauthorized}
	}
	if svc.dialect.json {
		return &APIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", Status: http.StatusBadRequest}
	}
	return &APIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden}
}

// accessKeyID is the access key id of a SigV4 Authorization header's
// Credential (AKID/date/region/service/aws4_request), "" without one.
func accessKeyID(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Authorization"), ",") {
		if _, cred, ok := strings.Cut(strings.TrimSpace(part), "Credential="); ok {
			id, _, _ := strings.Cut(cred, "/")
			return id
		}
	}
	return ""
}

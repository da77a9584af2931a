package awssim

import "encoding/base64"

// GetConsoleOutput [API_GetConsoleOutput]: the instance's console, base64
// as the API sends it, the latest 64 KB [instance-console]. A machine's
// console has what cloud-init printed at first boot, SSH host key
// fingerprints and keys included, which is how EC2 users check the key
// ssh is shown [connection-prereqs]. Stub instances have an empty console.
func ec2GetConsoleOutput(s *Sim, p params) ([]*node, *APIError) {
	id := p.str("InstanceId")
	if id == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if apiErr := instanceIDs.check(id); apiErr != nil {
		return nil, apiErr
	}
	inst := s.st.Instances[id]
	if inst == nil || !inst.visible(s.now()) {
		return nil, errf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	out := s.backend.consoleLocked(inst)
	return []*node{leaf("instanceId", id), leaf("timestamp", s.now()),
		opt("output", base64.StdEncoding.EncodeToString(out))}, nil
}

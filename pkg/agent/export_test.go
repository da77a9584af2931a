package agent

import "context"

// PushSecrets is policy.push_secrets as a deploy runs it, before it
// changes anything.
func (d *Deployer) PushSecrets(ctx context.Context) error { return d.pushSecrets(ctx) }

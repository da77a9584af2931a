package watch_test

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ferry-deploy/ferry/pkg/watch"
)

// The agent checks each target before planning it: a refusal is recorded
// (note, commit status, ferry status) and the target is skipped; any other
// error leaves the target to be checked again.
func ExampleMirror_Verify() {
	ctx := context.Background()
	m, _ := watch.OpenMirror(watch.MirrorOptions{Dir: "/var/lib/ferry/mirror", URL: "git@github.com:acme/app.git"})
	t := watch.Target{Env: "production", Ref: "refs/tags/v1.4.0"} // from Watcher.Run
	// From the environment's config.
	policy := watch.VerifyPolicy{
		Mode:              "tag",
		OpenPGPKeyring:    "/etc/ferry/release-signers.asc",
		SSHAllowedSigners: "/etc/ferry/allowed_signers",
	}

	v, err := m.Verify(ctx, t, policy)
	var refused *watch.UnverifiedError
	switch {
	case errors.As(err, &refused):
		slog.Warn("refusing target", "env", refused.Env, "ref", refused.Ref, "object", refused.Object,
			"code", refused.Code, "key", refused.Fingerprint, "reason", refused.Reason)
		return // record the refusal; never deploy it
	case err != nil:
		slog.Error("cannot verify target", "env", t.Env, "err", err, "transient", watch.IsTransient(err))
		return // not deployed; retry later, or fix the configuration
	}
	slog.Info("target verified", "env", t.Env, "signed", v.String())
	// plan and deploy t
}

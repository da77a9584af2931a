package bake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-deploy/ferry/internal/faultpoint"
	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
	"github.com/ferry-deploy/ferry/pkg/roles"
)

// run is one bake under way.
type run struct {
	b   *Baker
	rec *Record
	lg  *slog.Logger
}

// enter journals the phase before it acts. Test builds may be killed on
// either side of the record (internal/faultpoint: "bake-PHASE").
func (r *run) enter(ctx context.Context, p Phase) error {
	r.rec.Phase = p
	faultpoint.Enter(ctx, "bake-"+string(p))
	faultpoint.Reached(ctx, faultpoint.BeforeRecord)
	r.lg.Info("bake: "+string(p), "elapsed", time.Since(r.rec.Started).Round(time.Second))
	if err := r.b.journal().Save(r.rec); err != nil {
		return err
	}
	faultpoint.Reached(ctx, faultpoint.AfterRecord)
	return nil
}

func (r *run) bake(ctx context.Context) (string, error) {
	ctx = faultpoint.Phases(ctx)
	b, c := r.b, r.rec.Commit
	env := b.Env
	tags := map[string]string{plan.TagProject: b.Project, plan.TagEnv: env.Name, plan.TagBaking: c.String()}

	// The commands first: a hook that does not render fails before any
	// instance exists.
	if err := r.enter(ctx, PhasePrepare); err != nil {
		return "", err
	}
	build, err := r.buildCommands()
	if err != nil {
		return "", err
	}
	base, err := b.Cloud.ResolveImage(ctx, env.Launch.BaseImage)
	if err != nil {
		return "", fmt.Errorf("launch.base_image %s: %w", env.Launch.BaseImage, err)
	}
	if base.State != "available" {
		return "", fmt.Errorf("launch.base_image %s (%s) is %s", env.Launch.BaseImage, base.ID, base.State)
	}
	from := base.ID
	if env.Images.Cache != config.ImagesCacheNone {
		prev, ok, err := b.previous(ctx, base.ID)
		if err != nil {
			return "", err
		}
		if ok {
			from, r.rec.Cache = prev.ID, prev.ID
			r.lg.Info("bake: the builder starts from the previous image (images.cache)", "image", prev.ID, "of", prev.Tags[plan.TagCommit])
		}
	}

	if err := r.enter(ctx, PhaseLaunch); err != nil {
		return "", err
	}
	spec := cloud.BuilderSpec{
		ImageID: from, InstanceType: env.Launch.InstanceType, KeyName: env.Launch.KeyName,
		SecurityGroups: env.Launch.SecurityGroups, IAMInstanceProfile: env.Launch.BuilderInstanceProfile,
		Tags: map[string]string{"Name": fmt.Sprintf("ferry-bake-%s-%s", env.Name, c.Short())},
	}
	if spec.InstanceType == "" {
		spec.InstanceType = DefaultBuilderType
	}
	for k, v := range tags {
		spec.Tags[k] = v
	}
	id, err := b.Cloud.RunBuilder(ctx, spec)
	if err != nil {
		return "", err
	}
	r.rec.Builder = id
	if err := r.enter(ctx, PhaseBoot); err != nil {
		return "", err
	}
	bootCtx, cancel := context.WithTimeout(ctx, env.Policy.Timeouts.Bake.Std())
	defer cancel()
	m, err := r.waitRunning(bootCtx, id)
	if err != nil {
		return "", err
	}
	logs := remote.Logs{Root: remote.LogRoot(b.StateDir), Env: env.Name, DeployID: r.rec.ID}
	if r.rec.Log, err = logs.Path(roles.Role("builder"), id); err != nil {
		return "", err
	}
	sess, err := b.Shell.Open(bootCtx, m, logs)
	if err != nil {
		return "", fmt.Errorf("builder %s: %w", id, err)
	}
	r.rec.Log = sess.Log()

	if b.Provision != nil {
		if err := r.enter(ctx, PhaseProvision); err != nil {
			return "", err
		}
		if err := r.provision(ctx, sess, m.PrivateIP); err != nil {
			return "", err
		}
	}
	if err := r.enter(ctx, PhaseDeliver); err != nil {
		return "", err
	}
	if err := r.deliver(ctx, sess); err != nil {
		return "", err
	}
	if err := r.enter(ctx, PhaseBuild); err != nil {
		return "", err
	}
	if len(build) > 0 {
		if err := sess.Run(ctx, build...); err != nil {
			return "", err
		}
	}
	if err := r.enter(ctx, PhaseClean); err != nil {
		return "", err
	}
	if err := sess.Run(ctx, r.cleanCommand()); err != nil {
		return "", err
	}

	if err := r.enter(ctx, PhaseImage); err != nil {
		return "", err
	}
	name := plan.LaunchSourceName(b.Project, env.Name, c, r.rec.Started)
	desc := fmt.Sprintf("Ferry: %s %s at %s", b.Project, env.Name, c)
	img, err := b.Cloud.CreateImage(ctx, id, name, desc, withTag(tags, plan.TagBase, base.ID))
	if err != nil {
		return "", err
	}
	r.rec.Image = img
	if err := b.journal().Save(r.rec); err != nil {
		return "", err
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, env.Policy.Timeouts.Bake.Std())
	defer cancelWait()
	if err := r.waitAvailable(waitCtx, img); err != nil {
		return "", err
	}

	if err := r.enter(ctx, PhaseTag); err != nil {
		return "", err
	}
	if err := b.Cloud.TagResources(ctx, []string{img}, map[string]string{plan.TagCommit: c.String()}); err != nil {
		return "", err
	}
	if err := r.enter(ctx, PhaseDone); err != nil {
		return "", err
	}
	if err := b.Cloud.TerminateInstances(ctx, []string{id}); err != nil {
		// The image is made; the builder is clean-up's, not a failure's.
		r.lg.Error("bake: builder not terminated; the next bake removes it", "builder", id, "err", err)
		r.rec.Reason = err.Error()
	} else {
		r.rec.CleanedUp = true
		b.removeBuilderFiles(id)
	}
	r.rec.Finished, r.rec.Outcome = true, OutcomeBaked
	if err := b.journal().Save(r.rec); err != nil {
		r.lg.Error("bake: journal not written", "err", err)
	}
	return img, nil
}

// previous is the environment's newest baked image made from the base
// image base: a builder started from it finds what the last bake's hooks
// installed outside the release, and their caches.
func (b *Baker) previous(ctx context.Context, base string) (cloud.Image, bool, error) {
	imgs, err := b.Cloud.ImagesTagged(ctx, map[string]string{plan.TagProject: b.Project, plan.TagEnv: b.Env.Name, plan.TagBase: base})
	if err != nil {
		return cloud.Image{}, false, err
	}
	var newest cloud.Image
	for _, img := range imgs {
		if _, err := commit.Parse(img.Tags[plan.TagCommit]); err != nil || img.State != "available" {
			continue // half-made, or going
		}
		if newest.ID == "" || img.Created.After(newest.Created) {
			newest = img
		}
	}
	return newest, newest.ID != "", nil
}

func withTag(tags map[string]string, k, v string) map[string]string {
	out := maps.Clone(tags)
	out[k] = v
	return out
}

// provision runs Baker.Provision's commands on the builder, refusing any
// that carries secrets: an environment (remote.Command.Env), or values to
// mask in its output (Redact: what a command given secrets on stdin,
// such as secrets_changed, carries).
func (r *run) provision(ctx context.Context, sess Session, address string) error {
	cmds, done, err := r.b.Provision(ctx, address)
	if err != nil {
		return err
	}
	defer done()
	for _, c := range cmds {
		if len(c.Env) > 0 {
			return fmt.Errorf("%s: refused: a bake's builder gets no secrets (the command has %d environment variables); its image's instances fetch them at boot", c.Name, len(c.Env))
		}
		if len(c.Redact) > 0 {
			return fmt.Errorf("%s: refused: a bake's builder gets no secrets (the command has %d values to mask); its image's instances fetch them at boot", c.Name, len(c.Redact))
		}
	}
	return sess.Run(ctx, cmds...)
}

// waitRunning waits until the builder runs with an address.
func (r *run) waitRunning(ctx context.Context, id string) (cloud.Machine, error) {
	var m cloud.Machine
	err := r.every(ctx, "builder "+id+" running", func() (bool, error) {
		var err error
		m, err = r.b.Cloud.Machine(ctx, id)
		if errors.Is(err, cloud.ErrNotFound) {
			return false, nil // not yet visible (eventual consistency)
		}
		if err != nil {
			return false, err
		}
		switch m.State {
		case "running":
			return m.PrivateIP != "", nil
		case "pending":
			return false, nil
		}
		return false, fmt.Errorf("builder %s is %s", id, m.State)
	})
	return m, err
}

// waitAvailable waits until the image is available, logging its progress.
func (r *run) waitAvailable(ctx context.Context, id string) error {
	return r.every(ctx, "image "+id+" available", func() (bool, error) {
		img, err := r.b.Cloud.Image(ctx, id)
		if errors.Is(err, cloud.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch img.State {
		case "available":
			return true, nil
		case "pending":
			return false, nil
		}
		return false, fmt.Errorf("image %s is %s: %s", id, img.State, img.StateReason)
	})
}

// every polls cond until it holds, logging progress each minute.
func (r *run) every(ctx context.Context, what string, cond func() (bool, error)) error {
	start := time.Now()
	lastLog := start
	t := time.NewTicker(r.b.poll())
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Since(lastLog) >= time.Minute {
			lastLog = time.Now()
			r.lg.Info("bake: waiting for "+what, "waited", time.Since(start).Round(time.Second),
				"elapsed", time.Since(r.rec.Started).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w after %s", what, ctx.Err(), time.Since(start).Round(time.Second))
		case <-t.C:
		}
	}
}

// deliveries is the pattern (os.CreateTemp's, filepath.Glob's) of the
// files deliver writes for bake id, in the state dir's bake directory.
func deliveries(id string) string { return id + "-*.tar" }

// deliver writes the commit's tree to a file in the state dir (the
// mirror is not held while it is sent) and unpacks it on the builder.
// The file is removed on the way out; one a killed bake left is
// Baker.cleanUp's.
func (r *run) deliver(ctx context.Context, sess Session) error {
	dir := filepath.Join(r.b.StateDir, "bake")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, deliveries(r.rec.ID))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := r.b.Tree.WriteTree(ctx, r.rec.Commit, f); err != nil {
		return err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	rel := r.releaseDir()
	return sess.Run(ctx, remote.Command{
		Name: "deliver " + r.rec.Commit.Short(),
		// An earlier try's files are replaced whole.
		Line:  fmt.Sprintf(`sudo rm -rf %[1]s && sudo mkdir -p %[1]s && sudo tar -x --no-same-owner -C %[1]s -f - && sudo chown -R "$(id -un):" %[1]s`, rel),
		Input: f,
	})
}

func (r *run) releaseDir() string { return ReleasesDir + "/" + r.rec.Commit.String() }

// buildCommands renders each role's build hook, for the roles with a
// group in roles.All's order, each command run in the release directory.
func (r *run) buildCommands() ([]remote.Command, error) {
	cmds, err := roles.Resolve(r.b.Env.Hooks)
	if err != nil {
		return nil, err
	}
	vars, err := roles.NewVars(r.b.Env.Name, r.rec.Commit)
	if err != nil {
		return nil, err
	}
	var out []remote.Command
	for _, role := range roles.All() {
		if _, ok := r.b.Env.Groups[string(role)]; !ok {
			continue
		}
		lines, err := roles.Render(role, roles.Build, cmds[role][roles.Build], vars)
		if err != nil {
			return nil, err
		}
		for i, line := range lines {
			out = append(out, remote.Command{
				Name: fmt.Sprintf("%s build %d/%d", role, i+1, len(lines)),
				Line: "cd " + r.releaseDir() + " && " + line,
			})
		}
	}
	return out, nil
}

// cleanCommand makes the release the one the image runs (the app's user
// owns it, /srv/app/current points at it: roles.FinishRelease) and removes
// what an image must not carry, as the last command on the builder: SSH
// host keys (each instance makes its own at first boot), cloud-init's
// instance state (so the next boot is a first boot: user data, keys and
// the key pair run again), the login's authorized_keys, logs and the
// journal, shell histories, and the secrets files an instance writes at
// boot (an image never carries secrets).
func (r *run) cleanCommand() remote.Command {
	rel := r.releaseDir()
	script := append([]string{`set -e`}, roles.FinishRelease(rel)...)
	script = append(script,
		// A builder started from the previous image has its release:
		// an image holds its own commit's alone.
		`find `+ReleasesDir+` -mindepth 1 -maxdepth 1 ! -name `+r.rec.Commit.String()+` -exec rm -rf {} +`,
		`rm -f /etc/ssh/ssh_host_*`,
		`if command -v cloud-init >/dev/null 2>&1; then cloud-init clean --logs; fi`,
		`rm -rf /var/lib/cloud/instances /var/lib/cloud/instance /var/lib/cloud/data /var/lib/cloud/sem`,
		`rm -f `+roles.SecretsFile+` /etc/app/.secrets.env.* /etc/pgbouncer/userlist.txt /etc/redis/ferry-secret.conf`,
		`rm -f /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys`,
		`rm -f /root/.bash_history /home/*/.bash_history /root/.lesshst /home/*/.lesshst`,
		`find /var/log -type f \( -name "*.gz" -o -name "*.[0-9]" -o -name "*.old" \) -delete`,
		`find /var/log -type f -exec truncate -s 0 {} +`,
		`rm -rf /var/log/journal/* /tmp/* /var/tmp/*`,
		`sync`,
	)
	return remote.Command{
		Name: "clean for the image",
		Line: "sudo sh -c '" + strings.Join(script, "\n") + "'",
	}
}

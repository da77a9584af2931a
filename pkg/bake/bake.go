// Package bake makes an environment's image for a commit ahead of its
// deploy: a builder instance from the environment's base image receives
// the commit's tree (a tar stream Ferry writes from its own git mirror, so
// no git or git credentials reach the instance) in
// /srv/app/releases/<sha>, runs each role's build hook there, is cleaned of
// everything an image must not carry (host keys, cloud-init's instance
// state, logs, shell history, secrets), and is imaged; the image is tagged
// with the commit, environment and project, and the builder terminated.
//
// Every phase is journaled before it acts. A bake that fails, is
// interrupted, or is found unfinished after a crash (Recover) terminates
// its builder and deletes its half-made image and snapshots, finding them
// by tag as well as in the journal, and the tree a killed bake was
// delivering from the state dir; the running environment is never
// touched.
package bake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ferry-deploy/ferry/pkg/cloud"
	"github.com/ferry-deploy/ferry/pkg/commit"
	"github.com/ferry-deploy/ferry/pkg/config"
	"github.com/ferry-deploy/ferry/pkg/plan"
	"github.com/ferry-deploy/ferry/pkg/remote"
)

// ReleasesDir holds one directory per commit on an instance.
const ReleasesDir = "/srv/app/releases"

// DefaultBuilderType is the builder's instance type when launch.instance_type
// is empty.
const DefaultBuilderType = "t3.small"

// Cloud is what a bake asks of EC2; pkg/cloud implements it.
type Cloud interface {
	ResolveImage(ctx context.Context, idOrName string) (cloud.Image, error)
	Image(ctx context.Context, id string) (cloud.Image, error)
	ImagesTagged(ctx context.Context, tags map[string]string) ([]cloud.Image, error)
	RunBuilder(ctx context.Context, s cloud.BuilderSpec) (string, error)
	Machine(ctx context.Context, id string) (cloud.Machine, error)
	MachinesTagged(ctx context.Context, tags map[string]string) ([]cloud.Machine, error)
	CreateImage(ctx context.Context, instance, name, description string, tags map[string]string) (string, error)
	TagResources(ctx context.Context, ids []string, tags map[string]string) error
	DeleteImage(ctx context.Context, id string) error
	TerminateInstances(ctx context.Context, ids []string) error
	// What retention reads: the launch sources groups and instances use.
	Group(ctx context.Context, name string, classic, targetGroups []string) (*cloud.Group, error)
	LaunchTemplateVersion(ctx context.Context, ref cloud.LaunchTemplateRef) (*cloud.LaunchTemplateVersion, error)
	LaunchConfiguration(ctx context.Context, name string) (*cloud.LaunchConfiguration, error)
}

var _ Cloud = (*cloud.Client)(nil)

// Shell reaches a running builder.
type Shell interface {
	// Open returns a session on the builder once it takes logins,
	// waiting for it within ctx. logs places its log file.
	Open(ctx context.Context, builder cloud.Machine, logs remote.Logs) (Session, error)
}

// Session runs commands on one builder; its output goes to the builder's
// log file, whose path Log returns.
type Session interface {
	Run(ctx context.Context, cmds ...remote.Command) error
	Log() string
}

// Tree writes a commit's tree as a tar stream: watch.WriteTree over
// Ferry's own mirror (pkg/agent's Repo).
type Tree interface {
	WriteTree(ctx context.Context, c commit.ID, w io.Writer) error
}

// Baker bakes the images of one environment.
type Baker struct {
	Project  string
	Env      *config.Environment
	Cloud    Cloud
	Shell    Shell
	Tree     Tree
	StateDir string
	Log      *slog.Logger
	// Poll is the interval between two looks at EC2 while waiting; zero
	// uses the environment's policy.poll_interval.
	Poll time.Duration
	// Provision, when set, gives the commands that make the builder at
	// address into the groups' roles before the commit is delivered
	// (pkg/provision's, with roles.ActionImage), and a func to call once
	// they ran. A bake refuses a command that carries an environment or
	// values to mask (remote.Command.Env, Redact), the ways Ferry sends
	// secrets: no image is made of a server that received one; its
	// instances fetch them at boot.
	Provision func(ctx context.Context, address string) (cmds []remote.Command, done func(), err error)
	// RollbackSources, when set, names the launch sources an unfinished
	// deploy's rollback returns the groups to (pkg/agent reads them from
	// the deploy journal): retention keeps their images, whatever their
	// age.
	RollbackSources func() ([]LaunchSource, error)
	// Previous, when set, names the commit the environment ran before
	// the one it runs now (pkg/agent reads it from the deploy notes): the
	// target of a rollback, whose image retention keeps whatever its age,
	// so that rolling back does not bake it again. Zero when unknown.
	Previous func(ctx context.Context) (commit.ID, error)
}

// LaunchSource is a launch template version or a launch configuration.
type LaunchSource struct {
	LaunchTemplate      *cloud.LaunchTemplateRef
	LaunchConfiguration string
}

// Result is a bake's outcome.
type Result struct {
	Commit commit.ID
	Image  string
	// Reused is true when the image already existed: nothing was baked.
	Reused  bool
	Elapsed time.Duration
	// Log is the builder's log file ("" when reused).
	Log string
	// Cache is the earlier baked image the builder started from, "" when
	// it started from the base image.
	Cache string
}

// FailedError is a bake that did not make an image (outcome bake-failed).
// What it started has been removed, unless Cleanup says otherwise.
type FailedError struct {
	Commit commit.ID
	Phase  Phase
	Err    error
	Log    string
	// Cleanup is what could not be removed (the journal keeps it for
	// Recover).
	Cleanup error
}

func (e *FailedError) Error() string {
	s := fmt.Sprintf("bake-failed: %s at %s: %v", e.Commit.Short(), e.Phase, e.Err)
	if e.Log != "" {
		s += " (builder log: " + e.Log + ")"
	}
	if e.Cleanup != nil {
		s += fmt.Sprintf("; clean-up incomplete, Ferry retries it before the next bake: %v", e.Cleanup)
	}
	return s
}

func (e *FailedError) Unwrap() error { return e.Err }

func (b *Baker) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

func (b *Baker) poll() time.Duration {
	if b.Poll > 0 {
		return b.Poll
	}
	return b.Env.Policy.PollInterval.Std()
}

func (b *Baker) journal() Store { return Store{Dir: b.StateDir} }

// Find returns the image baked for c, if any: available and tagged with
// the commit, environment and project.
func (b *Baker) Find(ctx context.Context, c commit.ID) (cloud.Image, bool, error) {
	imgs, err := b.Cloud.ImagesTagged(ctx, plan.BakedImageTags(b.Project, b.Env.Name, c))
	if err != nil {
		return cloud.Image{}, false, err
	}
	for _, img := range imgs {
		if img.State == "available" {
			return img, true, nil
		}
	}
	return cloud.Image{}, false, nil
}

// Bake returns the image of commit c, baking it unless it exists. The
// caller holds the environment's lock: two bakes of one environment must
// not run at once.
func (b *Baker) Bake(ctx context.Context, c commit.ID) (Result, error) {
	start := time.Now()
	if err := b.Recover(ctx); err != nil {
		return Result{Commit: c}, err
	}
	if img, ok, err := b.Find(ctx, c); err != nil {
		return Result{Commit: c}, err
	} else if ok {
		b.log().Info("bake: image of the commit exists, reused", "env", b.Env.Name, "commit", c, "image", img.ID)
		return Result{Commit: c, Image: img.ID, Reused: true}, nil
	}
	r := &run{b: b, rec: &Record{
		Version: recordVersion, Env: b.Env.Name, Commit: c, Started: start.UTC(),
		ID: "bake-" + c.Short() + "-" + start.UTC().Format("20060102T150405"),
	}}
	r.lg = b.log().With("env", b.Env.Name, "commit", c.Short(), "bake", r.rec.ID)
	img, err := r.bake(ctx)
	res := Result{Commit: c, Image: img, Elapsed: time.Since(start), Log: r.rec.Log, Cache: r.rec.Cache}
	if err == nil {
		r.lg.Info("bake: baked", "image", img, "elapsed", res.Elapsed.Round(time.Second), "cache", res.Cache)
		// Retention's failure is not the bake's: the next bake tries again.
		if _, rerr := b.Retain(ctx); rerr != nil {
			r.lg.Error("bake: old images not all removed; the next bake tries again", "err", rerr)
		}
		return res, nil
	}
	fe := &FailedError{Commit: c, Phase: r.rec.Phase, Err: err, Log: r.rec.Log}
	r.lg.Error("bake: failed; removing its builder and image", "phase", r.rec.Phase, "err", err, "log", r.rec.Log)
	// The bake's own context may be what ended: clean up regardless.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.Env.Policy.Timeouts.Bake.Std())
	defer cancel()
	fe.Cleanup = b.cleanUp(cctx, r.rec, OutcomeFailed, fe.Error())
	return res, fe
}

// Recover removes what an unfinished bake left (the agent was killed
// mid-bake): its builder and any half-made image, from the journal and by
// tag. A bake stopped once its image was tagged with its commit is
// recorded baked, its image kept. It returns nil when there was nothing
// to do.
func (b *Baker) Recover(ctx context.Context) error {
	rec, err := b.journal().Load(b.Env.Name)
	if err != nil {
		return err
	}
	if rec == nil || rec.Finished && rec.CleanedUp {
		return nil
	}
	b.log().Warn("bake: an interrupted bake is cleaned up", "env", b.Env.Name, "bake", rec.ID, "commit", rec.Commit, "phase", rec.Phase,
		"builder", rec.Builder, "image", rec.Image)
	// Stopped once the image was tagged with its commit (at tag or done,
	// or its builder not terminated): the bake made its image, and only
	// the builder is left to remove.
	img, baked, err := b.Find(ctx, rec.Commit)
	if err != nil {
		return err
	}
	if baked {
		rec.Image = img.ID
		return b.cleanUp(ctx, rec, OutcomeBaked, "")
	}
	reason := rec.Reason
	if reason == "" {
		reason = fmt.Sprintf("bake-failed: %s at %s: the agent stopped mid-bake", rec.Commit.Short(), rec.Phase)
	}
	return b.cleanUp(ctx, rec, OutcomeFailed, reason)
}

// cleanUp terminates the bake's builders and deletes its unfinished
// images (a baked one, tagged with its commit, stays), then records the
// outcome. Each is looked for by tag as well as by the journal's ids: a
// crash may fall between a call and its record.
func (b *Baker) cleanUp(ctx context.Context, rec *Record, outcome, reason string) error {
	rec.Finished, rec.Outcome, rec.Reason = true, outcome, reason
	var errs []error
	tags := map[string]string{plan.TagProject: b.Project, plan.TagEnv: b.Env.Name, plan.TagBaking: rec.Commit.String()}
	builders := map[string]bool{}
	if rec.Builder != "" {
		builders[rec.Builder] = true
	}
	if ms, err := b.Cloud.MachinesTagged(ctx, tags); err != nil {
		errs = append(errs, err)
	} else {
		for _, m := range ms {
			builders[m.ID] = true
		}
	}
	if len(builders) > 0 {
		ids := sortedKeys(builders)
		if err := b.Cloud.TerminateInstances(ctx, ids); err != nil {
			errs = append(errs, err)
		} else {
			b.log().Info("bake: builder terminated", "env", b.Env.Name, "builders", ids)
			b.removeBuilderFiles(ids...)
		}
	}
	images := map[string]bool{}
	if rec.Image != "" && outcome != OutcomeBaked {
		images[rec.Image] = true
	}
	if imgs, err := b.Cloud.ImagesTagged(ctx, tags); err != nil {
		errs = append(errs, err)
	} else {
		for _, img := range imgs {
			if _, done := img.Tags[plan.TagCommit]; !done {
				images[img.ID] = true
			}
		}
	}
	for _, id := range sortedKeys(images) {
		if err := b.Cloud.DeleteImage(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		b.log().Info("bake: half-made image deregistered, its snapshots deleted", "env", b.Env.Name, "image", id)
	}
	b.removeDeliveries(rec.ID)
	err := errors.Join(errs...)
	rec.CleanedUp = err == nil
	if serr := b.journal().Save(rec); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// removeDeliveries removes the commit's tree a bake killed mid-delivery
// left in the state dir (deliver removes it on every other way out).
func (b *Baker) removeDeliveries(id string) {
	files, err := filepath.Glob(filepath.Join(b.StateDir, "bake", deliveries(id)))
	if err != nil {
		b.log().Error("bake: the tree a killed bake was delivering not removed", "env", b.Env.Name, "bake", id, "err", err)
	}
	b.removeFiles("the tree a killed bake was delivering", files...)
}

// removeBuilderFiles removes what the state dir holds of terminated
// builders (SSHShell's known_hosts of each): one file per bake otherwise.
func (b *Baker) removeBuilderFiles(ids ...string) {
	files := make([]string, len(ids))
	for i, id := range ids {
		files[i] = builderKnownHosts(b.StateDir, id)
	}
	b.removeFiles("a terminated builder's host keys", files...)
}

// removeFiles removes files of the state dir a bake no longer needs. A
// failure is logged, not returned: a file of the state dir is no reason
// to refuse the next bake.
func (b *Baker) removeFiles(what string, files ...string) {
	for _, f := range files {
		switch err := os.Remove(f); {
		case err == nil:
			b.log().Info("bake: "+what+" removed", "env", b.Env.Name, "file", f)
		case !errors.Is(err, fs.ErrNotExist):
			b.log().Error("bake: "+what+" not removed", "env", b.Env.Name, "file", f, "err", err)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}
